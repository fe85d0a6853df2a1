//! Threat detection: hands every value a request carries — path segments,
//! query names and values, header values (cookies split into pairs, a
//! Referer's query values also one by one), and the buffered body's JSON
//! keys and values, form fields, multipart fields and
//! file names, XML text, attributes and the raw document, GraphQL argument
//! literals — to the `portcullis-detect` engines with its location, drops
//! detections an exception covers, and turns the rest into findings.
//!
//! Anomaly scoring: each detection adds its rule's score (critical 5, error
//! 4, warning 3, notice 2) to the request's total, across head and body.
//! Findings block (403) once the total reaches `anomaly_threshold`; below
//! it they are only logged. The check never answers the client and never
//! echoes a value: reasons are the rules' fixed summaries, excerpts go to
//! the audit log only.

use std::borrow::Cow;

use http::{StatusCode, header};
use portcullis_detect::{Detection, Detector, DetectorSettings, Inspector, ValueKind, rules};

use super::Check;
use crate::body::{BodyKind, ParsedBody, body_kind};
use crate::config::Mode;
use crate::config::threat_detection::ThreatDetectionConfig;
use crate::exchange::Exchange;
use crate::finding::{Finding, Severity, excerpt};

const NAME: &str = "threat_detection";

/// Largest body without a `Content-Type` that is read to be inspected (the
/// gateway buffers bodies up to this size before contacting the upstream).
const TYPELESS_BODY_BYTES: u64 = 64 * 1024;

/// Most string literals taken from one GraphQL document.
const MAX_GRAPHQL_LITERALS: usize = 1000;

pub struct ThreatDetectionCheck {
    detector: Detector,
    mode: Mode,
    threshold: u32,
    all_headers: bool,
    headers: Vec<String>,
    skip_headers: Vec<String>,
    inspect_body: bool,
    exceptions: Vec<Exception>,
}

struct Exception {
    rules: Vec<String>,
    locations: Vec<String>,
    routes: Vec<String>,
    operations: Vec<String>,
}

impl Exception {
    fn covers(&self, rule: &str, location: &str, route: &str, operation: Option<&str>) -> bool {
        let any_or = |list: &[String], f: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|x| f(x))
        };
        any_or(&self.rules, &|r| match r.strip_suffix(".*") {
            Some(family) => rule.split('.').next() == Some(family),
            None => r == rule,
        }) && any_or(&self.locations, &|l| match l.strip_suffix('*') {
            Some(prefix) => location.starts_with(prefix),
            None => l == location,
        }) && any_or(&self.routes, &|r| r == route)
            && any_or(&self.operations, &|o| Some(o) == operation)
    }
}

/// Detections of one request phase, with their locations and total score.
struct Pass<'e, 'a> {
    exchange: &'e Exchange<'a>,
    found: Vec<Finding>,
    score: u32,
    scratch: Vec<Detection>,
}

impl ThreatDetectionCheck {
    /// `config` has been validated; `effective_mode` already folds in the policy's mode.
    pub fn new(config: &ThreatDetectionConfig, effective_mode: Mode) -> Self {
        let disabled = config
            .disabled_categories
            .iter()
            .filter_map(|c| portcullis_detect::Category::from_name(c))
            .collect();
        let detector = Detector::new(&DetectorSettings {
            paranoia_level: config.paranoia_level,
            max_value_bytes: usize::try_from(config.max_value_bytes.0).unwrap_or(usize::MAX),
            disabled_categories: disabled,
            ..DetectorSettings::default()
        });
        let lower = |v: &[String]| {
            v.iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        };
        ThreatDetectionCheck {
            detector,
            mode: effective_mode,
            threshold: config.anomaly_threshold,
            all_headers: config.headers.iter().any(|h| h == "*"),
            headers: lower(&config.headers),
            skip_headers: lower(&config.skip_headers),
            inspect_body: config.inspect_body,
            exceptions: config
                .exceptions
                .iter()
                .map(|e| Exception {
                    rules: e.rules.clone(),
                    locations: e.locations.clone(),
                    routes: e.routes.clone(),
                    operations: e.operations.clone(),
                })
                .collect(),
        }
    }

