//! Validates one request against its matched operation: every parameter
//! (path, query, header, cookie) and the body by its media type. It reports
//! [`Violation`]s and, where a knob says `strip`, the names the gateway must
//! remove before forwarding ([`StripList`]); it never changes the request
//! itself. Inputs are borrowed views of what the gateway already parsed.

use http::{HeaderMap, HeaderName, Method};
use serde_json::{Map, Value};

use crate::knobs::{Knobs, UnknownParams};
use crate::params::{self, QueryPair};
use crate::router::{RouteError, RouteMatch};
use crate::schema::{Schema, SchemaId, TypeSet};
use crate::spec::{
    MediaType, Operation, ParamIn, Parameter, Shape, Spec, bare_essence, media_is_json,
};
use crate::validate::{Direction, ErrorKind, SchemaError, ValidationOptions, excerpt, validate};

/// What went wrong, one kind per rule the policy reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    PathUnknown,
    MethodUnknown,
    PathParameter,
    QueryParameter,
    HeaderParameter,
    CookieParameter,
    MissingParameter,
    UnknownQuery,
    UnknownHeader,
    UnknownCookie,
    ContentType,
    BodyMissing,
    BodyUnexpected,
    BodyMalformed,
    BodySchema,
    BodyReadOnly,
    BodyUndeclared,
    BodyLimit,
    BodyTooLarge,
    ResponseStatus,
    ResponseContentType,
    ResponseSchema,
    ResponseExposure,
    ResponseTooLarge,
}

/// One problem, with where it is (`query.limit`, `body:/items/3/price`), a
/// reason safe to show the client, and an excerpt of the value for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    pub location: String,
    pub reason: String,
    pub excerpt: Option<String>,
}

impl Violation {
    pub fn new(
        kind: ViolationKind,
        location: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            location: location.into(),
            reason: reason.into(),
            excerpt: None,
        }
    }

    fn with_excerpt(mut self, excerpt: impl Into<String>) -> Self {
        self.excerpt = Some(excerpt.into());
        self
    }
}

/// Names to remove from the request before it is forwarded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StripList {
    /// Query parameter names, decoded (remove every pair with that key).
    pub query: Vec<String>,
    pub headers: Vec<HeaderName>,
    pub cookies: Vec<String>,
}

impl StripList {
    pub fn is_empty(&self) -> bool {
        self.query.is_empty() && self.headers.is_empty() && self.cookies.is_empty()
    }
}

/// Everything found in one request.
#[derive(Clone, Debug, Default)]
pub struct RequestReport {
    pub violations: Vec<Violation>,
    /// Unknown names under a `strip` knob: not violations, removed before forwarding.
    pub strip: StripList,
}

/// The request head, as the gateway parsed it.
pub struct RequestParts<'a> {
    pub method: &'a Method,
    /// Normalized, still percent-encoded where reserved.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub cookies: &'a [(&'a str, &'a str)],
}

/// One multipart part.
#[derive(Clone, Copy, Debug)]
pub struct PartView<'a> {
    pub name: &'a str,
    pub filename: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub data: &'a [u8],
}

