//! A policy's `bots` block: which signals feed the bot score (their weights,
//! where browser headers are expected, denied JA4 fingerprints, the cadence
//! window) and what each score band does (`allow`, `tag`, `limit`, `block`).
//! Values are checked in `bots.rs` when the policy compiles, with the line of
//! the field; nothing here scores a request.

use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::config::rate_limits::RateSpec;
use crate::units::ConfigDuration;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BotsConfig {
    /// `monitor`: bands that would block or limit only log.
    #[serde(default)]
    pub mode: Mode,
    /// Every path of the routes using this policy is browser-facing: the
    /// browser-header signals apply.
    #[serde(default)]
    pub browser_facing: bool,
    /// Browser-facing path prefixes (segment-aware), when not every path is.
    #[serde(default)]
    pub browser_paths: Vec<String>,
    /// Path prefixes never scored (health checks, webhooks from known machines).
    #[serde(default)]
    pub exempt_paths: Vec<String>,
    /// JA4 fingerprints of clients to treat as bots (`t13d1516h2_8daaf6152771_…`).
    #[serde(default)]
    pub deny_ja4: Vec<String>,
    #[serde(default)]
    pub cadence: CadenceConfig,
    /// How long a client that touched a honeypot keeps the honeypot signal.
    #[serde(default = "defaults::honeypot_memory")]
    pub honeypot_memory: ConfigDuration,
    /// Also send the signal names upstream in `X-Portcullis-Bot-Reasons`.
    #[serde(default)]
    pub tag_reasons: bool,
    /// Also send the client's JA4 upstream in `X-Portcullis-JA4` (TLS listeners).
    #[serde(default)]
    pub tag_ja4: bool,
    #[serde(default)]
    pub weights: BotWeights,
    /// Score bands by their lowest score, ascending; below the first: allow.
    #[serde(default = "defaults::bands")]
    pub bands: Vec<BandConfig>,
}

/// Request cadence: intervals between a client's requests, per instance.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CadenceConfig {
    /// `false` turns the cadence signal off (the client table still remembers honeypot hits).
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
    /// Intervals looked at (the last N); fewer seen → no cadence signal.
    #[serde(default = "defaults::samples")]
    pub samples: usize,
    /// Coefficient of variation (standard deviation / mean) of the intervals
    /// under which the cadence is too regular for a person.
    #[serde(default = "defaults::max_variation")]
    pub max_variation: f64,
    /// Most clients remembered (oldest forgotten first, per shard).
    #[serde(default = "defaults::max_clients")]
    pub max_clients: usize,
}

impl Default for CadenceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            samples: defaults::samples(),
            max_variation: defaults::max_variation(),
            max_clients: defaults::max_clients(),
        }
    }
}

/// What each signal adds to the score (the sum is capped at 100).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BotWeights {
    #[serde(default = "defaults::w_automation")]
    pub automation_user_agent: u8,
    #[serde(default = "defaults::w_headless")]
    pub headless_user_agent: u8,
    #[serde(default = "defaults::w_no_ua")]
    pub missing_user_agent: u8,
    /// Per missing `Accept`, `Accept-Language`, `Accept-Encoding`.
    #[serde(default = "defaults::w_header")]
    pub missing_browser_header: u8,
    #[serde(default = "defaults::w_fetch")]
    pub missing_fetch_metadata: u8,
    #[serde(default = "defaults::w_hints")]
    pub client_hints_mismatch: u8,
    #[serde(default = "defaults::w_order")]
    pub header_order: u8,
    #[serde(default = "defaults::w_protocol")]
    pub protocol_anomaly: u8,
    #[serde(default = "defaults::w_ja4")]
    pub denied_ja4: u8,
    #[serde(default = "defaults::w_ja4_mismatch")]
    pub ja4_mismatch: u8,
    #[serde(default = "defaults::w_cadence")]
    pub regular_cadence: u8,
    #[serde(default = "defaults::w_honeypot")]
    pub honeypot: u8,
}

impl Default for BotWeights {
    fn default() -> Self {
        Self {
            automation_user_agent: defaults::w_automation(),
            headless_user_agent: defaults::w_headless(),
            missing_user_agent: defaults::w_no_ua(),
            missing_browser_header: defaults::w_header(),
            missing_fetch_metadata: defaults::w_fetch(),
            client_hints_mismatch: defaults::w_hints(),
            header_order: defaults::w_order(),
            protocol_anomaly: defaults::w_protocol(),
            denied_ja4: defaults::w_ja4(),
            ja4_mismatch: defaults::w_ja4_mismatch(),
            regular_cadence: defaults::w_cadence(),
            honeypot: defaults::w_honeypot(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BandConfig {
    /// Lowest score of the band (0-100); the band runs up to the next one.
    pub from: u8,
    pub action: BotAction,
    /// For `limit`: the rate clients in this band may not exceed (`10/1m`).
    #[serde(default)]
    pub rate: Option<RateSpec>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum BotAction {
    Allow,
    /// Forward with `X-Portcullis-Bot-Score`.
    Tag,
    /// Tag, and refuse (429) past the band's `rate`.
    Limit,
    /// Refuse (403, `bot.score`).
    Block,
}

mod defaults {
    use super::*;
    pub fn yes() -> bool {
        true
    }
    pub fn honeypot_memory() -> ConfigDuration {
        ConfigDuration::secs(3600)
    }
    pub fn samples() -> usize {
        8
    }
    pub fn max_variation() -> f64 {
        0.1
    }
    pub fn max_clients() -> usize {
        65_536
    }
    pub fn w_automation() -> u8 {
        60
    }
    pub fn w_headless() -> u8 {
        80
    }
    pub fn w_no_ua() -> u8 {
        40
    }
    pub fn w_header() -> u8 {
        10
    }
    pub fn w_fetch() -> u8 {
        15
    }
    pub fn w_hints() -> u8 {
        25
    }
    pub fn w_order() -> u8 {
        30
    }
    pub fn w_protocol() -> u8 {
        30
    }
    pub fn w_ja4() -> u8 {
        100
    }
    pub fn w_ja4_mismatch() -> u8 {
        30
    }
    pub fn w_cadence() -> u8 {
        30
    }
    pub fn w_honeypot() -> u8 {
        100
    }
    pub fn bands() -> Vec<BandConfig> {
        vec![
            BandConfig {
                from: 30,
                action: BotAction::Tag,
                rate: None,
            },
            BandConfig {
                from: 80,
                action: BotAction::Block,
                rate: None,
            },
        ]
    }
}
