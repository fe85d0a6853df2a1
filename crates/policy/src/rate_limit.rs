//! The pure half of rate limiting: building a limit's key from the request
//! view, and the findings a limit produces. Counting happens in the gateway
//! (the store may be Redis, which is I/O); what is counted, and how a limit
//! is reported, is decided here so the offline tools and docs agree with the
//! gateway.
//!
//! Keys are `limit-name|part|part…`. Secrets (bearer tokens, API keys) enter
//! a key only as a fingerprint (the first 16 bytes of their SHA-256, hex), so
//! they never reach Redis or a log. A limit whose key part is absent from a
//! request (no such header, no such body field) does not apply to it.

use std::borrow::Cow;
use std::io::Write;

use http::StatusCode;
use sha2::{Digest, Sha256};

use crate::config::Mode;
use crate::config::rate_limits::{KeyPart, Unauthenticated};
use crate::exchange::Exchange;
use crate::finding::{Finding, Severity};

/// Appends the key of a limit named `name` with `parts` for this request to
/// `out`; returns false (and leaves `out` as it was) when a part is absent.
/// `principal` and `claim:NAME` parts of an unauthenticated request are
/// absent too (see [`build_limit_key`] for the client-IP fallback).
pub fn build_key(
    name: &str,
    parts: &[KeyPart],
    exchange: &Exchange<'_>,
    out: &mut Vec<u8>,
) -> bool {
    build_limit_key(name, parts, Unauthenticated::Skip, exchange, out)
}

/// [`build_key`], with what a `principal` or `claim:NAME` part becomes when
/// the identity check verified no caller: with [`Unauthenticated::ClientIp`]
/// it is `%anon:` and the client IP (a `%` followed by letters never comes
/// out of escaping, so no subject can forge it). An authenticated caller
/// without the claim is absent whatever the setting.
pub fn build_limit_key(
    name: &str,
    parts: &[KeyPart],
    unauthenticated: Unauthenticated,
    exchange: &Exchange<'_>,
    out: &mut Vec<u8>,
) -> bool {
    let start = out.len();
    out.extend_from_slice(name.as_bytes());
    for part in parts {
        out.push(b'|');
        let present = match part {
            KeyPart::Principal | KeyPart::Claim(_)
                if exchange.principal().is_none()
                    && unauthenticated == Unauthenticated::ClientIp =>
            {
                out.extend_from_slice(b"%anon:");
                crate::client_ip::push_ip(out, exchange.client_ip);
                true
            }
            _ => push_part(part, exchange, out),
        };
        if !present {
            out.truncate(start);
            return false;
        }
    }
    true
}

/// The value of one key part for this request (escaped as in keys), if present.
pub fn part_value(part: &KeyPart, exchange: &Exchange<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    push_part(part, exchange, &mut out).then_some(out)
}

fn push_part(part: &KeyPart, exchange: &Exchange<'_>, out: &mut Vec<u8>) -> bool {
    match part {
        KeyPart::ClientIp => crate::client_ip::push_ip(out, exchange.client_ip),
        KeyPart::Route => out.extend_from_slice(exchange.route_name.as_bytes()),
        KeyPart::Operation => {
            out.extend_from_slice(exchange.operation_id().unwrap_or("-").as_bytes())
        }
        KeyPart::Method => out.extend_from_slice(exchange.method.as_str().as_bytes()),
        KeyPart::Header(name) => match exchange.headers.get(name.as_str()) {
            Some(v) => push_escaped(v.as_bytes(), out),
            None => return false,
        },
        KeyPart::Query(name) => match exchange.query_pairs().iter().find(|(k, _)| k == name) {
            Some((_, v)) => push_escaped(v.as_bytes(), out),
            None => return false,
        },
        KeyPart::Token => match bearer_token(exchange) {
            Some(t) => push_fingerprint(t.as_bytes(), out),
            None => return false,
        },
        KeyPart::ApiKey(header) => match exchange.headers.get(header.as_str()) {
            Some(v) if !v.is_empty() => push_fingerprint(v.as_bytes(), out),
            _ => return false,
        },
        KeyPart::Body(pointer) => match body_value(exchange, pointer) {
            Some(v) => push_escaped(v.as_bytes(), out),
            None => return false,
        },
        // Only what the identity check verified: never a claim read from
        // an unverified token.
        KeyPart::Principal => match exchange.principal().and_then(|p| p.subject.as_deref()) {
            Some(subject) if !subject.is_empty() => push_escaped(subject.as_bytes(), out),
            _ => return false,
        },
        KeyPart::Claim(name) => match exchange
            .principal()
            .and_then(|p| p.claim(name))
            .and_then(portcullis_identity::principal::claim_text)
        {
            Some(text) if !text.is_empty() => push_escaped(text.as_bytes(), out),
            _ => return false,
        },
    }
    true
}

/// `|` separates parts: a value containing one cannot forge another key.
fn push_escaped(value: &[u8], out: &mut Vec<u8>) {
    for &b in value {
        if b == b'|' || b == b'%' {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(b);
        }
    }
}

