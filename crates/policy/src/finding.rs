//! Findings (what a check saw) and the single decision point that turns them
//! into a [`Verdict`]. Checks never answer the client themselves; this module
//! is the only place where "block or not" is decided, so it is the one place to
//! read when explaining a block in an audit log.

use std::borrow::Cow;

use http::StatusCode;
use serde::Serialize;

pub use crate::config::Mode;

/// How serious a finding is; the most severe blocking finding names the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Notice,
    Warning,
    Error,
    Critical,
}

/// One thing a check saw. `reason` is safe to show a client; `excerpt` (a
/// truncated, escaped piece of the offending value) goes to the audit log only.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub rule: &'static str,
    pub severity: Severity,
    #[serde(serialize_with = "serialize_status")]
    pub status: StatusCode,
    pub location: Cow<'static, str>,
    pub reason: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
    pub mode: Mode,
}

fn serialize_status<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

/// Longest excerpt kept from an offending value, in characters.
pub const EXCERPT_CHARS: usize = 64;

/// A printable, truncated copy of a value for the audit log.
pub fn excerpt(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(EXCERPT_CHARS + 8));
    for (n, c) in value.chars().enumerate() {
        if n == EXCERPT_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The outcome for a request or response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Something was found but every finding is in monitor mode: log, forward.
    Monitor,
    Block {
        status: StatusCode,
        rule: &'static str,
        reason: Cow<'static, str>,
    },
}

impl Verdict {
    pub fn is_block(&self) -> bool {
        matches!(self, Verdict::Block { .. })
    }

    pub fn action(&self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Monitor => "monitor",
            Verdict::Block { .. } => "block",
        }
    }
}

/// The one decision point: the most severe blocking finding blocks (the first
/// one wins a tie, so earlier phases name the block); monitor-only findings
/// give `Monitor`; no findings allow.
pub fn decide(findings: &[Finding]) -> Verdict {
    let mut blocking: Option<&Finding> = None;
    for finding in findings.iter().filter(|f| f.mode == Mode::Block) {
        if blocking.is_none_or(|b| finding.severity > b.severity) {
            blocking = Some(finding);
        }
    }
    match blocking {
        Some(f) => Verdict::Block {
            status: f.status,
            rule: f.rule,
            reason: f.reason.clone(),
        },
        None if findings.is_empty() => Verdict::Allow,
        None => Verdict::Monitor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &'static str, severity: Severity, mode: Mode, status: u16) -> Finding {
        Finding {
            check: "test",
            rule,
            severity,
            status: StatusCode::from_u16(status).unwrap(),
            location: "here".into(),
            reason: rule.into(),
            excerpt: None,
            mode,
        }
    }

    #[test]
    fn no_findings_allow() {
        assert_eq!(decide(&[]), Verdict::Allow);
    }

    #[test]
    fn monitor_findings_only_monitor() {
        let f = [finding("a", Severity::Critical, Mode::Monitor, 403)];
        assert_eq!(decide(&f), Verdict::Monitor);
    }

    #[test]
    fn most_severe_blocking_finding_names_the_block() {
        let f = [
            finding("low", Severity::Warning, Mode::Block, 405),
            finding("mon", Severity::Critical, Mode::Monitor, 418),
            finding("high", Severity::Error, Mode::Block, 403),
            finding("high2", Severity::Error, Mode::Block, 413),
        ];
        match decide(&f) {
            Verdict::Block { status, rule, .. } => {
                assert_eq!(rule, "high");
                assert_eq!(status, StatusCode::FORBIDDEN);
            }
            other => panic!("expected block, got {other:?}"),
        }
    }

    #[test]
    fn excerpts_are_truncated_and_escaped() {
        let long = "a".repeat(200);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(excerpt("x\r\ny"), "x\\r\\ny");
    }
}
