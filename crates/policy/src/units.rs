//! Config value types that validate themselves while they are deserialized:
//! durations (`"250ms"`, `"10s"`), byte sizes (`"16KiB"`), CIDR blocks and HTTP
//! methods. Validating inside `Deserialize` means a bad value is reported by the
//! YAML parser with its line and column, like a syntax error.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written as a number of seconds or as `<n>ms|s|m|h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub const fn secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
    pub const fn millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }
}

impl FromStr for ConfigDuration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let value: u64 = digits.parse().map_err(|_| {
            format!("invalid duration {text:?}: expected e.g. \"500ms\", \"10s\", \"2m\"")
        })?;
        let duration = match unit.trim() {
            "ms" => Duration::from_millis(value),
            "" | "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.saturating_mul(60)),
            "h" => Duration::from_secs(value.saturating_mul(3600)),
            other => {
                return Err(format!(
                    "invalid duration unit {other:?} in {text:?}: use ms, s, m or h"
                ));
            }
        };
        Ok(Self(duration))
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// A byte count written as an integer or with a unit (`KB`, `MB`, `GB`, `KiB`, `MiB`, `GiB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let value: u64 = digits.parse().map_err(|_| {
            format!("invalid size {text:?}: expected e.g. 1024, \"16KiB\", \"10MiB\"")
        })?;
        let multiplier: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "invalid size unit {other:?} in {text:?}: use B, KB, MB, GB, KiB, MiB or GiB"
                ));
            }
        };
        value
            .checked_mul(multiplier)
            .map(Self)
            .ok_or_else(|| format!("size {text:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An IP network in CIDR notation; a bare address means a single host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(pub IpNet);

impl FromStr for Cidr {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Self(net.trunc()));
        }
        text.parse::<std::net::IpAddr>()
            .map(|ip| Self(IpNet::from(ip)))
            .map_err(|_| {
                format!("invalid CIDR {text:?}: expected e.g. \"10.0.0.0/8\" or \"2001:db8::/32\"")
            })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An HTTP method name, upper case, validated as a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodName(pub http::Method);

impl FromStr for MethodName {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let upper = text.trim().to_ascii_uppercase();
        http::Method::from_bytes(upper.as_bytes())
            .map(Self)
            .map_err(|_| format!("invalid HTTP method {text:?}"))
    }
}

impl fmt::Display for MethodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// Deserializes from a string (or an integer, for durations and sizes) through `FromStr`,
/// and serializes back through `Display`.
macro_rules! string_config_value {
    ($ty:ty, $expecting:literal, integers: $ints:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        if $ints {
                            v.to_string().parse().map_err(E::custom)
                        } else {
                            Err(E::custom(format!(
                                "expected {}, found number {v}",
                                $expecting
                            )))
                        }
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                        if v < 0 {
                            return Err(E::custom(format!(
                                "expected {}, found negative number {v}",
                                $expecting
                            )));
                        }
                        self.visit_u64(v as u64)
                    }
                }
                deserializer.deserialize_any(V)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    };
}

string_config_value!(ConfigDuration, "a duration such as \"10s\" or \"500ms\"", integers: true);
string_config_value!(ByteSize, "a size such as 1024 or \"16KiB\"", integers: true);
string_config_value!(Cidr, "a CIDR block such as \"10.0.0.0/8\"", integers: false);
string_config_value!(MethodName, "an HTTP method such as \"GET\"", integers: false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(
            "500ms".parse::<ConfigDuration>().unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            "10s".parse::<ConfigDuration>().unwrap().0,
            Duration::from_secs(10)
        );
        assert_eq!(
            "2m".parse::<ConfigDuration>().unwrap().0,
            Duration::from_secs(120)
        );
        assert_eq!(
            "7".parse::<ConfigDuration>().unwrap().0,
            Duration::from_secs(7)
        );
        assert!("10 parsecs".parse::<ConfigDuration>().is_err());
        assert!("".parse::<ConfigDuration>().is_err());
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!("16KiB".parse::<ByteSize>().unwrap().0, 16384);
        assert_eq!("1MB".parse::<ByteSize>().unwrap().0, 1_000_000);
        assert_eq!("42".parse::<ByteSize>().unwrap().0, 42);
        assert!("99999999999999999999GiB".parse::<ByteSize>().is_err());
        assert!("12 bananas".parse::<ByteSize>().is_err());
    }

    #[test]
    fn cidrs_accept_bare_addresses_and_truncate_host_bits() {
        assert_eq!(
            "10.1.2.3/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("example.com".parse::<Cidr>().is_err());
    }
}
