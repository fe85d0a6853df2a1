//! The limit phase: after routing and the head checks (so the operation is
//! known) and after the body is read when a limit keys on a body field,
//! before the decision. Each route has the limits of its policy, compiled
//! once per configuration generation; a request is counted against each
//! (see below for which are charged when one refuses).
//!
//! Keys are built synchronously from the request view into one buffer
//! ([`RateLimiter::plan`]), then decided against the store without holding
//! the view ([`RateLimiter::enforce`]): the memory store answers at once,
//! in order, not charging limits after one that refuses; Redis gets every
//! limit that a lease or remembered denial cannot answer in one pipeline
//! (one round trip, one script call per limit, all charged). When Redis
//! cannot answer, each limit's `on_store_error` applies: `local` (this
//! instance's memory store), `fail_open` or `fail_closed`; Redis going down
//! and coming back are logged once each and counted.
//!
//! Never blocks a thread, never holds a lock across an await.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use portcullis_limits::redis_store::Health;
use portcullis_limits::{
    Gcra, Limit, MemoryStore, RedisConfig, RedisStore, SlidingWindow, StoreError,
};
use portcullis_policy::config::rate_limits::{
    KeyPart, LimitConfig, OnStoreError, RateLimitHeaders, RedisStoreConfig, StoreBackend,
    Unauthenticated,
};
use portcullis_policy::{ConfigError, Exchange, Finding, Mode, Policy, decide, rate_limit};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Rate-limit metrics, registered with the gateway's others.
pub struct LimitMetrics {
    decisions: Family<DecisionLabels, Counter>,
    store_errors: Counter,
    store_up: Gauge,
    pub login_failure_spikes: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    limit: Arc<String>,
    result: &'static str,
}

impl LimitMetrics {
    pub fn register(registry: &mut Registry) -> LimitMetrics {
        let m = LimitMetrics {
            decisions: Family::default(),
            store_errors: Counter::default(),
            store_up: Gauge::default(),
            login_failure_spikes: Counter::default(),
        };
        registry.register(
            "login_failure_spikes",
            "Times the failed-login ratio of a login operation spiked (brute_force.failure_ratio)",
            m.login_failure_spikes.clone(),
        );
        registry.register(
            "rate_limit_decisions",
            "Rate-limit decisions by limit and result (allowed, limited, fallback_local, fail_open, fail_closed)",
            m.decisions.clone(),
        );
        registry.register(
            "rate_limit_store_errors",
            "Calls to the shared rate-limit store (Redis) that failed",
            m.store_errors.clone(),
        );
        registry.register(
            "rate_limit_store_up",
            "1 while the shared rate-limit store answers, 0 while it does not",
            m.store_up.clone(),
        );
        m
    }
}

struct CompiledLimit {
    name: Arc<String>,
    /// `g|name` or `w|name`: the algorithm is part of the key, so changing
    /// it in the config never reads the other algorithm's state.
    key_name: String,
    parts: Vec<KeyPart>,
    limit: Limit,
    operations: Vec<String>,
    methods: Vec<Method>,
    unauthenticated: Unauthenticated,
    on_error: OnStoreError,
    mode: Mode,
    /// This limit's `RateLimit-Policy` item (`"name";q=20;w=1`).
    policy_item: String,
    /// Counts toward the headers of an allowed answer (block mode).
    blocks: bool,
    allowed: Counter,
    limited: Counter,
    fallback: Counter,
}

struct RouteLimits {
    limits: Vec<CompiledLimit>,
    needs_body: bool,
    headers: RateLimitHeaders,
    /// `RateLimit-Policy` when every limit applies (built once).
    all_policy: Option<HeaderValue>,
}

