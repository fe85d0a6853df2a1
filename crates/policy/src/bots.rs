//! The bot score: a pure engine that turns what one request shows (its
//! fields, protocol, TLS fingerprint) and what the gateway remembers of its
//! client (request cadence, honeypot hits) into a score from 0 to 100, the
//! signals behind it, and the band the score falls in. Each signal and its
//! default weight is documented in `docs/rules.md` (`bot.score`).
//!
//! Owns: compiling a policy's `bots` block ([`compile_routes`]), the signals
//! ([`BotRules::score`]) and the per-client cadence table ([`CadenceTable`]:
//! fixed memory, sharded, no allocation per request). Never does I/O; the
//! gateway (`crates/gateway/src/bots.rs`) acts on the band.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use http::header::{self, HeaderMap};
use http::{StatusCode, Version};

use crate::config::bots::{BotAction, BotWeights, BotsConfig};
use crate::config::rate_limits::RateSpec;
use crate::finding::{Finding, Severity};
use crate::{ConfigError, Mode, Policy};

/// One signal: a bit in [`Signals`], a name in reasons and the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Signal {
    AutomationUserAgent = 1 << 0,
    HeadlessUserAgent = 1 << 1,
    MissingUserAgent = 1 << 2,
    MissingBrowserHeaders = 1 << 3,
    MissingFetchMetadata = 1 << 4,
    ClientHintsMismatch = 1 << 5,
    HeaderOrder = 1 << 6,
    ProtocolAnomaly = 1 << 7,
    DeniedJa4 = 1 << 8,
    Ja4Mismatch = 1 << 9,
    RegularCadence = 1 << 10,
    Honeypot = 1 << 11,
}

impl Signal {
    pub const ALL: [Signal; 12] = [
        Signal::AutomationUserAgent,
        Signal::HeadlessUserAgent,
        Signal::MissingUserAgent,
        Signal::MissingBrowserHeaders,
        Signal::MissingFetchMetadata,
        Signal::ClientHintsMismatch,
        Signal::HeaderOrder,
        Signal::ProtocolAnomaly,
        Signal::DeniedJa4,
        Signal::Ja4Mismatch,
        Signal::RegularCadence,
        Signal::Honeypot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Signal::AutomationUserAgent => "ua.automation",
            Signal::HeadlessUserAgent => "ua.headless",
            Signal::MissingUserAgent => "ua.missing",
            Signal::MissingBrowserHeaders => "headers.missing",
            Signal::MissingFetchMetadata => "headers.fetch_metadata",
            Signal::ClientHintsMismatch => "headers.client_hints",
            Signal::HeaderOrder => "headers.order",
            Signal::ProtocolAnomaly => "protocol",
            Signal::DeniedJa4 => "tls.ja4_denied",
            Signal::Ja4Mismatch => "tls.ja4_mismatch",
            Signal::RegularCadence => "cadence",
            Signal::Honeypot => "honeypot",
        }
    }
}

/// The signals one request raised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals(u16);

impl Signals {
    pub fn has(self, s: Signal) -> bool {
        self.0 & s as u16 != 0
    }
    fn set(&mut self, s: Signal) {
        self.0 |= s as u16;
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Signal> {
        Signal::ALL.into_iter().filter(move |s| self.has(*s))
    }
    /// `ua.automation,headers.missing` (for the reasons header and the audit log).
    pub fn names(self) -> String {
        let mut out = String::new();
        for s in self.iter() {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(s.name());
        }
        out
    }
}

/// What the user agent claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAgent {
    Missing,
    /// An HTTP library, command-line tool or crawler naming itself.
    Automation,
    /// A browser driven without a screen (HeadlessChrome, PhantomJS).
    Headless,
    Browser(Browser, u16),
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Browser {
    /// Chrome, Edge, Opera, Brave… (Chromium sends client hints and fetch metadata).
    Chromium,
    Firefox,
    Safari,
}

/// Tools whose user agent starts with their name.
const TOOL_PREFIXES: &[&[u8]] = &[
    b"curl/",
    b"wget/",
    b"python-requests/",
    b"python-urllib/",
    b"python-httpx/",
    b"python/",
    b"aiohttp/",
    b"httpx/",
    b"go-http-client/",
    b"java/",
    b"okhttp/",
    b"apache-httpclient/",
    b"libwww-perl/",
    b"lwp::",
    b"scrapy/",
    b"node-fetch",
    b"node",
    b"undici",
    b"axios/",
    b"got ",
    b"postmanruntime/",
    b"insomnia/",
    b"httpie/",
    b"ruby",
    b"faraday",
    b"dart:io",
    b"dart/",
    b"rust-reqwest",
    b"reqwest/",
    b"guzzlehttp/",
    b"php/",
    b"masscan",
    b"zgrab",
    b"nikto",
    b"sqlmap",
    b"nuclei",
];

/// Markers of crawlers and scrapers anywhere in the user agent. Search
/// engines name themselves too (`Googlebot/2.1`) and count as automation: a
/// user agent is trivially spoofed, so claiming to be a known crawler earns
/// no credit here (exempt their paths instead, or verify them by reverse DNS
/// upstream).
const CRAWLER_MARKERS: &[&[u8]] = &[
    b"bot/",
    b"bot;",
    b"bot)",
    b"crawler",
    b"spider",
    b"scraper",
    b"headless",
    b"phantomjs",
    b"selenium",
    b"puppeteer",
    b"playwright",
    b"slimerjs",
];

/// Index in [`CRAWLER_MARKERS`] from which a marker means a headless browser.
const HEADLESS_FROM: usize = 6;

/// Browser tokens, after the crawler markers in [`UA_SCANNER`].
const BROWSER_TOKENS: [&[u8]; 5] = [b"firefox/", b"crios/", b"chrome/", b"safari/", b"version/"];
const FIREFOX: usize = CRAWLER_MARKERS.len();
const CRIOS: usize = FIREFOX + 1;
const CHROME: usize = FIREFOX + 2;
const SAFARI: usize = FIREFOX + 3;
const VERSION: usize = FIREFOX + 4;

/// Longest user agent looked at.
const UA_BYTES: usize = 512;

/// Every marker and browser token, found in one case-insensitive pass.
static UA_SCANNER: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
    std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(CRAWLER_MARKERS.iter().chain(BROWSER_TOKENS.iter()))
            .ok()
    });