fn push_fingerprint(secret: &[u8], out: &mut Vec<u8>) {
    let digest = Sha256::digest(secret);
    for b in &digest[..16] {
        let _ = write!(out, "{b:02x}");
    }
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token<'a>(exchange: &Exchange<'a>) -> Option<&'a str> {
    let headers: &'a http::HeaderMap = exchange.headers;
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A scalar body value by JSON pointer (JSON bodies), or the form field
/// named by the pointer's first segment (form bodies).
pub fn body_value<'e>(exchange: &'e Exchange<'_>, pointer: &str) -> Option<Cow<'e, str>> {
    use crate::body::ParsedBody;
    match exchange.parsed_body()? {
        ParsedBody::Json(v) => match v.pointer(pointer)? {
            serde_json::Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
            serde_json::Value::Number(n) => Some(Cow::Owned(n.to_string())),
            serde_json::Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        },
        ParsedBody::Form(pairs) => {
            let name = pointer.trim_start_matches('/');
            pairs
                .iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| Cow::Borrowed(v.as_str()))
        }
        _ => None,
    }
}

/// The finding of a request over a limit (answered 429 with the rate-limit headers).
pub fn rate_limited(limit_name: &str, mode: Mode) -> Finding {
    Finding {
        check: "rate_limits",
        rule: "limits.rate",
        severity: Severity::Error,
        status: StatusCode::TOO_MANY_REQUESTS,
        location: Cow::Owned(format!("limit.{limit_name}")),
        reason: Cow::Borrowed("rate limit exceeded"),
        excerpt: None,
        mode,
    }
}

/// A request from a client on the shared ban list (a honeypot hit, a
/// credential-stuffing source, or a ban set through the admin API).
pub fn banned(mode: Mode) -> Finding {
    Finding {
        check: "abuse",
        rule: "abuse.banned",
        severity: Severity::Critical,
        status: StatusCode::FORBIDDEN,
        location: Cow::Borrowed("client.ip"),
        reason: Cow::Borrowed("client banned"),
        excerpt: None,
        mode,
    }
}

/// A client on the runtime deny list (`access_lists`, edited through the
/// admin API); the excerpt is its address.
pub fn access_list_denied(ip: std::net::IpAddr, mode: Mode) -> Finding {
    Finding {
        check: "access_list",
        rule: "access_list.deny",
        severity: Severity::Error,
        status: StatusCode::FORBIDDEN,
        location: Cow::Borrowed("client.ip"),
        reason: Cow::Borrowed("client address is denied"),
        excerpt: Some(ip.to_string()),
        mode,
    }
}

/// A request that touched a decoy path or body field.
pub fn honeypot(location: String, mode: Mode) -> Finding {
    Finding {
        check: "abuse",
        rule: "abuse.honeypot",
        severity: Severity::Critical,
        status: StatusCode::NOT_FOUND,
        location: Cow::Owned(location),
        reason: Cow::Borrowed("not found"),
        excerpt: None,
        mode,
    }
}

/// A login attempt while its IP, username, pair or the whole login is locked out.
pub fn brute_force(location: &'static str, mode: Mode) -> Finding {
    Finding {
        check: "abuse",
        rule: "abuse.brute_force",
        severity: Severity::Error,
        status: StatusCode::TOO_MANY_REQUESTS,
        location: Cow::Borrowed(location),
        reason: Cow::Borrowed("too many failed logins"),
        excerpt: None,
        mode,
    }
}

/// A login attempt from an address without a successful login while the
/// failed-login ratio of every client spiked (`brute_force.failure_ratio`).
pub fn failure_ratio_spike(mode: Mode) -> Finding {
    Finding {
        check: "abuse",
        rule: "abuse.failure_ratio_spike",
        severity: Severity::Error,
        status: StatusCode::TOO_MANY_REQUESTS,
        location: Cow::Borrowed("login.global"),
        reason: Cow::Borrowed("logins are restricted while under attack"),
        excerpt: None,
        mode,
    }
}

/// A login attempt from an IP or on a username flagged for credential
/// stuffing (many usernames from one IP, many IPs on one username).
pub fn credential_stuffing(location: &'static str, mode: Mode) -> Finding {
    Finding {
        check: "abuse",
        rule: "abuse.credential_stuffing",
        severity: Severity::Error,
        status: StatusCode::TOO_MANY_REQUESTS,
        location: Cow::Borrowed(location),
        reason: Cow::Borrowed("too many failed logins"),
        excerpt: None,
        mode,
    }
}

