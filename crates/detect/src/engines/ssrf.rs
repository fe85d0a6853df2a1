//! Server-side request forgery. Every URL in a value (`scheme://authority`)
//! and a value that is itself a host or address is parsed the way URL
//! libraries and `inet_aton` do: IPv4 in dotted, decimal (`2130706433`),
//! hex (`0x7f000001`), octal (`0177.0.0.1`) and short (`127.1`) forms,
//! IPv6 including IPv4-mapped and compatible forms, user-info and ports
//! stripped. Loopback, private, link-local and cloud metadata targets and
//! dangerous schemes (`gopher:`, `dict:`, `ldap:`, ...) are reported; a
//! non-canonical numeric address is itself an evasion.
//!
//! Never backtracks: each URL is parsed once, with bounded lengths.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::Sink;
use crate::rules;

const DANGEROUS_SCHEMES: &[&str] = &[
    "gopher",
    "dict",
    "ldap",
    "ldaps",
    "tftp",
    "jar",
    "netdoc",
    "sftp",
    "telnet",
    "smb",
    "rmi",
    "iiop",
    "corba",
    "nds",
    "mailto-unused",
    "jdbc",
    "ftp-unused",
    "imap-unused",
    "expect",
    "ssh2",
];

const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata",
    "metadata.azure.com",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.packet.net",
    "metadata.platformequinix.com",
    "kubernetes.default.svc",
];

/// Names that resolve to the machine itself (or, from a container, to its host).
const LOOPBACK_NAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "localhost4",
    "localhost4.localdomain4",
    "localhost6",
    "localhost6.localdomain6",
    "ip6-localhost",
    "ip6-loopback",
    "ipv6-localhost",
    "ipv6-loopback",
    "host.containers.internal",
];

/// Literals every report on a URL needs: the loop over URLs reads only
/// `scheme://`, [`slashless_urls`] only `http:` and `https:`.
pub(crate) const URL_LITERALS: &[&str] = &["://", "http:", "https:"];

/// Metadata addresses reported wherever they appear in a value.
pub(crate) const METADATA_ADDRESSES: &[&str] =
    &["169.254.169.254", "fd00:ec2::254", "100.100.100.200"];

/// A literal in every host name [`classify`] reads as other than an
/// unknown name: every [`METADATA_HOSTS`] entry (`metadata`,
/// `instance-data`, `kubernetes.default`), every [`LOOPBACK_NAMES`] entry
/// and loopback suffix (`localhost`, `loopback`, `.internal`), the private
/// suffixes (`.svc.cluster.local`, `.internal`) and the wildcard-DNS names
/// (`.nip.io`, `.sslip.io`, `.xip.io` have `ip.io`; `localtest.me`,
/// `lvh.me`). Any other host is judged only as a numeric address.
pub(crate) const INTERNAL_NAME_LITERALS: &[&str] = &[
    "metadata",
    "instance-data",
    "kubernetes.default",
    "localhost",
    "loopback",
    ".internal",
    ".svc.cluster.local",
    "ip.io",
    "localtest.me",
    "lvh.me",
];

/// Which of the literal lists above `lower` has an entry of (the
/// dispatcher's gate automaton answers, in its one pass over the value).
#[derive(Clone, Copy)]
pub(crate) struct Literals {
    /// A [`URL_LITERALS`] entry.
    pub(crate) url: bool,
    /// A [`METADATA_ADDRESSES`] entry.
    pub(crate) metadata_address: bool,
    /// An [`INTERNAL_NAME_LITERALS`] entry.
    pub(crate) internal_name: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Metadata,
    Loopback,
    Private,
    Public,
}

