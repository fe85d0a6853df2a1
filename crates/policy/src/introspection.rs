//! OAuth2 token introspection (RFC 7662), the pure half: which tokens go to
//! the introspection endpoint, the request body and client authentication
//! sent there, how an answer becomes a [`Principal`] (the same claims,
//! scopes and subject the JWT path produces, so OpenAPI scopes, claim rules
//! and BOLA apply alike), the answer cache and the circuit breaker. The
//! gateway (`portcullis-gateway`, `introspection.rs`) does the HTTP call
//! before the checks run and stores its outcome here; the identity check only
//! reads the cache, so it never waits. No I/O here.
//!
//! The cache is keyed by the SHA-256 of the token, never the token itself: a
//! memory dump does not yield usable credentials. An active token stands
//! until the earliest of `cache_ttl` and its `exp` (plus the leeway it was
//! checked with); a refused one (inactive,
//! wrong issuer or audience) for `negative_cache_ttl`. Each shard is a
//! short-held mutex, never held across an `.await`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use http::{HeaderMap, StatusCode, header};
use portcullis_identity::{AuthError, Principal, PrincipalSource};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `url: builtin:demo`: the demo API's endpoint (demo only, the quickstart).
pub const DEMO_URL: &str = "builtin:demo";

/// The cache key of a token: its SHA-256.
pub type TokenKey = [u8; 32];

pub fn token_key(token: &str) -> TokenKey {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether a token has the compact JWS shape (three base64url segments), so
/// it goes to the JWT verifier when one is configured.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = 0;
    for segment in token.split('.') {
        parts += 1;
        if parts > 3
            || segment.is_empty()
            || !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return false;
        }
    }
    parts == 3
}

/// How the gateway authenticates to the introspection endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic` with the form-encoded id and secret.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// What an introspection answer says about the token.
#[derive(Debug)]
pub enum Answer {
    Active(Principal),
    /// Inactive, expired, or not for this gateway (issuer, audience).
    Refused(AuthError),
}

/// Validation applied to an active token's answer.
#[derive(Debug, Default)]
pub struct AnswerRules {
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    pub leeway_secs: u64,
}

impl AnswerRules {
    /// Reads an RFC 7662 answer body. `Err` when the body is not an
    /// introspection answer (an endpoint failure, not a refusal).
    pub fn evaluate(&self, body: &[u8], now_secs: u64) -> Result<Answer, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("answer is not JSON: {e}"))?;
        let Value::Object(claims) = value else {
            return Err("answer is not a JSON object".into());
        };
        let refused = |e| Ok(Answer::Refused(e));
        match claims.get("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return refused(AuthError::Inactive),
            _ => return Err("answer has no boolean \"active\" member".into()),
        }
        let time = |name: &str| claims.get(name).and_then(Value::as_u64);
        if let Some(exp) = time("exp")
            && exp.saturating_add(self.leeway_secs) <= now_secs
        {
            return refused(AuthError::Expired);
        }
        if let Some(nbf) = time("nbf")
            && nbf > now_secs.saturating_add(self.leeway_secs)
        {
            return refused(AuthError::NotYetValid);
        }
        if !self.issuers.is_empty() {
            let iss = claims.get("iss").and_then(Value::as_str);
            if !iss.is_some_and(|i| self.issuers.iter().any(|a| a == i)) {
                return refused(AuthError::Issuer);
            }
        }
        if !self.audiences.is_empty() {
            let accepted = |a: &str| self.audiences.iter().any(|x| x == a);
            let ok = match claims.get("aud") {
                Some(Value::String(a)) => accepted(a),
                Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(accepted),
                _ => false,
            };
            if !ok {
                return refused(AuthError::Audience);
            }
        }
        let mut principal = Principal::from_claims(claims, PrincipalSource::Introspection);
        if principal.subject.is_none() {
            principal.subject = ["username", "client_id"]
                .iter()
                .find_map(|n| principal.claims.get(*n)?.as_str())
                .map(str::to_owned);
        }
        Ok(Answer::Active(principal))
    }
}

struct Entry {
    result: Result<Arc<Principal>, AuthError>,
    until_ms: u64,
}

const SHARDS: usize = 16;

/// Bounded cache of introspection outcomes by token hash.
pub struct IntrospectionCache {
    shards: Vec<Mutex<HashMap<TokenKey, Entry>>>,
    per_shard: usize,
}

