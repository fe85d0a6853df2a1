//! Compiles a [`Config`] into an immutable [`Policy`]: routes sorted for
//! matching, each with its checks instantiated and its effective limits
//! computed. The gateway holds a `Policy` behind an atomic pointer; a reload
//! compiles a new one and swaps it, and requests in flight keep the one they
//! started with. Compilation is where cross-references are checked, so a bad
//! reference is reported with the line of the field that makes it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::checks::{
    Check, IpAccessCheck, IpSet, OpenApiCheck, RequestLimitsCheck, ResponseBody, ResponseHead,
    ThreatDetectionCheck,
};
use crate::config::{Config, ConfigError, Mode, PolicyConfig};
use crate::exchange::Exchange;
use crate::finding::Finding;

/// A compiled, immutable gateway policy.
pub struct Policy {
    pub config: Config,
    pub source_path: PathBuf,
    /// The config text, kept so later errors (e.g. unreadable certificates) can name their line.
    pub source_text: String,
    /// Routes in matching order (most specific first).
    pub routes: Vec<Route>,
    pub trusted_proxies: IpSet,
}

/// The checks of one named policy, in the order they run.
pub struct CompiledPolicy {
    pub name: String,
    pub checks: Vec<Box<dyn Check>>,
    /// The JWKS URL the identity check reads keys from (the gateway fetches it).
    pub jwks: Option<Arc<crate::jwks::JwksSource>>,
    /// Rate limits and login operations the spec declares (`x-portcullis-*`).
    pub extensions: crate::spec_extensions::SpecExtensions,
    /// The token introspection endpoint of the identity check (the gateway calls it).
    pub introspection: Option<Arc<crate::introspection::IntrospectionSource>>,
}

pub struct Route {
    /// Position in [`Policy::routes`]; the gateway keeps per-route state aligned with it.
    pub index: usize,
    pub name: String,
    host: HostMatch,
    /// Prefix without a trailing slash (empty for `/`).
    prefix: String,
    pub upstream: String,
    pub policy: Option<Arc<CompiledPolicy>>,
    pub strip_prefix: Option<String>,
    /// Effective body limit: the lowest of the gateway's and the policy's.
    pub max_body_bytes: u64,
}

enum HostMatch {
    Any,
    Exact(String),
    /// `*.example.com` stored as `.example.com`.
    Suffix(String),
}

impl HostMatch {
    fn parse(host: Option<&str>) -> Self {
        match host.map(|h| h.trim().to_ascii_lowercase()) {
            None => HostMatch::Any,
            Some(h) if h == "*" || h.is_empty() => HostMatch::Any,
            Some(h) => match h.strip_prefix('*') {
                Some(suffix) => HostMatch::Suffix(suffix.to_owned()),
                None => HostMatch::Exact(h),
            },
        }
    }