    fn inspect(
        &self,
        pass: &mut Pass<'_, '_>,
        inspector: &mut Inspector<'_>,
        value: &str,
        kind: ValueKind<'_>,
        location: impl FnOnce() -> String,
    ) {
        if value.is_empty() {
            return;
        }
        pass.scratch.clear();
        inspector.inspect(value, kind, &mut pass.scratch);
        if pass.scratch.is_empty() {
            return;
        }
        let location = location();
        let found = std::mem::take(&mut pass.scratch);
        self.record(pass, found, &location);
    }

    /// A file path split over segments (`/static/etc/passwd`,
    /// `/wp-content/debug.log`) shows only in the whole path; a rule a
    /// single segment already reported is not counted again.
    fn inspect_whole_path(
        &self,
        pass: &mut Pass<'_, '_>,
        inspector: &mut Inspector<'_>,
        path: &str,
    ) {
        if path.len() < 2 || !path[1..].contains('/') {
            return;
        }
        pass.scratch.clear();
        inspector.inspect(path, ValueKind::PathSegment, &mut pass.scratch);
        let found = &pass.found;
        pass.scratch.retain(|d| {
            !found
                .iter()
                .any(|f| f.rule == d.rule.id && f.location.starts_with("path["))
        });
        if pass.scratch.is_empty() {
            return;
        }
        let found = std::mem::take(&mut pass.scratch);
        self.record(pass, found, "path");
    }

    /// Turns detections at one location into findings (monitor mode until
    /// `conclude` sees the total), dropping those an exception covers.
    fn record(&self, pass: &mut Pass<'_, '_>, mut found: Vec<Detection>, location: &str) {
        let route = pass.exchange.route_name;
        let operation = pass.exchange.operation_id();
        for d in found.drain(..) {
            if self
                .exceptions
                .iter()
                .any(|e| e.covers(d.rule.id, location, route, operation))
            {
                continue;
            }
            pass.score += d.anomaly_score();
            pass.found.push(Finding {
                check: NAME,
                rule: d.rule.id,
                severity: severity(d.rule.severity),
                status: StatusCode::FORBIDDEN,
                location: Cow::Owned(location.to_owned()),
                reason: Cow::Borrowed(d.rule.summary),
                excerpt: Some(excerpt(&d.matched)),
                mode: Mode::Monitor,
            });
        }
        // Hand the (empty) buffer back for the next value.
        pass.scratch = found;
    }

    /// Appends this pass's findings, blocking every finding of the request
    /// (earlier phases' too) once the total score reaches the threshold.
    fn conclude(&self, pass: Pass<'_, '_>, earlier_score: u32, findings: &mut Vec<Finding>) {
        if pass.found.is_empty() {
            return;
        }
        let total = earlier_score + pass.score;
        findings.extend(pass.found);
        if total >= self.threshold && self.mode == Mode::Block {
            for f in findings.iter_mut().filter(|f| f.check == NAME) {
                f.mode = Mode::Block;
            }
        }
    }

    fn wants_header(&self, name: &str) -> bool {
        !self.skip_headers.iter().any(|h| h == name)
            && (self.all_headers || self.headers.iter().any(|h| h == name))
    }
}

fn severity(s: portcullis_detect::Severity) -> Severity {
    match s {
        portcullis_detect::Severity::Critical => Severity::Critical,
        portcullis_detect::Severity::Error => Severity::Error,
        portcullis_detect::Severity::Warning => Severity::Warning,
        portcullis_detect::Severity::Notice => Severity::Notice,
    }
}

fn same_site_referer(ex: &Exchange<'_>) -> bool {
    let Some(referer) = ex
        .headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((_, rest)) = referer.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority
        .rsplit('@')
        .next()
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("");
    let host = host.to_ascii_lowercase();
    !host.is_empty()
        && (host == ex.host
            || host.ends_with(&format!(".{}", ex.host))
            || ex.host.ends_with(&format!(".{host}")))
}

/// The score of the findings this check made in earlier phases.
fn earlier_score(findings: &[Finding]) -> u32 {
    findings
        .iter()
        .filter(|f| f.check == NAME)
        .filter_map(|f| rules::by_id(f.rule))
        .map(|r| r.severity.anomaly_score())
        .sum()
}