/// The request body, parsed by the gateway according to its content type.
#[derive(Clone, Copy, Debug)]
pub enum RequestBody<'a> {
    Empty,
    Json(&'a Value),
    Form(&'a [(String, String)]),
    Multipart(&'a [PartView<'a>]),
    Text(&'a str),
    /// A media type the gateway does not parse: only its size is checked.
    Binary(&'a [u8]),
    /// The gateway could not parse it as its content type says.
    Malformed(&'a str),
}

/// Request headers that need no documentation to be forwarded (RFC 9110
/// and proxy headers, fetch metadata): never "unknown".
const STANDARD_HEADERS: &[&str] = &[
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "authorization",
    "cache-control",
    "connection",
    "content-encoding",
    "content-language",
    "content-length",
    "content-type",
    "cookie",
    "date",
    "dnt",
    "expect",
    "forwarded",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "keep-alive",
    "origin",
    "pragma",
    "priority",
    "proxy-connection",
    "range",
    "referer",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "sec-fetch-dest",
    "sec-fetch-mode",
    "sec-fetch-site",
    "sec-fetch-user",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "upgrade-insecure-requests",
    "user-agent",
    "via",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "x-request-id",
];

/// Header parameters OpenAPI says are described elsewhere, and ignored as parameters.
const IGNORED_HEADER_PARAMETERS: &[&str] = &["accept", "content-type", "authorization"];

impl Spec {
    /// The operation for a method and normalized path.
    pub fn route<'p>(&self, method: &Method, path: &'p str) -> Result<RouteMatch<'p>, RouteError> {
        self.router.route(method, path)
    }

    /// Validates path, query, header and cookie parameters. `extra_headers`
    /// are header names the deployment adds (a request id header, ...) that
    /// are never unknown.
    pub fn validate_parameters(
        &self,
        matched: &RouteMatch<'_>,
        parts: &RequestParts<'_>,
        extra_headers: &[HeaderName],
        report: &mut RequestReport,
    ) {
        let op = &self.operations[matched.operation];
        for (slot, raw) in op.path_params.iter().zip(&matched.captures) {
            let p = &op.parameters[*slot];
            let parsed = params::parse_path(p, raw);
            self.typed(op, p, parsed, raw, ViolationKind::PathParameter, report);
        }
        self.query(op, parts.query.unwrap_or(""), report);
        self.headers(op, parts.headers, extra_headers, report);
        self.cookies(op, parts.cookies, parts.headers, report);
    }

    /// Types and validates one parsed parameter value.
    fn typed(
        &self,
        op: &Operation,
        p: &Parameter,
        parsed: Result<params::Raw<'_>, String>,
        raw: &str,
        kind: ViolationKind,
        report: &mut RequestReport,
    ) {
        // A scalar (most path and query parameters) is typed and checked
        // without a JSON value when the fast path can vouch for it; anything
        // it is unsure about takes the full path below, which reports.
        if let (Ok(params::Raw::Scalar(text)), Some(schema), false) =
            (&parsed, p.schema, p.json_content)
        {
            let scalar = params::coerce_scalar(&self.arena, Some(schema), text);
            if crate::fast::scalar_is_clean(
                &self.arena,
                &self.fast,
                schema,
                &scalar,
                &request_options(&op.knobs),
            ) {
                return;
            }
        }
        let value = parsed.and_then(|r| params::to_json(&self.arena, p, r));
        let value = match value {
            Ok(v) => v,
            Err(reason) => {
                report.violations.push(
                    Violation::new(kind, param_location(p), reason)
                        .with_excerpt(raw.chars().take(65).collect::<String>()),
                );
                return;
            }
        };
        let Some(schema) = p.schema else { return };
        for e in validate(&self.arena, schema, &value, &request_options(&op.knobs)) {
            let at = format!("{}{}", param_location(p), e.pointer);
            report
                .violations
                .push(Violation::new(kind, at, e.reason).with_excerpt(e.excerpt));
        }
    }

    fn missing(&self, p: &Parameter, report: &mut RequestReport) {
        if p.required {
            report.violations.push(Violation::new(
                ViolationKind::MissingParameter,
                param_location(p),
                format!("required {} parameter is missing", p.location.prefix()),
            ));
        }
    }

    fn query(&self, op: &Operation, query: &str, report: &mut RequestReport) {
        let pairs: Vec<QueryPair<'_>> = match params::split_query(query) {
            Ok(p) => p,
            Err(reason) => {
                report.violations.push(Violation::new(
                    ViolationKind::QueryParameter,
                    "query",
                    reason,
                ));
                return;
            }
        };
        let mut claimed = vec![false; pairs.len()];
        for p in op
            .parameters
            .iter()
            .filter(|p| p.location == ParamIn::Query)
        {
            match params::parse_query(p, &self.arena, &pairs, &mut claimed) {
                Ok(None) => self.missing(p, report),
                Ok(Some(raw)) => {
                    let excerpt = pairs
                        .iter()
                        .find(|q| *q.key == *p.name)
                        .map_or("", |q| q.raw_value);
                    self.typed(
                        op,
                        p,
                        Ok(raw),
                        excerpt,
                        ViolationKind::QueryParameter,
                        report,
                    )
                }
                Err(reason) => report.violations.push(Violation::new(
                    ViolationKind::QueryParameter,
                    format!("query.{}", p.name),
                    reason,
                )),
            }
        }
        let mut seen_unknown: Vec<&str> = Vec::new();
        for (pair, claimed) in pairs.iter().zip(&claimed) {
            if *claimed
                || self.api_keys.query.iter().any(|k| **k == *pair.key)
                || seen_unknown.contains(&&*pair.key)
            {
                continue;
            }
            seen_unknown.push(&pair.key);
            match op.knobs.unknown_query {
                UnknownParams::Allow => {}
                UnknownParams::Strip => report.strip.query.push(pair.key.to_string()),
                UnknownParams::Block => report.violations.push(
                    Violation::new(
                        ViolationKind::UnknownQuery,
                        format!("query.{}", pair.key),
                        "query parameter not documented for this operation",
                    )
                    .with_excerpt(pair.raw_key.chars().take(65).collect::<String>()),
                ),
            }
        }
    }

    fn headers(
        &self,
        op: &Operation,
        headers: &HeaderMap,
        extra: &[HeaderName],
        report: &mut RequestReport,
    ) {
        let mut documented: Vec<&HeaderName> = Vec::new();
        for p in op
            .parameters
            .iter()
            .filter(|p| p.location == ParamIn::Header)
        {
            let Some(name) = &p.header else { continue };
            documented.push(name);
            if IGNORED_HEADER_PARAMETERS.contains(&name.as_str()) {
                continue;
            }
            let values: Vec<&str> = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if values.is_empty() {
                if headers.contains_key(name) {
                    report.violations.push(Violation::new(
                        ViolationKind::HeaderParameter,
                        format!("header.{name}"),
                        "header value is not visible ASCII",
                    ));
                } else {
                    self.missing(p, report);
                }
                continue;
            }
            if values.len() > 1 && p.shape == Shape::Primitive {
                report.violations.push(Violation::new(
                    ViolationKind::HeaderParameter,
                    format!("header.{name}"),
                    "given more than once",
                ));
                continue;
            }
            let joined = values.join(",");
            let parsed = params::parse_header(p, &joined);
            self.typed(
                op,
                p,
                parsed,
                &joined,
                ViolationKind::HeaderParameter,
                report,
            );
        }
        if op.knobs.unknown_headers == UnknownParams::Allow {
            return;
        }
        for name in headers.keys() {
            let known = documented.contains(&name)
                || STANDARD_HEADERS.contains(&name.as_str())
                || self.api_keys.headers.contains(name)
                || extra.contains(name);
            if known {
                continue;
            }
            if op.knobs.unknown_headers == UnknownParams::Strip {
                report.strip.headers.push(name.clone());
            } else {
                report.violations.push(Violation::new(
                    ViolationKind::UnknownHeader,
                    format!("header.{name}"),
                    "header not documented for this operation",
                ));
            }
        }
    }

    fn cookies(
        &self,
        op: &Operation,
        cookies: &[(&str, &str)],
        headers: &HeaderMap,
        report: &mut RequestReport,
    ) {
        let declared: Vec<&Parameter> = op
            .parameters
            .iter()
            .filter(|p| p.location == ParamIn::Cookie)
            .collect();
        // A `Cookie` header that is not UTF-8 cannot be split into the pairs
        // `cookies` holds: its cookies would go unvalidated (and unknown ones
        // unstripped) while the upstream reads them. Refused wherever
        // cookies are checked at all.
        let unreadable = headers
            .get_all(http::header::COOKIE)
            .iter()
            .any(|v| std::str::from_utf8(v.as_bytes()).is_err());
        if unreadable && (!declared.is_empty() || op.knobs.unknown_cookies != UnknownParams::Allow)
        {
            report.violations.push(Violation::new(
                ViolationKind::CookieParameter,
                "header.cookie",
                "Cookie header is not UTF-8: its cookies cannot be validated",
            ));
            return;
        }
        for p in &declared {
            let mine: Vec<&str> = cookies
                .iter()
                .filter(|(n, _)| **n == *p.name)
                .map(|(_, v)| *v)
                .collect();
            match mine.as_slice() {
                [] => self.missing(p, report),
                [value] => {
                    let parsed = params::parse_cookie(p, value);
                    self.typed(op, p, parsed, value, ViolationKind::CookieParameter, report);
                }
                many if p.shape == Shape::Array && p.explode => {
                    let joined = many.join(",");
                    let parsed = params::parse_cookie(p, &joined).map(|r| match r {
                        params::Raw::Scalar(_) => {
                            params::Raw::List(many.iter().map(|v| (*v).into()).collect())
                        }
                        other => other,
                    });
                    self.typed(
                        op,
                        p,
                        parsed,
                        &joined,
                        ViolationKind::CookieParameter,
                        report,
                    );
                }
                _ => report.violations.push(Violation::new(
                    ViolationKind::CookieParameter,
                    format!("cookie.{}", p.name),
                    "given more than once",
                )),
            }
        }
        if op.knobs.unknown_cookies == UnknownParams::Allow {
            return;
        }
        let mut seen: Vec<&str> = Vec::new();
        for (name, _) in cookies {
            if declared.iter().any(|p| *p.name == **name)
                || self.api_keys.cookies.iter().any(|k| **k == **name)
                || seen.contains(name)
            {
                continue;
            }
            seen.push(name);
            if op.knobs.unknown_cookies == UnknownParams::Strip {
                report.strip.cookies.push((*name).to_owned());
            } else {
                report.violations.push(Violation::new(
                    ViolationKind::UnknownCookie,
                    format!("cookie.{name}"),
                    "cookie not documented for this operation",
                ));
            }
        }
    }

    /// Whether the operation documents a request body (the gateway reads the
    /// body only then; a body sent to an operation without one is refused
    /// from its head by [`Spec::check_unexpected_body`]).
    pub fn wants_body(&self, op: &Operation) -> bool {
        op.request_body.is_some()
    }

    /// For an operation without a request body: a violation when the head
    /// says a body follows.
    pub fn check_unexpected_body(
        &self,
        op: &Operation,
        declared_length: Option<u64>,
        chunked: bool,
        report: &mut RequestReport,
    ) {
        if op.request_body.is_none() && (declared_length.is_some_and(|l| l > 0) || chunked) {
            report.violations.push(Violation::new(
                ViolationKind::BodyUnexpected,
                "body",
                "this operation takes no request body",
            ));
        }
    }

    /// Validates the body of a request to `op` sent as `content_type`.
    pub fn validate_body(
        &self,
        op: &Operation,
        content_type: Option<&str>,
        body: RequestBody<'_>,
        report: &mut RequestReport,
    ) {
        let Some(spec) = &op.request_body else {
            if !matches!(body, RequestBody::Empty) {
                report.violations.push(Violation::new(
                    ViolationKind::BodyUnexpected,
                    "body",
                    "this operation takes no request body",
                ));
            }
            return;
        };
        if matches!(body, RequestBody::Empty) {
            if spec.required {
                report.violations.push(Violation::new(
                    ViolationKind::BodyMissing,
                    "body",
                    "a request body is required",
                ));
            }
            return;
        }
        let Some(content_type) = content_type else {
            report.violations.push(Violation::new(
                ViolationKind::ContentType,
                "header.content-type",
                "a request body needs a Content-Type",
            ));
            return;
        };
        let Some(media) = match_media(&spec.content, content_type) else {
            report.violations.push(
                Violation::new(
                    ViolationKind::ContentType,
                    "header.content-type",
                    "content type not documented for this operation",
                )
                .with_excerpt(content_type.chars().take(65).collect::<String>()),
            );
            return;
        };
        let options = request_options(&op.knobs);
        match body {
            RequestBody::Malformed(reason) => {
                report.violations.push(Violation::new(
                    ViolationKind::BodyMalformed,
                    "body",
                    reason.to_owned(),
                ));
            }
            RequestBody::Json(value) => {
                if let Some(schema) = media.schema {
                    let errors = validate(&self.arena, schema, value, &options);
                    push_body_errors(errors, "body:", report);
                }
            }
            RequestBody::Form(pairs) => self.form(op, media, pairs, &options, report),
            RequestBody::Multipart(parts) => self.multipart(op, media, parts, &options, report),
            RequestBody::Text(text) => {
                if let Some(schema) = media.schema {
                    let errors = validate(
                        &self.arena,
                        schema,
                        &Value::String(text.to_owned()),
                        &options,
                    );
                    push_body_errors(errors, "body", report);
                }
            }
            RequestBody::Binary(bytes) => {
                let limit = media
                    .schema
                    .and_then(|s| self.arena.get(s).max_length.map(|m| m as u64))
                    .or(op.knobs.max_binary_bytes);
                if let Some(limit) = limit
                    && bytes.len() as u64 > limit
                {
                    report.violations.push(
                        Violation::new(
                            ViolationKind::BodyTooLarge,
                            "body",
                            format!("body larger than {limit} bytes"),
                        )
                        .with_excerpt(format!("{} bytes", bytes.len())),
                    );
                }
            }
            RequestBody::Empty => {}
        }
    }

    /// The fast path of [`Spec::validate_body`] for a JSON body given as
    /// raw bytes: `true` when validating its parsed value would report
    /// nothing (see [`crate::fast`]), `false` when unsure (parse it and call
    /// `validate_body`).
    pub fn json_body_is_clean(
        &self,
        op: &Operation,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> bool {
        let (Some(spec), Some(content_type)) = (&op.request_body, content_type) else {
            return false;
        };
        if bytes.is_empty() {
            return false;
        }
        let Some(media) = match_media(&spec.content, content_type) else {
            return false;
        };
        self.json_is_clean(media.schema, bytes, &request_options(&op.knobs))
    }

    fn form(
        &self,
        _op: &Operation,
        media: &MediaType,
        pairs: &[(String, String)],
        options: &ValidationOptions,
        report: &mut RequestReport,
    ) {
        let Some(schema) = media.schema else { return };
        let mut object = Map::new();
        for (key, value) in pairs {
            let prop = self.arena.find_property(schema, key);
            let is_array = prop
                .and_then(|p| self.arena.effective_types(p))
                .is_some_and(|t| t.has(TypeSet::ARRAY));
            let explode = media.encoding(key).and_then(|e| e.explode).unwrap_or(true);
            if is_array {
                let items = prop.and_then(|p| self.arena.find_items(p));
                let entry = object
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = entry {
                    if explode {
                        list.push(params::coerce(&self.arena, items, value));
                    } else {
                        list.extend(
                            value
                                .split(',')
                                .map(|v| params::coerce(&self.arena, items, v)),
                        );
                    }
                }
            } else if object
                .insert(key.clone(), params::coerce(&self.arena, prop, value))
                .is_some()
            {
                report.violations.push(Violation::new(
                    ViolationKind::BodySchema,
                    format!("form.{key}"),
                    "given more than once",
                ));
                return;
            }
        }
        let errors = validate(&self.arena, schema, &Value::Object(object), options);
        push_body_errors(errors, "form", report);
    }

    fn multipart(
        &self,
        op: &Operation,
        media: &MediaType,
        parts: &[PartView<'_>],
        options: &ValidationOptions,
        report: &mut RequestReport,
    ) {
        let Some(schema) = media.schema else { return };
        // Text parts become an object the validator sees whole; file parts
        // are checked here (size, media type) and stand in as present.
        let mut object = Map::new();
        let mut files: Vec<&str> = Vec::new();
        for part in parts {
            let location = format!("multipart.{}", part.name);
            let prop = self.arena.find_property(schema, part.name);
            let encoding = media.encoding(part.name);
            if let Some(enc) = encoding
                && !enc.content_types.is_empty()
            {
                let ct = part.content_type.unwrap_or("text/plain");
                if !enc.content_types.iter().any(|r| media_matches(r, ct)) {
                    report.violations.push(
                        Violation::new(
                            ViolationKind::ContentType,
                            location.clone(),
                            "part content type not documented for this field",
                        )
                        .with_excerpt(ct.chars().take(65).collect::<String>()),
                    );
                    // Reported once: the part still counts as present.
                    files.push(part.name);
                    object
                        .entry(part.name.to_owned())
                        .or_insert(Value::String(String::new()));
                    continue;
                }
            }
            let prop_schema = prop.map(|p| self.arena.get(p));
            if part.filename.is_some() || prop_schema.is_some_and(is_binary) {
                if prop.is_none() {
                    object.insert(part.name.to_owned(), Value::Null);
                    continue;
                }
                if let Some(max) = prop_schema
                    .and_then(|s| s.max_length)
                    .map(|m| m as u64)
                    .or(op.knobs.max_binary_bytes)
                    && part.data.len() as u64 > max
                {
                    report.violations.push(
                        Violation::new(
                            ViolationKind::BodyTooLarge,
                            location,
                            format!("file larger than {max} bytes"),
                        )
                        .with_excerpt(format!("{} bytes", part.data.len())),
                    );
                }
                files.push(part.name);
                object
                    .entry(part.name.to_owned())
                    .or_insert(Value::String(String::new()));
                continue;
            }
            let Ok(text) = std::str::from_utf8(part.data) else {
                report.violations.push(Violation::new(
                    ViolationKind::BodyMalformed,
                    location,
                    "text part is not UTF-8",
                ));
                continue;
            };
            let json_part = part.content_type.is_some_and(media_is_json)
                || prop
                    .and_then(|p| self.arena.effective_types(p))
                    .is_some_and(|t| t.has(TypeSet::OBJECT) && !t.has(TypeSet::STRING));
            let value = if json_part {
                match serde_json::from_str::<Value>(text) {
                    Ok(v) => v,
                    Err(_) => {
                        report.violations.push(Violation::new(
                            ViolationKind::BodyMalformed,
                            location,
                            "part is not valid JSON",
                        ));
                        continue;
                    }
                }
            } else {
                params::coerce(&self.arena, prop, text)
            };
            let is_array = prop
                .and_then(|p| self.arena.effective_types(p))
                .is_some_and(|t| t.has(TypeSet::ARRAY));
            if is_array && !json_part {
                let items = prop.and_then(|p| self.arena.find_items(p));
                let entry = object
                    .entry(part.name.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = entry {
                    list.push(params::coerce(&self.arena, items, text));
                }
            } else if object.insert(part.name.to_owned(), value).is_some() {
                report.violations.push(Violation::new(
                    ViolationKind::BodySchema,
                    location,
                    "given more than once",
                ));
            }
        }
        let errors = validate(&self.arena, schema, &Value::Object(object), options);
        let file_pointers: Vec<String> = files.iter().map(|f| crate::error::join("", f)).collect();
        let errors = errors
            .into_iter()
            // A file part stands in as an empty string; its size and type were checked above.
            .filter(|e| {
                !file_pointers.iter().any(|f| {
                    e.pointer == *f
                        || e.pointer
                            .strip_prefix(f.as_str())
                            .is_some_and(|r| r.starts_with('/'))
                })
            })
            .collect();
        push_body_errors(errors, "multipart", report);
    }
}

/// `query.limit`, `header.x-trace-id` (header names in lower case).
fn param_location(p: &Parameter) -> String {
    match &p.header {
        Some(h) => format!("header.{h}"),
        None => format!("{}.{}", p.location.prefix(), p.name),
    }
}

fn is_binary(s: &Schema) -> bool {
    s.format == Some(crate::format::Format::Binary)
}

/// Request validation options from an operation's knobs.
pub fn request_options(k: &Knobs) -> ValidationOptions {
    ValidationOptions {
        direction: Direction::Request,
        strict_objects: k.strict_objects,
        refuse_read_only: k.refuse_read_only,
        max_depth: k.max_body_depth,
        max_array_items: k.max_array_items,
        max_string_length: k.max_string_length,
        max_errors: 20,
    }
}

/// `body:` + pointer for JSON, `form.name` / `multipart.name` for fields.
fn push_body_errors(errors: Vec<SchemaError>, prefix: &str, report: &mut RequestReport) {
    for e in errors {
        let kind = match e.kind {
            ErrorKind::Schema | ErrorKind::WriteOnly => ViolationKind::BodySchema,
            ErrorKind::ReadOnly => ViolationKind::BodyReadOnly,
            ErrorKind::Undeclared => ViolationKind::BodyUndeclared,
            ErrorKind::Limit => ViolationKind::BodyLimit,
        };
        let location = body_location(prefix, &e.pointer);
        report
            .violations
            .push(Violation::new(kind, location, e.reason).with_excerpt(e.excerpt));
    }
}

pub(crate) fn body_location(prefix: &str, pointer: &str) -> String {
    match prefix {
        "body:" if pointer.is_empty() => "body:/".to_owned(),
        "body:" => format!("body:{pointer}"),
        _ if pointer.is_empty() => prefix.to_owned(),
        // `/name/0` → `form.name/0`
        _ => format!("{prefix}.{}", &pointer[1..]),
    }
}

/// The documented media type that fits `content_type` best: exact, then
/// `type/*`, then `*/*`.
pub fn match_media<'m>(content: &'m [MediaType], content_type: &str) -> Option<&'m MediaType> {
    // The usual answer first: a `Content-Type` written exactly as a range
    // (no parameters, lower case) is the one the comparison below finds
    // first too, as ranges are distinct lower-case essences.
    if let Some(m) = content.iter().find(|m| *m.range == *content_type) {
        return Some(m);
    }
    // Ranges are lower case (compiled by `essence`): an ASCII
    // case-insensitive comparison is the comparison with the lower-cased
    // essence, without making one.
    let bare = bare_essence(content_type);
    let slash = bare.bytes().position(|b| b == b'/')?;
    let ty = &bare[..slash];
    content
        .iter()
        .find(|m| m.range.eq_ignore_ascii_case(bare))
        .or_else(|| {
            content.iter().find(|m| {
                m.range
                    .strip_suffix("/*")
                    .is_some_and(|r| r.eq_ignore_ascii_case(ty))
            })
        })
        .or_else(|| content.iter().find(|m| &*m.range == "*/*"))
}

fn media_matches(range: &str, content_type: &str) -> bool {
    let bare = bare_essence(content_type);
    range.eq_ignore_ascii_case(bare)
        || range == "*/*"
        || range.strip_suffix("/*").is_some_and(|ty| {
            let own = bare
                .bytes()
                .position(|b| b == b'/')
                .map_or(bare, |i| &bare[..i]);
            own.eq_ignore_ascii_case(ty)
        })
}

impl Spec {
    /// The schema a JSON body of `op` is checked against, for callers that
    /// need it (benchmarks, the audit).
    pub fn json_body_schema(&self, op: &Operation) -> Option<SchemaId> {
        op.request_body
            .as_ref()?
            .content
            .iter()
            .find(|m| m.json)
            .and_then(|m| m.schema)
    }
}

/// An excerpt of any JSON value (re-exported for the policy's findings).
pub fn value_excerpt(value: &Value) -> String {
    excerpt(value)
}