/// The major version in `ua` starting at `at` (digits up to the first non-digit).
fn version_at(ua: &[u8], at: usize) -> Option<u16> {
    let mut v: u32 = 0;
    let mut any = false;
    for d in ua
        .get(at..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .take(5)
    {
        v = v * 10 + u32::from(d - b'0');
        any = true;
    }
    any.then(|| v.min(u32::from(u16::MAX)) as u16)
}

fn version_after(ua: &[u8], token: &[u8]) -> Option<u16> {
    let at = memchr::memmem::find(ua, token)? + token.len();
    version_at(ua, at)
}

/// Classifies a user agent (its first [`UA_BYTES`] bytes, case-insensitive).
/// Allocates nothing: the prefixes are compared in place, everything else
/// is one automaton pass.
pub fn classify_user_agent(raw: Option<&[u8]>) -> UserAgent {
    let Some(raw) = raw.filter(|r| !r.iter().all(u8::is_ascii_whitespace)) else {
        return UserAgent::Missing;
    };
    let ua = &raw[..raw.len().min(UA_BYTES)];
    let starts_with = |p: &[u8]| ua.len() >= p.len() && ua[..p.len()].eq_ignore_ascii_case(p);
    // Compared only against the prefixes with the same first letter.
    let first = ua[0].to_ascii_lowercase();
    if TOOL_PREFIXES
        .iter()
        .any(|p| p[0] == first && starts_with(p))
    {
        return UserAgent::Automation;
    }
    let Some(scanner) = UA_SCANNER.as_ref() else {
        return UserAgent::Other;
    };
    // Where each browser token ends (its version follows), first match only.
    let mut ends = [usize::MAX; BROWSER_TOKENS.len()];
    for m in scanner.find_overlapping_iter(ua) {
        let id = m.pattern().as_usize();
        if id < CRAWLER_MARKERS.len() {
            return if id >= HEADLESS_FROM {
                UserAgent::Headless
            } else {
                UserAgent::Automation
            };
        }
        let slot = &mut ends[id - FIREFOX];
        if *slot == usize::MAX {
            *slot = m.end();
        }
    }
    if !starts_with(b"mozilla/5.0") {
        return UserAgent::Other;
    }
    let end = |id: usize| Some(ends[id - FIREFOX]).filter(|e| *e != usize::MAX);
    if let Some(v) = end(FIREFOX).and_then(|at| version_at(ua, at)) {
        return UserAgent::Browser(Browser::Firefox, v);
    }
    // Chrome on iOS (CriOS) is WebKit underneath.
    if end(CRIOS).is_none()
        && let Some(v) = end(CHROME).and_then(|at| version_at(ua, at))
    {
        return UserAgent::Browser(Browser::Chromium, v);
    }
    if end(SAFARI).is_some() {
        let v = end(VERSION).and_then(|at| version_at(ua, at)).unwrap_or(0);
        return UserAgent::Browser(Browser::Safari, v);
    }
    UserAgent::Other
}

/// What one request shows the scorer. Built by the gateway from the parsed
/// head; borrowed, nothing copied.
pub struct BotRequest<'a> {
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub version: Version,
    /// Arrived over TLS (browsers send fetch metadata and client hints only
    /// to secure origins).
    pub tls: bool,
    pub ja4: Option<&'a str>,
    /// The cadence table says this client's requests are too regular.
    pub regular_cadence: bool,
    /// This client touched a honeypot (now, or within `honeypot_memory`).
    pub honeypot: bool,
}

/// One score band, compiled.
#[derive(Debug)]
pub struct Band {
    pub from: u8,
    pub action: BotAction,
    pub rate: Option<RateSpec>,
}

/// The result of scoring one request.
#[derive(Debug)]
pub struct BotScore<'r> {
    pub score: u8,
    pub signals: Signals,
    /// `None` below the first band (allow).
    pub band: Option<&'r Band>,
}

impl BotScore<'_> {
    pub fn action(&self) -> BotAction {
        self.band.map_or(BotAction::Allow, |b| b.action)
    }
}

