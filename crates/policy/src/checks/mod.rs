//! The `Check` trait every security check implements, and the checks that ship
//! with the gateway core. A check reads the shared [`Exchange`] view, pushes
//! [`Finding`]s, and never writes a response: the verdict is decided in one
//! place ([`crate::finding::decide`]). Every hook defaults to a no-op, so a
//! check implements only the phases it needs.

pub mod identity;
mod ip_access;
mod openapi;
mod request_limits;
mod threat_detection;
pub mod token_cache;

pub use identity::IdentityCheck;
pub use ip_access::{IpAccessCheck, IpSet};
pub use openapi::OpenApiCheck;
pub use request_limits::RequestLimitsCheck;
pub use threat_detection::ThreatDetectionCheck;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::exchange::Exchange;
use crate::finding::Finding;

/// The response head as checks see it: the status, the fields the core
/// checks read on every response (read once, when the view is made, from
/// whatever the gateway parsed: no `HeaderMap` is rebuilt for them), and
/// every field through [`FieldLookup`] for a check that needs another.
pub struct ResponseHead<'a> {
    pub status: StatusCode,
    /// `Content-Type`, when present and visible ASCII.
    pub content_type: Option<&'a str>,
    /// `Content-Encoding`, when present and visible ASCII.
    pub content_encoding: Option<&'a str>,
    pub fields: &'a dyn FieldLookup,
}

impl<'a> ResponseHead<'a> {
    pub fn new(status: StatusCode, fields: &'a dyn FieldLookup) -> Self {
        let text = |name: &str| {
            fields
                .field(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .filter(|v| v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)))
        };
        Self {
            status,
            content_type: text("content-type"),
            content_encoding: text("content-encoding"),
            fields,
        }
    }
}

/// Header fields by name, whatever holds them (the gateway's parsed
/// response head, a `HeaderMap`).
pub trait FieldLookup: Sync {
    /// The first value of `name` (lower case), if present.
    fn field(&self, name: &str) -> Option<&[u8]>;
}

impl FieldLookup for HeaderMap {
    fn field(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(|v| v.as_bytes())
    }
}

/// A buffered upstream response body, as [`Check::on_response_body`] gets it.
#[derive(Clone, Copy, Debug)]
pub enum ResponseBody<'a> {
    /// The whole body.
    Complete(&'a Bytes),
    /// The body was longer than the limit the check asked for; it was not
    /// kept (the gateway streams it on if no finding blocks).
    TooLarge { limit: u64 },
}

/// A security check. Hooks run in the order of a request's life:
/// request head → (request body, if any check wants it) → response head →
/// (response body, if any check wants it).
pub trait Check: Send + Sync + 'static {
    /// Stable name used in findings, metrics and config (`ip_access`).
    fn name(&self) -> &'static str;

    /// Runs once the request head is parsed and routed; before any body byte is read.
    fn on_request_head(&self, _exchange: &Exchange<'_>, _findings: &mut Vec<Finding>) {}

    /// Whether this request's body must be buffered for [`Check::on_request_body`].
    fn wants_request_body(&self, _exchange: &Exchange<'_>) -> bool {
        false
    }

    /// Runs on the complete buffered body (only when [`Check::wants_request_body`] said so).
    fn on_request_body(&self, _exchange: &Exchange<'_>, _findings: &mut Vec<Finding>) {}

    /// Whether [`Check::on_response_head`] does anything (lets the gateway skip
    /// keeping the request view alive until the response arrives).
    fn inspects_responses(&self) -> bool {
        false
    }

    /// Runs on the upstream's response head, before anything is sent to the client.
    fn on_response_head(
        &self,
        _exchange: &Exchange<'_>,
        _response: &ResponseHead<'_>,
        _findings: &mut Vec<Finding>,
    ) {
    }

    /// Whether this response's body must be buffered for
    /// [`Check::on_response_body`], and up to how many bytes. Asked after
    /// [`Check::on_response_head`], only when no finding blocks.
    fn wants_response_body(
        &self,
        _exchange: &Exchange<'_>,
        _response: &ResponseHead<'_>,
    ) -> Option<u64> {
        None
    }

    /// Runs on the buffered response body (only when
    /// [`Check::wants_response_body`] said so), before any byte of it is
    /// sent. A blocking finding replaces the response with a 502; returning
    /// `Some(body)` forwards that body instead of the upstream's (the
    /// gateway fixes `Content-Length`). Checks after this one see the
    /// replacement.
    fn on_response_body(
        &self,
        _exchange: &Exchange<'_>,
        _response: &ResponseHead<'_>,
        _body: ResponseBody<'_>,
        _findings: &mut Vec<Finding>,
    ) -> Option<Bytes> {
        None
    }
}