/// Every route's limits and the stores they count in.
pub struct RateLimiter {
    /// Aligned with `policy.routes`; `None` for routes without limits.
    routes: Vec<Option<Arc<RouteLimits>>>,
    /// Bans, honeypots and brute force (`abuse.rs`), aligned the same way.
    abuse: Vec<Option<Arc<crate::abuse::RouteAbuse>>>,
    memory: MemoryStore,
    redis: Option<RedisStore>,
    pub(crate) metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// The keys of one request, built before any wait.
pub struct LimitPlan {
    abuse: Option<crate::abuse::AbusePlan>,
    limits: Option<Arc<RouteLimits>>,
    keys: Vec<u8>,
    /// (limit index, end of its key in `keys`).
    entries: Vec<(usize, usize)>,
}

/// What the limit phase adds to an answer: `Retry-After` to a refusal,
/// the draft's `RateLimit-Policy` and `RateLimit` when configured.
pub struct LimitHeaders {
    retry_after: Option<Duration>,
    policy: Option<HeaderValue>,
    current: Option<HeaderValue>,
}

/// What the limit phase hands on: headers for a refusal, and a login
/// attempt to count when its response arrives.
#[derive(Default)]
pub struct LimitOutcome {
    pub headers: Option<LimitHeaders>,
    pub login: Option<crate::abuse::LoginAttempt>,
}

fn located(policy: &Policy, field: &str, message: String) -> ConfigError {
    ConfigError::at_field(&policy.source_path, &policy.source_text, field, message)
}

/// `err(sub, message)` locates an error at a field of the limit (`""`: the
/// limit itself), in the config file or in the spec it came from.
fn compile_limit(
    err: &dyn Fn(&str, String) -> ConfigError,
    lc: &LimitConfig,
    block_mode: Mode,
    has_identity: bool,
    metrics: Option<&crate::metrics::Metrics>,
) -> Result<CompiledLimit, ConfigError> {
    if lc.name.is_empty() || lc.name.contains(['|', '"', '\\']) || !lc.name.is_ascii() {
        return Err(err(
            "name",
            "a limit name must be non-empty ASCII without '|', '\"' or '\\'".into(),
        ));
    }
    if lc.key.is_empty() {
        return Err(err(
            "key",
            "at least one key part is required (e.g. [client_ip])".into(),
        ));
    }
    if !has_identity && let Some(part) = lc.key.iter().find(|p| p.needs_identity()) {
        return Err(err(
            "key",
            format!(
                "key part {part} reads the verified caller: give this policy an `identity` block"
            ),
        ));
    }
    let limit = match (&lc.rate, &lc.quota) {
        (Some(rate), None) => {
            let burst = lc.burst.unwrap_or(rate.count);
            Limit::Gcra(
                Gcra::new(rate.count, rate.period, burst)
                    .map_err(|e| err("rate", e.to_string()))?,
            )
        }
        (None, Some(quota)) => {
            if lc.burst.is_some() {
                return Err(err(
                    "burst",
                    "burst applies to `rate`, not to `quota`".into(),
                ));
            }
            Limit::Window(
                SlidingWindow::new(quota.count, quota.period)
                    .map_err(|e| err("quota", e.to_string()))?,
            )
        }
        _ => {
            return Err(err(
                "",
                "give exactly one of `rate` (smooth, with `burst`) and `quota` (sliding window)"
                    .into(),
            ));
        }
    };
    let tag = match limit {
        Limit::Gcra(_) => "g",
        Limit::Window(_) => "w",
    };
    let name = Arc::new(lc.name.clone());
    let counter = |result: &'static str| match metrics {
        Some(m) => m
            .rate_limits
            .decisions
            .get_or_create(&DecisionLabels {
                limit: name.clone(),
                result,
            })
            .clone(),
        None => Counter::default(),
    };
    let mode = if block_mode == Mode::Monitor {
        Mode::Monitor
    } else {
        lc.mode.unwrap_or(block_mode)
    };
    Ok(CompiledLimit {
        key_name: format!("{tag}|{}", lc.name),
        parts: lc.key.clone(),
        policy_item: format!(
            "\"{}\";q={};w={}",
            lc.name,
            limit.size(),
            limit.window_secs()
        ),
        limit,
        operations: lc.operations.clone(),
        methods: lc.methods.iter().map(|m| m.0.clone()).collect(),
        unauthenticated: lc.unauthenticated,
        on_error: lc.on_store_error,
        mode,
        blocks: mode == Mode::Block,
        allowed: counter("allowed"),
        limited: counter("limited"),
        fallback: counter("fallback_local"),
        name,
    })
}