/// A policy's `bots` block, compiled.
#[derive(Debug)]
pub struct BotRules {
    pub policy: String,
    pub mode: Mode,
    browser_facing: bool,
    browser_paths: Vec<String>,
    exempt_paths: Vec<String>,
    deny_ja4: Vec<String>,
    pub weights: BotWeights,
    pub bands: Vec<Band>,
    /// The client table's settings (it also remembers honeypot hits).
    pub cadence: CadenceSettings,
    /// Whether the cadence signal is on.
    pub cadence_enabled: bool,
    pub honeypot_memory_micros: u64,
    pub tag_reasons: bool,
    pub tag_ja4: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct CadenceSettings {
    pub samples: usize,
    pub max_variation: f64,
    pub max_clients: usize,
}

const SEC_CH_UA: http::HeaderName = http::HeaderName::from_static("sec-ch-ua");
const SEC_FETCH_MODE: http::HeaderName = http::HeaderName::from_static("sec-fetch-mode");

/// Most intervals the cadence table keeps per client.
pub const MAX_CADENCE_SAMPLES: usize = 16;

fn prefix_matches(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || (path.starts_with(prefix)
            && (path.len() == prefix.len() || path.as_bytes()[prefix.len()] == b'/'))
}

/// The positions of the fields the order heuristic compares.
#[derive(Default)]
struct Order {
    host: Option<usize>,
    user_agent: Option<usize>,
    accept: Option<usize>,
    accept_encoding: Option<usize>,
    accept_language: Option<usize>,
}

impl Order {
    /// Chrome and Firefox (HTTP/1.1) send `Host` first, `User-Agent` before
    /// `Accept`, and `Accept` before `Accept-Encoding` and `Accept-Language`.
    fn is_anomalous(&self) -> bool {
        let before = |a: Option<usize>, b: Option<usize>| match (a, b) {
            (Some(a), Some(b)) => a < b,
            _ => true,
        };
        self.host.is_some_and(|h| h != 0)
            || !before(self.user_agent, self.accept)
            || !before(self.accept, self.accept_encoding)
            || !before(self.accept, self.accept_language)
    }
}

/// The major version in a `sec-ch-ua` brand list for Chromium (`"Chromium";v="120"`).
fn client_hints_version(value: &[u8]) -> Option<u16> {
    let at = memchr::memmem::find(value, b"\"Chromium\"")?;
    version_after(&value[at..], b"v=\"")
}

impl BotRules {
    /// Whether this path is never scored.
    pub fn is_exempt(&self, path: &str) -> bool {
        self.exempt_paths.iter().any(|p| prefix_matches(p, path))
    }

    fn is_browser_facing(&self, path: &str) -> bool {
        self.browser_facing || self.browser_paths.iter().any(|p| prefix_matches(p, path))
    }

