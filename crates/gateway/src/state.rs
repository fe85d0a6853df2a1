//! The gateway's live state. A [`Generation`] is everything compiled from one
//! config file — policy, upstream pools, TLS configs, log sinks — and is
//! immutable. The [`Gateway`] holds the current generation behind an atomic
//! pointer: a reload builds a new generation off to the side and swaps it in;
//! requests in flight keep the generation they started with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use arc_swap::ArcSwap;
use http::HeaderName;
use portcullis_policy::{ConfigError, Policy};

use crate::audit::LogSink;
use crate::metrics::{Metrics, ReloadLabels};
use crate::tls;
use crate::upstream::UpstreamPool;

pub struct Generation {
    pub policy: Policy,
    /// One pool per route, aligned with `policy.routes` (routes sharing an
    /// upstream share the pool).
    pub upstreams: Vec<Arc<UpstreamPool>>,
    /// Metric handles per route, aligned with `policy.routes`.
    pub route_metrics: Vec<crate::metrics::RouteMetrics>,
    /// Metric handles for requests that matched no route.
    pub no_route_metrics: crate::metrics::RouteMetrics,
    /// Server TLS config per listener (same order as `config.listeners`).
    pub listener_tls: Vec<Option<Arc<rustls::ServerConfig>>>,
    pub request_id_header: HeaderName,
    pub propagate_request_id: bool,
    pub audit_log: Option<LogSink>,
    pub access_log: Option<LogSink>,
    pub admin_token: Option<String>,
    /// Every route's rate limits and their stores.
    pub limits: crate::rate_limits::RateLimiter,
    /// Every route's bot score rules (`bots.rs`).
    pub bots: crate::bots::BotGuard,
    /// The `access_lists` settings (`None`: runtime lists are off).
    pub access_lists: Option<crate::access_lists::AccessListSettings>,
}

/// Turns a TLS or upstream error into a config error that names the line.
fn located(policy: &Policy, field: &str, message: String) -> ConfigError {
    ConfigError::at_field(&policy.source_path, &policy.source_text, field, message)
}

/// Everything in a config that can be checked without sockets: the compiled
/// policy plus every certificate and key it names.
pub fn validate(path: &Path) -> Result<Policy, ConfigError> {
    let policy = Policy::load(path)?;
    for (i, listener) in policy.config.listeners.iter().enumerate() {
        if let Some(t) = &listener.tls {
            let field = format!("listeners[{i}].tls");
            tls::server_config(t, listener.http2, &field)
                .map_err(|e| located(&policy, &e.field, e.detail()))?;
        }
    }
    for (name, upstream) in &policy.config.upstreams {
        let field = format!("upstreams.{name}.tls");
        tls::client_config(upstream.tls.as_ref(), &field)
            .map_err(|e| located(&policy, &e.field, e.detail()))?;
    }
    if let Some(admin) = &policy.config.admin
        && let Some(var) = &admin.token_env
        && std::env::var(var).map(|v| v.is_empty()).unwrap_or(true)
    {
        return Err(located(
            &policy,
            "admin.token_env",
            format!("environment variable {var} is not set"),
        ));
    }
    crate::rate_limits::validate(&policy)?;
    crate::bots::BotGuard::build(&policy)?;
    crate::access_lists::validate(&policy)?;
    Ok(policy)
}

