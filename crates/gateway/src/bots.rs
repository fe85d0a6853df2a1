//! The bots phase: after the limit phase (so a honeypot hit of the same
//! request counts), before the decision. Scores each request of a route
//! whose policy has a `bots` block with the pure engine
//! ([`portcullis_policy::bots`]), feeding it the connection's JA4 and what
//! this instance's cadence table remembers of the client, then applies the
//! score's band: allow, tag (fields for the upstream), limit (a per-IP
//! sliding window in the rate-limit store, 429 `bot.limit`) or block (403
//! `bot.score`). Copies of the tag fields sent by the client are always
//! removed on such routes.
//!
//! Never holds a lock across an await (the cadence table's locks are taken
//! and released inside one synchronous call); allocates only for a tag with
//! reasons and for findings.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Version};
use portcullis_limits::{Limit, SlidingWindow};
use portcullis_policy::bots::{self, BotRequest, BotRules, CadenceTable};
use portcullis_policy::config::bots::BotAction;
use portcullis_policy::{ConfigError, Finding, Mode, Policy, decide};

/// The score sent upstream.
pub const SCORE_FIELD: HeaderName = HeaderName::from_static("x-portcullis-bot-score");
/// The signal names sent upstream (`tag_reasons`).
pub const REASONS_FIELD: HeaderName = HeaderName::from_static("x-portcullis-bot-reasons");
/// The client's JA4 sent upstream (`tag_ja4`).
pub const JA4_FIELD: HeaderName = HeaderName::from_static("x-portcullis-ja4");

/// Scores as field values, made once (cloning one shares its bytes).
static SCORE_VALUES: LazyLock<Vec<HeaderValue>> =
    LazyLock::new(|| (0..=100u16).map(HeaderValue::from).collect());

/// A counting window too large to refuse: the count is read back.
const UNLIMITED: u64 = u64::MAX / 4;

struct RouteBots {
    rules: Arc<BotRules>,
    /// Per policy: cadence and honeypot memory of each client.
    clients: CadenceTable,
    /// Per band (aligned with `rules.bands`): the `limit` band's threshold,
    /// counting window and key prefix.
    limits: Vec<Option<(u64, Limit, Duration, String)>>,
}

/// Every route's bot rules, aligned with `policy.routes`.
pub struct BotGuard {
    routes: Vec<Option<Arc<RouteBots>>>,
}

/// What the upstream request carries for the bots phase. Present on every
/// request of a route with a `bots` block: the client's copies of the
/// fields are then dropped, and the set values written.
#[derive(Default)]
pub struct BotTag {
    score: Option<HeaderValue>,
    reasons: Option<HeaderValue>,
    ja4: Option<HeaderValue>,
}

impl BotTag {
    /// Whether a client field is one the gateway owns here.
    pub fn owns(name: &HeaderName) -> bool {
        *name == SCORE_FIELD || *name == REASONS_FIELD || *name == JA4_FIELD
    }

    /// Writes the set fields into an upstream head.
    pub fn write(&self, out: &mut Vec<u8>) {
        for (name, value) in [
            (&SCORE_FIELD, &self.score),
            (&REASONS_FIELD, &self.reasons),
            (&JA4_FIELD, &self.ja4),
        ] {
            if let Some(v) = value {
                crate::wire::push_field(out, name.as_str().as_bytes(), v.as_bytes());
            }
        }
    }
}

/// The result of the bots phase for one request.
#[derive(Default)]
pub struct BotOutcome {
    /// `Some` on routes with a `bots` block.
    pub tag: Option<BotTag>,
    /// For a `bot.limit` refusal: the `Retry-After`.
    pub retry_after: Option<Duration>,
}

/// What the phase reads of one request.
pub struct BotInput<'a> {
    pub route: usize,
    pub client_ip: IpAddr,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub version: Version,
    pub tls: bool,
    pub ja4: Option<&'a HeaderValue>,
}

/// Whether a `limit` band counts in the rate-limit store (which is then
/// sized and connected as for rate limits).
pub fn counts_in_store(policy: &Policy) -> bool {
    policy.config.policies.values().any(|p| {
        p.bots
            .as_ref()
            .is_some_and(|b| b.bands.iter().any(|band| band.rate.is_some()))
    })
}

fn located(policy: &Policy, field: &str, message: String) -> ConfigError {
    ConfigError::at_field(&policy.source_path, &policy.source_text, field, message)
}

impl BotGuard {
    /// Compiles every route's bot rules; routes sharing a policy share its
    /// cadence table.
    pub fn build(policy: &Policy) -> Result<BotGuard, ConfigError> {
        let rules = bots::compile_routes(policy)?;
        let mut by_policy: HashMap<String, Arc<RouteBots>> = HashMap::new();
        let mut routes = Vec::with_capacity(rules.len());
        for r in rules {
            let Some(r) = r else {
                routes.push(None);
                continue;
            };
            if let Some(existing) = by_policy.get(&r.policy) {
                routes.push(Some(existing.clone()));
                continue;
            }
            let mut limits = Vec::with_capacity(r.bands.len());
            for (i, band) in r.bands.iter().enumerate() {
                limits.push(match (band.action, band.rate) {
                    (BotAction::Limit, Some(rate)) => {
                        let window = SlidingWindow::new(UNLIMITED, rate.period).map_err(|e| {
                            located(
                                policy,
                                &format!("policies.{}.bots.bands[{i}].rate", r.policy),
                                e.to_string(),
                            )
                        })?;
                        Some((
                            rate.count,
                            Limit::Window(window),
                            rate.period,
                            format!("bot|{}|{}|", r.policy, band.from),
                        ))
                    }
                    _ => None,
                });
            }
            let compiled = Arc::new(RouteBots {
                clients: CadenceTable::new(r.cadence),
                limits,
                rules: r.clone(),
            });
            by_policy.insert(r.policy.clone(), compiled.clone());
            routes.push(Some(compiled));
        }
        Ok(BotGuard { routes })
    }