impl IntrospectionCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &TokenKey) -> &Mutex<HashMap<TokenKey, Entry>> {
        &self.shards[key[0] as usize % SHARDS]
    }

    /// The stored outcome, while it stands.
    pub fn get(&self, key: &TokenKey, now_ms: u64) -> Option<Result<Arc<Principal>, AuthError>> {
        let shard = self.shard(key).lock().ok()?;
        let entry = shard.get(key)?;
        (entry.until_ms > now_ms).then(|| entry.result.clone())
    }

    /// Stores an outcome; a full shard first drops what expired by `now_ms`,
    /// then an arbitrary entry.
    pub fn put(
        &self,
        key: TokenKey,
        result: Result<Arc<Principal>, AuthError>,
        until_ms: u64,
        now_ms: u64,
    ) {
        let Ok(mut shard) = self.shard(&key).lock() else {
            return;
        };
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.retain(|_, e| e.until_ms > now_ms);
            if shard.len() >= self.per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        shard.insert(key, Entry { result, until_ms });
    }

    /// Entries stored (expired ones included until they are pushed out).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a call to the endpoint may start.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: call.
    Call,
    /// Half-open after the cool-down: this call is the one probe.
    Probe,
    /// Open: fail fast.
    Refuse,
}

/// What a recorded outcome changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Transition {
    None,
    /// Just opened (or a probe failed and it opened again).
    Opened,
    /// A call succeeded while it was open: closed again.
    Closed,
}

/// After `threshold` consecutive failures the endpoint is considered down
/// for `cool_down`; then one probe call decides (success closes, failure
/// opens for another cool-down). Lock-free.
pub struct CircuitBreaker {
    threshold: u32,
    cool_down_ms: u64,
    failures: AtomicU32,
    /// Unix ms until which calls are refused; 0 when closed.
    open_until_ms: AtomicU64,
    probing: AtomicBool,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down_ms: cool_down.as_millis() as u64,
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    pub fn cool_down(&self) -> Duration {
        Duration::from_millis(self.cool_down_ms)
    }

    pub fn admit(&self, now_ms: u64) -> Admission {
        let until = self.open_until_ms.load(Ordering::Acquire);
        if until == 0 {
            return Admission::Call;
        }
        if now_ms < until {
            return Admission::Refuse;
        }
        match self
            .probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Admission::Probe,
            Err(_) => Admission::Refuse,
        }
    }

    /// Whether calls are refused now (open, or half-open with a probe out).
    pub fn is_open(&self, now_ms: u64) -> bool {
        let until = self.open_until_ms.load(Ordering::Acquire);
        until != 0 && (now_ms < until || self.probing.load(Ordering::Acquire))
    }

    /// Gives back a probe that was admitted but not made.
    pub fn release_probe(&self) {
        self.probing.store(false, Ordering::Release);
    }

    pub fn success(&self) -> Transition {
        self.failures.store(0, Ordering::Release);
        self.probing.store(false, Ordering::Release);
        if self.open_until_ms.swap(0, Ordering::AcqRel) != 0 {
            Transition::Closed
        } else {
            Transition::None
        }
    }

    pub fn failure(&self, now_ms: u64) -> Transition {
        let failures = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        let was_probe = self.probing.swap(false, Ordering::AcqRel);
        if was_probe || failures >= self.threshold {
            let previous = self
                .open_until_ms
                .swap(now_ms + self.cool_down_ms, Ordering::AcqRel);
            if previous == 0 || was_probe {
                return Transition::Opened;
            }
        }
        Transition::None
    }
}

/// One configured introspection endpoint with its cache and breaker,
/// shared by the policy's identity check and the gateway.
pub struct IntrospectionSource {
    pub url: String,
    pub client_id: String,
    client_secret: String,
    pub client_auth: ClientAuth,
    pub timeout: Duration,
    pub cache_ttl: Duration,
    pub negative_cache_ttl: Duration,
    /// Status of a request whose token cannot be introspected (endpoint
    /// down, breaker open): 503 or 401.
    pub on_unavailable: StatusCode,
    /// Lower-case header the token is read from (`authorization`: the
    /// `Bearer` scheme), then a cookie.
    pub token_header: String,
    pub token_cookie: Option<String>,
    /// Only tokens that are not JWT-shaped (a JWT verifier is configured).
    pub opaque_only: bool,
    pub rules: AnswerRules,
    /// Swappable so a reloaded policy keeps its predecessor's answers.
    cache: arc_swap::ArcSwap<IntrospectionCache>,
    cache_size: usize,
    pub breaker: CircuitBreaker,
    max_concurrent_calls: usize,
    calls_in_flight: AtomicUsize,
}