impl Check for ThreatDetectionCheck {
    fn name(&self) -> &'static str {
        NAME
    }

    fn on_request_head(&self, ex: &Exchange<'_>, findings: &mut Vec<Finding>) {
        let mut inspector = self.detector.inspector();
        let mut pass = Pass {
            exchange: ex,
            found: Vec::new(),
            score: 0,
            scratch: Vec::new(),
        };
        for (i, segment) in ex.path_segments().enumerate() {
            self.inspect(
                &mut pass,
                &mut inspector,
                segment,
                ValueKind::PathSegment,
                || format!("path[{i}]"),
            );
        }
        self.inspect_whole_path(&mut pass, &mut inspector, ex.path);
        for (name, value) in ex.query_pairs() {
            self.inspect(
                &mut pass,
                &mut inspector,
                name,
                ValueKind::QueryName,
                || format!("query.{name}#key"),
            );
            self.inspect(
                &mut pass,
                &mut inspector,
                value,
                ValueKind::QueryValue,
                || format!("query.{name}"),
            );
        }
        let mut cookies_done = false;
        for (name, value) in ex.headers {
            let name = name.as_str();
            if !self.wants_header(name) {
                continue;
            }
            // A Cookie header that is not UTF-8 (Latin-1 bytes) cannot be
            // split into pairs: it is inspected whole, as any header, rather
            // than not at all.
            if name == header::COOKIE.as_str() && std::str::from_utf8(value.as_bytes()).is_ok() {
                if !cookies_done {
                    cookies_done = true;
                    for (cname, cvalue) in ex.cookies() {
                        self.inspect(
                            &mut pass,
                            &mut inspector,
                            cname,
                            ValueKind::CookieName,
                            || format!("cookie.{cname}#key"),
                        );
                        self.inspect(
                            &mut pass,
                            &mut inspector,
                            cvalue,
                            ValueKind::CookieValue,
                            || format!("cookie.{cname}"),
                        );
                    }
                }
                continue;
            }
            let value = String::from_utf8_lossy(value.as_bytes());
            self.inspect(
                &mut pass,
                &mut inspector,
                &value,
                ValueKind::HeaderValue { name },
                || format!("header.{name}"),
            );
            // The query of the page a Referer names is parameters the client
            // sends along (`?args=env --version`): each value is inspected on
            // its own too, as the whole header puts it out of command or
            // statement position. (Kept a Referer value: a loopback URL in it
            // is where the client came from, not a fetch target.)
            if name == header::REFERER.as_str()
                && let Some((_, query)) = value.split_once('?')
            {
                let query = query.split_once('#').map_or(query, |(q, _)| q);
                for (qname, qvalue) in form_urlencoded::parse(query.as_bytes()) {
                    self.inspect(
                        &mut pass,
                        &mut inspector,
                        &qvalue,
                        ValueKind::HeaderValue { name },
                        || format!("header.{name}?{qname}"),
                    );
                }
            }
        }
        // Protocol enforcement on the head (content type, charset, ranges,
        // method override, restricted headers, bodies on GET).
        let has_body = ex.content_length().is_some_and(|l| l > 0)
            || ex.headers.contains_key(header::TRANSFER_ENCODING);
        let mut head_found = Vec::new();
        self.detector.inspect_head(
            ex.method.as_str(),
            ex.path,
            has_body,
            ex.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
            &mut head_found,
        );
        if let Some(raw) = ex.raw_query.filter(|q| !q.is_empty()) {
            let mut found = Vec::new();
            self.detector.inspect_urlencoded(raw, &mut found);
            if !found.is_empty() {
                self.record(&mut pass, found, "query");
            }
        }
        for (name, value) in ex.query_pairs() {
            let mut found = Vec::new();
            self.detector
                .inspect_file_parameter(name, value, &mut found);
            if !found.is_empty() {
                self.record(&mut pass, found, &format!("query.{name}"));
            }
        }
        if let Some((_, value)) = ex.query_pairs().iter().find(|(n, _)| n == "_method") {
            let mut found = Vec::new();
            self.detector
                .inspect_method_override(ex.method.as_str(), value, &mut found);
            if !found.is_empty() {
                self.record(&mut pass, found, "query._method");
            }
        }
        for (detection, name) in head_found {
            let location = if name.is_empty() {
                "request".to_owned()
            } else {
                format!("header.{name}")
            };
            self.record(&mut pass, vec![detection], &location);
        }
        // A session id in a link the site itself made (same-host Referer) is
        // how some applications keep sessions without cookies, not fixation.
        if same_site_referer(ex) {
            pass.found
                .retain(|f| f.rule != rules::SESSION_ID_PARAMETER.id);
            pass.score = pass
                .found
                .iter()
                .filter_map(|f| rules::by_id(f.rule))
                .map(|r| r.severity.anomaly_score())
                .sum();
        }
        self.conclude(pass, 0, findings);
    }

    fn wants_request_body(&self, ex: &Exchange<'_>) -> bool {
        if !self.inspect_body {
            return false;
        }
        // A body without a type is inspected as text only when it is small
        // enough to be buffered anyway: a raw upload (`curl -T big.iso`)
        // keeps streaming instead of meeting the body limit.
        if ex.content_type().is_none() {
            return ex
                .content_length()
                .is_some_and(|l| l > 0 && l <= TYPELESS_BODY_BYTES);
        }
        (ex.content_length().is_some_and(|l| l > 0)
            || ex.headers.contains_key(header::TRANSFER_ENCODING))
            && body_kind(ex.content_type()) != BodyKind::Binary
    }

    fn on_request_body(&self, ex: &Exchange<'_>, findings: &mut Vec<Finding>) {
        let Some(parsed) = ex.parsed_body() else {
            return;
        };
        let earlier = earlier_score(findings);
        let mut inspector = self.detector.inspector();
        let mut pass = Pass {
            exchange: ex,
            found: Vec::new(),
            score: 0,
            scratch: Vec::new(),
        };
        // The whole XML document first: its DOCTYPE names the block.
        if let (
            ParsedBody::Xml(_)
            | ParsedBody::Invalid {
                kind: BodyKind::Xml,
                ..
            },
            Some(raw),
        ) = (parsed, ex.body_bytes())
        {
            self.document(&mut pass, raw);
        }
        if let (ParsedBody::Form(pairs), Some(raw)) = (parsed, ex.body_bytes()) {
            let mut found = Vec::new();
            self.detector
                .inspect_urlencoded(&String::from_utf8_lossy(raw), &mut found);
            for (name, value) in pairs {
                self.detector
                    .inspect_file_parameter(name, value, &mut found);
            }
            if let Some((_, value)) = pairs.iter().find(|(n, _)| n == "_method") {
                self.detector
                    .inspect_method_override(ex.method.as_str(), value, &mut found);
            }
            if !found.is_empty() {
                self.record(&mut pass, found, "body");
            }
        }
        if let ParsedBody::Multipart(parts) = parsed {
            for part in parts.iter().filter(|p| p.escaped_name) {
                let mut found = Vec::new();
                let name = part.filename.as_deref().unwrap_or(&part.name);
                self.detector
                    .inspect_escaped_multipart_name(name, &mut found);
                self.record(&mut pass, found, &format!("multipart.{}#key", part.name));
            }
        }
        let graphql = graphql_document(parsed);
        parsed.for_each_value(|location, value| {
            if graphql.is_some() && location == "body:/query" {
                return;
            }
            let kind = kind_of(location);
            self.inspect(&mut pass, &mut inspector, value, kind, || {
                location.to_owned()
            });
        });
        if let Some(document) = graphql {
            for (n, literal) in graphql_literals(document).enumerate() {
                self.inspect(
                    &mut pass,
                    &mut inspector,
                    literal,
                    ValueKind::GraphqlArgument,
                    || format!("graphql.argument[{n}]"),
                );
            }
        }
        // A body that does not parse as its content type is still read by
        // someone downstream: inspect it as text.
        // (Not multipart: its raw form is part headers and file bytes.)
        if let (ParsedBody::Invalid { kind, .. }, Some(raw)) = (parsed, ex.body_bytes())
            && *kind != BodyKind::Multipart
        {
            let text = String::from_utf8_lossy(raw);
            self.inspect(
                &mut pass,
                &mut inspector,
                &text,
                ValueKind::TextBody,
                || "body".to_owned(),
            );
        }
        self.conclude(pass, earlier, findings);
    }
}

