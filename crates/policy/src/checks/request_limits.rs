//! Per-route method and size limits: allowed methods (405), body size (413,
//! from `Content-Length` before any body byte is read; the gateway enforces the
//! same limit on chunked bodies while streaming), request-target length (414),
//! query parameter count and header count (400 / 431).

use http::{Method, StatusCode};

use super::Check;
use crate::config::Mode;
use crate::exchange::Exchange;
use crate::finding::{Finding, Severity};

pub struct RequestLimitsCheck {
    pub methods: Vec<Method>,
    pub max_body_bytes: Option<u64>,
    pub max_uri_bytes: Option<u64>,
    pub max_query_params: Option<usize>,
    pub max_headers: Option<usize>,
    pub mode: Mode,
}

impl RequestLimitsCheck {
    fn finding(
        &self,
        rule: &'static str,
        status: StatusCode,
        location: &'static str,
        reason: &'static str,
        excerpt: String,
    ) -> Finding {
        Finding {
            check: "request_limits",
            rule,
            severity: Severity::Warning,
            status,
            location: location.into(),
            reason: reason.into(),
            excerpt: Some(excerpt),
            mode: self.mode,
        }
    }
}

impl Check for RequestLimitsCheck {
    fn name(&self) -> &'static str {
        "request_limits"
    }

    fn on_request_head(&self, ex: &Exchange<'_>, findings: &mut Vec<Finding>) {
        if !self.methods.is_empty() && !self.methods.contains(ex.method) {
            findings.push(self.finding(
                "limits.method",
                StatusCode::METHOD_NOT_ALLOWED,
                "method",
                "method not allowed on this route",
                ex.method.to_string(),
            ));
        }
        if let (Some(max), Some(len)) = (self.max_body_bytes, ex.content_length())
            && len > max
        {
            findings.push(self.finding(
                "limits.body_size",
                StatusCode::PAYLOAD_TOO_LARGE,
                "header.content-length",
                "request body too large",
                format!("{len} > {max}"),
            ));
        }
        if let Some(max) = self.max_uri_bytes
            && ex.uri_len as u64 > max
        {
            findings.push(self.finding(
                "limits.uri_length",
                StatusCode::URI_TOO_LONG,
                "uri",
                "request target too long",
                format!("{} > {max}", ex.uri_len),
            ));
        }
        if let Some(max) = self.max_query_params {
            let count = ex.query_param_count();
            if count > max {
                findings.push(self.finding(
                    "limits.query_params",
                    StatusCode::BAD_REQUEST,
                    "query",
                    "too many query parameters",
                    format!("{count} > {max}"),
                ));
            }
        }
        if let Some(max) = self.max_headers {
            let count = ex.headers.len();
            if count > max {
                findings.push(self.finding(
                    "limits.header_count",
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "headers",
                    "too many header fields",
                    format!("{count} > {max}"),
                ));
            }
        }
    }
}
