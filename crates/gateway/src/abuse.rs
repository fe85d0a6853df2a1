//! Abuse protection beyond plain rate limits, run in the limit phase:
//! the shared **ban list** (checked first), **honeypots** (a decoy path or
//! body field bans the client for `ban`), and **brute force** on login
//! operations (failed logins counted by response status per IP, username,
//! IP+username and globally; distinct usernames per IP and distinct IPs per
//! username for credential stuffing; past a threshold a lockout or a
//! progressive delay), with the failure-ratio spike of every client together
//! (`failure_ratio.rs`: `spike|<policy>` while under attack, `good|<ip>`
//! for addresses that logged in successfully). State lives in the
//! rate-limit store as flags
//! (`ban|ip`, `lock|…`, `stuff|…`, `delay|…`) and sliding-window counters,
//! so every instance sharing a Redis sees the same bans and lockouts.
//!
//! Request-side work is split like the rate limits: keys are built from the
//! view synchronously ([`plan`]), the store is asked without it.

use std::sync::Arc;
use std::time::Duration;

use portcullis_limits::{Limit, SlidingWindow};
use portcullis_policy::config::abuse::{
    BruteForceAction, BruteForceConfig, HoneypotConfig, SpikeAction,
};
use portcullis_policy::config::rate_limits::{KeyPart, RateSpec};
use portcullis_policy::{ConfigError, Exchange, Finding, Mode, Policy, rate_limit};

/// Flag values: why a client is banned.
pub const BAN_HONEYPOT: u64 = 1;
pub const BAN_ADMIN: u64 = 2;

/// The ban flag of an IP is this and the IP's text.
const BAN_PREFIX: &[u8] = b"ban|";

/// Prefixes of the flags the admin API lists and lifts.
pub const LISTED_PREFIXES: [&str; 3] = ["ban|", "lock|", "stuff|"];