/// Compiles every route's limits (also what `portcullis validate` checks).
fn compile_routes(
    policy: &Policy,
    metrics: Option<&crate::metrics::Metrics>,
) -> Result<Vec<Option<Arc<RouteLimits>>>, ConfigError> {
    let config = &policy.config;
    // The spec extensions of each policy a route uses.
    let compiled: HashMap<&str, &portcullis_policy::policy::CompiledPolicy> = policy
        .routes
        .iter()
        .filter_map(|r| r.policy.as_deref())
        .map(|p| (p.name.as_str(), p))
        .collect();
    let mut by_policy: HashMap<&str, Arc<RouteLimits>> = HashMap::new();
    for (pname, pc) in &config.policies {
        let spec_limits = compiled
            .get(pname.as_str())
            .map_or(&[][..], |p| &p.extensions.rate_limits[..]);
        if pc.rate_limits.is_none() && spec_limits.is_empty() {
            continue;
        }
        let block_mode = match (&pc.rate_limits, pc.mode) {
            (_, Mode::Monitor) => Mode::Monitor,
            (Some(rl), _) => rl.mode,
            (None, mode) => mode,
        };
        let config_limits = pc.rate_limits.as_ref().map_or(&[][..], |rl| &rl.limits[..]);
        let has_identity = pc.identity.is_some();
        let mut limits = Vec::with_capacity(config_limits.len() + spec_limits.len());
        for (i, lc) in config_limits.iter().enumerate() {
            let field = format!("policies.{pname}.rate_limits.limits[{i}]");
            let err = |sub: &str, msg: String| {
                let at = if sub.is_empty() {
                    field.clone()
                } else {
                    format!("{field}.{sub}")
                };
                located(policy, &at, msg)
            };
            if config_limits[..i].iter().any(|o| o.name == lc.name) {
                return Err(err("name", format!("duplicate limit name {:?}", lc.name)));
            }
            limits.push(compile_limit(&err, lc, block_mode, has_identity, metrics)?);
        }
        // The spec's limits (`x-portcullis-rate-limit`) come after the
        // config's; a config limit of the same name replaces one.
        for (i, sl) in spec_limits.iter().enumerate() {
            if config_limits.iter().any(|c| c.name == sl.limit.name) {
                continue;
            }
            let err = |sub: &str, msg: String| sl.at.error(sub, msg);
            if spec_limits[..i]
                .iter()
                .any(|o| o.limit.name == sl.limit.name)
            {
                return Err(err(
                    "name",
                    format!(
                        "duplicate limit name {:?} (name the limits of different operations apart)",
                        sl.limit.name
                    ),
                ));
            }
            limits.push(compile_limit(
                &err,
                &sl.limit,
                block_mode,
                has_identity,
                metrics,
            )?);
        }
        let needs_body = limits
            .iter()
            .any(|l| l.parts.iter().any(KeyPart::needs_body));
        let headers = pc
            .rate_limits
            .as_ref()
            .map_or_else(Default::default, |rl| rl.headers);
        let all: Vec<usize> = (0..limits.len()).collect();
        let all_policy = policy_header(&limits, all.iter().copied());
        by_policy.insert(
            pname.as_str(),
            Arc::new(RouteLimits {
                limits,
                needs_body,
                headers,
                all_policy,
            }),
        );
    }
    if config.rate_limit_store.backend == StoreBackend::Redis
        && config.rate_limit_store.redis.is_none()
    {
        return Err(located(
            policy,
            "rate_limit_store.backend",
            "backend redis needs a `redis` block with a url or cluster".into(),
        ));
    }
    if let Some(r) = &config.rate_limit_store.redis {
        let is_redis_url = |u: &str| u.starts_with("redis://") || u.starts_with("rediss://");
        match (&r.url, r.cluster.is_empty()) {
            (Some(_), false) | (None, true) => {
                return Err(located(
                    policy,
                    "rate_limit_store.redis",
                    "needs exactly one of `url` (a standalone Redis) and `cluster` (Redis Cluster seed nodes)".into(),
                ));
            }
            (Some(url), true) if !is_redis_url(&url.0) => {
                return Err(located(
                    policy,
                    "rate_limit_store.redis.url",
                    "must start with redis:// or rediss://".into(),
                ));
            }
            _ => {}
        }
        if let Some(n) = r.cluster.iter().position(|u| !is_redis_url(&u.0)) {
            return Err(located(
                policy,
                &format!("rate_limit_store.redis.cluster[{n}]"),
                "must start with redis:// or rediss://".into(),
            ));
        }
        if r.timeout.0.is_zero() || r.lease == 0 {
            return Err(located(
                policy,
                "rate_limit_store.redis",
                "timeout must be greater than 0 and lease at least 1".into(),
            ));
        }
    }
    Ok(policy
        .routes
        .iter()
        .map(|route| {
            route
                .policy
                .as_ref()
                .and_then(|p| by_policy.get(p.name.as_str()).cloned())
        })
        .collect())
}

