//! The rate-limit part of the config: the shared store (`rate_limit_store`,
//! top level) and each policy's `rate_limits` block — several limits per
//! route, each with a key built from request parts, an algorithm (a smooth
//! `rate` or a `quota`) and what to do when the shared store is unreachable.
//! Values are validated while they are parsed, so a bad one is reported with
//! its line; nothing here counts requests (that is `portcullis-limits`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{Mode, Secret};
use crate::units::ConfigDuration;

/// Where limit state lives.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitStoreConfig {
    /// `memory` (this process only) or `redis` (shared by every instance).
    #[serde(default)]
    pub backend: StoreBackend,
    /// Most keys the in-memory store (and the local fallback) holds.
    #[serde(default = "defaults::max_keys")]
    pub max_keys: usize,
    #[serde(default)]
    pub redis: Option<RedisStoreConfig>,
}

impl Default for RateLimitStoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Memory,
            max_keys: defaults::max_keys(),
            redis: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    #[default]
    Memory,
    Redis,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStoreConfig {
    /// `redis://host:port/db` of a standalone Redis; may hold a password, so
    /// it is redacted in `/config`. Exactly one of `url` and `cluster`.
    #[serde(default)]
    pub url: Option<Secret>,
    /// Redis Cluster seed nodes (`redis://host:port`, any of its masters or
    /// replicas; the rest is discovered). Redacted in `/config`.
    #[serde(default)]
    pub cluster: Vec<Secret>,
    /// Prepended to every Redis key.
    #[serde(default = "defaults::key_prefix")]
    pub key_prefix: String,
    /// Connect and command timeout; past it the limit's `on_store_error` applies.
    #[serde(default = "defaults::redis_timeout")]
    pub timeout: ConfigDuration,
    /// Tokens taken from Redis per round trip and spent locally (1 = exact).
    #[serde(default = "defaults::lease")]
    pub lease: u64,
    /// Longest a local lease is spent before it is dropped.
    #[serde(default = "defaults::lease_ttl")]
    pub lease_ttl: ConfigDuration,
    /// After a failure, how long Redis is not asked before one retry.
    #[serde(default = "defaults::retry_interval")]
    pub retry_interval: ConfigDuration,
}

/// A policy's `rate_limits` block.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    #[serde(default)]
    pub mode: Mode,
    pub limits: Vec<LimitConfig>,
    /// Which answers carry `RateLimit-Policy` and `RateLimit`.
    #[serde(default)]
    pub headers: RateLimitHeaders,
}

/// Where the IETF draft's `RateLimit-Policy` and `RateLimit` fields go
/// (`Retry-After` is always on a 429).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitHeaders {
    /// On every answer to a counted request, allowed or refused (the draft's intent).
    #[default]
    Always,
    /// Only on a 429.
    Refused,
    /// Never.
    Never,
}

/// One limit. Exactly one of `rate` (GCRA: smooth, with `burst`) and
/// `quota` (sliding window) is given.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Names the limit in headers, logs, metrics and store keys.
    pub name: String,
    /// Request parts whose values together form the key (one counter per
    /// distinct combination).
    pub key: Vec<KeyPart>,
    #[serde(default)]
    pub rate: Option<RateSpec>,
    /// Requests allowed at once on top of the rate; defaults to the rate's count.
    #[serde(default)]
    pub burst: Option<u64>,
    #[serde(default)]
    pub quota: Option<RateSpec>,
    /// Only these operation ids (as matched by the OpenAPI check); empty: all.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Only these methods; empty: all.
    #[serde(default)]
    pub methods: Vec<crate::units::MethodName>,
    /// What to do when the shared store cannot answer.
    #[serde(default)]
    pub on_store_error: OnStoreError,
    /// Overrides the block's `mode` for this limit.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// What a `principal` or `claim:NAME` key part becomes on a request
    /// the identity check authenticated no caller for.
    #[serde(default)]
    pub unauthenticated: Unauthenticated,
}

