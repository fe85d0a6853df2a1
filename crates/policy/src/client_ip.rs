//! The real client address. `X-Forwarded-For` and `Forwarded` are believed only
//! as far as they were written by trusted proxies: walking the chain from the
//! right (the hop nearest to us), the first address that is not a trusted proxy
//! is the client. A spoofed left-most entry is therefore never taken.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName};

use crate::checks::IpSet;

static FORWARDED: HeaderName = HeaderName::from_static("forwarded");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &IpSet) -> IpAddr {
    if trusted.is_empty() || !trusted.contains(peer) {
        return peer;
    }
    // `None` marks an entry that is not an address ("unknown", garbage):
    // the walk stops there rather than skipping into client-written entries.
    let chain: Vec<Option<IpAddr>> = if headers.contains_key(&X_FORWARDED_FOR) {
        headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .map(|v| v.to_str().ok())
            .flat_map(|v| v.unwrap_or("?").split(','))
            .map(parse_node)
            .collect()
    } else {
        headers
            .get_all(&FORWARDED)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_node(v))?
                })
            })
            .collect()
    };
    let mut client = peer;
    for entry in chain.iter().rev() {
        let Some(ip) = entry else { break };
        client = *ip;
        if !trusted.contains(*ip) {
            break;
        }
    }
    client
}

/// Parses `1.2.3.4`, `1.2.3.4:80`, `"[2001:db8::1]:443"`, `2001:db8::1`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_matches('"');
    if let Ok(ip) = t.parse() {
        return Some(ip);
    }
    if let Some(rest) = t.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    t.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

/// Appends an IP address as text; IPv4 without going through `fmt` (the
/// formatter was the largest cost of a rate-limit key and of the forwarding
/// fields).
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // Into a stack buffer, then one copy: a capacity check per
            // digit pushed costs more than the digits (every limit key).
            let mut text = [0u8; 15];
            let mut n = 0;
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text[n] = b'.';
                    n += 1;
                }
                if o >= 100 {
                    text[n] = b'0' + o / 100;
                    n += 1;
                }
                if o >= 10 {
                    text[n] = b'0' + (o / 10) % 10;
                    n += 1;
                }
                text[n] = b'0' + o % 10;
                n += 1;
            }
            out.extend_from_slice(&text[..n]);
        }
        IpAddr::V6(v6) => {
            use std::io::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

/// An IP address as text (see [`push_ip`]).
pub fn ip_text(ip: IpAddr) -> String {
    let mut out = Vec::with_capacity(15);
    push_ip(&mut out, ip);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_matches_the_standard_formatting() {
        for ip in [
            "0.0.0.0",
            "10.200.3.45",
            "255.255.255.255",
            "2001:db8::1",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }
    use crate::units::Cidr;

    fn trusted() -> IpSet {
        IpSet::new(&["10.0.0.0/8".parse::<Cidr>().unwrap()])
    }

    fn h(name: &str, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
        m
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        let ip = resolve(
            "8.8.8.8".parse().unwrap(),
            &h("x-forwarded-for", "1.1.1.1"),
            &trusted(),
        );
        assert_eq!(ip.to_string(), "8.8.8.8");
    }

    #[test]
    fn chain_is_walked_from_the_right_past_trusted_hops() {
        let headers = h("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.2");
        let ip = resolve("10.0.0.1".parse().unwrap(), &headers, &trusted());
        assert_eq!(
            ip.to_string(),
            "203.0.113.9",
            "spoofed 6.6.6.6 must not win"
        );
    }

    #[test]
    fn unparsable_entries_stop_the_walk() {
        let headers = h("x-forwarded-for", "6.6.6.6, unknown, 10.0.0.2");
        let ip = resolve("10.0.0.1".parse().unwrap(), &headers, &trusted());
        assert_eq!(
            ip.to_string(),
            "10.0.0.2",
            "must not skip past 'unknown' to a client-written address"
        );
    }

    #[test]
    fn forwarded_header_is_understood() {
        let headers = h(
            "forwarded",
            "for=\"[2001:db8::7]:443\";proto=https, for=10.1.1.1",
        );
        let ip = resolve("10.0.0.1".parse().unwrap(), &headers, &trusted());
        assert_eq!(ip.to_string(), "2001:db8::7");
    }
}