    /// Scores one request. Allocates nothing.
    pub fn score(&self, req: &BotRequest<'_>) -> BotScore<'_> {
        let mut signals = Signals::default();
        let mut missing_headers: u32 = 0;
        let headers = req.headers;
        let ua = classify_user_agent(headers.get(header::USER_AGENT).map(|v| v.as_bytes()));
        match ua {
            UserAgent::Missing => signals.set(Signal::MissingUserAgent),
            UserAgent::Automation => signals.set(Signal::AutomationUserAgent),
            UserAgent::Headless => signals.set(Signal::HeadlessUserAgent),
            UserAgent::Browser(..) | UserAgent::Other => {}
        }
        let browser = match ua {
            UserAgent::Browser(b, v) => Some((b, v)),
            _ => None,
        };
        let hints = headers.get(&SEC_CH_UA).map(|v| v.as_bytes());
        if self.is_browser_facing(req.path) {
            for h in [
                header::ACCEPT,
                header::ACCEPT_LANGUAGE,
                header::ACCEPT_ENCODING,
            ] {
                if !headers.contains_key(h) {
                    missing_headers += 1;
                    signals.set(Signal::MissingBrowserHeaders);
                }
            }
            // Fetch metadata: Chromium 76+, Firefox 90+, Safari 16.4+, to
            // secure origins only.
            let sends_fetch_metadata = match browser {
                Some((Browser::Chromium, v)) => v >= 76,
                Some((Browser::Firefox, v)) => v >= 90,
                Some((Browser::Safari, v)) => v >= 17,
                None => false,
            };
            if req.tls && sends_fetch_metadata && !headers.contains_key(&SEC_FETCH_MODE) {
                signals.set(Signal::MissingFetchMetadata);
            }
            // Chromium 90+ sends `sec-ch-ua` to secure origins by default.
            if req.tls
                && matches!(browser, Some((Browser::Chromium, v)) if v >= 90)
                && hints.is_none()
            {
                signals.set(Signal::ClientHintsMismatch);
            }
        }
        if let Some(hints) = hints {
            // Firefox and Safari never send client hints; a Chromium brand
            // list must agree with the user agent's major version.
            let agrees = match browser {
                Some((Browser::Chromium, v)) => client_hints_version(hints).is_none_or(|h| h == v),
                _ => false,
            };
            if !agrees {
                signals.set(Signal::ClientHintsMismatch);
            }
        }
        if let Some((b, _)) = browser {
            if req.version == Version::HTTP_10 || req.version == Version::HTTP_09 {
                signals.set(Signal::ProtocolAnomaly);
            }
            if matches!(b, Browser::Chromium | Browser::Firefox)
                && req.version == Version::HTTP_11
                && self.field_order(headers).is_anomalous()
            {
                signals.set(Signal::HeaderOrder);
            }
            // Every current browser offers TLS 1.3 and ALPN.
            if let Some(ja4) = req.ja4
                && (ja4.get(1..3) != Some("13") || ja4.get(8..10) == Some("00"))
            {
                signals.set(Signal::Ja4Mismatch);
            }
        }
        if let Some(ja4) = req.ja4
            && self.deny_ja4.iter().any(|d| d == ja4)
        {
            signals.set(Signal::DeniedJa4);
        }
        if req.regular_cadence {
            signals.set(Signal::RegularCadence);
        }
        if req.honeypot {
            signals.set(Signal::Honeypot);
        }
        let mut score: u32 = 0;
        for s in signals.iter() {
            let times = if s == Signal::MissingBrowserHeaders {
                missing_headers
            } else {
                1
            };
            score += u32::from(self.weight(s)) * times;
        }
        let score = score.min(100) as u8;
        let band = self.bands.iter().rev().find(|b| score >= b.from);
        BotScore {
            score,
            signals,
            band,
        }
    }

    fn field_order(&self, headers: &HeaderMap) -> Order {
        // `HeaderMap` iterates names in the order they were first appended,
        // which is wire order for a parsed HTTP/1 head.
        let mut order = Order::default();
        for (i, name) in headers.keys().enumerate() {
            let slot = if *name == header::HOST {
                &mut order.host
            } else if *name == header::USER_AGENT {
                &mut order.user_agent
            } else if *name == header::ACCEPT {
                &mut order.accept
            } else if *name == header::ACCEPT_ENCODING {
                &mut order.accept_encoding
            } else if *name == header::ACCEPT_LANGUAGE {
                &mut order.accept_language
            } else {
                continue;
            };
            slot.get_or_insert(i);
        }
        order
    }

    pub fn weight(&self, s: Signal) -> u8 {
        let w = &self.weights;
        match s {
            Signal::AutomationUserAgent => w.automation_user_agent,
            Signal::HeadlessUserAgent => w.headless_user_agent,
            Signal::MissingUserAgent => w.missing_user_agent,
            Signal::MissingBrowserHeaders => w.missing_browser_header,
            Signal::MissingFetchMetadata => w.missing_fetch_metadata,
            Signal::ClientHintsMismatch => w.client_hints_mismatch,
            Signal::HeaderOrder => w.header_order,
            Signal::ProtocolAnomaly => w.protocol_anomaly,
            Signal::DeniedJa4 => w.denied_ja4,
            Signal::Ja4Mismatch => w.ja4_mismatch,
            Signal::RegularCadence => w.regular_cadence,
            Signal::Honeypot => w.honeypot,
        }
    }
}

/// The finding of a request in a `block` band: 403, reasons in the excerpt.
pub fn bot_blocked(score: &BotScore<'_>, mode: Mode) -> Finding {
    Finding {
        check: "bots",
        rule: "bot.score",
        severity: Severity::Error,
        status: StatusCode::FORBIDDEN,
        location: Cow::Owned(format!("client.bot_score:{}", score.score)),
        reason: Cow::Borrowed("automated client refused"),
        excerpt: Some(score.signals.names()),
        mode,
    }
}

/// The finding of a request in a `limit` band past the band's rate: 429.
pub fn bot_limited(score: &BotScore<'_>, mode: Mode) -> Finding {
    Finding {
        check: "bots",
        rule: "bot.limit",
        severity: Severity::Error,
        status: StatusCode::TOO_MANY_REQUESTS,
        location: Cow::Owned(format!("client.bot_score:{}", score.score)),
        reason: Cow::Borrowed("rate limit for automated clients exceeded"),
        excerpt: Some(score.signals.names()),
        mode,
    }
}

fn located(policy: &Policy, field: &str, message: String) -> ConfigError {
    ConfigError::at_field(&policy.source_path, &policy.source_text, field, message)
}

fn compile(
    policy: &Policy,
    field: &str,
    bc: &BotsConfig,
    policy_mode: Mode,
    name: &str,
) -> Result<BotRules, ConfigError> {
    let err = |sub: &str, msg: String| located(policy, &format!("{field}.{sub}"), msg);
    for (sub, paths) in [
        ("browser_paths", &bc.browser_paths),
        ("exempt_paths", &bc.exempt_paths),
    ] {
        if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
            return Err(err(sub, format!("{p:?} must start with '/'")));
        }
    }
    if let Some(bad) = bc.deny_ja4.iter().find(|j| !crate::ja4::is_ja4(j)) {
        return Err(err(
            "deny_ja4",
            format!("{bad:?} is not a JA4 fingerprint (like t13d1516h2_8daaf6152771_e5627efa2ab1)"),
        ));
    }
    let c = &bc.cadence;
    if c.enabled {
        if !(2..=MAX_CADENCE_SAMPLES).contains(&c.samples) {
            return Err(err(
                "cadence.samples",
                format!("must be between 2 and {MAX_CADENCE_SAMPLES}"),
            ));
        }
        if !(c.max_variation > 0.0 && c.max_variation < 1.0) {
            return Err(err(
                "cadence.max_variation",
                "must be between 0 and 1 (e.g. 0.1)".into(),
            ));
        }
        if c.max_clients == 0 {
            return Err(err("cadence.max_clients", "must be at least 1".into()));
        }
    }
    let mut bands: Vec<Band> = Vec::with_capacity(bc.bands.len());
    for (i, b) in bc.bands.iter().enumerate() {
        let at = |sub: &str| format!("bands[{i}].{sub}");
        if b.from > 100 {
            return Err(err(&at("from"), "a score is 0-100".into()));
        }
        if bands.last().is_some_and(|l| l.from >= b.from) {
            return Err(err(
                &at("from"),
                "bands must be listed by ascending `from`".into(),
            ));
        }
        match (b.action, b.rate) {
            (BotAction::Limit, None) => {
                return Err(err(
                    &at("rate"),
                    "a `limit` band needs a `rate` (e.g. 10/1m)".into(),
                ));
            }
            (BotAction::Limit, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(err(
                    &at("rate"),
                    "only a `limit` band takes a `rate`".into(),
                ));
            }
        }
        bands.push(Band {
            from: b.from,
            action: b.action,
            rate: b.rate,
        });
    }
    let w = &bc.weights;
    Ok(BotRules {
        policy: name.to_owned(),
        mode: if policy_mode == Mode::Monitor {
            Mode::Monitor
        } else {
            bc.mode
        },
        browser_facing: bc.browser_facing,
        browser_paths: bc.browser_paths.clone(),
        exempt_paths: bc.exempt_paths.clone(),
        deny_ja4: bc.deny_ja4.clone(),
        weights: BotWeights {
            automation_user_agent: w.automation_user_agent,
            headless_user_agent: w.headless_user_agent,
            missing_user_agent: w.missing_user_agent,
            missing_browser_header: w.missing_browser_header,
            missing_fetch_metadata: w.missing_fetch_metadata,
            client_hints_mismatch: w.client_hints_mismatch,
            header_order: w.header_order,
            protocol_anomaly: w.protocol_anomaly,
            denied_ja4: w.denied_ja4,
            ja4_mismatch: w.ja4_mismatch,
            regular_cadence: w.regular_cadence,
            honeypot: w.honeypot,
        },
        bands,
        cadence: CadenceSettings {
            samples: c.samples.clamp(2, MAX_CADENCE_SAMPLES),
            max_variation: c.max_variation,
            max_clients: c.max_clients.max(1),
        },
        cadence_enabled: c.enabled,
        honeypot_memory_micros: bc.honeypot_memory.0.as_micros().min(u128::from(u64::MAX)) as u64,
        tag_reasons: bc.tag_reasons,
        tag_ja4: bc.tag_ja4,
    })
}

/// Compiles every policy's `bots` block, aligned with `policy.routes`
/// (routes sharing a policy share its rules).
pub fn compile_routes(policy: &Policy) -> Result<Vec<Option<Arc<BotRules>>>, ConfigError> {
    let mut by_policy = HashMap::new();
    for (pname, pc) in &policy.config.policies {
        let Some(bc) = &pc.bots else { continue };
        let rules = compile(
            policy,
            &format!("policies.{pname}.bots"),
            bc,
            pc.mode,
            pname,
        )?;
        by_policy.insert(pname.as_str(), Arc::new(rules));
    }
    Ok(policy
        .routes
        .iter()
        .map(|r| {
            r.policy
                .as_ref()
                .and_then(|p| by_policy.get(p.name.as_str()).cloned())
        })
        .collect())
}

/// One client's recent arrivals.
#[derive(Clone, Copy)]
struct Client {
    ip: IpAddr,
    /// Last arrival (µs since the epoch); 0 for an empty slot.
    last: u64,
    /// Intervals between arrivals in µs (capped), as a ring.
    intervals: [u32; MAX_CADENCE_SAMPLES],
    filled: u8,
    next: u8,
    honeypot_until: u64,
}

const EMPTY: Client = Client {
    ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    last: 0,
    intervals: [0; MAX_CADENCE_SAMPLES],
    filled: 0,
    next: 0,
    honeypot_until: 0,
};

const SHARDS: usize = 16;

/// What the table remembers of a client after this request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientMemory {
    pub regular_cadence: bool,
    pub honeypot: bool,
}

