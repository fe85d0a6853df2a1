//! The OpenAPI check: the positive security model of a policy. On the
//! request head it routes the request to its operation (404 for an
//! undocumented path, 405 for an undocumented method), records the
//! operation on the [`Exchange`], validates parameters and records the
//! names a `strip` knob removes; on the body it validates the body by media
//! type; on the response it checks the status, the content type and the
//! body, finding (and, with `strip`, removing) exposed fields; the body of
//! every response, of a sample of them, or of none (`validate_responses`:
//! `full`, `sample`, `headers_only`). The spec was
//! compiled with the policy: nothing here reads files or parses specs.

use bytes::Bytes;
use http::{HeaderName, Method, StatusCode};
use portcullis_openapi::response::ResponseParts;
use portcullis_openapi::{
    Exposure, Operation, PartView, RequestBody, RequestParts, RequestReport, ResponseValidation,
    RouteError, Spec, Violation, ViolationKind,
};

use super::{Check, ResponseBody, ResponseHead};
use crate::body::ParsedBody;
use crate::config::Mode;
use crate::exchange::Exchange;
use crate::finding::{Finding, Severity, excerpt};

const CHECK: &str = "openapi";

/// A compiled OpenAPI policy.
pub struct OpenApiCheck {
    /// Shared with the identity check, which routes requests first.
    spec: std::sync::Arc<Spec>,
    /// The policy's own mode: `monitor` makes every finding log-only.
    mode: Mode,
    /// Header names the gateway itself adds or reads (the request id header).
    extra_headers: Vec<HeaderName>,
    inspects_responses: bool,
    /// Keys the choice of sampled responses (`validate_responses: sample`).
    sampler: std::collections::hash_map::RandomState,
}

/// Rule, status and severity of each kind of violation.
struct Rule {
    rule: &'static str,
    status: StatusCode,
    severity: Severity,
}

