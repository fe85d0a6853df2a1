//! The edge half of identity: fetching JWKS documents (at start, every
//! `jwks_refresh` in the background, and on a token whose `kid` is unknown at
//! most once per `jwks_min_refetch`), installing the keys where the policy's
//! identity check reads them, and the RFC 6750 `WWW-Authenticate` field of
//! authentication refusals. The verification itself is the pure
//! `portcullis-identity` crate, run by the policy's identity check. Fetches
//! are async with a timeout and a size limit; nothing here blocks a request
//! except the one bounded refetch an unknown `kid` triggers (requests that
//! arrive while it runs wait for it, at most the fetch timeout).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::Empty;
use portcullis_identity::KeySet;
use portcullis_policy::jwks::{JwksSource, unix_ms};
use portcullis_policy::{Policy, Route};
use tokio::sync::watch;

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Retry delay after a failed background fetch (capped by `jwks_refresh`).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The `WWW-Authenticate` value of an `auth.*` refusal (RFC 6750 §3): no
/// error code when no credential was sent, `invalid_token` when one was
/// refused, `insufficient_scope` for 403s.
pub fn www_authenticate(rule: &str, status: StatusCode) -> Option<HeaderValue> {
    if !rule.starts_with("auth.") {
        return None;
    }
    Some(HeaderValue::from_static(match status {
        StatusCode::UNAUTHORIZED if rule == "auth.missing" || rule == "auth.mtls" => {
            "Bearer realm=\"portcullis\""
        }
        StatusCode::UNAUTHORIZED => "Bearer realm=\"portcullis\", error=\"invalid_token\"",
        StatusCode::FORBIDDEN => "Bearer realm=\"portcullis\", error=\"insufficient_scope\"",
        _ => return None,
    }))
}

fn sources(policy: &Policy) -> Vec<Arc<JwksSource>> {
    let mut seen = HashSet::new();
    policy
        .routes
        .iter()
        .filter_map(|r| r.policy.as_ref()?.jwks.clone())
        .filter(|s| seen.insert(Arc::as_ptr(s)))
        .collect()
}

/// Gives a reloaded policy the keys its predecessor fetched from the same
/// URLs, so it does not start without keys, and the introspection answers
/// of the same endpoints, so it does not re-introspect every token.
pub fn inherit_keys(previous: &Policy, next: &Policy) {
    let old = sources(previous);
    for source in sources(next) {
        if let Some(prev) = old.iter().find(|p| p.url == source.url) {
            source.inherit(prev);
        }
    }
    let introspection =
        |p: &Policy| -> Vec<Arc<portcullis_policy::introspection::IntrospectionSource>> {
            p.routes
                .iter()
                .filter_map(|r| r.policy.as_ref()?.introspection.clone())
                .collect()
        };
    let old = introspection(previous);
    for source in introspection(next) {
        if let Some(prev) = old.iter().find(|p| p.url == source.url) {
            source.inherit(prev);
        }
    }
}

/// Starts one background refresher per JWKS URL of the policy. Each stops
/// when its policy is dropped (a reload replaced it).
pub fn start_jwks_refresh(policy: &Policy) {
    for source in sources(policy) {
        let weak: Weak<JwksSource> = Arc::downgrade(&source);
        let fresh = source.fetched_at_ms() != 0
            && unix_ms().saturating_sub(source.fetched_at_ms()) < source.refresh.as_millis() as u64;
        drop(source);
        tokio::spawn(async move {
            if fresh && let Some(s) = weak.upgrade() {
                let wait = s.refresh;
                drop(s);
                tokio::time::sleep(wait).await;
            }
            loop {
                let Some(source) = weak.upgrade() else { return };
                let wait = match refresh(&source).await {
                    Ok(()) => source.refresh,
                    Err(()) => source.refresh.min(RETRY_AFTER_FAILURE),
                };
                drop(source);
                tokio::time::sleep(wait).await;
            }
        });
    }
}