/// Reports, in order: each `scheme://` URL, each slashless `http:` URL,
/// the whole value as a bare host (when no URL was seen), then a metadata
/// address anywhere. Without a [`URL_LITERALS`] entry the first two find no
/// URL (nor set `seen_url`); without a [`METADATA_ADDRESSES`] entry the last
/// finds none; so a value with neither is judged as a bare host alone.
pub(crate) fn inspect(
    lower: &str,
    whole_value_is_host: bool,
    literals: Literals,
    sink: &mut Sink<'_>,
) {
    let names = literals.internal_name;
    let mut from = 0;
    let mut seen_url = false;
    while literals.url
        && let Some(p) = crate::text::find(&lower[from..], "://")
    {
        let at = from + p;
        from = at + 3;
        seen_url = true;
        let scheme_start = lower[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '.' || c == '-'))
            .map_or(0, |i| i + 1);
        let scheme = &lower[scheme_start..at];
        let rest = &lower[at + 3..];
        let end = rest
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '\\')
            })
            .unwrap_or(rest.len())
            .min(300);
        let authority = &rest[..end];
        let span = scheme_start..(at + 3 + end).min(lower.len());
        if DANGEROUS_SCHEMES.contains(&scheme) {
            sink.report(&rules::SSRF_SCHEME, lower, span.clone());
        }
        if escaped_host(rest) {
            sink.report(&rules::SSRF_OBFUSCATED, lower, span.clone());
        }
        let host = host_of(authority);
        judge_host(host, names, lower, span.clone(), sink);
        confused_authority(&rest[..rest.len().min(300)], names, lower, span, sink);
    }
    if literals.url {
        seen_url |= slashless_urls(lower, names, sink);
    }
    if !seen_url && whole_value_is_host {
        let v = lower.trim();
        if v.len() <= 300 && !v.contains(' ') {
            judge_bare(v, names, lower, sink);
        }
    }
    if literals.metadata_address
        && let Some(p) = METADATA_ADDRESSES
            .iter()
            .find_map(|a| crate::text::find(lower, a))
    {
        sink.report(&rules::SSRF_METADATA, lower, p..(p + 15).min(lower.len()));
    }
}

/// Whether [`classify`] can read `host` as anything but an unknown name:
/// only a host with an [`INTERNAL_NAME_LITERALS`] entry (`names`: `lower`,
/// which every host is cut from, has one) or one spelled like an address,
/// whose part before any `%` zone has only the bytes of IPv4 in any
/// `inet_aton` form (hex digits, `.`, `x`) and of IPv6 (hex digits, `:`,
/// `.`). Dates, e-mail addresses and domain names fail at their first
/// letter past `f`.
fn may_be_address_or_internal(host: &str, names: bool) -> bool {
    names
        || host
            .bytes()
            .take_while(|&b| b != b'%')
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'x'))
}

/// `http:2852039166`, `http:/127.0.0.1`: WHATWG URL parsers read an
/// `http`/`https` URL without its `//` as if it had them, so the host after
/// the colon is judged like any other. Returns whether one was found.
fn slashless_urls(lower: &str, names: bool, sink: &mut Sink<'_>) -> bool {
    let mut found = false;
    let mut from = 0;
    while let Some(p) = crate::text::find(&lower[from..], "http") {
        let start = from + p;
        from = start + 4;
        if start > 0 && lower.as_bytes()[start - 1].is_ascii_alphanumeric() {
            continue;
        }
        let after = &lower[start + 4..];
        let after = after.strip_prefix('s').unwrap_or(after);
        let Some(rest) = after.strip_prefix(':') else {
            continue;
        };
        if rest.starts_with("//") {
            continue;
        }
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let end = rest
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '\\')
            })
            .unwrap_or(rest.len())
            .min(300);
        let host = host_of(&rest[..end]);
        if host.is_empty() {
            continue;
        }
        found = true;
        let span_end = (lower.len() - rest.len() + end).min(lower.len());
        judge_host(host, names, lower, start..span_end, sink);
    }
    found
}

/// `http://a.com:80 &@127.0.0.1:22/# @a.com/`: several `@` before the
/// path, which URL parsers split differently (one library's user-info is
/// another's host). Every host after an `@` there is judged.
fn confused_authority(
    rest: &str,
    names: bool,
    text: &str,
    span: std::ops::Range<usize>,
    sink: &mut Sink<'_>,
) {
    let bytes = rest.as_bytes();
    let region = &rest[..memchr::memchr(b'/', bytes).unwrap_or(rest.len())];
    let ats = memchr::memchr_iter(b'@', region.as_bytes()).count();
    if ats == 0 || (ats == 1 && memchr::memchr(b' ', region.as_bytes()).is_none()) {
        return;
    }
    for (p, _) in region.match_indices('@') {
        let after = &region[p + 1..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '#' | '&' | '?' | '@' | ':'))
            .unwrap_or(after.len());
        let (target, _) = classify(after[..end].trim_end_matches('.'), true, names);
        if target.is_some_and(|t| t != Target::Public) {
            sink.report(&rules::SSRF_OBFUSCATED, text, span);
            return;
        }
    }
}

