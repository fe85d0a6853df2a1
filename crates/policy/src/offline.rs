//! The offline evaluation behind `portcullis check`: parse a raw HTTP/1.1
//! request file and run it through admission and every request-phase check,
//! exactly as the gateway would, without any network.

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};
use serde::Serialize;

use crate::admission::HeadInput;
use crate::checks::{ResponseBody, ResponseHead};
use crate::exchange::{Exchange, ExchangeHead, RequestRewrites};
use crate::finding::{Finding, Verdict, decide};
use crate::policy::Policy;
use crate::protocol;

const MAX_RAW_HEADERS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum RawRequestError {
    #[error("malformed request head: {0}")]
    Head(String),
    #[error("incomplete request head (no blank line after the headers)")]
    Incomplete,
    #[error("malformed chunked body: {0}")]
    Chunked(&'static str),
    #[error("body shorter than its Content-Length ({got} < {want})")]
    ShortBody { got: usize, want: usize },
}

/// A request read from a file.
pub struct RawRequest {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Parses an HTTP/1.x request. Bare LF line endings are accepted, as files
/// written by hand often have them.
pub fn parse_raw_request(input: &[u8]) -> Result<RawRequest, RawRequestError> {
    let mut storage = vec![httparse::EMPTY_HEADER; MAX_RAW_HEADERS];
    let mut req = httparse::Request::new(&mut storage);
    let head_len = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(RawRequestError::Incomplete),
        Err(e) => return Err(RawRequestError::Head(e.to_string())),
    };
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|e| RawRequestError::Head(e.to_string()))?;
    let uri: Uri = crate::protocol::parse_request_target(bytes::Bytes::copy_from_slice(
        req.path.unwrap_or("").as_bytes(),
    ))
    .map_err(|e| RawRequestError::Head(e.to_string()))?;
    let version = if req.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let headers = header_map(req.headers)?;
    let body = message_body(&headers, &input[head_len..])?;
    Ok(RawRequest {
        method,
        uri,
        version,
        headers,
        body,
    })
}

/// The header fields of a parsed head.
fn header_map(fields: &[httparse::Header<'_>]) -> Result<HeaderMap, RawRequestError> {
    let mut headers = HeaderMap::with_capacity(fields.len());
    for h in fields {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|e| RawRequestError::Head(e.to_string()))?;
        let value =
            HeaderValue::from_bytes(h.value).map_err(|e| RawRequestError::Head(e.to_string()))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// The body after a head: chunked (decoded), cut to `Content-Length`, or the rest.
fn message_body(headers: &HeaderMap, rest: &[u8]) -> Result<Bytes, RawRequestError> {
    let chunked = headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .any(|v| {
            v.to_str()
                .is_ok_and(|s| s.to_ascii_lowercase().contains("chunked"))
        });
    if chunked {
        decode_chunked(rest)
    } else if let Some(len) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        if rest.len() < len {
            return Err(RawRequestError::ShortBody {
                got: rest.len(),
                want: len,
            });
        }
        Ok(Bytes::copy_from_slice(&rest[..len]))
    } else {
        Ok(Bytes::copy_from_slice(rest))
    }
}

fn decode_chunked(mut input: &[u8]) -> Result<Bytes, RawRequestError> {
    let mut out = Vec::new();
    loop {
        let line_end = memchr::memchr(b'\n', input)
            .ok_or(RawRequestError::Chunked("missing chunk size line"))?;
        let line = std::str::from_utf8(&input[..line_end])
            .map_err(|_| RawRequestError::Chunked("chunk size is not text"))?
            .trim_end_matches('\r');
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| RawRequestError::Chunked("invalid chunk size"))?;
        input = &input[line_end + 1..];
        if size == 0 {
            return Ok(Bytes::from(out));
        }
        if input.len() < size {
            return Err(RawRequestError::Chunked("chunk shorter than its size"));
        }
        out.extend_from_slice(&input[..size]);
        input = &input[size..];
        input = input
            .strip_prefix(b"\r\n")
            .or_else(|| input.strip_prefix(b"\n"))
            .ok_or(RawRequestError::Chunked(
                "chunk data not followed by a line break",
            ))?;
    }
}

/// What `portcullis check` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    pub verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub route: Option<String>,
    /// The API operation the request was matched to, when a check matched one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// What the gateway would remove from the request before forwarding it.
    #[serde(skip_serializing_if = "RequestRewrites::is_empty")]
    pub rewrites: RequestRewrites,
    pub client_ip: IpAddr,
    pub findings: Vec<Finding>,
}

impl Report {
    fn new(
        verdict: Verdict,
        route: Option<String>,
        client_ip: IpAddr,
        findings: Vec<Finding>,
    ) -> Self {
        let (status, rule, reason) = match &verdict {
            Verdict::Block {
                status,
                rule,
                reason,
            } => (Some(status.as_u16()), Some(*rule), Some(reason.to_string())),
            _ => (None, None, None),
        };
        Report {
            verdict: verdict.action(),
            status,
            rule,
            reason,
            route,
            operation: None,
            rewrites: RequestRewrites::default(),
            client_ip,
            findings,
        }
    }

    pub fn is_block(&self) -> bool {
        self.verdict == "block"
    }
}

