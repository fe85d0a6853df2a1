//! Protocol-level request checks shared by the gateway and the offline `check`
//! command: size limits (414 / 431 / 413) and message-framing shapes used for
//! request smuggling. The gateway's HTTP parser refuses the grossest framing
//! errors itself; these rules refuse the ambiguous ones a lenient parser would
//! accept and a back end might read differently.

use http::{HeaderMap, StatusCode, Uri, Version, header};

use crate::config::{Mode, ProtocolLimits};
use crate::finding::{Finding, Severity};

fn violation(
    rule: &'static str,
    status: StatusCode,
    location: &'static str,
    reason: &'static str,
) -> Finding {
    Finding {
        check: "protocol",
        rule,
        severity: Severity::Critical,
        status,
        location: location.into(),
        reason: reason.into(),
        excerpt: None,
        mode: Mode::Block,
    }
}

/// Size of the request head as the client sent it (request line + header fields).
pub fn head_bytes(method_len: usize, uri_len: usize, headers: &HeaderMap) -> usize {
    let fields: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    method_len + uri_len + 11 + fields + 2
}

/// Limits on the request head. Returns the first violation.
pub fn check_head_limits(
    limits: &ProtocolLimits,
    method_len: usize,
    uri_len: usize,
    headers: &HeaderMap,
) -> Option<Finding> {
    if uri_len as u64 > limits.max_uri_bytes.0 {
        return Some(uri_too_long());
    }
    if headers.len() > limits.max_headers
        || head_bytes(method_len, uri_len, headers) as u64 > limits.max_header_bytes.0
    {
        return Some(header_too_large());
    }
    if let Some(len) = declared_length(headers)
        && len > limits.max_body_bytes.0
    {
        return Some(violation(
            "protocol.body_too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            "header.content-length",
            "request body too large",
        ));
    }
    None
}

/// The request target is longer than `limits.max_uri_bytes`.
pub fn uri_too_long() -> Finding {
    violation(
        "protocol.uri_too_long",
        StatusCode::URI_TOO_LONG,
        "uri",
        "request target too long",
    )
}

/// The head is larger than `limits.max_header_bytes` or has more than
/// `limits.max_headers` fields.
pub fn header_too_large() -> Finding {
    violation(
        "protocol.header_too_large",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers",
        "request header fields too large",
    )
}

/// The request head is not valid HTTP/1.x (the parser names what is wrong
/// in the excerpt).
pub fn malformed_head(what: &'static str) -> Finding {
    let mut f = violation(
        "protocol.malformed",
        StatusCode::BAD_REQUEST,
        "head",
        "malformed request",
    );
    f.excerpt = Some(what.to_owned());
    f
}

/// Parses a request target, accepting the bytes RFC 3986 leaves out of a URI
/// but that clients send as typed: curl and most HTTP libraries pass `{`,
/// `}`, `|`, `"`, `<`, `>`, `\`, `^`, `` ` `` and UTF-8 through unencoded,
/// and nginx or Node accept them. Such a target is percent-encoded byte by
/// byte (nothing else changes; `%` stays as it is), so it routes, is
/// inspected by every check and reaches the upstream as one valid URI
/// instead of being refused unseen. Control bytes and spaces are never
/// accepted (the head parser refuses them first).
///
/// `target` is shared, not copied, when it parses as it is.
pub fn parse_request_target(target: bytes::Bytes) -> Result<Uri, http::uri::InvalidUri> {
    match Uri::from_maybe_shared(target.clone()) {
        Ok(uri) => Ok(uri),
        Err(refused) => {
            if !target.iter().any(|&b| needs_encoding(b))
                || target.iter().any(|&b| b <= b' ' || b == 0x7f)
            {
                return Err(refused);
            }
            let mut encoded = Vec::with_capacity(target.len() + 16);
            for &b in target.iter() {
                if needs_encoding(b) {
                    const HEX: &[u8; 16] = b"0123456789ABCDEF";
                    encoded.extend_from_slice(&[
                        b'%',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 15)],
                    ]);
                } else {
                    encoded.push(b);
                }
            }
            Uri::from_maybe_shared(bytes::Bytes::from(encoded))
        }
    }
}

/// A printable byte a URI may not hold raw (RFC 3986 §2), or a non-ASCII one.
fn needs_encoding(b: u8) -> bool {
    matches!(
        b,
        b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
    ) || b >= 0x80
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Refuses ambiguous message framing (HTTP/1.x only; HTTP/2 frames bodies itself).
pub fn check_framing(version: Version, headers: &HeaderMap) -> Option<Finding> {
    if version >= Version::HTTP_2 {
        return None;
    }
    let te: Vec<_> = headers.get_all(header::TRANSFER_ENCODING).iter().collect();
    let cl: Vec<_> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    let smuggling = |reason: &'static str| {
        Some(violation(
            "protocol.smuggling",
            StatusCode::BAD_REQUEST,
            "headers",
            reason,
        ))
    };
    if !te.is_empty() {
        if !cl.is_empty() {
            return smuggling("both Content-Length and Transfer-Encoding");
        }
        if version == Version::HTTP_10 {
            return smuggling("Transfer-Encoding in an HTTP/1.0 request");
        }
        let codings: Vec<String> = te
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
        if codings.len()
            != te
                .iter()
                .map(|v| v.as_bytes().split(|b| *b == b',').count())
                .sum::<usize>()
            || codings.last().map(String::as_str) != Some("chunked")
            || codings.iter().filter(|c| c.as_str() == "chunked").count() != 1
            || codings.iter().any(|c| c.is_empty())
        {
            return smuggling("unsupported or ambiguous Transfer-Encoding");
        }
    }
    if cl.len() > 1
        || cl.iter().any(|v| {
            let s = v.as_bytes();
            s.is_empty() || !s.iter().all(u8::is_ascii_digit)
        })
    {
        return smuggling("invalid or repeated Content-Length");
    }
    None
}

