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

/// The response head as checks see it.
pub struct ResponseHead<'a> {
    pub status: StatusCode,
    pub headers: &'a HeaderMap,
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