fn rule_for(kind: ViolationKind) -> Rule {
    use StatusCode as S;
    use ViolationKind as K;
    match kind {
        K::PathUnknown => Rule {
            rule: "openapi.path.unknown",
            status: S::NOT_FOUND,
            severity: Severity::Warning,
        },
        K::MethodUnknown => Rule {
            rule: "openapi.method.unknown",
            status: S::METHOD_NOT_ALLOWED,
            severity: Severity::Warning,
        },
        K::PathParameter => Rule {
            rule: "openapi.path.schema",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::QueryParameter => Rule {
            rule: "openapi.query.schema",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::HeaderParameter => Rule {
            rule: "openapi.header.schema",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::CookieParameter => Rule {
            rule: "openapi.cookie.schema",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::MissingParameter => Rule {
            rule: "openapi.parameter.missing",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::UnknownQuery => Rule {
            rule: "openapi.query.unknown",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::UnknownHeader => Rule {
            rule: "openapi.header.unknown",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::UnknownCookie => Rule {
            rule: "openapi.cookie.unknown",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::ContentType => Rule {
            rule: "openapi.content_type.unknown",
            status: S::UNSUPPORTED_MEDIA_TYPE,
            severity: Severity::Error,
        },
        K::BodyMissing => Rule {
            rule: "openapi.body.missing",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::BodyUnexpected => Rule {
            rule: "openapi.body.unexpected",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::BodyMalformed => Rule {
            rule: "openapi.body.malformed",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::BodySchema => Rule {
            rule: "openapi.body.schema",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::BodyReadOnly => Rule {
            rule: "openapi.body.read_only",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::BodyUndeclared => Rule {
            rule: "openapi.body.undeclared",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::BodyLimit => Rule {
            rule: "openapi.body.limit",
            status: S::BAD_REQUEST,
            severity: Severity::Error,
        },
        K::BodyTooLarge => Rule {
            rule: "openapi.body.too_large",
            status: S::PAYLOAD_TOO_LARGE,
            severity: Severity::Error,
        },
        K::ResponseStatus => Rule {
            rule: "openapi.response.status",
            status: S::BAD_GATEWAY,
            severity: Severity::Error,
        },
        K::ResponseContentType => Rule {
            rule: "openapi.response.content_type",
            status: S::BAD_GATEWAY,
            severity: Severity::Error,
        },
        K::ResponseSchema => Rule {
            rule: "openapi.response.schema",
            status: S::BAD_GATEWAY,
            severity: Severity::Error,
        },
        K::ResponseExposure => Rule {
            rule: "openapi.response.exposure",
            status: S::BAD_GATEWAY,
            severity: Severity::Error,
        },
        K::ResponseTooLarge => Rule {
            rule: "openapi.response.too_large",
            status: S::BAD_GATEWAY,
            severity: Severity::Error,
        },
    }
}

/// Audits a removed query parameter, header or cookie; never blocks.
fn stripped_finding(location: String) -> Finding {
    Finding {
        check: CHECK,
        rule: "openapi.parameter.stripped",
        severity: Severity::Notice,
        status: StatusCode::BAD_REQUEST,
        location: excerpt(&location).into(),
        reason: "undocumented parameter removed before forwarding".into(),
        excerpt: None,
        mode: Mode::Monitor,
    }
}

/// Audits exposed response fields that were removed; never blocks.
fn response_stripped_finding(location: String, reason: String) -> Finding {
    Finding {
        check: CHECK,
        rule: "openapi.response.stripped",
        severity: Severity::Notice,
        status: StatusCode::BAD_GATEWAY,
        location: excerpt(&location).into(),
        reason: reason.into(),
        excerpt: None,
        mode: Mode::Monitor,
    }
}

impl OpenApiCheck {
    pub fn new(spec: Spec, mode: Mode, extra_headers: Vec<HeaderName>) -> Self {
        Self::shared(std::sync::Arc::new(spec), mode, extra_headers)
    }

    pub fn shared(spec: std::sync::Arc<Spec>, mode: Mode, extra_headers: Vec<HeaderName>) -> Self {
        let inspects_responses = spec
            .operations
            .iter()
            .any(|op| op.knobs.validate_responses.checks_head());
        Self {
            spec,
            mode,
            extra_headers,
            inspects_responses,
            sampler: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Whether the body of this response is validated: always (`full`),
    /// never (`headers_only`, `off`), or for one response in
    /// `response_sample_one_in` (`sample`), chosen by a hash of the request
    /// id under a key drawn at start-up: the same answer for every hook of
    /// one response, evenly spread, not predictable from outside.
    fn checks_body(&self, exchange: &Exchange<'_>, op: &Operation) -> bool {
        use std::hash::BuildHasher;
        match op.knobs.validate_responses {
            ResponseValidation::Full => true,
            ResponseValidation::Sample => {
                let one_in = op.knobs.response_sample_one_in.max(1);
                self.sampler
                    .hash_one(exchange.request_id)
                    .is_multiple_of(one_in)
            }
            ResponseValidation::HeadersOnly | ResponseValidation::Off => false,
        }
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    fn mode_for(&self, op: Option<&Operation>) -> Mode {
        if self.mode == Mode::Monitor || op.is_some_and(|o| o.knobs.monitor) {
            Mode::Monitor
        } else {
            Mode::Block
        }
    }

    fn finding(&self, op: Option<&Operation>, v: Violation) -> Finding {
        let r = rule_for(v.kind);
        Finding {
            check: CHECK,
            rule: r.rule,
            severity: r.severity,
            status: r.status,
            // Locations can carry client-chosen names (`query.<name>`): bounded and escaped.
            location: excerpt(&v.location).into(),
            reason: v.reason.into(),
            excerpt: v.excerpt.as_deref().map(excerpt),
            mode: self.mode_for(op),
        }
    }

    /// The operation a request was matched to: the one recorded on the
    /// exchange, or (when the exchange was rebuilt for the response) routed again.
    fn operation(&self, exchange: &Exchange<'_>) -> Option<&Operation> {
        match exchange.operation() {
            Some(m) => match self.spec.operations.get(m.index) {
                Some(op) if std::sync::Arc::ptr_eq(&op.id, &m.id) => Some(op),
                _ => self.spec.operation_by_id(&m.id),
            },
            None => self
                .spec
                .route(exchange.method, exchange.path)
                .ok()
                .map(|m| &self.spec.operations[m.operation]),
        }
    }

    fn push_report(
        &self,
        op: &Operation,
        report: RequestReport,
        exchange: &Exchange<'_>,
        findings: &mut Vec<Finding>,
    ) {
        for v in report.violations {
            findings.push(self.finding(Some(op), v));
        }
        let strip = report.strip;
        for name in &strip.query {
            findings.push(stripped_finding(format!("query.{name}")));
        }
        for name in &strip.headers {
            findings.push(stripped_finding(format!("header.{name}")));
        }
        for name in &strip.cookies {
            findings.push(stripped_finding(format!("cookie.{name}")));
        }
        if !strip.is_empty() {
            exchange.add_rewrites(|r| {
                r.remove_query.extend(strip.query);
                r.remove_headers
                    .extend(strip.headers.iter().map(|h| h.as_str().to_owned().into()));
                r.remove_cookies.extend(strip.cookies);
            });
        }
    }

    fn response_parts<'h>(response: &'h ResponseHead<'_>) -> ResponseParts<'h> {
        ResponseParts {
            status: response.status.as_u16(),
            content_type: response.content_type,
            content_encoding: response.content_encoding,
        }
    }
}

impl Check for OpenApiCheck {
    fn name(&self) -> &'static str {
        CHECK
    }

    fn on_request_head(&self, exchange: &Exchange<'_>, findings: &mut Vec<Finding>) {
        let matched = match self.spec.route(exchange.method, exchange.path) {
            Ok(m) => m,
            Err(RouteError::UnknownPath) => {
                let v = Violation {
                    kind: ViolationKind::PathUnknown,
                    location: "path".into(),
                    reason: "path not documented by the API specification".into(),
                    excerpt: Some(exchange.path.to_owned()),
                };
                findings.push(self.finding(None, v));
                return;
            }
            Err(RouteError::UnknownMethod { .. }) => {
                let v = Violation {
                    kind: ViolationKind::MethodUnknown,
                    location: "method".into(),
                    reason: "method not documented for this path".into(),
                    excerpt: Some(exchange.method.to_string()),
                };
                findings.push(self.finding(None, v));
                return;
            }
        };
        let op = &self.spec.operations[matched.operation];
        exchange.set_operation(crate::exchange::MatchedOperation {
            id: op.id.clone(),
            index: matched.operation,
        });
        let mut report = RequestReport::default();
        let parts = RequestParts {
            method: exchange.method,
            path: exchange.path,
            query: exchange.raw_query,
            headers: exchange.headers,
            cookies: exchange.cookies(),
        };
        self.spec
            .validate_parameters(&matched, &parts, &self.extra_headers, &mut report);
        let chunked = exchange
            .headers
            .contains_key(http::header::TRANSFER_ENCODING);
        let content_length = exchange.content_length();
        self.spec
            .check_unexpected_body(op, content_length, chunked, &mut report);
        // An empty body of declared length 0 is known now; the gateway does
        // not run body hooks on a body that has already ended.
        if content_length == Some(0) && op.request_body.as_ref().is_some_and(|b| b.required) {
            report.violations.push(Violation {
                kind: ViolationKind::BodyMissing,
                location: "body".into(),
                reason: "a request body is required".into(),
                excerpt: None,
            });
        }
        self.push_report(op, report, exchange, findings);
        if op.knobs.validate_responses.checks_bodies()
            && *exchange.method != Method::HEAD
            && exchange.headers.contains_key(http::header::ACCEPT_ENCODING)
        {
            // A compressed answer cannot be validated: ask the upstream for an identity one.
            exchange.add_rewrites(|r| r.remove_headers.push("accept-encoding".into()));
        }
    }

    fn wants_request_body(&self, exchange: &Exchange<'_>) -> bool {
        exchange.operation().is_some()
            && self
                .operation(exchange)
                .is_some_and(|op| self.spec.wants_body(op))
    }

    fn on_request_body(&self, exchange: &Exchange<'_>, findings: &mut Vec<Finding>) {
        if exchange.operation().is_none() {
            return;
        }
        let Some(op) = self.operation(exchange) else {
            return;
        };
        // JSON: validated in one pass over the raw bytes first, without
        // building the value tree; only a body that pass is unsure about
        // is parsed and validated in full (same findings as before).
        if let Some(bytes) = exchange.body_bytes()
            && crate::body::body_kind(exchange.content_type()) == crate::body::BodyKind::Json
            && self
                .spec
                .json_body_is_clean(op, exchange.content_type(), bytes)
        {
            return;
        }
        let Some(parsed) = exchange.parsed_body() else {
            return;
        };
        if matches!(parsed, ParsedBody::Empty) && exchange.content_length() == Some(0) {
            return; // reported on the head
        }
        let bytes = exchange.body_bytes().map_or(&[][..], |b| &b[..]);
        let parts: Vec<PartView<'_>>;
        let body = match parsed {
            ParsedBody::Empty => RequestBody::Empty,
            ParsedBody::Json(v) => RequestBody::Json(v),
            ParsedBody::Form(pairs) => RequestBody::Form(pairs),
            ParsedBody::Multipart(list) => {
                parts = list
                    .iter()
                    .map(|p| PartView {
                        name: &p.name,
                        filename: p.filename.as_deref(),
                        content_type: p.content_type.as_deref(),
                        data: &p.data,
                    })
                    .collect();
                RequestBody::Multipart(&parts)
            }
            ParsedBody::Text(t) => RequestBody::Text(t),
            ParsedBody::Xml(_) | ParsedBody::Binary => RequestBody::Binary(bytes),
            ParsedBody::Invalid { reason, .. } => RequestBody::Malformed(reason),
        };
        let mut report = RequestReport::default();
        self.spec
            .validate_body(op, exchange.content_type(), body, &mut report);
        self.push_report(op, report, exchange, findings);
    }

    fn inspects_responses(&self) -> bool {
        self.inspects_responses
    }

    fn on_response_head(
        &self,
        exchange: &Exchange<'_>,
        response: &ResponseHead<'_>,
        findings: &mut Vec<Finding>,
    ) {
        let Some(op) = self
            .operation(exchange)
            .filter(|op| op.knobs.validate_responses.checks_head())
        else {
            return;
        };
        for v in self
            .spec
            .check_response_head(op, &Self::response_parts(response))
        {
            findings.push(self.finding(Some(op), v));
        }
    }

    fn wants_response_body(
        &self,
        exchange: &Exchange<'_>,
        response: &ResponseHead<'_>,
    ) -> Option<u64> {
        let op = self
            .operation(exchange)
            .filter(|op| self.checks_body(exchange, op))?;
        let bodiless = *exchange.method == Method::HEAD
            || response.status.is_informational()
            || response.status == StatusCode::NO_CONTENT
            || response.status == StatusCode::NOT_MODIFIED;
        (!bodiless).then_some(op.knobs.max_response_bytes)
    }

    fn on_response_body(
        &self,
        exchange: &Exchange<'_>,
        response: &ResponseHead<'_>,
        body: ResponseBody<'_>,
        findings: &mut Vec<Finding>,
    ) -> Option<Bytes> {
        let op = self
            .operation(exchange)
            .filter(|op| self.checks_body(exchange, op))?;
        let body = match body {
            ResponseBody::Complete(b) => b,
            ResponseBody::TooLarge { limit } => {
                let v = Violation {
                    kind: ViolationKind::ResponseTooLarge,
                    location: "response.body".into(),
                    reason: format!("response body larger than {limit} bytes cannot be validated"),
                    excerpt: None,
                };
                findings.push(self.finding(Some(op), v));
                return None;
            }
        };
        let exposure = op.knobs.response_exposure;
        let report =
            self.spec
                .validate_response_body(op, &Self::response_parts(response), body, exposure);
        for v in report.violations {
            findings.push(self.finding(Some(op), v));
        }
        let stripped = report.stripped.map(Bytes::from);
        for v in report.exposures {
            match exposure {
                Exposure::Strip if stripped.is_some() => {
                    findings.push(response_stripped_finding(
                        v.location,
                        format!("removed from the response: {}", v.reason),
                    ));
                }
                Exposure::Monitor => {
                    let mut f = self.finding(Some(op), v);
                    f.mode = Mode::Monitor;
                    findings.push(f);
                }
                _ => findings.push(self.finding(Some(op), v)),
            }
        }
        stripped
    }
}

#[cfg(test)]
mod tests {
    use crate::offline::{evaluate, parse_raw_request};
    use crate::{Config, Policy};

    fn quickstart() -> Policy {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/quickstart/gateway.yaml");
        let (config, source) = Config::load(&path).unwrap();
        Policy::compile(config, &path, &source).unwrap()
    }

    #[test]
    fn client_chosen_names_in_locations_are_bounded_and_escaped() {
        let key = format!("x{}%0Ay", "k".repeat(500));
        let raw = format!("GET /api/users?{key}=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        let report = evaluate(
            &quickstart(),
            &parse_raw_request(raw.as_bytes()).unwrap(),
            "127.0.0.1".parse().unwrap(),
        );
        let f = report
            .findings
            .iter()
            .find(|f| f.rule == "openapi.query.unknown")
            .unwrap();
        assert!(
            f.location.chars().count() <= crate::finding::EXCERPT_CHARS + 1,
            "{}",
            f.location
        );
        assert!(!f.location.contains('\n'));
        assert_eq!(report.operation.as_deref(), Some("listUsers"));
    }

    #[test]
    fn the_operation_is_recorded_and_head_requests_route_to_get() {
        let raw = "HEAD /api/users/7 HTTP/1.1\r\nHost: a\r\n\r\n";
        let report = evaluate(
            &quickstart(),
            &parse_raw_request(raw.as_bytes()).unwrap(),
            "127.0.0.1".parse().unwrap(),
        );
        assert_eq!(report.operation.as_deref(), Some("getUser"));
        // The quickstart's request_limits refuses HEAD; the spec does not.
        assert!(
            report.findings.iter().all(|f| f.check != "openapi"),
            "{:?}",
            report.findings
        );
    }
}