impl ThreatDetectionCheck {
    fn document(&self, pass: &mut Pass<'_, '_>, raw: &[u8]) {
        let mut found = Vec::new();
        self.detector.inspect_xml_document(raw, &mut found);
        self.record(pass, found, "body");
    }
}

/// What a body location holds (see `ParsedBody::for_each_value`).
fn kind_of(location: &str) -> ValueKind<'_> {
    if let Some(pointer) = location.strip_prefix("body:") {
        return match pointer.strip_suffix("#key") {
            Some(path) => {
                let parent = path.rsplit('/').nth(1).unwrap_or("");
                ValueKind::JsonKey { parent }
            }
            None => ValueKind::JsonValue,
        };
    }
    if let Some(rest) = location.strip_prefix("form.") {
        return if rest.ends_with("#key") {
            ValueKind::FormName
        } else {
            ValueKind::FormValue
        };
    }
    if let Some(rest) = location.strip_prefix("multipart.") {
        return if rest.ends_with("#key") {
            ValueKind::MultipartName
        } else if rest.ends_with(".filename") {
            ValueKind::MultipartFilename
        } else {
            ValueKind::MultipartValue
        };
    }
    if let Some(rest) = location.strip_prefix("xml:") {
        return if rest.contains('@') {
            ValueKind::XmlAttribute
        } else {
            ValueKind::XmlText
        };
    }
    ValueKind::TextBody
}