impl std::fmt::Debug for IntrospectionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionSource")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Settings of [`IntrospectionSource::new`].
pub struct SourceSettings {
    pub url: String,
    pub client_id: String,
    pub client_secret: String,
    pub client_auth: ClientAuth,
    pub timeout: Duration,
    pub cache_ttl: Duration,
    pub negative_cache_ttl: Duration,
    pub cache_size: usize,
    pub failure_threshold: u32,
    pub cool_down: Duration,
    pub max_concurrent_calls: usize,
    pub on_unavailable: StatusCode,
    pub token_header: String,
    pub token_cookie: Option<String>,
    pub opaque_only: bool,
    pub rules: AnswerRules,
}

impl IntrospectionSource {
    pub fn new(s: SourceSettings) -> Self {
        Self {
            url: s.url,
            client_id: s.client_id,
            client_secret: s.client_secret,
            client_auth: s.client_auth,
            timeout: s.timeout,
            cache_ttl: s.cache_ttl,
            negative_cache_ttl: s.negative_cache_ttl,
            on_unavailable: s.on_unavailable,
            token_header: s.token_header,
            token_cookie: s.token_cookie,
            opaque_only: s.opaque_only,
            rules: s.rules,
            cache: arc_swap::ArcSwap::from_pointee(IntrospectionCache::new(s.cache_size)),
            cache_size: s.cache_size,
            breaker: CircuitBreaker::new(s.failure_threshold, s.cool_down),
            max_concurrent_calls: s.max_concurrent_calls,
            calls_in_flight: AtomicUsize::new(0),
        }
    }

    /// Claims a slot for one call; `false` when `max_concurrent_calls` are
    /// already running. Pair with [`Self::call_done`].
    pub fn claim_call(&self) -> bool {
        self.calls_in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_concurrent_calls).then_some(n + 1)
            })
            .is_ok()
    }

    pub fn call_done(&self) {
        self.calls_in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// The cached outcome of a token (`None`: no answer stands).
    pub fn cached(&self, key: &TokenKey, now_ms: u64) -> Option<Result<Arc<Principal>, AuthError>> {
        self.cache.load().get(key, now_ms)
    }

    /// Takes over the answers of the same endpoint, client and validation
    /// in a previous policy, so a reload does not re-introspect every token.
    pub fn inherit(&self, previous: &IntrospectionSource) {
        let same = previous.url == self.url
            && previous.client_id == self.client_id
            && previous.cache_size == self.cache_size
            && previous.rules.issuers == self.rules.issuers
            && previous.rules.audiences == self.rules.audiences
            && previous.rules.leeway_secs == self.rules.leeway_secs;
        if same {
            self.cache.store(previous.cache.load_full());
        }
    }

    /// The token this source introspects, if the request carries one.
    pub fn token<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let token = bearer(headers, &self.token_header, self.token_cookie.as_deref())?;
        let jwt_for_the_verifier = self.opaque_only && looks_like_jwt(token);
        (!token.is_empty() && !jwt_for_the_verifier).then_some(token)
    }

    /// The cached outcome of a token, as the identity check sees it: a miss
    /// means the gateway could not introspect it (endpoint down, breaker
    /// open, timeout).
    pub fn authenticate(&self, token: &str, now_ms: u64) -> Result<Arc<Principal>, AuthError> {
        self.cached(&token_key(token), now_ms)
            .unwrap_or(Err(AuthError::IntrospectionUnavailable))
    }

    /// Stores an endpoint's answer with its TTL.
    pub fn remember(&self, key: TokenKey, answer: Answer, now_ms: u64) {
        match answer {
            Answer::Active(principal) => {
                // `exp` is honoured with the same leeway it was checked with.
                let exp_ms =
                    principal
                        .claims
                        .get("exp")
                        .and_then(Value::as_u64)
                        .map_or(u64::MAX, |e| {
                            e.saturating_add(self.rules.leeway_secs)
                                .saturating_mul(1000)
                        });
                let until = exp_ms.min(now_ms.saturating_add(self.cache_ttl.as_millis() as u64));
                self.cache
                    .load()
                    .put(key, Ok(Arc::new(principal)), until, now_ms);
            }
            Answer::Refused(error) => {
                let until = now_ms.saturating_add(self.negative_cache_ttl.as_millis() as u64);
                self.cache.load().put(key, Err(error), until, now_ms);
            }
        }
    }

    /// The form body of the introspection request.
    pub fn request_body(&self, token: &str) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", token);
        form.append_pair("token_type_hint", "access_token");
        if self.client_auth == ClientAuth::Post {
            form.append_pair("client_id", &self.client_id);
            form.append_pair("client_secret", &self.client_secret);
        }
        form.finish()
    }

    /// The `Authorization` value for `client_secret_basic` (RFC 6749
    /// §2.3.1: id and secret form-encoded first).
    pub fn authorization(&self) -> Option<String> {
        if self.client_auth != ClientAuth::Basic {
            return None;
        }
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", enc(&self.client_id), enc(&self.client_secret));
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }
}

