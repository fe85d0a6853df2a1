//! The `threat_detection` block of a policy: mode, paranoia level, anomaly
//! threshold, which headers are inspected, categories switched off, and
//! exceptions scoped by route, operation, location and rule. Validation
//! ([`ThreatDetectionConfig::validate`]) names the offending field; nothing
//! here inspects a request.

use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::units::ByteSize;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatDetectionConfig {
    #[serde(default)]
    pub mode: Mode,
    /// 1 (fewest false positives) to 4 (most thorough).
    #[serde(default = "defaults::paranoia_level")]
    pub paranoia_level: u8,
    /// A request is blocked when the anomaly scores of its detections add up
    /// to at least this.
    #[serde(default = "defaults::anomaly_threshold")]
    pub anomaly_threshold: u32,
    /// Headers inspected (lower case); `*` means every header not in `skip_headers`.
    #[serde(default = "defaults::headers")]
    pub headers: Vec<String>,
    /// Headers never inspected (framing and routing headers the gateway itself validates).
    #[serde(default = "defaults::skip_headers")]
    pub skip_headers: Vec<String>,
    /// Whether request bodies (JSON, form, multipart, XML, text) are buffered and inspected.
    #[serde(default = "defaults::yes")]
    pub inspect_body: bool,
    /// Longest part of one value that is inspected (its head and tail beyond that).
    #[serde(default = "defaults::max_value_bytes")]
    pub max_value_bytes: ByteSize,
    /// Categories that never report (`sqli`, `xss`, `ssrf`, ...).
    #[serde(default)]
    pub disabled_categories: Vec<String>,
    #[serde(default)]
    pub exceptions: Vec<ThreatExceptionConfig>,
}

/// Detections that are ignored. Every list that is given must match (an
/// empty list matches anything), and `rules` or `locations` must be given,
/// so an exception can never switch detection off for a whole route.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatExceptionConfig {
    /// Rule ids (`sqli.tautology`) or families (`sqli.*`).
    #[serde(default)]
    pub rules: Vec<String>,
    /// Locations (`query.q`, `body:/comment`, `header.user-agent`); a trailing
    /// `*` matches any rest (`body:/notes/*`).
    #[serde(default)]
    pub locations: Vec<String>,
    /// Route names.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Operation ids (as matched by the OpenAPI check).
    #[serde(default)]
    pub operations: Vec<String>,
}

impl ThreatDetectionConfig {
    /// Checks the values a type cannot; the error names the field under this block.
    pub fn validate(&self, route_names: &[&str]) -> Result<(), (String, String)> {
        if !(1..=4).contains(&self.paranoia_level) {
            return Err(("paranoia_level".into(), "must be 1, 2, 3 or 4".into()));
        }
        if self.anomaly_threshold == 0 {
            return Err(("anomaly_threshold".into(), "must be at least 1".into()));
        }
        for (i, name) in self.disabled_categories.iter().enumerate() {
            if portcullis_detect::Category::from_name(name).is_none() {
                return Err((
                    format!("disabled_categories[{i}]"),
                    format!("unknown category {name:?} (known: {})", category_names()),
                ));
            }
        }
        for (i, ex) in self.exceptions.iter().enumerate() {
            let at = |field: &str| format!("exceptions[{i}].{field}");
            if ex.rules.is_empty() && ex.locations.is_empty() {
                return Err((
                    format!("exceptions[{i}]"),
                    "an exception must name rules or locations (to switch detection off, use mode: monitor or disabled_categories)".into(),
                ));
            }
            for rule in &ex.rules {
                let known = match rule.strip_suffix(".*") {
                    Some(family) => portcullis_detect::rules::ALL
                        .iter()
                        .any(|r| r.id.split('.').next() == Some(family)),
                    None => portcullis_detect::rules::by_id(rule).is_some(),
                };
                if !known {
                    return Err((at("rules"), format!("unknown rule {rule:?}")));
                }
            }
            for route in &ex.routes {
                if !route_names.contains(&route.as_str()) {
                    return Err((at("routes"), format!("unknown route {route:?}")));
                }
            }
        }
        Ok(())
    }
}

fn category_names() -> String {
    portcullis_detect::Category::ALL
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

mod defaults {
    use crate::units::ByteSize;

    pub fn yes() -> bool {
        true
    }
    pub fn paranoia_level() -> u8 {
        2
    }
    pub fn anomaly_threshold() -> u32 {
        5
    }
    pub fn headers() -> Vec<String> {
        vec!["*".to_owned()]
    }
    pub fn skip_headers() -> Vec<String> {
        [
            "host",
            "content-length",
            "transfer-encoding",
            "connection",
            "te",
            "keep-alive",
        ]
        .map(str::to_owned)
        .to_vec()
    }
    pub fn max_value_bytes() -> ByteSize {
        ByteSize(64 * 1024)
    }
}