/// `RateLimit-Policy`: the items of the limits that applied, in order.
fn policy_header(
    limits: &[CompiledLimit],
    applied: impl Iterator<Item = usize>,
) -> Option<HeaderValue> {
    let mut policy = String::new();
    for (n, j) in applied.enumerate() {
        if n > 0 {
            policy.push_str(", ");
        }
        policy.push_str(&limits[j].policy_item);
    }
    HeaderValue::try_from(policy).ok()
}

/// `RateLimit` for one limit: `"name";r=remaining;t=seconds-to-reset`.
fn current_header(
    limit: &CompiledLimit,
    decision: &portcullis_limits::Decision,
) -> Option<HeaderValue> {
    // Digits pushed by hand: `write!` costs several times more per answer.
    let mut current = Vec::with_capacity(limit.name.len() + 48);
    current.push(b'"');
    current.extend_from_slice(limit.name.as_bytes());
    current.extend_from_slice(b"\";r=");
    crate::wire::push_decimal(&mut current, decision.remaining);
    current.extend_from_slice(b";t=");
    let reset = decision.reset_after;
    let secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
    crate::wire::push_decimal(&mut current, secs);
    HeaderValue::from_maybe_shared(bytes::Bytes::from(current)).ok()
}

/// Checks the rate-limit config without building stores (no runtime needed).
pub fn validate(policy: &Policy) -> Result<(), ConfigError> {
    compile_routes(policy, None)?;
    crate::abuse::compile_routes(policy).map(|_| ())
}

impl RateLimiter {
    /// Compiles the limits and opens the stores; inside the runtime (Redis
    /// connects lazily, so a Redis that is down does not stop the start).
    pub fn build(
        policy: &Policy,
        metrics: &Arc<crate::metrics::Metrics>,
    ) -> Result<RateLimiter, ConfigError> {
        let routes = compile_routes(policy, Some(metrics))?;
        let abuse = crate::abuse::compile_routes(policy)?;
        let store = &policy.config.rate_limit_store;
        let in_use = routes.iter().any(Option::is_some)
            || abuse.iter().any(Option::is_some)
            || crate::bots::counts_in_store(policy);
        let redis = match (&store.redis, store.backend) {
            (Some(r), StoreBackend::Redis) if in_use => {
                let config = redis_config(r);
                let store = RedisStore::new(&config)
                    .map_err(|e| located(policy, "rate_limit_store.redis.url", e.to_string()))?;
                metrics.rate_limits.store_up.set(1);
                Some(store)
            }
            _ => None,
        };
        Ok(RateLimiter {
            routes,
            abuse,
            memory: MemoryStore::new(if in_use { store.max_keys } else { 64 }),
            redis,
            metrics: Some(metrics.clone()),
        })
    }

    /// Whether a route's limits or abuse rules read a body field (the body
    /// is then read first).
    pub fn wants_body(&self, route: usize) -> bool {
        self.routes
            .get(route)
            .and_then(|r| r.as_ref())
            .is_some_and(|r| r.needs_body)
            || self
                .abuse
                .get(route)
                .and_then(|r| r.as_ref())
                .is_some_and(|r| r.needs_body)
    }