    fn specificity(&self) -> u8 {
        match self {
            HostMatch::Exact(_) => 2,
            HostMatch::Suffix(_) => 1,
            HostMatch::Any => 0,
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Any => true,
            HostMatch::Exact(h) => h == host,
            HostMatch::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

impl Route {
    pub fn matches(&self, host: &str, path: &str) -> bool {
        self.host.matches(host) && prefix_matches(&self.prefix, path)
    }

    pub fn checks(&self) -> &[Box<dyn Check>] {
        self.policy.as_ref().map_or(&[], |p| &p.checks)
    }

    /// Runs every check's request-head hook.
    pub fn inspect_request_head(&self, exchange: &Exchange<'_>, findings: &mut Vec<Finding>) {
        for check in self.checks() {
            check.on_request_head(exchange, findings);
        }
    }

    pub fn wants_request_body(&self, exchange: &Exchange<'_>) -> bool {
        self.checks().iter().any(|c| c.wants_request_body(exchange))
    }

    /// Whether any check has a response-phase hook for this route.
    pub fn inspects_responses(&self) -> bool {
        self.checks().iter().any(|c| c.inspects_responses())
    }

    pub fn inspect_response_head(
        &self,
        exchange: &Exchange<'_>,
        response: &crate::checks::ResponseHead<'_>,
        findings: &mut Vec<Finding>,
    ) {
        for check in self.checks() {
            check.on_response_head(exchange, response, findings);
        }
    }

    /// How many response body bytes to buffer for the checks that want
    /// the body (the largest of their limits), or `None` to stream it.
    pub fn response_body_limit(
        &self,
        exchange: &Exchange<'_>,
        response: &ResponseHead<'_>,
    ) -> Option<u64> {
        self.checks()
            .iter()
            .filter_map(|c| c.wants_response_body(exchange, response))
            .max()
    }

    /// Runs the response-body hooks of the checks that want the body, in
    /// order, each seeing the previous one's replacement. `body` is the
    /// buffered body, or `TooLarge` when it passed
    /// [`Route::response_body_limit`]. Returns the body to forward when a
    /// check replaced it.
    pub fn inspect_response_body(
        &self,
        exchange: &Exchange<'_>,
        response: &ResponseHead<'_>,
        body: ResponseBody<'_>,
        findings: &mut Vec<Finding>,
    ) -> Option<Bytes> {
        let mut replaced: Option<Bytes> = None;
        for check in self.checks() {
            let Some(limit) = check.wants_response_body(exchange, response) else {
                continue;
            };
            let current = match (&replaced, body) {
                (Some(b), _) => ResponseBody::Complete(b),
                (None, ResponseBody::Complete(b)) if b.len() as u64 > limit => {
                    ResponseBody::TooLarge { limit }
                }
                (None, other) => other,
            };
            if let Some(next) = check.on_response_body(exchange, response, current, findings) {
                replaced = Some(next);
            }
        }
        replaced
    }

    pub fn inspect_request_body(&self, exchange: &Exchange<'_>, findings: &mut Vec<Finding>) {
        for check in self.checks() {
            if check.wants_request_body(exchange) {
                check.on_request_body(exchange, findings);
            }
        }
    }

    /// The path to forward: the normalized path, minus `strip_prefix`.
    pub fn upstream_path<'p>(&self, path: &'p str) -> &'p str {
        match &self.strip_prefix {
            Some(prefix) if prefix_matches(prefix.trim_end_matches('/'), path) => {
                let rest = &path[prefix.trim_end_matches('/').len()..];
                if rest.is_empty() { "/" } else { rest }
            }
            _ => path,
        }
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix.is_empty()
        || (path.starts_with(prefix)
            && (path.len() == prefix.len() || path.as_bytes()[prefix.len()] == b'/'))
}

impl Policy {
    /// Reads, parses and compiles a config file.
    pub fn load(path: &Path) -> Result<Policy, ConfigError> {
        let (config, source) = Config::load(path)?;
        Self::compile(config, path, &source)
    }

    pub fn compile(config: Config, path: &Path, source: &str) -> Result<Policy, ConfigError> {
        let err_at = |field: String, msg: String| ConfigError::at_field(path, source, &field, msg);
        if config.listeners.is_empty() {
            return Err(err_at(
                "listeners".into(),
                "at least one listener is required".into(),
            ));
        }
        if config.runtime.worker_threads == Some(0) {
            return Err(err_at(
                "runtime.worker_threads".into(),
                "must be at least 1".into(),
            ));
        }
        let zero = std::time::Duration::ZERO;
        for (field, value) in [
            (
                "limits.header_read_timeout",
                config.limits.header_read_timeout.0,
            ),
            ("limits.idle_timeout", config.limits.idle_timeout.0),
            (
                "limits.body_read_timeout",
                config.limits.body_read_timeout.0,
            ),
            ("limits.send_timeout", config.limits.send_timeout.0),
        ] {
            if value == zero {
                return Err(err_at(field.into(), "must be greater than 0".into()));
            }
        }
        for (name, upstream) in &config.upstreams {
            let mut durations = vec![
                ("connect_timeout", upstream.connect_timeout.0),
                ("response_timeout", upstream.response_timeout.0),
                ("read_timeout", upstream.read_timeout.0),
                ("pool_idle_timeout", upstream.pool_idle_timeout.0),
            ];
            if let Some(hc) = &upstream.health_check {
                durations.push(("health_check.interval", hc.interval.0));
                durations.push(("health_check.timeout", hc.timeout.0));
            }
            for (field, value) in durations {
                if value == zero {
                    return Err(err_at(
                        format!("upstreams.{name}.{field}"),
                        "must be greater than 0".into(),
                    ));
                }
            }
        }
        if config.limits.max_headers == 0 || config.limits.max_connections == 0 {
            return Err(err_at(
                "limits".into(),
                "max_headers and max_connections must be at least 1".into(),
            ));
        }
        if !crate::request_id::is_valid_header_name(&config.request_id.header) {
            return Err(err_at(
                "request_id.header".into(),
                "not a valid header name".into(),
            ));
        }
        for (name, upstream) in &config.upstreams {
            if upstream.endpoints.is_empty() {
                return Err(err_at(
                    format!("upstreams.{name}.endpoints"),
                    "at least one endpoint is required".into(),
                ));
            }
            for (i, endpoint) in upstream.endpoints.iter().enumerate() {
                if let Err(msg) = validate_endpoint(endpoint) {
                    return Err(err_at(format!("upstreams.{name}.endpoints[{i}]"), msg));
                }
            }
            if let Some(hc) = &upstream.health_check
                && (!hc.path.starts_with('/')
                    || hc.healthy_threshold == 0
                    || hc.unhealthy_threshold == 0)
            {
                return Err(err_at(
                    format!("upstreams.{name}.health_check"),
                    "path must start with '/' and thresholds must be at least 1".into(),
                ));
            }
            if upstream.retries > 5 {
                return Err(err_at(
                    format!("upstreams.{name}.retries"),
                    "at most 5 retries".into(),
                ));
            }
        }
        let route_names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
        for (name, pc) in &config.policies {
            if let Some(td) = &pc.threat_detection
                && let Err((field, msg)) = td.validate(&route_names)
            {
                return Err(err_at(
                    format!("policies.{name}.threat_detection.{field}"),
                    msg,
                ));
            }
        }
        let mut compiled_policies = std::collections::HashMap::new();
        for (name, pc) in &config.policies {
            let compiled = compile_policy(name, pc, &config, path, source)?;
            compiled_policies.insert(name.clone(), Arc::new(compiled));
        }
        let mut names = HashSet::new();
        let mut routes = Vec::with_capacity(config.routes.len());
        for (i, rc) in config.routes.iter().enumerate() {
            if !names.insert(rc.name.as_str()) {
                return Err(err_at(
                    format!("routes[{i}].name"),
                    format!("duplicate route name {:?}", rc.name),
                ));
            }
            if let Some(host) = &rc.matcher.host
                && let Err(msg) = validate_host_pattern(host)
            {
                return Err(err_at(format!("routes[{i}].match.host"), msg));
            }
            let prefix = rc.matcher.path_prefix.trim();
            if !prefix.starts_with('/') {
                return Err(err_at(
                    format!("routes[{i}].match.path_prefix"),
                    "must start with '/'".into(),
                ));
            }
            if !config.upstreams.contains_key(&rc.upstream.value) {
                return Err(ConfigError::at(
                    path,
                    source,
                    rc.upstream.referenced,
                    format!(
                        "unknown upstream {:?} (defined: {})",
                        rc.upstream.value,
                        list(config.upstreams.keys())
                    ),
                ));
            }
            let policy = match &rc.policy {
                None => None,
                Some(name) => {
                    Some(compiled_policies.get(&name.value).cloned().ok_or_else(|| {
                        ConfigError::at(
                            path,
                            source,
                            name.referenced,
                            format!(
                                "unknown policy {:?} (defined: {})",
                                name.value,
                                list(config.policies.keys())
                            ),
                        )
                    })?)
                }
            };
            let policy_body_limit = rc
                .policy
                .as_ref()
                .and_then(|p| config.policies.get(&p.value))
                .filter(|p| p.mode == Mode::Block)
                .and_then(|p| p.request_limits.as_ref())
                .filter(|l| l.mode == Mode::Block)
                .and_then(|l| l.max_body_bytes)
                .map(|b| b.0);
            let gateway_limit = config.limits.max_body_bytes.0;
            routes.push((
                i,
                Route {
                    index: 0,
                    name: rc.name.clone(),
                    host: HostMatch::parse(rc.matcher.host.as_deref()),
                    prefix: prefix.trim_end_matches('/').to_owned(),
                    upstream: rc.upstream.value.clone(),
                    policy,
                    strip_prefix: rc.strip_prefix.clone(),
                    max_body_bytes: policy_body_limit
                        .map_or(gateway_limit, |p| p.min(gateway_limit)),
                },
            ));
        }
        // Most specific first; config order breaks ties.
        routes.sort_by(|(ia, a), (ib, b)| {
            b.host
                .specificity()
                .cmp(&a.host.specificity())
                .then(b.prefix.len().cmp(&a.prefix.len()))
                .then(ia.cmp(ib))
        });
        let routes = routes
            .into_iter()
            .enumerate()
            .map(|(index, (_, route))| Route { index, ..route })
            .collect();
        Ok(Policy {
            trusted_proxies: IpSet::new(&config.trusted_proxies),
            routes,
            source_text: source.to_owned(),
            config,
            source_path: path.to_owned(),
        })
    }

    /// The route for a host (lower case, no port) and normalized path.
    pub fn route(&self, host: &str, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(host, path))
    }
}

fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

fn validate_host_pattern(host: &str) -> Result<(), String> {
    let h = host.trim();
    if h == "*" || h.is_empty() {
        return Ok(());
    }
    let name = h.strip_prefix("*.").unwrap_or(h);
    if name.contains('*') {
        return Err(format!(
            "host {host:?}: a wildcard must be a whole leading label, as in \"*.example.com\""
        ));
    }
    if name.contains(':') || name.contains('/') {
        return Err(format!(
            "host {host:?}: give the host name only, without scheme, port or path"
        ));
    }
    Ok(())
}

fn validate_endpoint(endpoint: &str) -> Result<(), String> {
    if endpoint == "builtin:demo" {
        return Ok(());
    }
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| format!("invalid endpoint URL {endpoint:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(format!(
                "endpoint {endpoint:?} must start with http://, https:// or be builtin:demo"
            ));
        }
    }
    if uri.host().is_none_or(|h| h.is_empty()) {
        return Err(format!("endpoint {endpoint:?} has no host"));
    }
    if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
        return Err(format!(
            "endpoint {endpoint:?} must not have a path or query"
        ));
    }
    Ok(())
}