/// The finding of a request refused because the shared store could not be
/// reached and the limit is `fail_closed`.
pub fn store_unavailable(limit_name: &str, mode: Mode) -> Finding {
    Finding {
        check: "rate_limits",
        rule: "limits.store_unavailable",
        severity: Severity::Error,
        status: StatusCode::SERVICE_UNAVAILABLE,
        location: Cow::Owned(format!("limit.{limit_name}")),
        reason: Cow::Borrowed("rate limit state unavailable"),
        excerpt: None,
        mode,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, Method};

    use super::*;
    use crate::exchange::ExchangeHead;

    fn key(parts: &[&str], ex: &Exchange<'_>) -> Option<String> {
        let parts: Vec<KeyPart> = parts.iter().map(|p| p.parse().unwrap()).collect();
        let mut out = b"junk".to_vec();
        build_key("l", &parts, ex, &mut out).then(|| String::from_utf8(out[4..].to_vec()).unwrap())
    }

    #[test]
    fn keys_from_every_part() {
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", "acme|x".parse().unwrap());
        headers.insert("authorization", "Bearer abc.def".parse().unwrap());
        headers.insert("x-api-key", "k1".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        let method = Method::POST;
        let mut ex = Exchange::new(ExchangeHead {
            request_id: "r",
            client_ip: "192.0.2.7".parse().unwrap(),
            peer_identity: None,
            method: &method,
            host: "h",
            path: "/login",
            raw_query: Some("user=bob"),
            headers: &headers,
            uri_len: 10,
            route_name: "api",
        });
        ex.attach_body(Bytes::from_static(br#"{"username":"alice","n":3,"o":{}}"#));
        ex.set_operation_id("login");
        assert_eq!(key(&["client_ip"], &ex).unwrap(), "l|192.0.2.7");
        assert_eq!(
            key(&["route", "operation", "method"], &ex).unwrap(),
            "l|api|login|POST"
        );
        assert_eq!(key(&["header:x-tenant"], &ex).unwrap(), "l|acme%7Cx");
        assert_eq!(key(&["query:user"], &ex).unwrap(), "l|bob");
        assert_eq!(
            key(&["body:/username", "client_ip"], &ex).unwrap(),
            "l|alice|192.0.2.7"
        );
        assert_eq!(key(&["body:/n"], &ex).unwrap(), "l|3");
        let token = key(&["token"], &ex).unwrap();
        assert_eq!(token.len(), 2 + 32);
        assert!(
            !token.contains("abc"),
            "the token itself never enters a key"
        );
        assert_ne!(key(&["api_key:x-api-key"], &ex).unwrap(), token);
        for absent in [
            &["header:x-none"][..],
            &["query:none"],
            &["body:/o"],
            &["body:/none"],
            &["principal"],
        ] {
            assert_eq!(key(absent, &ex), None, "{absent:?}");
        }
    }

    #[test]
    fn identity_parts_read_only_the_verified_principal() {
        let mut headers = HeaderMap::new();
        // An unverified token's claims never key a limit.
        headers.insert(
            "authorization",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0."
                .parse()
                .unwrap(),
        );
        let method = Method::GET;
        let head = || ExchangeHead {
            request_id: "r",
            client_ip: "192.0.2.9".parse().unwrap(),
            peer_identity: None,
            method: &method,
            host: "h",
            path: "/",
            raw_query: None,
            headers: &headers,
            uri_len: 1,
            route_name: "api",
        };
        let parts = |p: &[&str]| -> Vec<KeyPart> { p.iter().map(|p| p.parse().unwrap()).collect() };
        let limit_key = |ex: &Exchange<'_>, p: &[&str], u: Unauthenticated| {
            let mut out = Vec::new();
            build_limit_key("l", &parts(p), u, ex, &mut out)
                .then(|| String::from_utf8(out).unwrap())
        };
        let anonymous = Exchange::new(head());
        assert_eq!(
            limit_key(&anonymous, &["principal"], Unauthenticated::ClientIp).as_deref(),
            Some("l|%anon:192.0.2.9")
        );
        assert_eq!(
            limit_key(
                &anonymous,
                &["claim:tenant", "route"],
                Unauthenticated::ClientIp
            )
            .as_deref(),
            Some("l|%anon:192.0.2.9|api")
        );
        assert_eq!(
            limit_key(&anonymous, &["principal"], Unauthenticated::Skip),
            None
        );

        let known = Exchange::new(head());
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), "alice|x%".into());
        claims.insert("tenant".into(), "acme".into());
        claims.insert("org".into(), serde_json::json!({"id": 7}));
        known.set_principal(std::sync::Arc::new(
            portcullis_identity::Principal::from_claims(
                claims,
                portcullis_identity::PrincipalSource::Jwt,
            ),
        ));
        for u in [Unauthenticated::ClientIp, Unauthenticated::Skip] {
            assert_eq!(
                limit_key(&known, &["principal"], u).as_deref(),
                Some("l|alice%7Cx%25"),
                "escaped: no subject can forge another key or the anonymous marker"
            );
            assert_eq!(
                limit_key(&known, &["claim:tenant", "claim:org.id"], u).as_deref(),
                Some("l|acme|7")
            );
            assert_eq!(
                limit_key(&known, &["claim:missing"], u),
                None,
                "an authenticated caller without the claim is not counted"
            );
        }
    }
}