    /// Whether any route scores bots (TLS listeners then compute JA4).
    pub fn wants_ja4(&self) -> bool {
        self.routes.iter().any(Option::is_some)
    }

    /// Scores the request and applies its band; pushes the findings.
    pub async fn run(
        &self,
        limiter: &crate::rate_limits::RateLimiter,
        input: BotInput<'_>,
        findings: &mut Vec<Finding>,
    ) -> BotOutcome {
        let Some(route) = self.routes.get(input.route).and_then(|r| r.as_ref()) else {
            return BotOutcome::default();
        };
        let mut outcome = BotOutcome {
            tag: Some(BotTag::default()),
            retry_after: None,
        };
        let rules = &route.rules;
        if rules.is_exempt(input.path) {
            return outcome;
        }
        let now = portcullis_limits::now_micros();
        let touched_decoy = findings.iter().any(|f| f.rule == "abuse.honeypot");
        if touched_decoy {
            route.clients.mark_honeypot(
                input.client_ip,
                now,
                now.saturating_add(rules.honeypot_memory_micros),
            );
        }
        let memory = route.clients.observe(input.client_ip, now);
        // Something else already refuses it: no need to score.
        if decide(findings).is_block() {
            return outcome;
        }
        let ja4 = input.ja4.and_then(|v| v.to_str().ok());
        let score = rules.score(&BotRequest {
            path: input.path,
            headers: input.headers,
            version: input.version,
            tls: input.tls,
            ja4,
            regular_cadence: rules.cadence_enabled && memory.regular_cadence,
            honeypot: memory.honeypot || touched_decoy,
        });
        let action = score.action();
        let monitor = rules.mode == Mode::Monitor;
        let tagged = match action {
            BotAction::Allow => false,
            BotAction::Tag | BotAction::Limit => true,
            BotAction::Block => monitor,
        };
        if let Some(tag) = &mut outcome.tag
            && tagged
        {
            tag.score = SCORE_VALUES.get(usize::from(score.score)).cloned();
            if rules.tag_reasons && !score.signals.is_empty() {
                tag.reasons = HeaderValue::try_from(score.signals.names()).ok();
            }
            if rules.tag_ja4 {
                tag.ja4 = input.ja4.cloned();
            }
        }
        match action {
            BotAction::Block => {
                findings.push(bots::bot_blocked(&score, rules.mode));
                tracing::debug!(client_ip = %input.client_ip, score = score.score, signals = %score.signals.names(), "bot score in a block band");
            }
            BotAction::Limit => {
                let band = score
                    .band
                    .and_then(|b| rules.bands.iter().position(|x| std::ptr::eq(x, b)));
                if let Some((threshold, limit, period, prefix)) = band
                    .and_then(|i| route.limits.get(i))
                    .and_then(|l| l.as_ref())
                {
                    let mut key = Vec::with_capacity(prefix.len() + 40);
                    key.extend_from_slice(prefix.as_bytes());
                    portcullis_policy::client_ip::push_ip(&mut key, input.client_ip);
                    let count = limiter.count(&key, limit, now).await;
                    if count > *threshold {
                        findings.push(bots::bot_limited(&score, rules.mode));
                        if !monitor {
                            outcome.retry_after = Some(*period);
                        }
                    }
                }
            }
            BotAction::Allow | BotAction::Tag => {}
        }
        outcome
    }
}

/// Reads a TLS connection's first bytes until its ClientHello is complete
/// (at most [`portcullis_policy::ja4::MAX_HELLO_BYTES`]) and returns its JA4.
/// Whatever was read stays in `buf`, to be replayed to rustls. The caller
/// bounds the wait (the handshake timeout).
pub async fn read_client_hello<S>(stream: &mut S, buf: &mut bytes::BytesMut) -> Option<HeaderValue>
where
    S: tokio::io::AsyncRead + Unpin,
{
    use portcullis_policy::ja4::{HelloProgress, MAX_HELLO_BYTES, hello_progress, ja4};
    use tokio::io::AsyncReadExt;
    loop {
        match hello_progress(buf) {
            HelloProgress::Complete(n) => {
                return ja4(&buf[..n]).and_then(|f| HeaderValue::try_from(f).ok());
            }
            HelloProgress::NotAHello => return None,
            HelloProgress::NeedMore => {}
        }
        if buf.len() >= MAX_HELLO_BYTES {
            return None;
        }
        buf.reserve(2048);
        match stream.read_buf(buf).await {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
    }
}
