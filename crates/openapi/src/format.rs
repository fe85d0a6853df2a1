//! The string and number formats the validator checks (`uuid`, `date`,
//! `date-time`, `email`, `ipv4`, `ipv6`, `uri`, `hostname`, `byte`, `int32`,
//! `int64`, `float`, `double`). Hand-written, allocation-free checks: formats
//! run on every request, and none of them may be slower than linear in the
//! value's length. Unknown formats are annotations and never fail.

use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Uuid,
    Date,
    DateTime,
    Email,
    Ipv4,
    Ipv6,
    Uri,
    Hostname,
    Byte,
    Int32,
    Int64,
    Float,
    Double,
    /// `binary`: raw bytes; nothing to check on a JSON string.
    Binary,
}

impl Format {
    /// The known format named `name`, if any.
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "uuid" => Format::Uuid,
            "date" => Format::Date,
            "date-time" => Format::DateTime,
            "email" => Format::Email,
            "ipv4" => Format::Ipv4,
            "ipv6" => Format::Ipv6,
            "uri" => Format::Uri,
            "hostname" => Format::Hostname,
            "byte" => Format::Byte,
            "int32" => Format::Int32,
            "int64" => Format::Int64,
            "float" => Format::Float,
            "double" => Format::Double,
            "binary" => Format::Binary,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Uuid => "uuid",
            Format::Date => "date",
            Format::DateTime => "date-time",
            Format::Email => "email",
            Format::Ipv4 => "ipv4",
            Format::Ipv6 => "ipv6",
            Format::Uri => "uri",
            Format::Hostname => "hostname",
            Format::Byte => "byte",
            Format::Int32 => "int32",
            Format::Int64 => "int64",
            Format::Float => "float",
            Format::Double => "double",
            Format::Binary => "binary",
        }
    }

    /// Whether a string format bounds the value's length by itself (the audit
    /// does not ask for a `maxLength` on those).
    pub fn bounds_length(self) -> bool {
        matches!(
            self,
            Format::Uuid
                | Format::Date
                | Format::DateTime
                | Format::Ipv4
                | Format::Ipv6
                | Format::Hostname
        )
    }

    /// Checks a string value; `None` when the format does not apply to strings.
    pub fn check_str(self, s: &str) -> Option<bool> {
        Some(match self {
            Format::Uuid => is_uuid(s),
            Format::Date => is_date(s),
            Format::DateTime => is_date_time(s),
            Format::Email => is_email(s),
            Format::Ipv4 => is_ipv4(s),
            Format::Ipv6 => s.parse::<Ipv6Addr>().is_ok(),
            Format::Uri => is_uri(s),
            Format::Hostname => is_hostname(s),
            Format::Byte => is_base64(s),
            _ => return None,
        })
    }

    /// Checks a number; `None` when the format does not apply to numbers.
    pub fn check_number(self, n: &serde_json::Number) -> Option<bool> {
        Some(match self {
            Format::Int32 => n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
            Format::Int64 => n.as_i64().is_some() || n.as_f64().is_some_and(is_i64_float),
            Format::Float => n
                .as_f64()
                .is_some_and(|f| f.is_finite() && f.abs() <= f64::from(f32::MAX)),
            Format::Double => n.as_f64().is_some_and(f64::is_finite),
            _ => return None,
        })
    }

    /// What a value of this format must look like, for reasons.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Uuid => "a UUID (8-4-4-4-12 hex digits)",
            Format::Date => "a date (RFC 3339 full-date, YYYY-MM-DD)",
            Format::DateTime => "a date-time (RFC 3339, e.g. 2024-01-31T12:00:00Z)",
            Format::Email => "an e-mail address",
            Format::Ipv4 => "an IPv4 address in dotted-quad form",
            Format::Ipv6 => "an IPv6 address",
            Format::Uri => "an absolute URI with a scheme",
            Format::Hostname => "a host name (RFC 1123)",
            Format::Byte => "base64-encoded bytes",
            Format::Int32 => "a 32-bit signed integer",
            Format::Int64 => "a 64-bit signed integer",
            Format::Float => "a number within the range of a 32-bit float",
            Format::Double => "a finite number",
            Format::Binary => "binary data",
        }
    }
}

fn is_i64_float(f: f64) -> bool {
    f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) =
        (digits(&b[0..4]), digits(&b[5..7]), digits(&b[8..10]))
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// RFC 3339 `full-time`: `hh:mm:ss[.frac](Z|±hh:mm)`; a leap second (60) is allowed.
fn is_time(b: &[u8]) -> bool {
    if b.len() < 9 || b[2] != b':' || b[5] != b':' {
        return false;
    }
    let (Some(h), Some(m), Some(sec)) = (digits(&b[0..2]), digits(&b[3..5]), digits(&b[6..8]))
    else {
        return false;
    };
    if h > 23 || m > 59 || sec > 60 {
        return false;
    }
    let mut rest = &b[8..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            matches!((digits(&[*h1, *h2]), digits(&[*m1, *m2])), (Some(h), Some(m)) if h <= 23 && m <= 59)
        }
        _ => false,
    }
}

fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && matches!(b[10], b'T' | b't' | b' ')
        && s.is_char_boundary(10)
        && is_date(&s[..10])
        && is_time(&b[11..])
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.as_bytes().windows(2).any(|pair| pair == b"..")
        && local.bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'/'
                        | b'='
                        | b'?'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'{'
                        | b'|'
                        | b'}'
                        | b'~'
                        | b'.'
                        | b'-'
                )
        })
        && (is_hostname(domain) && domain.contains('.')
            || domain
                .strip_prefix('[')
                .and_then(|d| d.strip_suffix(']'))
                .is_some_and(|ip| {
                    is_ipv4(ip)
                        || ip
                            .strip_prefix("IPv6:")
                            .is_some_and(|v6| v6.parse::<Ipv6Addr>().is_ok())
                }))
}

fn is_ipv4(s: &str) -> bool {
    // The std parser already refuses leading zeros and out-of-range octets.
    s.parse::<Ipv4Addr>().is_ok()
}

fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// An absolute URI (RFC 3986): a scheme, then only characters a URI may hold
/// (percent escapes well formed).
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut scheme_bytes = scheme.bytes();
    if !scheme_bytes.next().is_some_and(|c| c.is_ascii_alphabetic())
        || !scheme_bytes.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return false;
    }
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if i + 2 >= b.len() || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                return false;
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&c)) {
            return false;
        }
        i += 1;
    }
    true
}

fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    pad <= 2
        && b[..b.len() - pad]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_accepts_and_refuses() {
        let cases: &[(Format, &[&str], &[&str])] = &[
            (
                Format::Uuid,
                &[
                    "123e4567-e89b-12d3-a456-426614174000",
                    "FFFFFFFF-0000-0000-0000-000000000000",
                ],
                &[
                    "123e4567e89b12d3a456426614174000",
                    "123e4567-e89b-12d3-a456-42661417400g",
                    "",
                ],
            ),
            (
                Format::Date,
                &["2024-02-29", "1999-12-31"],
                &[
                    "2023-02-29",
                    "2024-13-01",
                    "2024-1-01",
                    "2024-01-32",
                    "20240101",
                ],
            ),
            (
                Format::DateTime,
                &[
                    "2024-01-31T12:00:00Z",
                    "2024-01-31t12:00:00.123+02:00",
                    "1990-12-31T23:59:60Z",
                ],
                &[
                    "2024-01-31",
                    "2024-01-31T25:00:00Z",
                    "2024-01-31T12:00:00",
                    "2024-01-31T12:00:00+2:00",
                    "2024-01-31T12:00:00.Z",
                ],
            ),
            (
                Format::Email,
                &[
                    "ada@example.com",
                    "a.b+tag@sub.example.org",
                    "x@[192.0.2.1]",
                    "o'brien!#$%&*/=?^_`{|}~-@example.com",
                ],
                &[
                    "ada",
                    "@example.com",
                    "ada@",
                    "a..b@example.com",
                    "ada@localhost",
                    "a b@example.com",
                    "a(b)@example.com",
                    "a\"b@example.com",
                ],
            ),
            (
                Format::Ipv4,
                &["192.0.2.1", "0.0.0.0", "255.255.255.255"],
                &["256.0.0.1", "192.0.2", "01.2.3.4", "::1"],
            ),
            (
                Format::Ipv6,
                &["::1", "2001:db8::1", "::ffff:192.0.2.1"],
                &["2001:db8:::1", "192.0.2.1", "g::1"],
            ),
            (
                Format::Uri,
                &[
                    "https://example.com/a?b=c#d",
                    "urn:isbn:0451450523",
                    "mailto:ada@example.com",
                    "http://x/%20",
                ],
                &[
                    "/relative/path",
                    "no scheme",
                    "1http://x",
                    "http://x/%zz",
                    "http://x/a b",
                    "http://x/%2",
                ],
            ),
            (
                Format::Hostname,
                &["example.com", "a-b.c", "localhost", "example.com."],
                &["-a.com", "a_b.com", "", "a..b", &"a".repeat(64)],
            ),
            (
                Format::Byte,
                &["", "YWJj", "YWI=", "YQ=="],
                &["YWJ", "Y===", "YW!j", "YQ==YQ=="],
            ),
        ];
        for (format, good, bad) in cases {
            for v in *good {
                assert_eq!(
                    format.check_str(v),
                    Some(true),
                    "{} should accept {v:?}",
                    format.name()
                );
            }
            for v in *bad {
                assert_eq!(
                    format.check_str(v),
                    Some(false),
                    "{} should refuse {v:?}",
                    format.name()
                );
            }
        }
    }

    #[test]
    fn numeric_formats_check_ranges() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        let cases: &[(Format, &[&str], &[&str])] = &[
            (
                Format::Int32,
                &["0", "2147483647", "-2147483648"],
                &["2147483648", "-2147483649", "1.5"],
            ),
            (
                Format::Int64,
                &["9223372036854775807", "-9223372036854775808", "3"],
                &["9223372036854775808", "1.5"],
            ),
            (
                Format::Float,
                &["3.4e38", "-1.5", "7"],
                &["3.5e38", "-1e39"],
            ),
            (Format::Double, &["1e308", "-0.5"], &[]),
        ];
        for (format, good, bad) in cases {
            for v in *good {
                assert_eq!(
                    format.check_number(&n(v)),
                    Some(true),
                    "{} should accept {v}",
                    format.name()
                );
            }
            for v in *bad {
                assert_eq!(
                    format.check_number(&n(v)),
                    Some(false),
                    "{} should refuse {v}",
                    format.name()
                );
            }
        }
        assert_eq!(Format::Uuid.check_number(&n("1")), None);
        assert_eq!(Format::Int32.check_str("1"), None);
    }
}