    /// The keys this request is checked under, or `None` when nothing
    /// applies (no limits or abuse rules on the route; only bans and
    /// honeypots once another finding blocks).
    pub fn plan(
        &self,
        route: usize,
        exchange: &Exchange<'_>,
        findings: &[Finding],
    ) -> Option<LimitPlan> {
        let abuse = self.abuse.get(route).and_then(|r| r.as_ref());
        let limits = self.routes.get(route).and_then(|r| r.as_ref());
        // Bans and decoys are checked even on a request another check
        // blocks (a decoy is usually an undocumented path); rate limits
        // only count requests nothing else refuses.
        let limits = limits.filter(|_| !decide(findings).is_block());
        if abuse.is_none() && limits.is_none() {
            return None;
        }
        let abuse = abuse.map(|rules| crate::abuse::plan(rules, exchange));
        let mut keys = Vec::new();
        let mut entries = Vec::new();
        if let Some(limits) = limits {
            keys.reserve(64 * limits.limits.len());
            entries.reserve(limits.limits.len());
            for (i, limit) in limits.limits.iter().enumerate() {
                if !limit.methods.is_empty() && !limit.methods.contains(exchange.method) {
                    continue;
                }
                if !limit.operations.is_empty()
                    && !exchange
                        .operation_id()
                        .is_some_and(|op| limit.operations.iter().any(|o| o == op))
                {
                    continue;
                }
                if rate_limit::build_limit_key(
                    &limit.key_name,
                    &limit.parts,
                    limit.unauthenticated,
                    exchange,
                    &mut keys,
                ) {
                    entries.push((i, keys.len()));
                }
            }
        }
        Some(LimitPlan {
            abuse,
            limits: limits.cloned(),
            keys,
            entries,
        })
    }

    /// The abuse checks (bans, honeypots, lockouts), then the rate limits.
    pub async fn enforce(&self, mut plan: LimitPlan, findings: &mut Vec<Finding>) -> LimitOutcome {
        let mut outcome = LimitOutcome::default();
        if let Some(abuse) = plan.abuse.take() {
            let checked = self.enforce_abuse(abuse, findings).await;
            if let Some(retry_after) = checked.retry_after {
                outcome.headers = Some(LimitHeaders {
                    retry_after: Some(retry_after),
                    policy: None,
                    current: None,
                });
                return outcome;
            }
            if decide(findings).is_block() {
                return outcome;
            }
            outcome.login = checked.login;
        }
        outcome.headers = self.enforce_limits(&plan, findings).await;
        outcome
    }

