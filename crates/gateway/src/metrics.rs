//! Prometheus metrics. Label values are shared `Arc<String>`s taken from the
//! compiled config, so recording a request clones reference counts, not text.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Action {
    allow,
    monitor,
    block,
    error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: Arc<String>,
    pub status: u16,
    pub verdict: Action,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: Arc<String>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    pub upstream: Arc<String>,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    pub check: &'static str,
    pub rule: &'static str,
    pub action: Action,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub upstream: Arc<String>,
    pub endpoint: Arc<String>,
}

pub struct Metrics {
    pub registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub upstream_errors: Family<UpstreamErrorLabels, Counter>,
    pub findings: Family<FindingLabels, Counter>,
    pub reloads: Family<ReloadLabels, Counter>,
    pub endpoint_healthy: Family<EndpointLabels, Gauge>,
    pub connections: Gauge,
    pub connections_refused: Counter,
    pub log_lines_dropped: Counter,
    pub rate_limits: crate::rate_limits::LimitMetrics,
    pub introspection: crate::introspection::IntrospectionMetrics,
}

fn latency_buckets() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("portcullis");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_buckets as fn() -> Histogram,
        );
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        let findings = Family::<FindingLabels, Counter>::default();
        let reloads = Family::<ReloadLabels, Counter>::default();
        let endpoint_healthy = Family::<EndpointLabels, Gauge>::default();
        let connections = Gauge::default();
        let connections_refused = Counter::default();
        let log_lines_dropped = Counter::default();
        registry.register(
            "requests",
            "Requests by route, status and verdict",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request head to response head",
            latency.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream failures by kind",
            upstream_errors.clone(),
        );
        registry.register(
            "findings",
            "Findings by check, rule and action",
            findings.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads by result",
            reloads.clone(),
        );
        registry.register(
            "upstream_endpoint_healthy",
            "1 when an endpoint takes traffic",
            endpoint_healthy.clone(),
        );
        registry.register(
            "connections_active",
            "Open client connections",
            connections.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections refused at max_connections",
            connections_refused.clone(),
        );
        registry.register(
            "log_lines_dropped",
            "Audit/access log lines dropped because the writer fell behind",
            log_lines_dropped.clone(),
        );
        let rate_limits = crate::rate_limits::LimitMetrics::register(&mut registry);
        let introspection = crate::introspection::IntrospectionMetrics::register(&mut registry);
        Arc::new(Self {
            rate_limits,
            introspection,
            registry,
            requests,
            latency,
            upstream_errors,
            findings,
            reloads,
            endpoint_healthy,
            connections,
            connections_refused,
            log_lines_dropped,
        })
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// A route's metric handles, resolved once per configuration generation so
/// recording a request does not hash label sets: the latency histogram, and
/// request counters per (status, verdict) as they first occur.
pub struct RouteMetrics {
    label: Arc<String>,
    latency: Histogram,
    requests: std::sync::Mutex<Vec<(u16, Action, Counter)>>,
}

/// Distinct (status, verdict) pairs cached per route; rarer ones go through the family.
const CACHED_STATUS_PAIRS: usize = 32;

impl RouteMetrics {
    pub fn new(metrics: &Metrics, label: Arc<String>) -> Self {
        let latency = metrics
            .latency
            .get_or_create(&RouteLabels {
                route: label.clone(),
            })
            .clone();
        Self {
            label,
            latency,
            requests: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub fn record(&self, metrics: &Metrics, status: u16, verdict: Action, seconds: f64) {
        self.latency.observe(seconds);
        let mut cache = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, counter)) = cache.iter().find(|(s, v, _)| *s == status && *v == verdict)
        {
            counter.inc();
            return;
        }
        let counter = metrics
            .requests
            .get_or_create(&RequestLabels {
                route: self.label.clone(),
                status,
                verdict,
            })
            .clone();
        counter.inc();
        if cache.len() < CACHED_STATUS_PAIRS {
            cache.push((status, verdict, counter));
        }
    }
}