/// Fetches and installs the keys; failures are logged and keep the old keys.
async fn refresh(source: &JwksSource) -> Result<(), ()> {
    match tokio::time::timeout(source.timeout, fetch(&source.url)).await {
        Ok(Ok(keys)) => {
            tracing::debug!(url = %source.url, keys = keys.len(), "JWKS fetched");
            source.install(keys, unix_ms());
            Ok(())
        }
        Ok(Err(error)) => {
            tracing::warn!(url = %source.url, %error, "JWKS fetch failed; keeping the previous keys within the grace period");
            Err(())
        }
        Err(_) => {
            tracing::warn!(url = %source.url, "JWKS fetch timed out; keeping the previous keys within the grace period");
            Err(())
        }
    }
}

/// Before the checks run: when the route's policy verifies JWTs with a JWKS
/// URL and the request's token names a `kid` the current keys lack (keys
/// rotated), refetch once, within the rate limit, and wait for it.
pub async fn refresh_on_unknown_kid(route: &Route, headers: &HeaderMap) {
    let Some(source) = route.policy.as_ref().and_then(|p| p.jwks.as_ref()) else {
        return;
    };
    let Some(token) = bearer(headers, source) else {
        return;
    };
    let Ok(header) = portcullis_identity::decode_header(token) else {
        return;
    };
    let now = unix_ms();
    let known = match (source.keys(now), header.kid.as_deref()) {
        (Some(keys), Some(kid)) => keys.contains_kid(kid),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if known {
        return;
    }
    let key = Arc::as_ptr(source) as usize;
    if !source.claim_refetch(now) {
        // Another request's refetch is running: wait for it (bounded by the
        // fetch timeout) rather than fail with keys it may be bringing.
        let running = REFETCHES.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some(mut done) = running {
            let _ = tokio::time::timeout(source.timeout, done.changed()).await;
        }
        return;
    }
    let (tx, rx) = watch::channel(());
    if let Ok(mut m) = REFETCHES.lock() {
        m.insert(key, rx);
    }
    tracing::info!(url = %source.url, kid = header.kid.as_deref().unwrap_or(""), "unknown key id: refetching the JWKS");
    let _ = refresh(source).await;
    if let Ok(mut m) = REFETCHES.lock() {
        m.remove(&key);
    }
    // Dropping the sender releases the waiters (also if this request is
    // cancelled mid-fetch: they then find the keys as they are).
    drop(tx);
}

/// Unknown-`kid` refetches in flight, by source address; waiters hold a
/// receiver until the fetching request drops the sender.
static REFETCHES: LazyLock<Mutex<HashMap<usize, watch::Receiver<()>>>> =
    LazyLock::new(Default::default);

/// The token where the identity check will read it (header, then cookie).
fn bearer<'h>(headers: &'h HeaderMap, source: &JwksSource) -> Option<&'h str> {
    if let Some(v) = headers
        .get(source.token_header.as_str())
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        return match v.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("bearer ") => Some(v[7..].trim_start()),
            _ if source.token_header == "authorization" => None,
            _ => Some(v),
        };
    }
    let cookie = source.token_cookie.as_deref()?;
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| n.trim() == cookie)
        .map(|(_, v)| v.trim())
}

/// GETs a JWKS document over HTTP/1.1 (TLS for `https`, verified against
/// the web PKI roots) and parses it.
async fn fetch(url: &str) -> Result<KeySet, String> {
    let endpoint = crate::outbound::Endpoint::parse(url)?;
    let request = Request::get(endpoint.path.as_str())
        .header(header::HOST, endpoint.authority.as_str())
        .header(header::ACCEPT, "application/json, application/jwk-set+json")
        .header(header::USER_AGENT, "portcullis-jwks")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = crate::outbound::send(&endpoint, request, "jwks").await?;
    if response.status() != StatusCode::OK {
        return Err(format!("status {}", response.status()));
    }
    let response = crate::outbound::body(response, MAX_JWKS_BYTES).await?;
    let text = std::str::from_utf8(&response).map_err(|_| "JWKS is not UTF-8".to_owned())?;
    let (keys, skipped) = KeySet::from_jwks(text).map_err(|e| e.to_string())?;
    if skipped > 0 {
        tracing::debug!(
            url,
            skipped,
            "JWKS keys of unsupported types or uses skipped"
        );
    }
    Ok(keys)
}