    /// Counts the request against each planned limit; pushes a finding for
    /// the first that refuses it. Returns the headers for a refusal, or
    /// for an allowed answer when `headers: always`.
    async fn enforce_limits(
        &self,
        plan: &LimitPlan,
        findings: &mut Vec<Finding>,
    ) -> Option<LimitHeaders> {
        let limits = plan.limits.as_ref()?;
        let now = portcullis_limits::now_micros();
        let on_allowed = limits.headers == RateLimitHeaders::Always;
        // The block-mode limit nearest to refusing, for `RateLimit`.
        let mut nearest: Option<(usize, portcullis_limits::Decision)> = None;
        // Redis: every limit of the request in one pipeline (one round
        // trip), so each is charged whatever the others answer. Memory:
        // counted in order, later limits not charged once one refuses.
        let mut remote = match &self.redis {
            None => None,
            Some(redis) => {
                let mut start = 0;
                let items: Vec<(&[u8], &Limit)> = plan
                    .entries
                    .iter()
                    .map(|&(i, end)| {
                        let key = &plan.keys[start..end];
                        start = end;
                        (key, &limits.limits[i].limit)
                    })
                    .collect();
                let (results, health) = redis.acquire_many(&items, 1, now).await;
                self.report_health(health);
                Some(results.into_iter())
            }
        };
        let mut start = 0;
        for &(i, end) in &plan.entries {
            let limit = &limits.limits[i];
            let key = &plan.keys[start..end];
            start = end;
            let decision = match &mut remote {
                None => self.memory.decide(key, &limit.limit, 1, now),
                Some(results) => {
                    let result = results
                        .next()
                        .unwrap_or_else(|| Err(StoreError::Protocol("no decision".into())));
                    match result {
                        Ok(d) => d,
                        Err(error) => {
                            if matches!(error, StoreError::Protocol(_)) {
                                tracing::warn!(limit = %limit.name, %error, "rate-limit store error");
                            }
                            match limit.on_error {
                                OnStoreError::Local => {
                                    limit.fallback.inc();
                                    self.memory.decide(key, &limit.limit, 1, now)
                                }
                                OnStoreError::FailOpen => continue,
                                OnStoreError::FailClosed => {
                                    findings.push(rate_limit::store_unavailable(
                                        &limit.name,
                                        limit.mode,
                                    ));
                                    if limit.mode == Mode::Block {
                                        return None;
                                    }
                                    continue;
                                }
                            }
                        }
                    }
                }
            };
            if decision.allowed {
                limit.allowed.inc();
                if on_allowed
                    && limit.blocks
                    && nearest.is_none_or(|(_, d)| decision.remaining < d.remaining)
                {
                    nearest = Some((i, decision));
                }
                continue;
            }
            limit.limited.inc();
            findings.push(rate_limit::rate_limited(&limit.name, limit.mode));
            if limit.mode == Mode::Monitor {
                continue;
            }
            let fields = limits.headers != RateLimitHeaders::Never;
            return Some(LimitHeaders {
                retry_after: Some(decision.retry_after),
                policy: fields.then(|| self.applied_policy(plan, limits)).flatten(),
                current: fields.then(|| current_header(limit, &decision)).flatten(),
            });
        }
        let (i, decision) = nearest?;
        Some(LimitHeaders {
            retry_after: None,
            policy: self.applied_policy(plan, limits),
            current: current_header(&limits.limits[i], &decision),
        })
    }

    /// `RateLimit-Policy` of the limits this request was counted by (the
    /// route's prebuilt one when all applied).
    fn applied_policy(&self, plan: &LimitPlan, limits: &RouteLimits) -> Option<HeaderValue> {
        if plan.entries.len() == limits.limits.len() {
            return limits.all_policy.clone();
        }
        policy_header(&limits.limits, plan.entries.iter().map(|&(j, _)| j))
    }

    /// One flag's time left, read like [`RateLimiter::get_flags`].
    pub(crate) async fn get_flag(&self, key: &[u8], now: u64) -> Option<Duration> {
        if self.redis.is_none() {
            return self.memory.get_flag(key, now).map(|(_, ttl)| ttl);
        }
        self.get_flags(&[key], now)
            .await
            .into_iter()
            .next()
            .flatten()
            .map(|(_, ttl)| ttl)
    }

    /// Reads flags from the shared store (this instance's memory store when
    /// Redis cannot answer, or when there is no Redis).
    pub(crate) async fn get_flags(&self, keys: &[&[u8]], now: u64) -> Vec<Option<(u64, Duration)>> {
        if let Some(redis) = &self.redis {
            let was_down = redis.is_down();
            match redis.get_flags(keys, now).await {
                Ok(flags) => {
                    if was_down && !redis.is_down() {
                        self.report_health(Health::Recovered);
                    }
                    return flags;
                }
                Err(error) => {
                    if !was_down && redis.is_down() {
                        self.report_health(Health::WentDown);
                        tracing::debug!(%error, "flag read failed");
                    }
                }
            }
        }
        keys.iter().map(|k| self.memory.get_flag(k, now)).collect()
    }

    /// Sets a flag in the shared store, and in memory too so this instance
    /// keeps it while Redis is down.
    pub(crate) async fn set_flag(&self, key: &[u8], value: u64, ttl: Duration, now: u64) {
        self.memory.set_flag(key, value, ttl, now);
        if let Some(redis) = &self.redis
            && let Err(error) = redis.set_flag(key, value, ttl, now).await
        {
            tracing::warn!(%error, "could not share a flag through the rate-limit store; kept locally");
        }
    }