/// A bearer token from `header` (the `Bearer ` scheme required for
/// `authorization`, optional for others), then from the cookie.
pub fn bearer<'h>(headers: &'h HeaderMap, header: &str, cookie: Option<&str>) -> Option<&'h str> {
    if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        return match v.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("bearer ") => Some(v[7..].trim_start()),
            _ if header == "authorization" => None,
            _ => Some(v),
        };
    }
    let cookie = cookie?;
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| n.trim() == cookie)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(auth: ClientAuth) -> IntrospectionSource {
        IntrospectionSource::new(SourceSettings {
            url: "http://idp/introspect".into(),
            client_id: "gate way".into(),
            client_secret: "s3cr:t".into(),
            client_auth: auth,
            timeout: Duration::from_secs(1),
            cache_ttl: Duration::from_secs(60),
            negative_cache_ttl: Duration::from_secs(5),
            cache_size: 32,
            failure_threshold: 3,
            cool_down: Duration::from_secs(10),
            max_concurrent_calls: 2,
            on_unavailable: StatusCode::SERVICE_UNAVAILABLE,
            token_header: "authorization".into(),
            token_cookie: Some("at".into()),
            opaque_only: true,
            rules: AnswerRules {
                issuers: vec!["https://idp".into()],
                audiences: vec!["api".into()],
                leeway_secs: 0,
            },
        })
    }

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(!looks_like_jwt("opaque-token-123"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt("a..c"));
        assert!(!looks_like_jwt("a.b.c="));
    }

    #[test]
    fn tokens_are_read_and_jwts_left_to_the_verifier() {
        let s = source(ClientAuth::Basic);
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer opaque1".parse().unwrap());
        assert_eq!(s.token(&h), Some("opaque1"));
        h.insert(
            header::AUTHORIZATION,
            "Bearer eyJh.eyJz.c2ln".parse().unwrap(),
        );
        assert_eq!(s.token(&h), None, "JWT-shaped: the JWT verifier's");
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(s.token(&h), None);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "x=1; at=fromcookie".parse().unwrap());
        assert_eq!(s.token(&h), Some("fromcookie"));
    }

    #[test]
    fn answers_map_to_principals_and_refusals() {
        let rules = &source(ClientAuth::Basic).rules;
        let now = 1_000;
        let ok = br#"{"active":true,"scope":"users:read users:write","client_id":"app","username":"ada","iss":"https://idp","aud":["x","api"],"exp":2000,"tenant":"t1"}"#;
        let Ok(Answer::Active(p)) = rules.evaluate(ok, now) else {
            panic!("active token refused");
        };
        assert_eq!(p.subject.as_deref(), Some("ada"), "username when no sub");
        assert_eq!(p.scopes, ["users:read", "users:write"]);
        assert_eq!(p.source, PrincipalSource::Introspection);
        assert_eq!(p.claims["tenant"], "t1");
        let with_sub =
            br#"{"active":true,"sub":"u1","username":"ada","iss":"https://idp","aud":"api"}"#;
        let Ok(Answer::Active(p)) = rules.evaluate(with_sub, now) else {
            panic!("refused");
        };
        assert_eq!(p.subject.as_deref(), Some("u1"));
        let refused = |body: &[u8]| match rules.evaluate(body, now) {
            Ok(Answer::Refused(e)) => e,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(refused(br#"{"active":false}"#), AuthError::Inactive);
        assert_eq!(
            refused(br#"{"active":true,"exp":1000,"iss":"https://idp","aud":"api"}"#),
            AuthError::Expired
        );
        assert_eq!(
            refused(br#"{"active":true,"nbf":1001,"iss":"https://idp","aud":"api"}"#),
            AuthError::NotYetValid
        );
        assert_eq!(
            refused(br#"{"active":true,"iss":"https://evil","aud":"api"}"#),
            AuthError::Issuer
        );
        assert_eq!(
            refused(br#"{"active":true,"iss":"https://idp","aud":["web"]}"#),
            AuthError::Audience
        );
        assert!(rules.evaluate(b"<html>", now).is_err());
        assert!(rules.evaluate(br#"{"active":"yes"}"#, now).is_err());
        assert!(rules.evaluate(b"[]", now).is_err());
    }

    #[test]
    fn ttl_is_bounded_by_exp_and_refusals_by_the_negative_ttl() {
        let s = source(ClientAuth::Basic);
        let mut claims = serde_json::Map::new();
        claims.insert("exp".into(), 30.into());
        let p = Principal::from_claims(claims, PrincipalSource::Introspection);
        s.remember(token_key("a"), Answer::Active(p), 10_000);
        assert!(s.authenticate("a", 29_999).is_ok());
        assert_eq!(
            s.authenticate("a", 30_000).unwrap_err(),
            AuthError::IntrospectionUnavailable,
            "exp (30 s) bounds the 60 s TTL"
        );
        let p = Principal::named("b", &[], PrincipalSource::Introspection);
        s.remember(token_key("b"), Answer::Active(p), 0);
        assert!(s.authenticate("b", 59_999).is_ok());
        assert!(s.authenticate("b", 60_000).is_err(), "cache_ttl");
        s.remember(token_key("c"), Answer::Refused(AuthError::Inactive), 0);
        assert_eq!(s.authenticate("c", 4_999).unwrap_err(), AuthError::Inactive);
        assert_eq!(
            s.authenticate("c", 5_000).unwrap_err(),
            AuthError::IntrospectionUnavailable
        );
    }

    #[test]
    fn a_reloaded_source_inherits_the_answers_of_the_same_endpoint() {
        let old = source(ClientAuth::Basic);
        old.remember(token_key("t"), Answer::Refused(AuthError::Inactive), 0);
        let next = source(ClientAuth::Post);
        next.inherit(&old);
        assert_eq!(next.authenticate("t", 1).unwrap_err(), AuthError::Inactive);
        let mut other = source(ClientAuth::Basic);
        other.url = "http://other/introspect".into();
        other.inherit(&old);
        assert_eq!(
            other.authenticate("t", 1).unwrap_err(),
            AuthError::IntrospectionUnavailable,
            "another endpoint starts empty"
        );
    }

    #[test]
    fn concurrent_calls_are_bounded() {
        let s = source(ClientAuth::Basic);
        assert!(s.claim_call() && s.claim_call());
        assert!(!s.claim_call(), "max_concurrent_calls is 2");
        s.call_done();
        assert!(s.claim_call());
    }

    #[test]
    fn cache_is_bounded() {
        let cache = IntrospectionCache::new(32);
        for i in 0..10_000u32 {
            let key = token_key(&i.to_string());
            cache.put(key, Err(AuthError::Inactive), u64::MAX, 0);
        }
        assert!(cache.len() <= 32, "{} entries", cache.len());
        let last = token_key("9999");
        assert!(cache.get(&last, 0).is_some(), "the newest entry is kept");
    }

    #[test]
    fn client_authentication() {
        let basic = source(ClientAuth::Basic);
        // base64("gate+way:s3cr%3At")
        assert_eq!(
            basic.authorization().as_deref(),
            Some("Basic Z2F0ZSt3YXk6czNjciUzQXQ=")
        );
        assert_eq!(
            basic.request_body("t&k"),
            "token=t%26k&token_type_hint=access_token"
        );
        let post = source(ClientAuth::Post);
        assert_eq!(post.authorization(), None);
        assert_eq!(
            post.request_body("t"),
            "token=t&token_type_hint=access_token&client_id=gate+way&client_secret=s3cr%3At"
        );
        assert!(
            !format!("{post:?}").contains("s3cr"),
            "the secret is never printed"
        );
    }

    #[test]
    fn breaker_opens_fails_fast_then_probes_once() {
        let b = CircuitBreaker::new(3, Duration::from_secs(10));
        assert_eq!(b.admit(0), Admission::Call);
        assert_eq!(b.failure(0), Transition::None);
        assert_eq!(b.failure(0), Transition::None);
        assert_eq!(b.success(), Transition::None, "success resets the count");
        for _ in 0..2 {
            assert_eq!(b.failure(100), Transition::None);
        }
        assert_eq!(b.failure(100), Transition::Opened);
        assert!(b.is_open(5_000));
        assert_eq!(b.admit(5_000), Admission::Refuse);
        assert_eq!(b.admit(10_100), Admission::Probe);
        assert_eq!(b.admit(10_100), Admission::Refuse, "one probe at a time");
        assert_eq!(
            b.failure(10_200),
            Transition::Opened,
            "failed probe reopens"
        );
        assert_eq!(b.admit(15_000), Admission::Refuse);
        assert_eq!(b.admit(20_200), Admission::Probe);
        assert_eq!(b.success(), Transition::Closed);
        assert!(!b.is_open(20_300));
        assert_eq!(b.admit(20_300), Admission::Call);
    }
}