struct Honeypot {
    paths: Vec<String>,
    body_fields: Vec<String>,
    ban: Duration,
    mode: Mode,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dim {
    Ip,
    User,
    Pair,
    Global,
}

struct BruteForce {
    operations: Vec<String>,
    paths: Vec<String>,
    username: KeyPart,
    /// Login operations the spec marks (`x-portcullis-login`) with their
    /// own username location.
    spec_usernames: Vec<(String, KeyPart)>,
    failure_statuses: Vec<u16>,
    /// Thresholds: failures per window for each dimension.
    thresholds: Vec<(Dim, u64, Limit)>,
    usernames_per_ip: Option<(u64, Limit)>,
    ips_per_username: Option<(u64, Limit)>,
    /// The pair counter used to tell a new (IP, username) pair.
    pair_window: Limit,
    action: BruteForceAction,
    lockout: Duration,
    delay: Duration,
    max_delay: Duration,
    mode: Mode,
    /// The spike detector and its keys (`bf|ratio|<policy>|…`, `spike|<policy>`).
    ratio: Option<(crate::failure_ratio::FailureRatio, RatioKeys)>,
}

struct RatioKeys {
    attempts: Vec<u8>,
    failures: Vec<u8>,
    baseline_attempts: Vec<u8>,
    baseline_failures: Vec<u8>,
    spike: Vec<u8>,
    /// Until when (µs) this instance knows of a spike: a flag read from
    /// Redis may be up to `FLAG_CACHE` old, so without it an instance could
    /// start (and count) the same spike again.
    local_until: std::sync::atomic::AtomicU64,
}

impl RatioKeys {
    fn new(policy: &str) -> RatioKeys {
        let k = |what: &str| format!("bf|ratio|{policy}|{what}").into_bytes();
        RatioKeys {
            attempts: k("a"),
            failures: k("f"),
            baseline_attempts: k("ba"),
            baseline_failures: k("bf"),
            spike: format!("spike|{policy}").into_bytes(),
            local_until: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

/// The abuse rules of one route.
pub struct RouteAbuse {
    honeypot: Option<Honeypot>,
    brute_force: Option<BruteForce>,
    ban_mode: Mode,
    pub needs_body: bool,
}

/// Counting windows use a limit too large to refuse: the count is read back
/// from the remaining capacity.
const UNLIMITED: u64 = u64::MAX / 4;

fn counter(spec: &RateSpec) -> Result<(u64, Limit), String> {
    SlidingWindow::new(UNLIMITED, spec.period)
        .map(|w| (spec.count, Limit::Window(w)))
        .map_err(|e| e.to_string())
}

fn located(policy: &Policy, field: &str, message: String) -> ConfigError {
    ConfigError::at_field(&policy.source_path, &policy.source_text, field, message)
}

fn effective(policy_mode: Mode, mode: Mode) -> Mode {
    if policy_mode == Mode::Monitor {
        Mode::Monitor
    } else {
        mode
    }
}

fn compile_honeypot(
    policy: &Policy,
    field: &str,
    hc: &HoneypotConfig,
    pmode: Mode,
) -> Result<Honeypot, ConfigError> {
    if hc.paths.is_empty() && hc.body_fields.is_empty() {
        return Err(located(
            policy,
            field,
            "give at least one of `paths` and `body_fields`".into(),
        ));
    }
    if let Some(p) = hc.paths.iter().find(|p| !p.starts_with('/')) {
        return Err(located(
            policy,
            &format!("{field}.paths"),
            format!("{p:?} must start with '/'"),
        ));
    }
    if let Some(p) = hc.body_fields.iter().find(|p| !p.starts_with('/')) {
        return Err(located(
            policy,
            &format!("{field}.body_fields"),
            format!("{p:?} must be a JSON pointer starting with '/'"),
        ));
    }
    if hc.ban.0.is_zero() {
        return Err(located(
            policy,
            &format!("{field}.ban"),
            "must be greater than 0".into(),
        ));
    }
    Ok(Honeypot {
        paths: hc
            .paths
            .iter()
            .map(|p| p.trim_end_matches('/').to_owned())
            .collect(),
        body_fields: hc.body_fields.clone(),
        ban: hc.ban.0,
        mode: effective(pmode, hc.mode),
    })
}

fn compile_brute_force(
    policy: &Policy,
    pname: &str,
    field: &str,
    bc: &BruteForceConfig,
    spec_logins: &[portcullis_policy::spec_extensions::SpecLogin],
    pmode: Mode,
) -> Result<BruteForce, ConfigError> {
    let err = |sub: &str, msg: String| located(policy, &format!("{field}.{sub}"), msg);
    if bc.operations.is_empty() && bc.paths.is_empty() && spec_logins.is_empty() {
        return Err(located(
            policy,
            field,
            "give the login `operations` or `paths` (or mark operations x-portcullis-login in the spec)".into(),
        ));
    }
    let mut operations = bc.operations.clone();
    let mut spec_usernames = Vec::new();
    for login in spec_logins {
        if !operations.contains(&login.operation) {
            operations.push(login.operation.clone());
        }
        // The config's `username` is the default; a spec login's own wins
        // for that operation.
        if let Some(part) = &login.username {
            spec_usernames.push((login.operation.clone(), part.clone()));
        }
    }
    if matches!(
        bc.username,
        KeyPart::Principal | KeyPart::Claim(_) | KeyPart::Token
    ) {
        return Err(err(
            "username",
            "the username must come from a header, query parameter or body field".into(),
        ));
    }
    if bc.failure_statuses.is_empty()
        || bc.failure_statuses.iter().any(|s| !(100..=599).contains(s))
    {
        return Err(err(
            "failure_statuses",
            "list HTTP statuses (100-599)".into(),
        ));
    }
    let mut thresholds = Vec::new();
    for (dim, name, spec) in [
        (Dim::Ip, "per_ip", &bc.per_ip),
        (Dim::User, "per_username", &bc.per_username),
        (Dim::Pair, "per_ip_username", &bc.per_ip_username),
        (Dim::Global, "global", &bc.global),
    ] {
        if let Some(spec) = spec {
            let (n, limit) = counter(spec).map_err(|e| err(name, e))?;
            thresholds.push((dim, n, limit));
        }
    }
    let usernames_per_ip = bc
        .usernames_per_ip
        .as_ref()
        .map(counter)
        .transpose()
        .map_err(|e| err("usernames_per_ip", e))?;
    let ips_per_username = bc
        .ips_per_username
        .as_ref()
        .map(counter)
        .transpose()
        .map_err(|e| err("ips_per_username", e))?;
    let ratio = bc
        .failure_ratio
        .as_ref()
        .map(|c| {
            crate::failure_ratio::FailureRatio::compile(c)
                .map(|r| (r, RatioKeys::new(pname)))
                .map_err(|(sub, msg)| err(&format!("failure_ratio.{sub}"), msg))
        })
        .transpose()?;
    if thresholds.is_empty()
        && usernames_per_ip.is_none()
        && ips_per_username.is_none()
        && ratio.is_none()
    {
        return Err(located(policy, field, "set at least one threshold (per_ip, per_username, per_ip_username, global, usernames_per_ip, ips_per_username, failure_ratio)".into()));
    }
    // A pair is "new" within the longest window any distinct counter uses.
    let pair_period = [
        &bc.per_ip_username,
        &bc.usernames_per_ip,
        &bc.ips_per_username,
    ]
    .iter()
    .filter_map(|s| s.as_ref().map(|s| s.period))
    .max()
    .unwrap_or(Duration::from_secs(600));
    let pair_window = Limit::Window(
        SlidingWindow::new(UNLIMITED, pair_period)
            .map_err(|e| err("per_ip_username", e.to_string()))?,
    );
    for (name, d) in [
        ("lockout_time", bc.lockout_time.0),
        ("delay", bc.delay.0),
        ("max_delay", bc.max_delay.0),
    ] {
        if d.is_zero() {
            return Err(err(name, "must be greater than 0".into()));
        }
    }
    Ok(BruteForce {
        operations,
        paths: bc.paths.clone(),
        username: bc.username.clone(),
        spec_usernames,
        failure_statuses: bc.failure_statuses.clone(),
        thresholds,
        usernames_per_ip,
        ips_per_username,
        pair_window,
        action: bc.action,
        lockout: bc.lockout_time.0,
        delay: bc.delay.0,
        max_delay: bc.max_delay.0.max(bc.delay.0),
        mode: effective(pmode, bc.mode),
        ratio,
    })
}

/// Compiles every route's abuse rules, aligned with `policy.routes`.
pub fn compile_routes(policy: &Policy) -> Result<Vec<Option<Arc<RouteAbuse>>>, ConfigError> {
    let compiled: std::collections::HashMap<&str, &portcullis_policy::policy::CompiledPolicy> =
        policy
            .routes
            .iter()
            .filter_map(|r| r.policy.as_deref())
            .map(|p| (p.name.as_str(), p))
            .collect();
    let mut by_policy = std::collections::HashMap::new();
    for (pname, pc) in &policy.config.policies {
        let extensions = compiled.get(pname.as_str()).map(|p| &p.extensions);
        let spec_logins = extensions.map_or(&[][..], |e| &e.logins[..]);
        let honeypot = pc
            .honeypot
            .as_ref()
            .map(|h| compile_honeypot(policy, &format!("policies.{pname}.honeypot"), h, pc.mode))
            .transpose()?;
        let brute_force = pc
            .brute_force
            .as_ref()
            .map(|b| {
                compile_brute_force(
                    policy,
                    pname,
                    &format!("policies.{pname}.brute_force"),
                    b,
                    spec_logins,
                    pc.mode,
                )
            })
            .transpose()?;
        let any = honeypot.is_some()
            || brute_force.is_some()
            || pc.rate_limits.is_some()
            || extensions.is_some_and(|e| !e.rate_limits.is_empty());
        if !any {
            continue;
        }
        let needs_body = honeypot.as_ref().is_some_and(|h| !h.body_fields.is_empty())
            || brute_force.as_ref().is_some_and(|b| {
                b.username.needs_body() || b.spec_usernames.iter().any(|(_, u)| u.needs_body())
            });
        let ban_mode = honeypot
            .as_ref()
            .map_or(effective(pc.mode, Mode::Block), |h| h.mode);
        by_policy.insert(
            pname.as_str(),
            Arc::new(RouteAbuse {
                honeypot,
                brute_force,
                ban_mode,
                needs_body,
            }),
        );
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

/// What the limit phase must check for one request.
pub struct AbusePlan {
    rules: Arc<RouteAbuse>,
    /// `ban|<client ip>`, built once: the IP text is `ban_key[4..]`.
    ban_key: Vec<u8>,
    honeypot_hit: Option<String>,
    login: Option<Vec<u8>>,
    is_login: bool,
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix.is_empty()
        || (path.starts_with(prefix)
            && (path.len() == prefix.len() || path.as_bytes()[prefix.len()] == b'/'))
}

/// Builds the abuse keys of a request (synchronously, from the view).
pub fn plan(rules: &Arc<RouteAbuse>, exchange: &Exchange<'_>) -> AbusePlan {
    let mut honeypot_hit = None;
    if let Some(h) = &rules.honeypot {
        if let Some(p) = h.paths.iter().find(|p| prefix_matches(p, exchange.path)) {
            honeypot_hit = Some(format!("path:{p}"));
        } else if let Some(f) = h.body_fields.iter().find(|f| body_has(exchange, f)) {
            honeypot_hit = Some(format!("body:{f}"));
        }
    }
    let mut is_login = false;
    let mut login = None;
    if let Some(b) = &rules.brute_force {
        is_login = b.paths.iter().any(|p| p == exchange.path)
            || exchange
                .operation_id()
                .is_some_and(|op| b.operations.iter().any(|o| o == op));
        if is_login {
            let username = exchange
                .operation_id()
                .and_then(|op| b.spec_usernames.iter().find(|(o, _)| o == op))
                .map_or(&b.username, |(_, u)| u);
            login = rate_limit::part_value(username, exchange);
        }
    }
    let mut ban_key = Vec::with_capacity(BAN_PREFIX.len() + 39);
    ban_key.extend_from_slice(BAN_PREFIX);
    portcullis_policy::client_ip::push_ip(&mut ban_key, exchange.client_ip);
    AbusePlan {
        rules: rules.clone(),
        ban_key,
        honeypot_hit,
        login,
        is_login,
    }
}

fn body_has(exchange: &Exchange<'_>, pointer: &str) -> bool {
    match exchange.parsed_body() {
        Some(portcullis_policy::body::ParsedBody::Json(v)) => v.pointer(pointer).is_some(),
        Some(portcullis_policy::body::ParsedBody::Form(pairs)) => {
            let name = pointer.trim_start_matches('/');
            pairs.iter().any(|(k, _)| k == name)
        }
        _ => false,
    }
}

fn key(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&b'|')
}

/// A login attempt to count once its response status is known.
pub struct LoginAttempt {
    rules: Arc<RouteAbuse>,
    ip: String,
    user: Option<Vec<u8>>,
}

/// The result of the abuse checks before forwarding.
pub struct AbuseOutcome {
    /// Set when a finding blocks: the time to put in `Retry-After`.
    pub retry_after: Option<Duration>,
    pub login: Option<LoginAttempt>,
}

impl crate::rate_limits::RateLimiter {
    /// The ban list, then the honeypot: checked on every request of a route
    /// with abuse rules. `Some` when a finding blocks (nothing else is then
    /// checked); a honeypot hit in block mode bans the client.
    async fn ban_and_honeypot(
        &self,
        plan: &mut AbusePlan,
        ban_ttl: Option<Duration>,
        findings: &mut Vec<Finding>,
        now: u64,
    ) -> Option<AbuseOutcome> {
        if let Some(ttl) = ban_ttl {
            findings.push(rate_limit::banned(plan.rules.ban_mode));
            if findings.iter().any(|f| f.mode == Mode::Block) {
                return Some(AbuseOutcome {
                    retry_after: Some(ttl),
                    login: None,
                });
            }
        }
        if let (Some(h), Some(location)) = (&plan.rules.honeypot, plan.honeypot_hit.take()) {
            findings.push(rate_limit::honeypot(location, h.mode));
            if h.mode == Mode::Block {
                self.set_flag(&plan.ban_key, BAN_HONEYPOT, h.ban, now).await;
                let ip = String::from_utf8_lossy(&plan.ban_key[BAN_PREFIX.len()..]);
                tracing::warn!(client_ip = %ip, ban = ?h.ban, "honeypot touched: client banned");
                return Some(AbuseOutcome {
                    retry_after: None,
                    login: None,
                });
            }
        }
        None
    }

    /// Bans, honeypot and lockout checks; pushes findings. A progressive
    /// delay is waited here.
    pub async fn enforce_abuse(
        &self,
        mut plan: AbusePlan,
        findings: &mut Vec<Finding>,
    ) -> AbuseOutcome {
        let now = portcullis_limits::now_micros();
        let ban_key = &plan.ban_key[..];
        let ip = &ban_key[BAN_PREFIX.len()..];
        let ip_text = || String::from_utf8_lossy(ip).into_owned();
        if !plan.is_login {
            // Most requests: one flag, no key list.
            let ban_ttl = self.get_flag(ban_key, now).await;
            return self
                .ban_and_honeypot(&mut plan, ban_ttl, findings, now)
                .await
                .unwrap_or(AbuseOutcome {
                    retry_after: None,
                    login: None,
                });
        }
        let mut keys: Vec<Vec<u8>> = vec![ban_key.to_vec()];
        let user = plan.login.as_deref();
        {
            keys.push(key(&[b"lock", b"ip", ip]));
            keys.push(key(&[b"lock", b"global"]));
            keys.push(key(&[b"stuff", b"ip", ip]));
            keys.push(key(&[b"delay", b"ip", ip]));
            keys.push(key(&[b"delay", b"global"]));
            if let Some(u) = user {
                keys.push(key(&[b"lock", b"user", u]));
                keys.push(key(&[b"lock", b"pair", ip, u]));
                keys.push(key(&[b"stuff", b"user", u]));
                keys.push(key(&[b"delay", b"user", u]));
                keys.push(key(&[b"delay", b"pair", ip, u]));
            }
        }
        // The lockout and delay flags end here; the spike flags follow.
        let lockout_keys = keys.len();
        let ratio = plan
            .rules
            .brute_force
            .as_ref()
            .and_then(|b| b.ratio.as_ref());
        if let Some((_, k)) = ratio {
            keys.push(k.spike.clone());
            keys.push(key(&[b"good", ip]));
        }
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let flags = self.get_flags(&refs, now).await;
        let login = plan.is_login.then(|| LoginAttempt {
            rules: plan.rules.clone(),
            ip: ip_text(),
            user: plan.login.clone(),
        });
        let ban_ttl = flags[0].map(|(_, ttl)| ttl);
        if let Some(outcome) = self
            .ban_and_honeypot(&mut plan, ban_ttl, findings, now)
            .await
        {
            return outcome;
        }
        let Some(b) = &plan.rules.brute_force else {
            return AbuseOutcome {
                retry_after: None,
                login,
            };
        };
        let mut retry: Option<Duration> = None;
        let mut delay = Duration::ZERO;
        for (k, flag) in keys.iter().zip(&flags).take(lockout_keys).skip(1) {
            let Some((value, ttl)) = flag else { continue };
            let (rule, location): (fn(&'static str, Mode) -> Finding, &'static str) =
                if k.starts_with(b"lock|ip|") {
                    (rate_limit::brute_force, "login.ip")
                } else if k.starts_with(b"lock|user|") {
                    (rate_limit::brute_force, "login.username")
                } else if k.starts_with(b"lock|pair|") {
                    (rate_limit::brute_force, "login.ip_username")
                } else if k.starts_with(b"lock|global") {
                    (rate_limit::brute_force, "login.global")
                } else if k.starts_with(b"stuff|ip|") {
                    (rate_limit::credential_stuffing, "login.ip")
                } else if k.starts_with(b"stuff|user|") {
                    (rate_limit::credential_stuffing, "login.username")
                } else {
                    delay = delay.max(Duration::from_millis(*value));
                    continue;
                };
            findings.push(rule(location, b.mode));
            retry = Some(retry.map_or(*ttl, |r| r.max(*ttl)));
        }
        // Under attack: addresses that never logged in successfully are
        // delayed or refused until the cool-down ends.
        if let Some((r, _)) = &b.ratio
            && let Some((_, spike_ttl)) = flags[lockout_keys]
            && flags[lockout_keys + 1].is_none()
        {
            match r.action {
                SpikeAction::Block => {
                    findings.push(rate_limit::failure_ratio_spike(b.mode));
                    retry = Some(retry.map_or(spike_ttl, |t| t.max(spike_ttl)));
                }
                SpikeAction::Delay => {
                    findings.push(rate_limit::failure_ratio_spike(Mode::Monitor));
                    delay = delay.max(r.delay);
                }
            }
        }
        if retry.is_some() && b.mode == Mode::Block {
            return AbuseOutcome {
                retry_after: retry,
                login: None,
            };
        }
        if !delay.is_zero() && b.mode == Mode::Block {
            let most = match &b.ratio {
                Some((r, _)) => b.max_delay.max(r.delay),
                None => b.max_delay,
            };
            tokio::time::sleep(delay.min(most)).await;
        }
        AbuseOutcome {
            retry_after: None,
            login,
        }
    }

    /// Counts a failed login (by its response status) and sets the lockout,
    /// delay or stuffing flags whose threshold it crosses.
    pub async fn record_login(&self, attempt: LoginAttempt, status: u16) {
        let Some(b) = &attempt.rules.brute_force else {
            return;
        };
        let failed = b.failure_statuses.contains(&status);
        let now = portcullis_limits::now_micros();
        if let Some((r, k)) = &b.ratio {
            self.record_ratio(r, k, &attempt.ip, failed, status, now)
                .await;
        }
        if !failed {
            return;
        }
        let ip = attempt.ip.as_bytes();
        let user = attempt.user.as_deref();
        for (dim, threshold, limit) in &b.thresholds {
            let (name, parts): (&[u8], Vec<&[u8]>) = match (dim, user) {
                (Dim::Ip, _) => (b"ip", vec![ip]),
                (Dim::Global, _) => (b"global", vec![]),
                (Dim::User, Some(u)) => (b"user", vec![u]),
                (Dim::Pair, Some(u)) => (b"pair", vec![ip, u]),
                _ => continue,
            };
            let mut counter_key = vec![&b"bf"[..], name];
            counter_key.extend(&parts);
            let count = self.count(&key(&counter_key), limit, now).await;
            if count < *threshold {
                continue;
            }
            let mut flag_key = vec![
                match b.action {
                    BruteForceAction::Lockout => &b"lock"[..],
                    BruteForceAction::Delay => &b"delay"[..],
                },
                name,
            ];
            flag_key.extend(&parts);
            let flag_key = key(&flag_key);
            match b.action {
                BruteForceAction::Lockout => {
                    self.set_flag(&flag_key, count, b.lockout, now).await;
                    tracing::warn!(client_ip = %attempt.ip, dimension = %String::from_utf8_lossy(name), failures = count, "login locked out");
                }
                BruteForceAction::Delay => {
                    let over = (count - threshold).min(20) as u32;
                    let ms = (b.delay.as_millis() as u64)
                        .saturating_mul(1u64 << over)
                        .min(b.max_delay.as_millis() as u64);
                    let window = Duration::from_micros(limit.state_ttl().as_micros() as u64 / 2);
                    self.set_flag(&flag_key, ms, window, now).await;
                }
            }
        }
        let Some(u) = user else { return };
        if b.usernames_per_ip.is_none() && b.ips_per_username.is_none() {
            return;
        }
        // A pair failing for the first time in the window is a new username
        // for this IP and a new IP for this username.
        if self
            .count(&key(&[b"bf", b"newpair", ip, u]), &b.pair_window, now)
            .await
            != 1
        {
            return;
        }
        for (spec, counter_parts, flag_parts) in [
            (
                &b.usernames_per_ip,
                key(&[b"bf", b"users_of", ip]),
                key(&[b"stuff", b"ip", ip]),
            ),
            (
                &b.ips_per_username,
                key(&[b"bf", b"ips_of", u]),
                key(&[b"stuff", b"user", u]),
            ),
        ] {
            let Some((threshold, limit)) = spec else {
                continue;
            };
            let count = self.count(&counter_parts, limit, now).await;
            if count >= *threshold {
                self.set_flag(&flag_parts, count, b.lockout, now).await;
                tracing::warn!(client_ip = %attempt.ip, distinct = count, "credential stuffing pattern: logins locked out");
            }
        }
    }

    /// Counts an attempt for the spike detector; a failure that makes the
    /// counts a spike starts the cool-down (once per instance: while it
    /// runs, further spikes only count). A success marks the address as
    /// known good.
    async fn record_ratio(
        &self,
        r: &crate::failure_ratio::FailureRatio,
        k: &RatioKeys,
        ip: &str,
        failed: bool,
        status: u16,
        now: u64,
    ) {
        if !failed && status < 400 {
            let good = key(&[b"good", ip.as_bytes()]);
            self.set_flag(&good, 1, r.remember_success, now).await;
        }
        let attempts = self.count(&k.attempts, &r.window, now).await;
        let baseline_attempts = self.count(&k.baseline_attempts, &r.baseline, now).await;
        if !failed {
            return;
        }
        let counts = crate::failure_ratio::Counts {
            attempts,
            failures: self.count(&k.failures, &r.window, now).await,
            baseline_attempts,
            baseline_failures: self.count(&k.baseline_failures, &r.baseline, now).await,
        };
        use std::sync::atomic::Ordering;
        if !r.is_spike(counts)
            || k.local_until.load(Ordering::Relaxed) > now
            || self.get_flag(&k.spike, now).await.is_some()
        {
            return;
        }
        let until = now + r.cool_down.as_micros() as u64;
        if k.local_until.swap(until, Ordering::Relaxed) > now {
            return;
        }
        self.set_flag(&k.spike, counts.failures, r.cool_down, now)
            .await;
        if let Some(m) = &self.metrics {
            m.rate_limits.login_failure_spikes.inc();
        }
        tracing::warn!(
            attempts = counts.attempts,
            failures = counts.failures,
            baseline_attempts = counts.baseline_attempts,
            baseline_failures = counts.baseline_failures,
            cool_down = ?r.cool_down,
            "login failure-ratio spike: under attack, unknown addresses restricted"
        );
    }
}