    /// Sets a flag now (the admin API).
    pub async fn set_flag_now(&self, key: &[u8], value: u64, ttl: Duration) {
        self.set_flag(key, value, ttl, portcullis_limits::now_micros())
            .await;
    }

    /// Removes a flag everywhere this instance can reach.
    pub async fn remove_flag(&self, key: &[u8]) -> Result<bool, String> {
        let now = portcullis_limits::now_micros();
        let local = self.memory.remove_flag(key, now);
        match &self.redis {
            Some(redis) => redis
                .remove_flag(key, now)
                .await
                .map(|r| r || local)
                .map_err(|e| e.to_string()),
            None => Ok(local),
        }
    }

    /// Lists the flags under `prefix` (Redis' when configured).
    pub async fn list_flags(&self, prefix: &[u8]) -> Result<Vec<portcullis_limits::Flag>, String> {
        let now = portcullis_limits::now_micros();
        match &self.redis {
            Some(redis) => redis
                .list_flags(prefix, now)
                .await
                .map_err(|e| e.to_string()),
            None => Ok(self.memory.list_flags(prefix, now)),
        }
    }

    /// Adds one to a counting window and returns the count in the window.
    pub(crate) async fn count(&self, key: &[u8], limit: &Limit, now: u64) -> u64 {
        let decision = match &self.redis {
            Some(redis) => {
                let (result, health) = redis.acquire_reporting(key, limit, 1, now).await;
                self.report_health(health);
                match result {
                    Ok(d) => d,
                    Err(_) => self.memory.decide(key, limit, 1, now),
                }
            }
            None => self.memory.decide(key, limit, 1, now),
        };
        limit.size().saturating_sub(decision.remaining)
    }

    fn report_health(&self, health: Health) {
        let Some(metrics) = &self.metrics else { return };
        match health {
            Health::Unchanged => {}
            Health::WentDown => {
                metrics.rate_limits.store_errors.inc();
                metrics.rate_limits.store_up.set(0);
                tracing::error!(
                    "rate-limit store (redis) unreachable: limits apply their on_store_error mode until it answers again"
                );
            }
            Health::Recovered => {
                metrics.rate_limits.store_up.set(1);
                tracing::info!("rate-limit store (redis) answers again: shared limits restored");
            }
        }
    }
}

impl LimitHeaders {
    /// `Retry-After`, `RateLimit-Policy` and `RateLimit` (IETF httpapi
    /// draft: structured-field lists of `"name";q=quota;w=window` and
    /// `"name";r=remaining;t=seconds-to-reset`).
    pub fn apply(&self, headers: &mut HeaderMap) {
        if let Some(retry_after) = self.retry_after {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(v) = &self.policy {
            headers.insert(RATELIMIT_POLICY, v.clone());
        }
        if let Some(v) = &self.current {
            headers.insert(RATELIMIT, v.clone());
        }
    }

    /// The draft's fields for an allowed (upstream) answer, added after
    /// the upstream's own.
    pub fn into_fields(self) -> Vec<(HeaderName, HeaderValue)> {
        let mut fields = Vec::with_capacity(2);
        if let Some(v) = self.policy {
            fields.push((RATELIMIT_POLICY, v));
        }
        if let Some(v) = self.current {
            fields.push((RATELIMIT, v));
        }
        fields
    }
}

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The limits crate's Redis settings from the config's `rate_limit_store.redis`
/// (shared by the limit store and the access lists' map).
pub(crate) fn redis_config(r: &RedisStoreConfig) -> RedisConfig {
    RedisConfig {
        url: r.url.as_ref().map(|u| u.0.clone()).unwrap_or_default(),
        cluster: r.cluster.iter().map(|u| u.0.clone()).collect(),
        key_prefix: r.key_prefix.clone(),
        timeout: r.timeout.0,
        lease: r.lease,
        lease_ttl: r.lease_ttl.0,
        retry_interval: r.retry_interval.0,
    }
}