/// `http://\\l\\o\\c\\a\\l\\h\\o\\s\\t/`: a host spelled one escaped
/// character at a time, which glibc's resolver unescapes (to `localhost`)
/// while a filter sees backslashes. Three escaped characters in a row at
/// the start of the authority; a UNC path (`file://\\\\server\\share`)
/// escapes none.
fn escaped_host(rest: &str) -> bool {
    let s = rest.as_bytes();
    let (mut i, mut escaped) = (0, 0);
    while i < s.len() && s[i] == b'\\' {
        let slashes = s[i..].iter().take_while(|b| **b == b'\\').count();
        let Some(&c) = s.get(i + slashes) else {
            break;
        };
        let single = s
            .get(i + slashes + 1)
            .is_none_or(|n| !n.is_ascii_alphanumeric());
        if !c.is_ascii_alphanumeric() || !single {
            break;
        }
        escaped += 1;
        i += slashes + 1;
        // `\\e.\\c`: a dot between escaped labels.
        if s.get(i) == Some(&b'.') {
            i += 1;
        }
    }
    escaped >= 3
}

fn host_of(authority: &str) -> &str {
    let host = authority.rsplit('@').next().unwrap_or("");
    if let Some(inner) = host.strip_prefix('[') {
        return inner.split(']').next().unwrap_or("");
    }
    host.split(':').next().unwrap_or("").trim_end_matches('.')
}

/// A value that is just `host`, `host:port` or an address.
fn judge_bare(v: &str, names: bool, text: &str, sink: &mut Sink<'_>) {
    // `localhost/admin`: a host followed by a path is still a host. One
    // byte pass finds the end of the first segment and its colons (bare
    // values are short, where a search call per question cost more).
    let (mut end, mut colons, mut first_colon) = (v.len(), 0, None);
    for (i, &b) in v.as_bytes().iter().enumerate() {
        match b {
            b'/' => {
                end = i;
                break;
            }
            b':' => {
                colons += 1;
                first_colon = first_colon.or(Some(i));
            }
            _ => {}
        }
    }
    let v = &v[..end];
    let host = if v.starts_with('[') {
        host_of(v)
    } else if colons > 1 {
        v
    } else {
        &v[..first_colon.unwrap_or(v.len())]
    };
    // Every report below needs `classify` to know the host.
    if host.is_empty() || !may_be_address_or_internal(host, names) {
        return;
    }
    // A bare value is only read as an address in forms numbers do not take:
    // four dotted parts, a `0x` prefix, or a port.
    let named = !host
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':');
    let dots = host.bytes().filter(|&b| b == b'.').count();
    if dots > 0 && dots != 3 && !named && !host.starts_with("0x") && colons == 0 {
        return;
    }
    let (target, obfuscated) = classify(host, false, names);
    // A bare public address or a canonical private one in a value is
    // ordinary data; only internal targets in non-canonical form, loopback
    // names and metadata addresses are reported.
    match target {
        Some(Target::Metadata) => sink.report(&rules::SSRF_METADATA, text, 0..text.len()),
        Some(Target::Loopback | Target::Private) if obfuscated => {
            sink.report(&rules::SSRF_OBFUSCATED, text, 0..text.len())
        }
        Some(Target::Loopback) if named => sink.report(&rules::SSRF_LOOPBACK, text, 0..text.len()),
        _ => {}
    }
}

fn judge_host(
    host: &str,
    names: bool,
    text: &str,
    span: std::ops::Range<usize>,
    sink: &mut Sink<'_>,
) {
    if host.is_empty() {
        return;
    }
    let (target, obfuscated) = classify(host, true, names);
    if obfuscated && target.is_some() {
        sink.report(&rules::SSRF_OBFUSCATED, text, span.clone());
    }
    match target {
        Some(Target::Metadata) => sink.report(&rules::SSRF_METADATA, text, span),
        Some(Target::Loopback) => sink.report(&rules::SSRF_LOOPBACK, text, span),
        Some(Target::Private) => sink.report(&rules::SSRF_PRIVATE, text, span),
        _ => {}
    }
}

