//! Protocol-level request checks shared by the gateway and the offline `check`
//! command: size limits (414 / 431 / 413) and message-framing shapes used for
//! request smuggling. The gateway's HTTP parser refuses the grossest framing
//! errors itself; these rules refuse the ambiguous ones a lenient parser would
//! accept and a back end might read differently.

use http::{HeaderMap, StatusCode, Version, header};

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
        return Some(violation(
            "protocol.uri_too_long",
            StatusCode::URI_TOO_LONG,
            "uri",
            "request target too long",
        ));
    }
    if headers.len() > limits.max_headers
        || head_bytes(method_len, uri_len, headers) as u64 > limits.max_header_bytes.0
    {
        return Some(violation(
            "protocol.header_too_large",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers",
            "request header fields too large",
        ));
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

/// Watches the raw bytes of HTTP/1.x request heads for header names that
/// frame the body. The HTTP parser in front of the checks resolves a request
/// carrying both `Content-Length` and `Transfer-Encoding` by dropping the
/// former (RFC 9112 §6.3 allows that), so the parsed head can no longer show
/// the ambiguity; this scanner sees the bytes as sent, so the gateway can
/// refuse the request instead. It looks only at the first bytes of each line
/// and keeps no copy of the head.
#[derive(Debug, Default)]
pub struct FramingScanner {
    in_head: bool,
    at_line_start: bool,
    /// The first bytes of the current line (lower-cased), enough to name the header.
    line: [u8; 18],
    line_len: u8,
    line_done: bool,
    seen_content_length: bool,
    seen_transfer_encoding: bool,
}

impl FramingScanner {
    /// Starts scanning a new request head.
    pub fn start_head(&mut self) {
        // The request line names no header: skip straight to its end.
        *self = FramingScanner {
            in_head: true,
            at_line_start: false,
            line_done: true,
            ..FramingScanner::default()
        };
    }

    pub fn in_head(&self) -> bool {
        self.in_head
    }

    /// True when the head scanned so far named both framing headers.
    pub fn ambiguous(&self) -> bool {
        self.seen_content_length && self.seen_transfer_encoding
    }

    /// Feeds bytes of the head; stops at the blank line that ends it.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while self.in_head && !rest.is_empty() {
            if self.line_done {
                match memchr::memchr(b'\n', rest) {
                    Some(i) => {
                        rest = &rest[i + 1..];
                        self.new_line();
                    }
                    None => return,
                }
                continue;
            }
            let b = rest[0];
            rest = &rest[1..];
            // Only names starting with c or t can frame a body: other lines are skipped whole.
            if self.at_line_start
                && self.line_len == 0
                && !matches!(b, b'c' | b'C' | b't' | b'T' | b'\r' | b'\n')
            {
                self.line_done = true;
                continue;
            }
            match b {
                b'\n' => {
                    if self.at_line_start && self.line_len == 0 {
                        self.in_head = false;
                        return;
                    }
                    self.new_line();
                }
                b'\r' if self.line_len == 0 => {}
                b':' => {
                    self.name_complete();
                    self.line_done = true;
                }
                _ => {
                    if (self.line_len as usize) < self.line.len() {
                        self.line[self.line_len as usize] = b.to_ascii_lowercase();
                        self.line_len += 1;
                    } else {
                        self.line_done = true;
                    }
                }
            }
        }
    }

    fn new_line(&mut self) {
        self.at_line_start = true;
        self.line_len = 0;
        self.line_done = false;
    }

    fn name_complete(&mut self) {
        if !self.at_line_start {
            return;
        }
        match &self.line[..self.line_len as usize] {
            b"content-length" => self.seen_content_length = true,
            b"transfer-encoding" => self.seen_transfer_encoding = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod framing_scanner_tests {
    use super::FramingScanner;

    fn scan(chunks: &[&[u8]]) -> FramingScanner {
        let mut s = FramingScanner::default();
        s.start_head();
        for c in chunks {
            s.feed(c);
        }
        s
    }

    #[test]
    fn both_framing_headers_are_seen_whatever_the_order_case_or_split() {
        let head = b"POST / HTTP/1.1\r\nHost: a\r\ntransfer-ENCODING: chunked\r\nContent-Length: 5\r\n\r\n";
        assert!(scan(&[head]).ambiguous());
        for split in 1..head.len() {
            let s = scan(&[&head[..split], &head[split..]]);
            assert!(s.ambiguous(), "split at {split}");
            assert!(!s.in_head());
        }
    }

    #[test]
    fn ordinary_heads_and_bodies_are_not_ambiguous() {
        let s =
            scan(&[b"POST / HTTP/1.1\r\nContent-Length: 30\r\n\r\nTransfer-Encoding: chunked\r\n"]);
        assert!(!s.ambiguous(), "text in the body is not a header");
        assert!(
            !scan(&[
                b"GET / HTTP/1.1\r\nX-Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
            ])
            .ambiguous()
        );
        assert!(!scan(&[b"GET / HTTP/1.1\nHost: a\n\n"]).in_head());
    }
}

/// The raw request head named both `Content-Length` and `Transfer-Encoding`.
pub fn ambiguous_framing() -> Finding {
    violation(
        "protocol.smuggling",
        StatusCode::BAD_REQUEST,
        "headers",
        "both Content-Length and Transfer-Encoding",
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
