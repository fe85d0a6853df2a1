//! The abuse-protection blocks of a policy: `honeypot` (decoy paths and body
//! fields that ban whoever touches them) and `brute_force` (failed logins
//! counted per IP, per username, per IP+username and globally, the
//! credential-stuffing patterns, and what happens past a threshold).
//! The top-level `access_lists` block (runtime-edited allow/deny lists) is
//! here too. Thresholds are written like rates (`5/15m`: 5 failures in 15 minutes).

use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::config::rate_limits::{KeyPart, RateSpec};
use crate::units::ConfigDuration;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HoneypotConfig {
    #[serde(default)]
    pub mode: Mode,
    /// Decoy path prefixes (segment-aware, as normalized): `/.env`, `/wp-admin`.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Decoy body fields by JSON pointer (`/is_admin`): present in a request → hit.
    #[serde(default)]
    pub body_fields: Vec<String>,
    /// How long a client that touched a decoy stays banned.
    #[serde(default = "defaults::ban")]
    pub ban: ConfigDuration,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BruteForceConfig {
    #[serde(default)]
    pub mode: Mode,
    /// Login operations by id (as matched by the OpenAPI check).
    #[serde(default)]
    pub operations: Vec<String>,
    /// Login paths (exact, as normalized), for routes without a spec.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Where the username is.
    #[serde(default = "defaults::username")]
    pub username: KeyPart,
    /// Response statuses that count as a failed login.
    #[serde(default = "defaults::failure_statuses")]
    pub failure_statuses: Vec<u16>,
    #[serde(default)]
    pub per_ip: Option<RateSpec>,
    #[serde(default)]
    pub per_username: Option<RateSpec>,
    #[serde(default)]
    pub per_ip_username: Option<RateSpec>,
    /// Failures of every client together.
    #[serde(default)]
    pub global: Option<RateSpec>,
    /// Distinct usernames failing from one IP (one IP trying many accounts).
    #[serde(default)]
    pub usernames_per_ip: Option<RateSpec>,
    /// Distinct IPs failing on one username (one account tried from many places).
    #[serde(default)]
    pub ips_per_username: Option<RateSpec>,
    /// `lockout` refuses (429) what crossed a threshold for `lockout_time`;
    /// `delay` holds each further attempt for a delay that doubles per
    /// failure past the threshold, up to `max_delay`.
    #[serde(default)]
    pub action: BruteForceAction,
    #[serde(default = "defaults::lockout_time")]
    pub lockout_time: ConfigDuration,
    #[serde(default = "defaults::delay")]
    pub delay: ConfigDuration,
    #[serde(default = "defaults::max_delay")]
    pub max_delay: ConfigDuration,
    /// The failure-ratio spike detector, across every client of the
    /// policy's login operations.
    #[serde(default)]
    pub failure_ratio: Option<FailureRatioConfig>,
}

/// `brute_force.failure_ratio`: when failures / attempts of every client
/// together pass `max_ratio` within `window` (with at least `min_attempts`
/// attempts) and `baseline_factor` times the ratio of the `baseline_window`
/// before it, the login operations are "under attack" for `cool_down`:
/// attempts from addresses without a successful login in
/// `remember_success` are then delayed or refused (`action`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FailureRatioConfig {
    #[serde(default = "defaults::ratio_window")]
    pub window: ConfigDuration,
    #[serde(default = "defaults::min_attempts")]
    pub min_attempts: u64,
    #[serde(default = "defaults::max_ratio")]
    pub max_ratio: f64,
    #[serde(default = "defaults::baseline_factor")]
    pub baseline_factor: f64,
    #[serde(default = "defaults::baseline_window")]
    pub baseline_window: ConfigDuration,
    #[serde(default = "defaults::cool_down")]
    pub cool_down: ConfigDuration,
    #[serde(default)]
    pub action: SpikeAction,
    /// How long `action: delay` holds an attempt.
    #[serde(default = "defaults::spike_delay")]
    pub delay: ConfigDuration,
    /// How long an address that logged in successfully stays exempt.
    #[serde(default = "defaults::remember_success")]
    pub remember_success: ConfigDuration,
}

/// What happens to attempts from unknown addresses while under attack.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SpikeAction {
    #[default]
    Delay,
    Block,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BruteForceAction {
    #[default]
    Lockout,
    Delay,
}

/// The top-level `access_lists` block: allow and deny lists of networks
/// that the admin API edits at runtime (`/access-lists`), kept in the
/// `rate_limit_store` (shared through Redis when it is the backend) and
/// checked against a local copy refreshed every `refresh`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessListsConfig {
    /// `monitor` logs deny-list hits without refusing them.
    #[serde(default)]
    pub mode: Mode,
    /// How often each instance reads the shared lists' version (Redis).
    #[serde(default = "defaults::refresh")]
    pub refresh: ConfigDuration,
    /// Most entries of both lists together; the admin API refuses more.
    #[serde(default = "defaults::max_entries")]
    pub max_entries: usize,
}

mod defaults {
    use super::*;
    pub fn refresh() -> ConfigDuration {
        ConfigDuration::secs(1)
    }
    pub fn max_entries() -> usize {
        10_000
    }
    pub fn ban() -> ConfigDuration {
        ConfigDuration::secs(3600)
    }
    pub fn username() -> KeyPart {
        KeyPart::Body("/username".to_owned())
    }
    pub fn failure_statuses() -> Vec<u16> {
        vec![401]
    }
    pub fn lockout_time() -> ConfigDuration {
        ConfigDuration::secs(900)
    }
    pub fn delay() -> ConfigDuration {
        ConfigDuration::millis(500)
    }
    pub fn max_delay() -> ConfigDuration {
        ConfigDuration::secs(10)
    }
    pub fn ratio_window() -> ConfigDuration {
        ConfigDuration::secs(60)
    }
    pub fn min_attempts() -> u64 {
        20
    }
    pub fn max_ratio() -> f64 {
        0.8
    }
    pub fn baseline_factor() -> f64 {
        2.0
    }
    pub fn baseline_window() -> ConfigDuration {
        ConfigDuration::secs(3600)
    }
    pub fn cool_down() -> ConfigDuration {
        ConfigDuration::secs(300)
    }
    pub fn spike_delay() -> ConfigDuration {
        ConfigDuration::secs(2)
    }
    pub fn remember_success() -> ConfigDuration {
        ConfigDuration::secs(7 * 86_400)
    }
}