/// The kind of target a host names, and whether it was spelled in a
/// non-canonical numeric form. `in_url`: the host of a URL, where a number
/// too large for 32 bits is an address too (parsers that keep the low 32
/// bits read `7147006462` as `169.254.169.254`). `names`: whether the value
/// has an [`INTERNAL_NAME_LITERALS`] entry.
fn classify(host: &str, in_url: bool, names: bool) -> (Option<Target>, bool) {
    // Every branch below that returns a target needs a name literal or an
    // address spelling (see `may_be_address_or_internal`).
    if !may_be_address_or_internal(host, names) {
        return (None, false);
    }
    if METADATA_HOSTS.contains(&host)
        || host.starts_with("kubernetes.default.svc.")
        || host == "kubernetes.default"
    {
        return (Some(Target::Metadata), false);
    }
    if LOOPBACK_NAMES.contains(&host)
        || host.ends_with(".localhost")
        || host.ends_with(".docker.internal")
    {
        return (Some(Target::Loopback), false);
    }
    if host.ends_with(".svc.cluster.local") || host.ends_with(".internal") {
        return (Some(Target::Private), false);
    }
    if let Some(v4) = parse_ipv4_lenient(host, in_url) {
        let canonical = v4.to_string() == host;
        return (Some(target_v4(v4)), !canonical);
    }
    if host.contains(':')
        && let Ok(v6) = host.split('%').next().unwrap_or("").parse::<Ipv6Addr>()
    {
        let target = if let Some(v4) = v6.to_ipv4_mapped().or_else(|| compatible_v4(&v6)) {
            match target_v4(v4) {
                Target::Public => target_v6(&v6),
                t => t,
            }
        } else {
            target_v6(&v6)
        };
        return (Some(target), false);
    }
    // `127.0.0.1.nip.io`-style wildcard DNS names embed an address.
    for suffix in [
        ".nip.io",
        ".sslip.io",
        ".xip.io",
        ".localtest.me",
        ".lvh.me",
    ] {
        if let Some(prefix) = host.strip_suffix(suffix) {
            let embedded = prefix.rsplit(['.', '-']).take(4).collect::<Vec<_>>();
            if embedded.len() == 4 {
                let joined: Vec<&str> = embedded.into_iter().rev().collect();
                if let Ok(v4) = joined.join(".").parse::<Ipv4Addr>() {
                    return (Some(target_v4(v4)), true);
                }
            }
            if suffix == ".localtest.me" || suffix == ".lvh.me" {
                return (Some(Target::Loopback), true);
            }
        }
    }
    if host == "localtest.me" || host == "lvh.me" {
        return (Some(Target::Loopback), true);
    }
    (None, false)
}

fn compatible_v4(v6: &Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    (s[..6].iter().all(|x| *x == 0) && (s[6] != 0 || s[7] > 1)).then(|| embedded_v4(s[6], s[7]))
}

fn target_v4(ip: Ipv4Addr) -> Target {
    let o = ip.octets();
    if o == [169, 254, 169, 254] || o == [100, 100, 100, 200] || o == [169, 254, 170, 2] {
        Target::Metadata
    } else if o[0] == 127 || o == [0, 0, 0, 0] {
        Target::Loopback
    } else if ip.is_private()
        || ip.is_link_local()
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || o[0] == 0
    {
        Target::Private
    } else {
        Target::Public
    }
}

fn target_v6(ip: &Ipv6Addr) -> Target {
    let s = ip.segments();
    if ip.is_loopback() || ip.is_unspecified() {
        Target::Loopback
    } else if s[0] == 0xfd00 && s[1] == 0x0ec2 && s[7] == 0x254 {
        Target::Metadata
    } else if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0) {
        // NAT64's well-known prefix (RFC 6052): the translator connects to
        // the IPv4 address in the last 32 bits.
        target_v4(embedded_v4(s[6], s[7]))
    } else if s[0] == 0x2002 {
        // 6to4 (RFC 3056): the relay reaches the IPv4 address in bits 16–47.
        target_v4(embedded_v4(s[1], s[2]))
    } else if (s[0] & 0xe000) != 0x2000 {
        // Outside global unicast (2000::/3) no public host has an address:
        // unique-local fc00::/7, link-local fe80::/10, the deprecated
        // site-local fec0::/10, multicast and the IETF-reserved rest
        // (`[a::]`, `[dead:beef::]`) only reach something on the inside.
        Target::Private
    } else {
        Target::Public
    }
}