impl Generation {
    /// Builds a generation from a compiled policy; must run inside the runtime
    /// (pools and the demo API spawn tasks).
    pub fn build(policy: Policy, metrics: &Arc<Metrics>) -> Result<Generation, ConfigError> {
        let config = &policy.config;
        let mut listener_tls = Vec::with_capacity(config.listeners.len());
        for (i, listener) in config.listeners.iter().enumerate() {
            listener_tls.push(match &listener.tls {
                Some(t) => Some(
                    tls::server_config(t, listener.http2, &format!("listeners[{i}].tls"))
                        .map_err(|e| located(&policy, &e.field, e.detail()))?,
                ),
                None => None,
            });
        }
        let mut pools: HashMap<&str, Arc<UpstreamPool>> = HashMap::new();
        for (name, upstream) in &config.upstreams {
            let pool = UpstreamPool::build(
                name,
                upstream,
                metrics.clone(),
                &crate::demo::ensure_started,
            )
            .map_err(|e| match e {
                crate::upstream::UpstreamBuildError::Tls(t) => {
                    located(&policy, &t.field, t.detail())
                }
                crate::upstream::UpstreamBuildError::Endpoint { message, .. } => {
                    located(&policy, &format!("upstreams.{name}.endpoints"), message)
                }
            })?;
            pools.insert(name.as_str(), Arc::new(pool));
        }
        let upstreams = policy
            .routes
            .iter()
            .map(|r| pools[r.upstream.as_str()].clone())
            .collect();
        let route_metrics = policy
            .routes
            .iter()
            .map(|r| crate::metrics::RouteMetrics::new(metrics, Arc::new(r.name.clone())))
            .collect();
        let no_route_metrics = crate::metrics::RouteMetrics::new(metrics, Arc::new("-".to_owned()));
        let open = |sink: &portcullis_policy::config::LogSinkConfig,
                    field: &str|
         -> Result<Option<LogSink>, ConfigError> {
            if !sink.enabled {
                return Ok(None);
            }
            LogSink::open(&sink.output, metrics.clone())
                .map(Some)
                .map_err(|e| located(&policy, field, format!("cannot open {}: {e}", sink.output)))
        };
        let audit_log = open(&config.audit_log, "audit_log.output")?;
        let access_log = open(&config.access_log, "access_log.output")?;
        let admin_token = config.admin.as_ref().and_then(|a| {
            a.token_env
                .as_ref()
                .and_then(|var| std::env::var(var).ok())
                .filter(|t| !t.is_empty())
                .or_else(|| a.token.as_ref().map(|t| t.0.clone()))
        });
        let request_id_header = HeaderName::from_bytes(config.request_id.header.as_bytes())
            .map_err(|e| located(&policy, "request_id.header", e.to_string()))?;
        let propagate_request_id = config.request_id.propagate;
        let limits = crate::rate_limits::RateLimiter::build(&policy, metrics)?;
        let bots = crate::bots::BotGuard::build(&policy)?;
        let access_lists = crate::access_lists::AccessListSettings::build(&policy)?;
        for pool in pools.values() {
            pool.start_health_checks();
        }
        crate::identity::start_jwks_refresh(&policy);
        Ok(Generation {
            upstreams,
            route_metrics,
            no_route_metrics,
            listener_tls,
            request_id_header,
            propagate_request_id,
            audit_log,
            access_log,
            admin_token,
            limits,
            bots,
            access_lists,
            policy,
        })
    }
}

pub struct Gateway {
    pub generation: ArcSwap<Generation>,
    pub metrics: Arc<Metrics>,
    pub config_path: PathBuf,
    pub draining: AtomicBool,
    pub connections: AtomicUsize,
    /// Listener addresses as bound at start (a reload cannot move them).
    pub listener_addresses: Vec<SocketAddr>,
    /// The runtime allow and deny lists (kept across reloads).
    pub access_lists: crate::access_lists::AccessLists,
    reload_lock: tokio::sync::Mutex<()>,
}

impl Gateway {
    pub fn new(
        generation: Generation,
        metrics: Arc<Metrics>,
        config_path: PathBuf,
        listener_addresses: Vec<SocketAddr>,
    ) -> Self {
        Self {
            generation: ArcSwap::from_pointee(generation),
            metrics,
            config_path,
            draining: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            listener_addresses,
            access_lists: Default::default(),
            reload_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Recompiles the config file and swaps it in. A bad config is refused and
    /// the current one keeps serving.
    pub async fn reload(&self, trigger: &str) -> Result<(), ConfigError> {
        let _serialized = self.reload_lock.lock().await;
        let result = self.try_reload();
        let label = if result.is_ok() { "success" } else { "failure" };
        self.metrics
            .reloads
            .get_or_create(&ReloadLabels { result: label })
            .inc();
        match &result {
            Ok(()) => {
                tracing::info!(trigger, config = %self.config_path.display(), "configuration reloaded")
            }
            Err(e) => {
                tracing::error!(trigger, error = %e, "configuration reload refused; the previous configuration keeps serving")
            }
        }
        result
    }

    fn try_reload(&self) -> Result<(), ConfigError> {
        let policy = validate(&self.config_path)?;
        let listeners: Vec<SocketAddr> =
            policy.config.listeners.iter().map(|l| l.address).collect();
        if listeners != self.listener_addresses {
            return Err(ConfigError::at_field(
                &policy.source_path,
                &policy.source_text,
                "listeners",
                "listener addresses cannot change on reload; restart the gateway to move them",
            ));
        }
        {
            let current = self.generation.load();
            let before = &current.policy.config;
            let after = &policy.config;
            if !same(&before.runtime, &after.runtime) {
                tracing::warn!("runtime settings changed: they take effect after a restart");
            }
            if !same(&before.admin, &after.admin) {
                tracing::warn!(
                    "admin listener settings changed: the address takes effect after a restart (the token applies now)"
                );
            }
        }
        crate::identity::inherit_keys(&self.generation.load().policy, &policy);
        let generation = Generation::build(policy, &self.metrics)?;
        self.generation.store(Arc::new(generation));
        Ok(())
    }
}

/// Whether two config blocks are the same, compared by their serialized form.
fn same<T: serde::Serialize>(a: &T, b: &T) -> bool {
    serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
}