/// Per-client arrival intervals and honeypot marks, per gateway instance.
///
/// Fixed memory: `max_clients` slots allocated once, split in shards each
/// behind its own short lock (never held across an await: nothing here
/// waits). A slot is picked by a keyed hash of the IP; a new client taking a
/// slot replaces whoever held it, so many clients (or an attacker rotating
/// addresses) forget older ones instead of growing the table.
pub struct CadenceTable {
    shards: Vec<Mutex<Vec<Client>>>,
    hasher: std::collections::hash_map::RandomState,
    settings: CadenceSettings,
}

impl CadenceTable {
    pub fn new(settings: CadenceSettings) -> CadenceTable {
        let per_shard = settings.max_clients.div_ceil(SHARDS).max(1);
        CadenceTable {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(vec![EMPTY; per_shard]))
                .collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            settings,
        }
    }

    fn slot<R>(&self, ip: IpAddr, f: impl FnOnce(&mut Client) -> R) -> R {
        let h = self.hasher.hash_one(ip) as usize;
        let shard = &self.shards[h % SHARDS];
        let mut slots = shard.lock().unwrap_or_else(|p| p.into_inner());
        let n = slots.len();
        let client = &mut slots[(h / SHARDS) % n];
        if client.ip != ip || client.last == 0 {
            *client = Client { ip, ..EMPTY };
        }
        f(client)
    }

    /// Records an arrival at `now` (µs) and says what is known of the client.
    pub fn observe(&self, ip: IpAddr, now: u64) -> ClientMemory {
        let samples = self.settings.samples;
        let max_variation = self.settings.max_variation;
        self.slot(ip, |c| {
            if c.last != 0 && now >= c.last {
                let gap = (now - c.last).min(u64::from(u32::MAX)) as u32;
                c.intervals[usize::from(c.next)] = gap;
                c.next = ((usize::from(c.next) + 1) % samples) as u8;
                c.filled = (usize::from(c.filled) + 1).min(samples) as u8;
            }
            c.last = now.max(1);
            ClientMemory {
                regular_cadence: usize::from(c.filled) >= samples
                    && is_regular(&c.intervals[..samples], max_variation),
                honeypot: c.honeypot_until > now,
            }
        })
    }

    /// Marks a client that touched a honeypot, until `until` (µs).
    pub fn mark_honeypot(&self, ip: IpAddr, now: u64, until: u64) {
        self.slot(ip, |c| {
            c.last = c.last.max(now).max(1);
            c.honeypot_until = c.honeypot_until.max(until);
        });
    }
}