/// The IPv4 address in two 16-bit groups of an IPv6 address.
fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(high) << 16 | u32::from(low))
}

/// `inet_aton` semantics: 1–4 parts, each decimal, `0x` hex or `0` octal,
/// the last part filling the remaining bytes. `wrap`: a lone number past
/// 32 bits keeps its low 32 bits.
fn parse_ipv4_lenient(host: &str, wrap: bool) -> Option<Ipv4Addr> {
    if host.is_empty()
        || host.len() > 64
        || !host
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b'x')
    {
        return None;
    }
    if !host.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let mut values = Vec::with_capacity(4);
    for p in &parts {
        let v = if let Some(hex) = p.strip_prefix("0x") {
            if hex.is_empty() {
                0
            } else {
                u64::from_str_radix(hex, 16).ok()?
            }
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(p, 8).ok()?
        } else {
            p.parse::<u64>().ok()?
        };
        values.push(v);
    }
    let last = *values.last()?;
    let head = &values[..values.len() - 1];
    if head.iter().any(|v| *v > 255) {
        return None;
    }
    let remaining_bytes = 4 - head.len();
    let last = if last >= 1u64 << (8 * remaining_bytes as u32) {
        if !(wrap && head.is_empty()) {
            return None;
        }
        last & 0xffff_ffff
    } else {
        last
    };
    let mut n: u32 = 0;
    for (i, v) in head.iter().enumerate() {
        n |= (*v as u32) << (24 - 8 * i as u32);
    }
    n |= last as u32;
    // A lone small number ("42") is a number, not an address.
    if parts.len() == 1 && !host.starts_with("0x") && last < 1 << 24 {
        return None;
    }
    Some(Ipv4Addr::from(n))
}

#[cfg(test)]
mod tests {
    use crate::tests::{assert_clean, assert_detects};

    #[test]
    fn internal_targets_in_any_spelling() {
        assert_detects("http://169.254.169.254/latest/meta-data/", "ssrf.metadata");
        assert_detects(
            "http://metadata.google.internal/computeMetadata/v1/",
            "ssrf.metadata",
        );
        assert_detects("http://127.0.0.1:22/", "ssrf.loopback");
        assert_detects("http://localhost/admin", "ssrf.loopback");
        assert_detects("http://2130706433/", "ssrf.obfuscated_ip");
        assert_detects("http://0x7f000001/", "ssrf.obfuscated_ip");
        assert_detects("http://0177.0.0.1/", "ssrf.obfuscated_ip");
        assert_detects("http://127.1/", "ssrf.loopback");
        assert_detects("http://[::1]/", "ssrf.loopback");
        assert_detects("http://[::ffff:169.254.169.254]/", "ssrf.metadata");
        assert_detects("http://[::ffff:a9fe:a9fe]/", "ssrf.metadata");
        assert_detects("http://user@10.0.0.5:8080/", "ssrf.private_address");
        assert_detects("gopher://example.com:6379/_INFO", "ssrf.scheme");
        assert_detects("dict://example.com:11211/stat", "ssrf.scheme");
    }

    #[test]
    fn ipv6_hosts_outside_global_unicast_and_embedded_ipv4() {
        for (v, rule) in [
            ("http://[a::]", "ssrf.private_address"),
            ("http://[a::b]/", "ssrf.private_address"),
            (
                "http://[dead:beef:dead::beef:dead:beef:dead]",
                "ssrf.private_address",
            ),
            ("http://[fec0::1]/", "ssrf.private_address"),
            ("http://[ff02::1]/", "ssrf.private_address"),
            ("http://[64:ff9b::7f00:1]/", "ssrf.loopback"),
            ("http://[64:ff9b::a9fe:a9fe]/latest", "ssrf.metadata"),
            ("http://[2002:a00:1::]/", "ssrf.private_address"),
        ] {
            assert_detects(v, rule);
        }
        for public in [
            "http://[2001:4860:4860::8888]/",
            "https://[2606:4700::1111]:443/dns-query",
            "http://[64:ff9b::808:808]/",
            "http://[2002:808:808::1]/",
        ] {
            assert_clean(public);
        }
    }