/// The request path could not be normalized.
pub fn bad_path(err: &crate::path::PathError) -> Finding {
    let mut f = violation(
        "protocol.bad_path",
        StatusCode::BAD_REQUEST,
        "path",
        "malformed request path",
    );
    f.excerpt = Some(err.to_string());
    f
}

/// A `CONNECT` request: the gateway is a reverse proxy, it opens no tunnels
/// (RFC 9110 §15.6.2: a method the server does not implement is a 501).
pub fn connect_not_implemented() -> Finding {
    violation(
        "protocol.connect",
        StatusCode::NOT_IMPLEMENTED,
        "method",
        "CONNECT tunnels are not offered by this gateway",
    )
}

/// No route matches the request (host + path).
pub fn no_route() -> Finding {
    let mut f = violation(
        "route.none",
        StatusCode::NOT_FOUND,
        "path",
        "no route for this request",
    );
    f.check = "router";
    f.severity = Severity::Warning;
    f
}

/// A chunked body grew past the route's limit while streaming.
pub fn body_too_large() -> Finding {
    violation(
        "protocol.body_too_large",
        StatusCode::PAYLOAD_TOO_LARGE,
        "body",
        "request body too large",
    )
}

/// A body the gateway had to read did not arrive within `limits.body_read_timeout`.
pub fn body_timeout() -> Finding {
    violation(
        "protocol.body_timeout",
        StatusCode::REQUEST_TIMEOUT,
        "body",
        "request body not received in time",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn raw_target_bytes_clients_send_are_encoded_and_the_rest_kept() {
        let target = |t: &'static [u8]| parse_request_target(bytes::Bytes::from_static(t));
        let uri = target(b"/a?q={\"k\":\"<v>\"}|x&p=50%25&c=\xc3\xa9").unwrap();
        assert_eq!(
            uri.to_string(),
            "/a?q=%7B%22k%22:%22%3Cv%3E%22%7D%7Cx&p=50%25&c=%C3%A9"
        );
        assert_eq!(uri.path(), "/a");
        // A valid target is parsed as it is.
        assert_eq!(target(b"/a/b?c=d").unwrap().to_string(), "/a/b?c=d");
        // Spaces and control bytes are never repaired.
        assert!(target(b"/a b").is_err());
        assert!(target(b"/a\x01<").is_err());
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let v11 = Version::HTTP_11;
        let bad = [
            vec![("content-length", "5"), ("transfer-encoding", "chunked")],
            vec![("transfer-encoding", "chunked, identity")],
            vec![("transfer-encoding", "gzip")],
            vec![
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
            vec![("transfer-encoding", "xchunked")],
            vec![("content-length", "5"), ("content-length", "5")],
            vec![("content-length", "+5")],
            vec![("content-length", "5 ")],
        ];
        for h in bad {
            assert!(check_framing(v11, &headers(&h)).is_some(), "{h:?}");
        }
        assert!(
            check_framing(
                Version::HTTP_10,
                &headers(&[("transfer-encoding", "chunked")])
            )
            .is_some()
        );
        for ok in [
            vec![("content-length", "5")],
            vec![("transfer-encoding", "gzip, chunked")],
            vec![],
        ] {
            assert!(check_framing(v11, &headers(&ok)).is_none(), "{ok:?}");
        }
    }

    #[test]
    fn head_limits_map_to_their_statuses() {
        let limits = ProtocolLimits::default();
        let f = check_head_limits(&limits, 3, 9000, &HeaderMap::new()).unwrap();
        assert_eq!(f.status, StatusCode::URI_TOO_LONG);
        let many: Vec<(String, String)> =
            (0..101).map(|i| (format!("x-h{i}"), "v".into())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let f = check_head_limits(&limits, 3, 10, &headers(&many)).unwrap();
        assert_eq!(f.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let big = "v".repeat(17000);
        let f = check_head_limits(&limits, 3, 10, &headers(&[("x-big", &big)])).unwrap();
        assert_eq!(f.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let f = check_head_limits(&limits, 4, 10, &headers(&[("content-length", "999999999")]))
            .unwrap();
        assert_eq!(f.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(check_head_limits(&limits, 3, 10, &headers(&[("content-length", "10")])).is_none());
    }
}