/// A limit keyed on identity, for a request without a verified caller.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Unauthenticated {
    /// Counted per client IP instead (anonymous callers cannot escape the limit).
    #[default]
    ClientIp,
    /// Not counted by this limit.
    Skip,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreError {
    /// Decide with this instance's own memory store (per-instance limits).
    #[default]
    Local,
    /// Let the request through.
    FailOpen,
    /// Refuse the request (503).
    FailClosed,
}

/// `N/period`: `100/s`, `10/1m`, `10000/1d`, `5/30s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSpec {
    pub count: u64,
    pub period: Duration,
}

impl FromStr for RateSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid rate {text:?}: expected e.g. \"10/s\", \"100/1m\", \"10000/1d\"");
        let (count, period) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!(
                "invalid rate {text:?}: the count must be at least 1"
            ));
        }
        let period = period.trim();
        let period = if period.starts_with(|c: char| c.is_ascii_digit()) {
            period.to_owned()
        } else {
            format!("1{period}")
        };
        let period = match period.strip_suffix('d') {
            Some(days) => {
                let days: u64 = days.parse().map_err(|_| bad())?;
                Duration::from_secs(days.saturating_mul(86_400))
            }
            None => period.parse::<ConfigDuration>().map_err(|_| bad())?.0,
        };
        if period.is_zero() {
            return Err(format!(
                "invalid rate {text:?}: the period must be longer than 0"
            ));
        }
        Ok(RateSpec { count, period })
    }
}

impl fmt::Display for RateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.period.as_secs();
        if self.period.subsec_nanos() == 0 && s.is_multiple_of(86_400) {
            write!(f, "{}/{}d", self.count, s / 86_400)
        } else {
            write!(f, "{}/{}", self.count, ConfigDuration(self.period))
        }
    }
}

/// One part of a limit key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPart {
    /// The real client IP (after trusted-proxy resolution).
    ClientIp,
    Route,
    /// The matched operation id (`-` when no OpenAPI check matched one).
    Operation,
    Method,
    /// A header's value (name lower case).
    Header(String),
    /// A query parameter's value.
    Query(String),
    /// A fingerprint of the `Authorization: Bearer` token (never the token).
    Token,
    /// A fingerprint of an API key sent in this header (never the key).
    ApiKey(String),
    /// A body value by JSON pointer (`/username`); for form bodies, the field
    /// named by the pointer's first segment.
    Body(String),
    /// The verified principal's subject (needs the policy's `identity`).
    Principal,
    /// A claim of the verified principal (needs the policy's `identity`).
    Claim(String),
}

impl KeyPart {
    pub fn needs_body(&self) -> bool {
        matches!(self, KeyPart::Body(_))
    }

    /// Whether the part reads the verified principal.
    pub fn needs_identity(&self) -> bool {
        matches!(self, KeyPart::Principal | KeyPart::Claim(_))
    }
}

impl FromStr for KeyPart {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (kind, arg) = match text.split_once(':') {
            Some((k, a)) => (k, Some(a.trim())),
            None => (text, None),
        };
        let need = |what: &str| -> Result<String, String> {
            match arg {
                Some(a) if !a.is_empty() => Ok(a.to_owned()),
                _ => Err(format!(
                    "key part {text:?} needs {what}, as in \"{kind}:{}\"",
                    example(kind)
                )),
            }
        };
        let part = match kind {
            "client_ip" => KeyPart::ClientIp,
            "route" => KeyPart::Route,
            "operation" => KeyPart::Operation,
            "method" => KeyPart::Method,
            "token" => KeyPart::Token,
            "principal" => KeyPart::Principal,
            "header" => KeyPart::Header(need("a header name")?.to_ascii_lowercase()),
            "query" => KeyPart::Query(need("a parameter name")?),
            "api_key" => KeyPart::ApiKey(need("a header name")?.to_ascii_lowercase()),
            "claim" => KeyPart::Claim(need("a claim name")?),
            "body" => {
                let pointer = need("a JSON pointer")?;
                if !pointer.starts_with('/') {
                    return Err(format!(
                        "key part {text:?}: the JSON pointer must start with '/'"
                    ));
                }
                KeyPart::Body(pointer)
            }
            _ => {
                return Err(format!(
                    "unknown key part {text:?}: use client_ip, route, operation, method, token, principal, header:NAME, query:NAME, api_key:HEADER, claim:NAME or body:/POINTER"
                ));
            }
        };
        if arg.is_some()
            && matches!(
                part,
                KeyPart::ClientIp
                    | KeyPart::Route
                    | KeyPart::Operation
                    | KeyPart::Method
                    | KeyPart::Token
                    | KeyPart::Principal
            )
        {
            return Err(format!("key part {text:?}: {kind} takes no argument"));
        }
        Ok(part)
    }
}