fn compile_policy(
    name: &str,
    pc: &PolicyConfig,
    config: &Config,
    path: &Path,
    source: &str,
) -> Result<CompiledPolicy, ConfigError> {
    let effective = |mode: Mode| {
        if pc.mode == Mode::Monitor {
            Mode::Monitor
        } else {
            mode
        }
    };
    let mut checks: Vec<Box<dyn Check>> = Vec::new();
    if let Some(ip) = &pc.ip_access {
        checks.push(Box::new(IpAccessCheck::new(
            &ip.allow,
            &ip.deny,
            effective(ip.mode),
        )));
    }
    let spec = match &pc.openapi {
        Some(oc) => Some(Arc::new(crate::openapi_compile::compile_spec(
            name, oc, path, source,
        )?)),
        None => None,
    };
    let extensions = match &spec {
        Some(spec) => crate::spec_extensions::read(spec)?,
        None => Default::default(),
    };
    let mut jwks = None;
    let mut introspection = None;
    if let Some(ic) = &pc.identity {
        let compiled = crate::identity_compile::compile_identity(
            name,
            ic,
            pc.mode,
            spec.clone(),
            path,
            source,
        )?;
        checks.push(Box::new(compiled.check));
        jwks = compiled.jwks;
        introspection = compiled.introspection;
    }
    if let Some(l) = &pc.request_limits {
        checks.push(Box::new(RequestLimitsCheck {
            methods: l.methods.iter().map(|m| m.0.clone()).collect(),
            max_body_bytes: l.max_body_bytes.map(|b| b.0),
            max_uri_bytes: l.max_uri_bytes.map(|b| b.0),
            max_query_params: l.max_query_params,
            max_headers: l.max_headers,
            mode: effective(l.mode),
        }));
    }
    // Checks run route → identify → limit → validate: the spec comes after the limits.
    if let (Some(oc), Some(spec)) = (&pc.openapi, spec) {
        let extra_headers = http::HeaderName::from_bytes(config.request_id.header.as_bytes())
            .into_iter()
            .collect();
        checks.push(Box::new(OpenApiCheck::shared(
            spec,
            effective(oc.mode),
            extra_headers,
        )));
    }
    // Detection runs after every cheaper check, on what they let through.
    if let Some(td) = &pc.threat_detection {
        checks.push(Box::new(ThreatDetectionCheck::new(td, effective(td.mode))));
    }
    Ok(CompiledPolicy {
        name: name.to_owned(),
        checks,
        jwks,
        extensions,
        introspection,
    })
}