/// Whether intervals vary too little for a person: the coefficient of
/// variation (standard deviation / mean) under `max_variation`. A mean
/// under 1 ms (parallel requests) says nothing.
pub fn is_regular(intervals: &[u32], max_variation: f64) -> bool {
    let n = intervals.len() as f64;
    let mean = intervals.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    if mean < 1000.0 {
        return false;
    }
    let var = intervals
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    var.sqrt() / mean < max_variation
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::bots::BandConfig;
    use http::HeaderValue;

    fn rules(browser_facing: bool, deny_ja4: &[&str]) -> BotRules {
        let bands = crate::config::bots::BotsConfig {
            mode: Mode::Block,
            browser_facing,
            browser_paths: vec![],
            exempt_paths: vec!["/health".into()],
            deny_ja4: deny_ja4.iter().map(|s| s.to_string()).collect(),
            cadence: Default::default(),
            honeypot_memory: crate::units::ConfigDuration::secs(60),
            tag_reasons: false,
            tag_ja4: false,
            weights: BotWeights::default(),
            bands: vec![
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
            ],
        };
        let b = bands;
        BotRules {
            policy: "p".into(),
            mode: b.mode,
            browser_facing: b.browser_facing,
            browser_paths: b.browser_paths,
            exempt_paths: b.exempt_paths,
            deny_ja4: b.deny_ja4,
            weights: b.weights,
            bands: b
                .bands
                .into_iter()
                .map(|c| Band {
                    from: c.from,
                    action: c.action,
                    rate: c.rate,
                })
                .collect(),
            cadence: CadenceSettings {
                samples: 8,
                max_variation: 0.1,
                max_clients: 64,
            },
            cadence_enabled: false,
            honeypot_memory_micros: 60_000_000,
            tag_reasons: false,
            tag_ja4: false,
        }
    }

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in fields {
            map.append(*n, HeaderValue::from_static(v));
        }
        map
    }

    const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const FIREFOX_UA: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

    fn chrome_headers() -> HeaderMap {
        headers(&[
            ("host", "shop.example"),
            ("connection", "keep-alive"),
            (
                "sec-ch-ua",
                "\"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"",
            ),
            ("sec-ch-ua-mobile", "?0"),
            ("upgrade-insecure-requests", "1"),
            ("user-agent", CHROME_UA),
            ("accept", "text/html,*/*;q=0.8"),
            ("sec-fetch-site", "none"),
            ("sec-fetch-mode", "navigate"),
            ("accept-encoding", "gzip, deflate, br"),
            ("accept-language", "en-US,en;q=0.9"),
        ])
    }

    fn request<'a>(headers: &'a HeaderMap) -> BotRequest<'a> {
        BotRequest {
            path: "/",
            headers,
            version: Version::HTTP_11,
            tls: true,
            ja4: None,
            regular_cadence: false,
            honeypot: false,
        }
    }

    #[test]
    fn user_agents_are_classified() {
        let c = |ua: &str| classify_user_agent(Some(ua.as_bytes()));
        assert_eq!(c("curl/8.5.0"), UserAgent::Automation);
        assert_eq!(c("python-requests/2.31.0"), UserAgent::Automation);
        assert_eq!(c("Go-http-client/1.1"), UserAgent::Automation);
        assert_eq!(
            c("Scrapy/2.11 (+https://scrapy.org)"),
            UserAgent::Automation
        );
        assert_eq!(
            c("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            UserAgent::Automation
        );
        assert_eq!(
            c(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"
            ),
            UserAgent::Headless
        );
        assert_eq!(c(CHROME_UA), UserAgent::Browser(Browser::Chromium, 131));
        assert_eq!(c(FIREFOX_UA), UserAgent::Browser(Browser::Firefox, 133));
        assert_eq!(
            c(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
            ),
            UserAgent::Browser(Browser::Safari, 17)
        );
        // A phone brand that contains "bot" is not a crawler.
        assert!(matches!(
            c(
                "Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
            ),
            UserAgent::Browser(Browser::Chromium, 120)
        ));
        assert_eq!(classify_user_agent(None), UserAgent::Missing);
        assert_eq!(classify_user_agent(Some(b"  ")), UserAgent::Missing);
        assert_eq!(c("MyCompanyApp/3.1"), UserAgent::Other);
    }

    #[test]
    fn a_real_browser_head_scores_zero() {
        let r = rules(true, &[]);
        let h = chrome_headers();
        let s = r.score(&request(&h));
        assert_eq!(
            (s.score, s.signals),
            (0, Signals::default()),
            "{:?}",
            s.signals.names()
        );
        assert_eq!(s.action(), BotAction::Allow);
        let h = headers(&[
            ("host", "shop.example"),
            ("user-agent", FIREFOX_UA),
            ("accept", "text/html"),
            ("accept-language", "en-US"),
            ("accept-encoding", "gzip"),
            ("sec-fetch-mode", "navigate"),
        ]);
        assert_eq!(r.score(&request(&h)).score, 0);
    }

    #[test]
    fn curl_is_tagged_on_an_api_and_blocked_where_browsers_are_expected() {
        let h = headers(&[
            ("host", "x"),
            ("user-agent", "curl/8.5.0"),
            ("accept", "*/*"),
        ]);
        let api = rules(false, &[]);
        let s = api.score(&request(&h));
        assert_eq!(s.score, 60);
        assert!(s.signals.has(Signal::AutomationUserAgent));
        assert_eq!(s.action(), BotAction::Tag);
        let web = rules(true, &[]);
        let s = web.score(&request(&h));
        // Accept-Language and Accept-Encoding missing: 10 each.
        assert_eq!((s.score, s.action()), (80, BotAction::Block));
        assert!(s.signals.has(Signal::MissingBrowserHeaders));
        assert_eq!(s.signals.names(), "ua.automation,headers.missing");
    }

    #[test]
    fn missing_user_agent_and_headless() {
        let r = rules(false, &[]);
        let h = headers(&[("host", "x")]);
        assert_eq!(r.score(&request(&h)).score, 40);
        let h = headers(&[
            ("host", "x"),
            ("user-agent", "Mozilla/5.0 HeadlessChrome/120.0"),
        ]);
        let s = r.score(&request(&h));
        assert_eq!((s.score, s.action()), (80, BotAction::Block));
    }

    #[test]
    fn missing_fetch_metadata_and_client_hints_only_over_tls() {
        let r = rules(true, &[]);
        let h = headers(&[
            ("host", "x"),
            ("user-agent", CHROME_UA),
            ("accept", "text/html"),
            ("accept-encoding", "gzip"),
            ("accept-language", "en"),
        ]);
        let s = r.score(&request(&h));
        assert!(s.signals.has(Signal::MissingFetchMetadata));
        assert!(s.signals.has(Signal::ClientHintsMismatch));
        assert_eq!(s.score, 40);
        let plain = BotRequest {
            tls: false,
            ..request(&h)
        };
        assert_eq!(r.score(&plain).score, 0);
        // Not browser-facing: no expectation of browser headers at all.
        assert_eq!(rules(false, &[]).score(&request(&h)).score, 0);
    }

    #[test]
    fn client_hints_that_contradict_the_user_agent() {
        let r = rules(false, &[]);
        let mut h = chrome_headers();
        h.insert(
            "sec-ch-ua",
            HeaderValue::from_static("\"Chromium\";v=\"99\", \"Google Chrome\";v=\"99\""),
        );
        assert!(
            r.score(&request(&h))
                .signals
                .has(Signal::ClientHintsMismatch)
        );
        let h = headers(&[
            ("host", "x"),
            ("user-agent", FIREFOX_UA),
            ("sec-ch-ua", "\"Chromium\";v=\"131\""),
            ("accept", "*/*"),
        ]);
        assert!(
            r.score(&request(&h))
                .signals
                .has(Signal::ClientHintsMismatch)
        );
    }

    #[test]
    fn header_order_no_browser_sends() {
        let r = rules(false, &[]);
        // python-requests' order (Accept-Encoding before Accept) under a Chrome UA.
        let h = headers(&[
            ("host", "x"),
            ("user-agent", CHROME_UA),
            ("accept-encoding", "gzip, deflate"),
            ("accept", "*/*"),
            ("connection", "keep-alive"),
        ]);
        let s = r.score(&request(&h));
        assert!(s.signals.has(Signal::HeaderOrder), "{}", s.signals.names());
        // Host not first.
        let h = headers(&[("user-agent", FIREFOX_UA), ("host", "x"), ("accept", "*/*")]);
        assert!(r.score(&request(&h)).signals.has(Signal::HeaderOrder));
        // HTTP/2 field order is not judged.
        let h2 = BotRequest {
            version: Version::HTTP_2,
            ..request(&h)
        };
        assert!(!r.score(&h2).signals.has(Signal::HeaderOrder));
        assert!(
            !r.score(&request(&chrome_headers()))
                .signals
                .has(Signal::HeaderOrder)
        );
    }

    #[test]
    fn http_1_0_claiming_a_browser() {
        let r = rules(false, &[]);
        let h = chrome_headers();
        let old = BotRequest {
            version: Version::HTTP_10,
            ..request(&h)
        };
        let s = r.score(&old);
        assert!(s.signals.has(Signal::ProtocolAnomaly));
        assert_eq!(s.score, 30);
    }

    #[test]
    fn denied_ja4_and_a_fingerprint_no_browser_has() {
        let denied = "t13i311000_e8f1e7e78f70_d41ae481755e";
        let r = rules(false, &[denied]);
        let h = headers(&[("host", "x"), ("user-agent", "MyApp/1")]);
        let s = r.score(&BotRequest {
            ja4: Some(denied),
            ..request(&h)
        });
        assert_eq!((s.score, s.action()), (100, BotAction::Block));
        assert!(s.signals.has(Signal::DeniedJa4));
        let other = r.score(&BotRequest {
            ja4: Some("t13d1516h2_8daaf6152771_e5627efa2ab1"),
            ..request(&h)
        });
        assert_eq!(other.score, 0);
        // A browser user agent over a TLS 1.2-only hello without ALPN.
        let h = chrome_headers();
        let s = r.score(&BotRequest {
            ja4: Some("t12d1209000_5b57614c22b0_3d5424432f57"),
            ..request(&h)
        });
        assert!(s.signals.has(Signal::Ja4Mismatch));
    }

    #[test]
    fn cadence_and_honeypot_signals_add_up_and_cap_at_100() {
        let r = rules(false, &[]);
        let h = headers(&[("host", "x"), ("user-agent", "curl/8")]);
        let s = r.score(&BotRequest {
            regular_cadence: true,
            ..request(&h)
        });
        assert_eq!(s.score, 90);
        let s = r.score(&BotRequest {
            regular_cadence: true,
            honeypot: true,
            ..request(&h)
        });
        assert_eq!(s.score, 100);
    }

    #[test]
    fn exempt_paths() {
        let r = rules(true, &[]);
        assert!(r.is_exempt("/health"));
        assert!(r.is_exempt("/health/live"));
        assert!(!r.is_exempt("/healthz"));
    }

    #[test]
    fn regularity() {
        assert!(is_regular(&[100_000; 8], 0.1));
        assert!(is_regular(
            &[
                100_000, 101_000, 99_000, 100_500, 99_500, 100_000, 100_200, 99_800
            ],
            0.1
        ));
        assert!(!is_regular(
            &[
                100_000, 900_000, 50_000, 2_000_000, 300_000, 40_000, 700_000, 120_000
            ],
            0.1
        ));
        // Parallel requests (no gap) say nothing.
        assert!(!is_regular(&[0; 8], 0.1));
    }

    #[test]
    fn cadence_table_flags_a_metronome_and_not_a_person() {
        let t = CadenceTable::new(CadenceSettings {
            samples: 8,
            max_variation: 0.1,
            max_clients: 64,
        });
        let bot: IpAddr = "10.0.0.1".parse().unwrap();
        // The table is lossy: two clients in one slot evict each other. The
        // person is a client the (randomly seeded) hash puts elsewhere.
        let slot_of = |ip: IpAddr| {
            let h = t.hasher.hash_one(ip) as usize;
            (
                h % SHARDS,
                (h / SHARDS) % t.shards[h % SHARDS].lock().unwrap().len(),
            )
        };
        let person: IpAddr = (2..=255u8)
            .map(|last| IpAddr::from([10, 0, 0, last]))
            .find(|&ip| slot_of(ip) != slot_of(bot))
            .unwrap();
        let mut now = 1_000_000_000u64;
        let mut seen = Vec::new();
        for i in 0..12u64 {
            now += 200_000;
            seen.push(t.observe(bot, now).regular_cadence);
            t.observe(person, now + (i * i * 37_000) % 900_000);
        }
        // Eight intervals need nine arrivals.
        assert!(!seen[7] && seen[8] && seen[11], "{seen:?}");
        assert!(!t.observe(person, now + 5_000_000).regular_cadence);
        t.mark_honeypot(person, now, now + 10_000_000);
        assert!(t.observe(person, now + 6_000_000).honeypot);
        assert!(!t.observe(person, now + 20_000_000).honeypot);
    }

    #[test]
    fn cadence_table_is_bounded() {
        let t = CadenceTable::new(CadenceSettings {
            samples: 4,
            max_variation: 0.1,
            max_clients: 32,
        });
        let slots: usize = t.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        for i in 0..10_000u32 {
            t.observe(IpAddr::from(i.to_be_bytes()), 1_000 + u64::from(i));
        }
        let after: usize = t.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert_eq!(slots, after);
        assert!(after <= 32 + SHARDS);
    }
}