fn example(kind: &str) -> &'static str {
    match kind {
        "body" => "/username",
        "claim" => "tenant",
        "query" => "user",
        _ => "x-api-key",
    }
}

impl fmt::Display for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPart::ClientIp => f.write_str("client_ip"),
            KeyPart::Route => f.write_str("route"),
            KeyPart::Operation => f.write_str("operation"),
            KeyPart::Method => f.write_str("method"),
            KeyPart::Token => f.write_str("token"),
            KeyPart::Principal => f.write_str("principal"),
            KeyPart::Header(h) => write!(f, "header:{h}"),
            KeyPart::Query(q) => write!(f, "query:{q}"),
            KeyPart::ApiKey(h) => write!(f, "api_key:{h}"),
            KeyPart::Claim(c) => write!(f, "claim:{c}"),
            KeyPart::Body(p) => write!(f, "body:{p}"),
        }
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
string_serde!(RateSpec);
string_serde!(KeyPart);

mod defaults {
    use super::*;
    pub fn max_keys() -> usize {
        100_000
    }
    pub fn key_prefix() -> String {
        "portcullis:".to_owned()
    }
    pub fn redis_timeout() -> ConfigDuration {
        ConfigDuration::millis(100)
    }
    pub fn lease() -> u64 {
        1
    }
    pub fn lease_ttl() -> ConfigDuration {
        ConfigDuration::secs(1)
    }
    pub fn retry_interval() -> ConfigDuration {
        ConfigDuration::secs(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_and_without_a_period_count() {
        let r: RateSpec = "10/s".parse().unwrap();
        assert_eq!((r.count, r.period), (10, Duration::from_secs(1)));
        let r: RateSpec = "10000/1d".parse().unwrap();
        assert_eq!(r.period, Duration::from_secs(86_400));
        assert_eq!(r.to_string(), "10000/1d");
        let r: RateSpec = "5/30s".parse().unwrap();
        assert_eq!(r.period, Duration::from_secs(30));
        assert_eq!(
            "100/m".parse::<RateSpec>().unwrap().period,
            Duration::from_secs(60)
        );
        for bad in ["10", "0/s", "x/s", "10/0s", "10/fortnight"] {
            assert!(bad.parse::<RateSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn key_parts_parse_and_print_back() {
        for text in [
            "client_ip",
            "route",
            "operation",
            "method",
            "token",
            "principal",
            "header:x-tenant",
            "query:user",
            "api_key:x-api-key",
            "claim:tenant",
            "body:/username",
        ] {
            let part: KeyPart = text.parse().unwrap();
            assert_eq!(part.to_string(), text);
        }
        assert_eq!(
            "header:X-Tenant".parse::<KeyPart>().unwrap(),
            KeyPart::Header("x-tenant".into())
        );
        for bad in ["ip", "header", "header:", "body:username", "client_ip:x"] {
            assert!(bad.parse::<KeyPart>().is_err(), "{bad}");
        }
    }
}
