//! IP allow / deny lists. The networks compile into sorted, merged address
//! ranges so a lookup is a binary search whatever the list length.

use std::net::IpAddr;

use http::StatusCode;

use super::Check;
use crate::config::Mode;
use crate::exchange::Exchange;
use crate::finding::{Finding, Severity};
use crate::units::Cidr;

/// A set of networks, as merged inclusive ranges per address family.
#[derive(Debug, Default, Clone)]
pub struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpSet {
    pub fn new(networks: &[Cidr]) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for Cidr(net) in networks {
            match net {
                ipnet::IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                ipnet::IpNet::V6(n) => {
                    v6.push((u128::from(n.network()), u128::from(n.broadcast())))
                }
            }
        }
        Self {
            v4: merge(v4),
            v6: merge(v6),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => contains(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => contains(&self.v4, u32::from(v4)),
                None => contains(&self.v6, u128::from(a)),
            },
        }
    }
}

fn merge<T: Ord + Copy + successor::Successor>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        if let Some(last) = out.last_mut()
            && (start <= last.1 || last.1.checked_next() == Some(start))
        {
            last.1 = last.1.max(end);
            continue;
        }
        out.push((start, end));
    }
    out
}

fn contains<T: Ord + Copy>(ranges: &[(T, T)], ip: T) -> bool {
    let idx = ranges.partition_point(|(start, _)| *start <= ip);
    idx > 0 && ranges[idx - 1].1 >= ip
}

mod successor {
    /// The next value, if there is one (adjacent ranges merge).
    pub trait Successor: Sized {
        fn checked_next(self) -> Option<Self>;
    }
    impl Successor for u32 {
        fn checked_next(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
    impl Successor for u128 {
        fn checked_next(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
}

/// Refuses clients outside the allow list (when it has entries) or inside the deny list.
pub struct IpAccessCheck {
    allow: IpSet,
    deny: IpSet,
    mode: Mode,
}

impl IpAccessCheck {
    pub fn new(allow: &[Cidr], deny: &[Cidr], mode: Mode) -> Self {
        Self {
            allow: IpSet::new(allow),
            deny: IpSet::new(deny),
            mode,
        }
    }

    fn finding(&self, rule: &'static str, reason: &'static str, ip: IpAddr) -> Finding {
        Finding {
            check: "ip_access",
            rule,
            severity: Severity::Error,
            status: StatusCode::FORBIDDEN,
            location: "client.ip".into(),
            reason: reason.into(),
            excerpt: Some(ip.to_string()),
            mode: self.mode,
        }
    }
}

impl Check for IpAccessCheck {
    fn name(&self) -> &'static str {
        "ip_access"
    }

    fn on_request_head(&self, exchange: &Exchange<'_>, findings: &mut Vec<Finding>) {
        let ip = exchange.client_ip;
        if self.deny.contains(ip) {
            findings.push(self.finding("ip.deny", "client address is denied", ip));
        } else if !self.allow.is_empty() && !self.allow.contains(ip) {
            findings.push(self.finding("ip.not_allowed", "client address is not allowed", ip));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(nets: &[&str]) -> IpSet {
        IpSet::new(
            &nets
                .iter()
                .map(|n| n.parse().unwrap())
                .collect::<Vec<Cidr>>(),
        )
    }

    #[test]
    fn ranges_merge_and_match() {
        let s = set(&[
            "10.0.0.0/8",
            "10.1.0.0/16",
            "11.0.0.0/8",
            "192.168.1.7",
            "2001:db8::/32",
        ]);
        assert_eq!(
            s.v4.len(),
            2,
            "adjacent and nested networks merge: {:?}",
            s.v4
        );
        for ip in [
            "10.0.0.0",
            "10.255.255.255",
            "11.3.4.5",
            "192.168.1.7",
            "2001:db8::1",
            "::ffff:10.2.3.4",
        ] {
            assert!(s.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "9.255.255.255",
            "12.0.0.0",
            "192.168.1.8",
            "2001:db9::1",
            "::1",
        ] {
            assert!(!s.contains(ip.parse().unwrap()), "{ip}");
        }
        assert!(set(&["0.0.0.0/0"]).contains("255.255.255.255".parse().unwrap()));
        assert!(set(&["::/0"]).contains("ffff::1".parse().unwrap()));
        assert!(!set(&[]).contains("1.2.3.4".parse().unwrap()));
    }
}