/// A response read from a file (status line, headers, body).
pub struct RawResponse {
    pub status: http::StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Parses an HTTP/1.x response; the body is everything after the head
/// (cut to `Content-Length` when there is one; chunked bodies are decoded).
pub fn parse_raw_response(input: &[u8]) -> Result<RawResponse, RawRequestError> {
    let mut storage = vec![httparse::EMPTY_HEADER; MAX_RAW_HEADERS];
    let mut resp = httparse::Response::new(&mut storage);
    let head_len = match resp.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(RawRequestError::Incomplete),
        Err(e) => return Err(RawRequestError::Head(e.to_string())),
    };
    let status = http::StatusCode::from_u16(resp.code.unwrap_or(0))
        .map_err(|e| RawRequestError::Head(e.to_string()))?;
    let headers = header_map(resp.headers)?;
    let body = message_body(&headers, &input[head_len..])?;
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// What the response checks decided, as `portcullis check --response` prints it.
#[derive(Debug, Serialize)]
pub struct ResponseReport {
    pub verdict: &'static str,
    /// The status the client gets: the upstream's, or 502 when blocked.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    pub findings: Vec<Finding>,
    /// The body forwarded instead of the upstream's, when a check replaced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_body: Option<String>,
}

impl ResponseReport {
    pub fn is_block(&self) -> bool {
        self.verdict == "block"
    }
}

/// Evaluates a request offline, as the gateway would on arrival from `peer_ip`.
pub fn evaluate(policy: &Policy, raw: &RawRequest, peer_ip: IpAddr) -> Report {
    evaluate_exchange(policy, raw, None, peer_ip).0
}

/// Evaluates a request and, when it is forwarded, the upstream's answer
/// `response` through the route's response checks, as the gateway would.
pub fn evaluate_exchange(
    policy: &Policy,
    raw: &RawRequest,
    response: Option<&RawResponse>,
    peer_ip: IpAddr,
) -> (Report, Option<ResponseReport>) {
    let input = HeadInput {
        version: raw.version,
        method: &raw.method,
        uri: &raw.uri,
        headers: &raw.headers,
        peer_ip,
    };
    // `OPTIONS *` names no resource: the gateway answers it itself.
    if raw.method == http::Method::OPTIONS && raw.uri == "*" {
        return (Report::new(decide(&[]), None, peer_ip, Vec::new()), None);
    }
    let admitted = match policy.admit(&input) {
        Ok(a) => a,
        Err(f) => {
            return (
                Report::new(decide(std::slice::from_ref(&f)), None, peer_ip, vec![f]),
                None,
            );
        }
    };
    let request_id = crate::request_id::generate();
    let mut exchange = Exchange::new(ExchangeHead {
        request_id: &request_id,
        client_ip: admitted.client_ip,
        peer_identity: None,
        method: &raw.method,
        host: &admitted.host,
        path: &admitted.path,
        raw_query: raw.uri.query(),
        headers: &raw.headers,
        uri_len: admitted.uri_len,
        route_name: &admitted.route.name,
    });
    let route = admitted.route;
    let mut findings = Vec::new();
    // Same order as the gateway: head checks, then the body's actual size.
    route.inspect_request_head(&exchange, &mut findings);
    if !decide(&findings).is_block() && raw.body.len() as u64 > route.max_body_bytes {
        findings.push(protocol::body_too_large());
    }
    if !decide(&findings).is_block() && route.wants_request_body(&exchange) {
        exchange.attach_body(raw.body.clone());
        route.inspect_request_body(&exchange, &mut findings);
    }
    let mut report = Report::new(
        decide(&findings),
        Some(route.name.clone()),
        admitted.client_ip,
        findings,
    );
    report.operation = exchange.operation_id().map(str::to_owned);
    report.rewrites = exchange.rewrites().clone();
    let response_report = match response {
        Some(r) if !report.is_block() => Some(evaluate_response(route, &exchange, r)),
        _ => None,
    };
    (report, response_report)
}

fn evaluate_response(
    route: &crate::policy::Route,
    exchange: &Exchange<'_>,
    r: &RawResponse,
) -> ResponseReport {
    let head = ResponseHead::new(r.status, &r.headers);
    let mut findings = Vec::new();
    route.inspect_response_head(exchange, &head, &mut findings);
    let mut replaced = None;
    if !decide(&findings).is_block()
        && let Some(limit) = route.response_body_limit(exchange, &head)
    {
        let body = if r.body.len() as u64 > limit {
            ResponseBody::TooLarge { limit }
        } else {
            ResponseBody::Complete(&r.body)
        };
        replaced = route.inspect_response_body(exchange, &head, body, &mut findings);
    }
    let verdict = decide(&findings);
    let (status, rule) = match &verdict {
        Verdict::Block { rule, .. } => (502, Some(*rule)),
        _ => (r.status.as_u16(), None),
    };
    ResponseReport {
        verdict: verdict.action(),
        status,
        rule,
        findings,
        replaced_body: replaced
            .filter(|_| !verdict.is_block())
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_requests_parse_with_crlf_or_lf_and_chunked_bodies() {
        let r = parse_raw_request(b"POST /a?x=1 HTTP/1.1\nHost: h\nContent-Length: 3\n\nabcdef")
            .unwrap();
        assert_eq!(r.method, Method::POST);
        assert_eq!(&r.body[..], b"abc");
        let r = parse_raw_request(
            b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(&r.body[..], b"abcde");
        assert!(matches!(
            parse_raw_request(b"GET / HTTP/1.1\r\nHost: h\r\n"),
            Err(RawRequestError::Incomplete)
        ));
        assert!(parse_raw_request(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n").is_err());
        assert!(matches!(
            parse_raw_request(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"),
            Err(RawRequestError::ShortBody { .. })
        ));
    }
}
