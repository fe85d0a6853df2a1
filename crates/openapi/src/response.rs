//! Validates an upstream response against the operation its request was
//! matched to: the status must be documented (exactly, as a `2XX` range or
//! by `default`), the content type must be one of that response's media
//! types, and the body must validate. Fields the schema does not declare,
//! and `writeOnly` fields, are *exposures*: reported apart from failures and,
//! on request, removed from a re-serialized body (key order kept) so the
//! gateway can forward the rest. It works on a complete buffered body and
//! never sends anything itself.

use serde_json::Value;

use crate::knobs::Exposure;
use crate::request::{Violation, ViolationKind, body_location, match_media};
use crate::spec::{Operation, Spec};
use crate::validate::{ValidationOptions, validate};

/// The response head, as the gateway received it.
#[derive(Clone, Copy, Debug)]
pub struct ResponseParts<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
}

/// What the response check found.
#[derive(Clone, Debug, Default)]
pub struct ResponseReport {
    /// The response does not match the spec (status, type, schema).
    pub violations: Vec<Violation>,
    /// Undeclared or `writeOnly` fields (kind [`ViolationKind::ResponseExposure`]).
    pub exposures: Vec<Violation>,
    /// With [`Exposure::Strip`] and exposures but no violations: the body
    /// without the exposed fields.
    pub stripped: Option<Vec<u8>>,
}

impl Spec {
    /// What can be judged from the head alone: the status and the content type.
    pub fn check_response_head(&self, op: &Operation, parts: &ResponseParts<'_>) -> Vec<Violation> {
        let mut out = Vec::new();
        if op.responses.is_empty() {
            return out;
        }
        let Some(response) = op.response(parts.status) else {
            out.push(Violation::new(
                ViolationKind::ResponseStatus,
                "response.status",
                format!(
                    "status {} is not documented for this operation",
                    parts.status
                ),
            ));
            return out;
        };
        if let Some(ct) = parts.content_type
            && !response.content.is_empty()
            && match_media(&response.content, ct).is_none()
        {
            out.push(Violation {
                kind: ViolationKind::ResponseContentType,
                location: "response.header.content-type".to_owned(),
                reason: "response content type not documented for this status".to_owned(),
                excerpt: Some(ct.chars().take(65).collect()),
            });
        }
        out
    }

    /// Validates a complete response: the head checks, then the body.
    pub fn validate_response(
        &self,
        op: &Operation,
        parts: &ResponseParts<'_>,
        body: &[u8],
        exposure: Exposure,
    ) -> ResponseReport {
        let head = self.check_response_head(op, parts);
        if !head.is_empty() {
            return ResponseReport {
                violations: head,
                ..ResponseReport::default()
            };
        }
        self.validate_response_body(op, parts, body, exposure)
    }

    /// Validates a complete response body, for a head that
    /// [`Spec::check_response_head`] already judged.
    pub fn validate_response_body(
        &self,
        op: &Operation,
        parts: &ResponseParts<'_>,
        body: &[u8],
        exposure: Exposure,
    ) -> ResponseReport {
        let mut report = ResponseReport::default();
        if body.is_empty() || op.responses.is_empty() {
            return report;
        }
        let Some(response) = op.response(parts.status) else {
            return report;
        };
        if response.content.is_empty() {
            report.violations.push(Violation::new(
                ViolationKind::ResponseContentType,
                "response.body",
                "a body is not documented for this status",
            ));
            return report;
        }
        let Some(media) = parts
            .content_type
            .and_then(|ct| match_media(&response.content, ct))
        else {
            report.violations.push(Violation::new(
                ViolationKind::ResponseContentType,
                "response.header.content-type",
                "response body without a documented content type",
            ));
            return report;
        };
        if parts
            .content_encoding
            .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"))
        {
            report.violations.push(Violation::new(
                ViolationKind::ResponseSchema,
                "response.header.content-encoding",
                "an encoded (compressed) response body cannot be validated",
            ));
            return report;
        }
        let Some(schema) = media.schema else {
            return report;
        };
        let json = media.json;
        if json && self.json_is_clean(Some(schema), body, &ValidationOptions::response()) {
            // Parsed and validated in one pass, nothing found: the full
            // path (below) would report nothing either.
            return report;
        }
        let parsed = if json {
            serde_json::from_slice::<Value>(body).map_err(|_| "response body is not valid JSON")
        } else if media.range.starts_with("text/") {
            std::str::from_utf8(body)
                .map(|t| Value::String(t.to_owned()))
                .map_err(|_| "text response is not UTF-8")
        } else {
            // Other media types are not parsed: their schema is not checked.
            return report;
        };
        let value = match parsed {
            Ok(v) => v,
            Err(reason) => {
                report.violations.push(Violation::new(
                    ViolationKind::ResponseSchema,
                    "response.body",
                    reason,
                ));
                return report;
            }
        };
        let errors = validate(&self.arena, schema, &value, &ValidationOptions::response());
        let mut exposed: Vec<String> = Vec::new();
        for e in errors {
            let location =
                body_location("body:", &e.pointer).replacen("body:", "response.body:", 1);
            if e.kind.is_exposure(crate::validate::Direction::Response) {
                report.exposures.push(Violation {
                    kind: ViolationKind::ResponseExposure,
                    location,
                    reason: e.reason,
                    excerpt: Some(e.excerpt),
                });
                exposed.push(e.pointer);
            } else {
                report.violations.push(Violation {
                    kind: ViolationKind::ResponseSchema,
                    location,
                    reason: e.reason,
                    excerpt: Some(e.excerpt),
                });
            }
        }
        if exposure == Exposure::Strip && !exposed.is_empty() && report.violations.is_empty() {
            report.stripped = crate::strip::splice_out(body, &exposed);
        }
        report
    }
}