    #[test]
    fn overflowing_and_slashless_hosts() {
        // Low 32 bits of 7147006462 and of the 64-bit hex are 169.254.169.254.
        assert_detects("http://7147006462/", "ssrf.obfuscated_ip");
        assert_detects("http://0x41414141A9FEA9FE/", "ssrf.metadata");
        assert_detects("http:2852039166", "ssrf.metadata");
        assert_detects("http:/2852039166", "ssrf.metadata");
        assert_detects("https:0xA9FEA9FE", "ssrf.obfuscated_ip");
        assert_detects("http:127.0.0.1", "ssrf.loopback");
        assert_detects("http:[::ffff:a9fe:a9fe]", "ssrf.metadata");
        assert_clean("http: the protocol");
        assert_clean("see https:example.com");
        assert_clean("phone 7147006462");
    }

    #[test]
    fn hosts_spelled_with_escapes() {
        assert_detects(
            "http://\\\\l\\\\o\\\\c\\\\a\\\\l\\\\h\\\\o\\\\s\\\\t/",
            "ssrf.obfuscated_ip",
        );
        assert_detects("http://\\g\\o\\o\\g\\l\\e.\\c\\o\\m/", "ssrf.obfuscated_ip");
        assert_clean("see http://\\\\intranet\\docs for the form");
        assert_clean("see https://example.com/a\\b\\c");
    }

    #[test]
    fn bare_internal_host_names() {
        for v in [
            "localhost/",
            "LOCALHOST/admin",
            "localhost.localdomain/",
            "localhost4.localdomain4/",
            "ip6-loopback/",
            "host.docker.internal/",
            "gateway.docker.internal",
            "host.containers.internal/",
        ] {
            crate::tests::assert_detects(v, "ssrf.loopback");
        }
        assert_detects("localtest.me/", "ssrf.obfuscated_ip");
        assert_detects("lvh.me", "ssrf.obfuscated_ip");
        assert_detects("kubernetes.default.svc.cluster.local/", "ssrf.metadata");
        for benign in [
            "localhosts",
            "my-localhost-notes",
            "docker.internal.example.com",
            "lvh.men",
        ] {
            assert_clean(benign);
        }
    }

    /// Hosts that reach `classify` only through an address spelling or a
    /// name literal (`may_be_address_or_internal`).
    #[test]
    fn addresses_and_internal_names_pass_the_prefilter() {
        for (v, rule) in [
            ("http://[fe80::1%eth0]/", "ssrf.private_address"),
            ("0x7f.1", "ssrf.obfuscated_ip"),
            ("http://[::ffff:7f00:1]:8080/", "ssrf.loopback"),
            ("127.0.0.1.nip.io", "ssrf.obfuscated_ip"),
            ("http://10-0-0-1.sslip.io/", "ssrf.obfuscated_ip"),
            ("http://metadata/computeMetadata/v1/", "ssrf.metadata"),
            ("instance-data:80", "ssrf.metadata"),
            ("http://api.svc.cluster.local/", "ssrf.private_address"),
            ("http:localhost", "ssrf.loopback"),
            ("x=http://169.254.169.254", "ssrf.metadata"),
        ] {
            assert_detects(v, rule);
        }
    }

    #[test]
    fn public_urls_pass() {
        for benign in [
            "https://www.example.com/a?b=c",
            "http://example.org:8080/path",
            "mailto:someone@example.com",
            "Call 2130706433 now",
            "version 1.2.3.4",
            "https://api.example.net/v2/items/127",
        ] {
            assert_clean(benign);
        }
    }

    #[test]
    fn idna_spellings_and_confused_authorities() {
        for (v, rule) in [
            ("acap://①②⑦.⓪.⓪.①", "ssrf.loopback"),
            ("irc://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "ssrf.loopback"),
            ("http://169。254。169。254/", "ssrf.metadata"),
            (
                "http://google.com:80 &@google.com:80# @127.88.23.245:22/",
                "ssrf.obfuscated_ip",
            ),
            (
                "http://google.com:80 &@127.88.23.245:22/# @google.com:80/",
                "ssrf.obfuscated_ip",
            ),
        ] {
            assert_detects(v, rule);
        }
        for v in [
            "https://例え.テスト/path",
            "https://ⓔⓧⓐⓜⓟⓛⓔ.com/",
            "① Preheat the oven ② Stir。Done。",
            "https://user@example.com/a b@c",
            "mail bob@example.com or ann@example.org via https://example.com",
        ] {
            assert_clean(v);
        }
    }
}
