//! Proxy header semantics: hop-by-hop headers removed in both directions,
//! `X-Forwarded-For/-Proto/-Host` and `Forwarded` written so the upstream can
//! trust them (appended to only when the peer is a trusted proxy, replaced
//! otherwise), the request id propagated, and WebSocket upgrades kept intact.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// True for a WebSocket (or other) upgrade request the proxy should pass through.
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Headers that describe one hop and must not be forwarded.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == header::CONNECTION
        || *name == KEEP_ALIVE
        || *name == PROXY_CONNECTION
        || *name == header::PROXY_AUTHORIZATION
        || *name == header::TE
        || *name == header::TRAILER
        || *name == header::TRANSFER_ENCODING
        || *name == header::UPGRADE
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
/// With `keep_upgrade`, `Upgrade` survives and `Connection: upgrade` is re-set.
/// The common case (none present) is one pass over the names, no hashing.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // One pass over the names finds what is present; only those are removed.
    let mut present: [Option<HeaderName>; 8] = Default::default();
    let mut count = 0;
    for name in headers.keys() {
        if is_hop_by_hop(name)
            && count < present.len()
            && !present[..count].iter().any(|p| p.as_ref() == Some(name))
        {
            present[count] = Some(name.clone());
            count += 1;
        }
    }
    if count == 0 {
        return;
    }
    let names_others = headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes().split(|b| *b == b',').any(|token| {
            let token = token.trim_ascii();
            !(token.eq_ignore_ascii_case(b"keep-alive")
                || token.eq_ignore_ascii_case(b"close")
                || token.eq_ignore_ascii_case(b"upgrade"))
        })
    });
    if names_others {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .filter(|n| !is_hop_by_hop(n))
            .collect();
        for name in named {
            headers.remove(&name);
        }
    }
    for name in present.iter().take(count).flatten() {
        if !(keep_upgrade && *name == header::UPGRADE) {
            headers.remove(name);
        }
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

pub struct ForwardedFor<'a> {
    pub peer_ip: IpAddr,
    pub peer_trusted: bool,
    pub proto: &'static str,
    pub host: &'a str,
}

/// Writes an IP address without going through `fmt` (this runs per request).
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                let o = *octet;
                if o >= 100 {
                    out.push(b'0' + o / 100);
                }
                if o >= 10 {
                    out.push(b'0' + (o / 10) % 10);
                }
                out.push(b'0' + o % 10);
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

fn value(bytes: Vec<u8>) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(bytes)).ok()
}

/// Appends the existing values of `name` (comma-joined) to `out`; false if none.
fn push_existing(out: &mut Vec<u8>, headers: &HeaderMap, name: &HeaderName) -> bool {
    let mut any = false;
    for v in headers.get_all(name) {
        if any {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(v.as_bytes());
        any = true;
    }
    any
}

/// Writes the forwarding headers on a request about to go upstream.
pub fn set_forwarding_headers(headers: &mut HeaderMap, f: &ForwardedFor<'_>) {
    // Up to five headers are added: grow the map once, not per insert.
    headers.reserve(5);
    let mut xff = Vec::with_capacity(48);
    if f.peer_trusted && push_existing(&mut xff, headers, &X_FORWARDED_FOR) {
        xff.extend_from_slice(b", ");
    }
    push_ip(&mut xff, f.peer_ip);
    if let Some(v) = value(xff) {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    if !(f.peer_trusted && headers.contains_key(&X_FORWARDED_PROTO)) {
        headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(f.proto));
    }
    if !(f.peer_trusted && headers.contains_key(&X_FORWARDED_HOST))
        && let Ok(v) = HeaderValue::from_str(f.host)
    {
        headers.insert(X_FORWARDED_HOST.clone(), v);
    }
    let mut forwarded = Vec::with_capacity(64);
    if f.peer_trusted && push_existing(&mut forwarded, headers, &FORWARDED) {
        forwarded.extend_from_slice(b", ");
    }
    forwarded.extend_from_slice(b"for=");
    match f.peer_ip {
        IpAddr::V4(_) => push_ip(&mut forwarded, f.peer_ip),
        IpAddr::V6(_) => {
            forwarded.extend_from_slice(b"\"[");
            push_ip(&mut forwarded, f.peer_ip);
            forwarded.extend_from_slice(b"]\"");
        }
    }
    forwarded.extend_from_slice(b";proto=");
    forwarded.extend_from_slice(f.proto.as_bytes());
    // RFC 7239: a value that is not a token (a port's ':' or an IPv6 '[')
    // is a quoted string.
    let host_chars_ok = !f.host.is_empty()
        && f.host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:[]".contains(&b));
    if host_chars_ok {
        let quoted = f.host.bytes().any(|b| b":[]".contains(&b));
        forwarded.extend_from_slice(b";host=");
        if quoted {
            forwarded.push(b'"');
        }
        forwarded.extend_from_slice(f.host.as_bytes());
        if quoted {
            forwarded.push(b'"');
        }
    }
    if let Some(v) = value(forwarded) {
        headers.insert(FORWARDED.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "keep-alive, x-secret".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert(header::TE, "trailers".parse().unwrap());
        h.insert(header::UPGRADE, "h2c".parse().unwrap());
        h.insert("x-kept", "yes".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn upgrade_is_kept_for_websockets() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "Upgrade".parse().unwrap());
        h.insert(header::UPGRADE, "websocket".parse().unwrap());
        assert!(is_upgrade_request(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get(header::UPGRADE).unwrap(), "websocket");
        assert_eq!(h.get(header::CONNECTION).unwrap(), "upgrade");
    }

    #[test]
    fn spoofed_forwarding_headers_are_replaced_for_untrusted_peers() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        let f = ForwardedFor {
            peer_ip: "1.2.3.4".parse().unwrap(),
            peer_trusted: false,
            proto: "http",
            host: "api.test",
        };
        set_forwarding_headers(&mut h, &f);
        assert_eq!(h.get("x-forwarded-for").unwrap(), "1.2.3.4");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "http");
        assert_eq!(h.get("x-forwarded-host").unwrap(), "api.test");
        assert_eq!(
            h.get("forwarded").unwrap(),
            "for=1.2.3.4;proto=http;host=api.test"
        );
    }

    #[test]
    fn trusted_peers_get_appended_to() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.5".parse().unwrap());
        let f = ForwardedFor {
            peer_ip: "::1".parse().unwrap(),
            peer_trusted: true,
            proto: "https",
            host: "a",
        };
        set_forwarding_headers(&mut h, &f);
        assert_eq!(h.get("x-forwarded-for").unwrap(), "203.0.113.5, ::1");
        assert_eq!(
            h.get("forwarded").unwrap(),
            "for=\"[::1]\";proto=https;host=a"
        );
    }
}
