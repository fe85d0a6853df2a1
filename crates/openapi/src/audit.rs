//! The misconfiguration audit behind `portcullis audit-spec`: weaknesses of a
//! spec that make its enforcement weak (operations without security, schemas
//! without types, unbounded strings, arrays and numbers, open objects,
//! operations without 4xx responses, plain-HTTP servers), each with a
//! severity and the JSON pointer to fix. It reads a compiled [`Spec`] and
//! changes nothing.

use std::path::PathBuf;
use std::str::FromStr;

use serde_json::Value;

use crate::loader::Target;
use crate::schema::{Additional, TypeSet};
use crate::spec::{Spec, StatusKey};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuditSeverity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl AuditSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditSeverity::Info => "info",
            AuditSeverity::Low => "low",
            AuditSeverity::Medium => "medium",
            AuditSeverity::High => "high",
            AuditSeverity::Critical => "critical",
        }
    }
}

impl FromStr for AuditSeverity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "info" => AuditSeverity::Info,
            "low" => AuditSeverity::Low,
            "medium" => AuditSeverity::Medium,
            "high" => AuditSeverity::High,
            "critical" => AuditSeverity::Critical,
            _ => {
                return Err(format!(
                    "unknown severity {s:?} (info, low, medium, high, critical)"
                ));
            }
        })
    }
}

/// One weakness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFinding {
    /// Stable id of the weakness (`operation-without-security`).
    pub id: &'static str,
    pub severity: AuditSeverity,
    pub file: PathBuf,
    pub pointer: String,
    pub message: String,
}

/// Every audit id, with what it means (for `--help`-style listings and docs).
pub const AUDIT_IDS: &[(&str, &str)] = &[
    (
        "operation-without-security",
        "no security requirement applies to the operation",
    ),
    (
        "operation-explicitly-public",
        "the operation opts out of security with `security: []`",
    ),
    (
        "operation-without-4xx",
        "no 4xx (or default) response is documented",
    ),
    (
        "server-plain-http",
        "a server URL uses http:// for a non-loopback host",
    ),
    (
        "schema-without-type",
        "a schema constrains nothing: any value passes",
    ),
    (
        "string-unbounded",
        "a string has no maxLength, enum, const or bounded format",
    ),
    ("array-unbounded", "an array has no maxItems"),
    (
        "number-unbounded",
        "an integer or number lacks a minimum or a maximum",
    ),
    (
        "object-open",
        "additionalProperties is true (undeclared keys pass)",
    ),
    (
        "object-unspecified",
        "additionalProperties is not written (closed only under strict_objects)",
    ),
    (
        "parameter-without-schema",
        "a parameter has no schema: any value passes",
    ),
];

struct Auditor<'s> {
    spec: &'s Spec,
    out: Vec<AuditFinding>,
}

impl Auditor<'_> {
    fn note(&mut self, id: &'static str, severity: AuditSeverity, at: &Target, message: String) {
        self.out.push(AuditFinding {
            id,
            severity,
            file: self.spec.documents.doc(at.doc).path.clone(),
            pointer: at.pointer.clone(),
            message,
        });
    }
}

/// Audits a compiled spec; findings are sorted most severe first.
pub fn audit_spec(spec: &Spec) -> Vec<AuditFinding> {
    let mut a = Auditor {
        spec,
        out: Vec::new(),
    };
    for op in &spec.operations {
        let explicit_empty = spec
            .documents
            .get(&op.site)
            .and_then(|v| v.get("security"))
            .and_then(Value::as_array)
            .is_some_and(|s| {
                s.is_empty()
                    || s.iter()
                        .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
        if explicit_empty {
            a.note(
                "operation-explicitly-public",
                AuditSeverity::Medium,
                &op.site,
                format!("{} opts out of authentication", op.id),
            );
        } else if !op.secured {
            a.note(
                "operation-without-security",
                AuditSeverity::High,
                &op.site,
                format!("{} has no security requirement", op.id),
            );
        }
        let has_4xx = op.responses.iter().any(|r| {
            matches!(r.status, StatusKey::Range(4) | StatusKey::Default)
                || matches!(r.status, StatusKey::Exact(s) if (400..500).contains(&s))
        });
        if !has_4xx {
            a.note(
                "operation-without-4xx",
                AuditSeverity::Low,
                &op.site,
                format!("{} documents no 4xx response", op.id),
            );
        }
        for p in &op.parameters {
            if p.schema.is_none() {
                a.note(
                    "parameter-without-schema",
                    AuditSeverity::Medium,
                    &p.site,
                    format!(
                        "{} parameter {:?} has no schema",
                        p.location.prefix(),
                        p.name
                    ),
                );
            }
        }
    }
    for (url, site) in &spec.servers {
        if let Some(rest) = url.strip_prefix("http://") {
            let host = rest.split(['/', ':']).next().unwrap_or("");
            let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
            if !loopback {
                a.note(
                    "server-plain-http",
                    AuditSeverity::High,
                    site,
                    format!("server {url} is plain HTTP"),
                );
            }
        }
    }
    for (_, s) in spec.arena.iter() {
        if s.never {
            continue;
        }
        let site = &s.site;
        let enumerated = s.enum_values.is_some() || s.const_value.is_some();
        let combined =
            !s.all_of.is_empty() || !s.any_of.is_empty() || !s.one_of.is_empty() || s.not.is_some();
        let Some(types) = s.types else {
            if !enumerated && !combined && !s.describes_object && s.if_then_else.is_none() {
                a.note(
                    "schema-without-type",
                    AuditSeverity::Medium,
                    site,
                    "schema has no type: any value passes".to_owned(),
                );
            }
            continue;
        };
        if enumerated {
            continue;
        }
        if types.has(TypeSet::STRING)
            && s.max_length.is_none()
            && !s.format.is_some_and(|f| f.bounds_length())
        {
            a.note(
                "string-unbounded",
                AuditSeverity::Medium,
                site,
                "string without maxLength".to_owned(),
            );
        }
        if types.has(TypeSet::ARRAY) && s.max_items.is_none() && s.prefix_items.is_empty() {
            a.note(
                "array-unbounded",
                AuditSeverity::Medium,
                site,
                "array without maxItems".to_owned(),
            );
        }
        if types.has(TypeSet::INTEGER) || types.has(TypeSet::NUMBER) {
            let low = s.minimum.is_some() || s.exclusive_minimum.is_some();
            let high = s.maximum.is_some() || s.exclusive_maximum.is_some();
            if !low || !high {
                a.note(
                    "number-unbounded",
                    AuditSeverity::Low,
                    site,
                    "number without both a minimum and a maximum".to_owned(),
                );
            }
        }
        if types.has(TypeSet::OBJECT) && s.unevaluated.is_none() {
            match s.additional {
                Additional::Allow => {
                    a.note("object-open", AuditSeverity::Medium, site, "additionalProperties: true lets undeclared keys through".to_owned())
                }
                Additional::Unspecified => a.note(
                    "object-unspecified",
                    AuditSeverity::Low,
                    site,
                    "additionalProperties not written: undeclared keys pass unless strict_objects is on".to_owned(),
                ),
                _ => {}
            }
        }
    }
    a.out.sort_by(|x, y| {
        y.severity
            .cmp(&x.severity)
            .then_with(|| x.file.cmp(&y.file))
            .then_with(|| x.pointer.cmp(&y.pointer))
    });
    a.out
}