/// The GraphQL document of a JSON GraphQL request (`{"query": "...", "variables": {...}}`).
fn graphql_document(parsed: &ParsedBody) -> Option<&str> {
    let ParsedBody::Json(value) = parsed else {
        return None;
    };
    let query = value.get("query")?.as_str()?;
    let head = query.trim_start();
    let keyword = ["query", "mutation", "subscription", "fragment", "{"]
        .iter()
        .any(|k| head.starts_with(k));
    keyword.then_some(query)
}

/// String literals of a GraphQL document (`"..."` with escapes, and
/// `"""..."""` block strings): the argument values a resolver receives.
/// Bounded: one pass, at most [`MAX_GRAPHQL_LITERALS`] literals.
fn graphql_literals(document: &str) -> impl Iterator<Item = &str> {
    let s = document.as_bytes();
    let mut i = 0;
    let mut count = 0;
    std::iter::from_fn(move || {
        while i < s.len() && count < MAX_GRAPHQL_LITERALS {
            match s[i] {
                b'#' => {
                    i = memchr::memchr(b'\n', &s[i..]).map_or(s.len(), |p| i + p + 1);
                }
                b'"' if s[i..].starts_with(b"\"\"\"") => {
                    let start = i + 3;
                    let end =
                        memchr::memmem::find(&s[start..], b"\"\"\"").map_or(s.len(), |p| start + p);
                    i = (end + 3).min(s.len());
                    count += 1;
                    return document.get(start..end);
                }
                b'"' => {
                    let start = i + 1;
                    let mut j = start;
                    while j < s.len() && s[j] != b'"' {
                        j += if s[j] == b'\\' { 2 } else { 1 };
                    }
                    let end = j.min(s.len());
                    i = (end + 1).min(s.len());
                    count += 1;
                    return document.get(start..end);
                }
                _ => i += 1,
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_locations_map_to_value_kinds() {
        assert_eq!(
            kind_of("body:/a/constructor/prototype#key"),
            ValueKind::JsonKey {
                parent: "constructor"
            }
        );
        assert_eq!(kind_of("body:/items/0/name"), ValueKind::JsonValue);
        assert_eq!(kind_of("form.q#key"), ValueKind::FormName);
        assert_eq!(
            kind_of("multipart.file.filename"),
            ValueKind::MultipartFilename
        );
        assert_eq!(kind_of("xml:/a/b@id"), ValueKind::XmlAttribute);
        assert_eq!(kind_of("body"), ValueKind::TextBody);
    }

    #[test]
    fn graphql_string_literals_are_extracted() {
        let doc =
            r#"query { user(name: "O'Brien\" x", note: """block "q" """) { id } } # "not this""#;
        let found: Vec<&str> = graphql_literals(doc).collect();
        assert_eq!(found, [r#"O'Brien\" x"#, r#"block "q" "#]);
    }

    #[test]
    fn exceptions_match_rule_families_and_location_prefixes() {
        let e = Exception {
            rules: vec!["sqli.*".into()],
            locations: vec!["body:/notes/*".into()],
            routes: vec![],
            operations: vec!["addNote".into()],
        };
        assert!(e.covers("sqli.tautology", "body:/notes/3", "api", Some("addNote")));
        assert!(!e.covers("sqli.tautology", "body:/notes/3", "api", None));
        assert!(!e.covers("xss.script_tag", "body:/notes/3", "api", Some("addNote")));
        assert!(!e.covers("sqli.tautology", "body:/title", "api", Some("addNote")));
    }
}
