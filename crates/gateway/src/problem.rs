//! RFC 9457 `application/problem+json` answers. This is the one place where
//! a verdict, a protocol error or an upstream failure becomes an HTTP
//! response; the body carries the status, a short reason and the request id,
//! never an internal detail or an echo of the client's input.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::phases::{Answer, AnswerBody, AnswerFields};

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
}

/// Builds a problem+json response. `detail` must be a fixed, client-safe text.
pub fn problem(status: StatusCode, detail: &str, rule: Option<&str>, request_id: &str) -> Answer {
    let body = serde_json::to_vec(&Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        request_id,
        rule,
    })
    .unwrap_or_default();
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Some(v) = rule.and_then(|r| crate::identity::www_authenticate(r, status)) {
        headers.insert(header::WWW_AUTHENTICATE, v);
    }
    Answer {
        status,
        fields: AnswerFields::Generated(headers),
        request_id: None,
        extra: Vec::new(),
        body: AnswerBody::Full(Bytes::from(body)),
    }
}
