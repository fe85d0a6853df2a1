//! The declarative configuration model: what a user writes in `gateway.yaml`.
//! Every field has a safe default; unknown fields are refused so a typo never
//! silently disables a protection. `docs/config.md` documents each field and a
//! test keeps the two in step. Loading never panics: every problem becomes a
//! [`ConfigError`] naming the file, line, column and field path.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};
use serde_saphyr::Spanned;

use crate::units::{ByteSize, Cidr, ConfigDuration, MethodName};

pub mod abuse;
pub mod bots;
pub mod rate_limits;
pub mod threat_detection;

/// The whole gateway configuration.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub runtime: RuntimeConfig,
    pub listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    #[serde(default)]
    pub limits: ProtocolLimits,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<Cidr>,
    #[serde(default)]
    pub request_id: RequestIdConfig,
    /// Which forwarding fields the gateway writes on the way upstream.
    #[serde(default)]
    pub forwarding: ForwardingConfig,
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyConfig>,
    pub routes: Vec<RouteConfig>,
    #[serde(default)]
    pub audit_log: LogSinkConfig,
    #[serde(default = "LogSinkConfig::disabled")]
    pub access_log: LogSinkConfig,
    /// Where rate-limit state lives (see `config/rate_limits.rs`).
    #[serde(default)]
    pub rate_limit_store: rate_limits::RateLimitStoreConfig,
    /// Allow / deny lists edited at runtime through the admin API, kept in
    /// the `rate_limit_store` (see `config/abuse.rs`).
    #[serde(default)]
    pub access_lists: Option<abuse::AccessListsConfig>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads of the proxy runtime; defaults to the number of CPUs.
    /// 1 runs a single-threaded runtime (the cheapest per request).
    #[serde(default)]
    pub worker_threads: Option<usize>,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[serde(default = "defaults::drain_timeout")]
    pub drain_timeout: ConfigDuration,
    /// Reload when the config file changes on disk (SIGHUP always reloads).
    #[serde(default = "defaults::yes")]
    pub watch_config: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            worker_threads: None,
            drain_timeout: defaults::drain_timeout(),
            watch_config: true,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub address: SocketAddr,
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
    /// Accept HTTP/2 (h2c with prior knowledge in clear text, ALPN `h2` over TLS).
    #[serde(default = "defaults::yes")]
    pub http2: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    #[serde(default)]
    pub client_auth: Option<ClientAuthConfig>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthConfig {
    pub mode: ClientAuthMode,
    /// PEM bundle of the CAs that sign client certificates.
    pub ca: PathBuf,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMode {
    Required,
    Optional,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    #[serde(default = "defaults::admin_address")]
    pub address: SocketAddr,
    /// Bearer token required by endpoints that change state (`POST /reload`).
    /// Without one, those endpoints are refused.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Name of an environment variable holding the token (wins over `token`).
    #[serde(default)]
    pub token_env: Option<String>,
}

/// A string that never appears in `/config` output or logs.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

/// Protocol-level limits applied to every request before any route is chosen.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolLimits {
    /// Request line + headers; larger heads get 431.
    #[serde(default = "defaults::max_header_bytes")]
    pub max_header_bytes: ByteSize,
    /// Number of header fields; more get 431.
    #[serde(default = "defaults::max_headers")]
    pub max_headers: usize,
    /// Request target length; longer gets 414.
    #[serde(default = "defaults::max_uri_bytes")]
    pub max_uri_bytes: ByteSize,
    /// Request body; larger gets 413 (routes may lower it).
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: ByteSize,
    /// Time allowed to receive a request head (slowloris).
    #[serde(default = "defaults::header_read_timeout")]
    pub header_read_timeout: ConfigDuration,
    /// A keep-alive connection with no request for this long is closed.
    #[serde(default = "defaults::idle_timeout")]
    pub idle_timeout: ConfigDuration,
    /// Time allowed to receive a body the gateway reads before forwarding
    /// (small bodies, and bodies a check inspects); past it, 408.
    #[serde(default = "defaults::body_read_timeout")]
    pub body_read_timeout: ConfigDuration,
    /// Longest a write to a client may wait (a client that stops reading a
    /// response: slow read); past it the connection is closed.
    #[serde(default = "defaults::send_timeout")]
    pub send_timeout: ConfigDuration,
    /// Open client connections across all listeners; further ones are refused.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// HTTP/2 streams per connection.
    #[serde(default = "defaults::max_concurrent_streams")]
    pub max_concurrent_streams: u32,
}

impl Default for ProtocolLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: defaults::max_header_bytes(),
            max_headers: defaults::max_headers(),
            max_uri_bytes: defaults::max_uri_bytes(),
            max_body_bytes: defaults::max_body_bytes(),
            header_read_timeout: defaults::header_read_timeout(),
            idle_timeout: defaults::idle_timeout(),
            body_read_timeout: defaults::body_read_timeout(),
            send_timeout: defaults::send_timeout(),
            max_connections: defaults::max_connections(),
            max_concurrent_streams: defaults::max_concurrent_streams(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestIdConfig {
    #[serde(default = "defaults::request_id_header")]
    pub header: String,
    /// Keep a well-formed incoming id instead of generating a new one.
    #[serde(default = "defaults::yes")]
    pub propagate: bool,
    /// Send the id to the upstream in `header` (a client's copy is always
    /// replaced or removed).
    #[serde(default = "defaults::yes")]
    pub send_upstream: bool,
}

impl Default for RequestIdConfig {
    fn default() -> Self {
        Self {
            header: defaults::request_id_header(),
            propagate: true,
            send_upstream: true,
        }
    }
}

/// The forwarding fields written upstream. Each is set by the gateway (or
/// appended to, when the peer is a trusted proxy); a field switched off is
/// not written at all, and a client's copy of it is still removed, so an
/// upstream never sees a forged one.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardingConfig {
    #[serde(default = "defaults::yes")]
    pub x_forwarded_for: bool,
    #[serde(default = "defaults::yes")]
    pub x_forwarded_proto: bool,
    #[serde(default = "defaults::yes")]
    pub x_forwarded_host: bool,
    /// RFC 7239 `Forwarded`.
    #[serde(default = "defaults::yes")]
    pub forwarded: bool,
}

impl Default for ForwardingConfig {
    fn default() -> Self {
        Self {
            x_forwarded_for: true,
            x_forwarded_proto: true,
            x_forwarded_host: true,
            forwarded: true,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `http://host:port`, `https://host:port`, or `builtin:demo` (the demo API
    /// served by the gateway process itself).
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub balance: Balance,
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout: ConfigDuration,
    /// Time from sending the request to receiving the response head; past it, 504.
    #[serde(default = "defaults::response_timeout")]
    pub response_timeout: ConfigDuration,
    /// Longest wait for the next bytes of a response body; past it the
    /// response is cut off.
    #[serde(default = "defaults::read_timeout")]
    pub read_timeout: ConfigDuration,
    /// Extra attempts on another endpoint for idempotent requests whose
    /// connection failed before a response arrived.
    #[serde(default = "defaults::retries")]
    pub retries: u32,
    #[serde(default = "defaults::pool_idle_timeout")]
    pub pool_idle_timeout: ConfigDuration,
    #[serde(default = "defaults::pool_max_idle")]
    pub pool_max_idle_per_endpoint: usize,
    #[serde(default)]
    pub tls: Option<UpstreamTlsConfig>,
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    #[serde(default)]
    pub passive_ejection: PassiveEjectionConfig,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastRequests,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsConfig {
    /// PEM bundle of CAs trusted for the upstream's certificate (replaces the
    /// built-in roots).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Client certificate and key presented to the upstream (mTLS).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// SNI / verified name, when it differs from the endpoint host.
    #[serde(default)]
    pub server_name: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    #[serde(default = "defaults::health_path")]
    pub path: String,
    #[serde(default = "defaults::health_interval")]
    pub interval: ConfigDuration,
    #[serde(default = "defaults::health_timeout")]
    pub timeout: ConfigDuration,
    /// Consecutive successes that bring an endpoint back.
    #[serde(default = "defaults::healthy_threshold")]
    pub healthy_threshold: u32,
    /// Consecutive failures that take an endpoint out.
    #[serde(default = "defaults::unhealthy_threshold")]
    pub unhealthy_threshold: u32,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveEjectionConfig {
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
    /// Consecutive connection failures or 5xx answers that eject an endpoint.
    #[serde(default = "defaults::consecutive_failures")]
    pub consecutive_failures: u32,
    #[serde(default = "defaults::ejection_time")]
    pub ejection_time: ConfigDuration,
}

impl Default for PassiveEjectionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            consecutive_failures: defaults::consecutive_failures(),
            ejection_time: defaults::ejection_time(),
        }
    }
}

/// Whether findings block the request or are only logged.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Block,
    Monitor,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `monitor` turns every check of this policy into log-only.
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub ip_access: Option<IpAccessConfig>,
    #[serde(default)]
    pub request_limits: Option<RequestLimitsConfig>,
    /// OpenAPI spec enforcement (see `openapi_config.rs`).
    #[serde(default)]
    pub openapi: Option<crate::openapi_config::OpenApiConfig>,
    #[serde(default)]
    pub threat_detection: Option<threat_detection::ThreatDetectionConfig>,
    /// Rate limits, counted in the `rate_limit_store` (see `config/rate_limits.rs`).
    #[serde(default)]
    pub rate_limits: Option<rate_limits::RateLimitsConfig>,
    /// Authentication and authorization (see `identity_config.rs`).
    #[serde(default)]
    pub identity: Option<crate::identity_config::IdentityConfig>,
    /// Decoy paths and body fields that ban whoever touches them.
    #[serde(default)]
    pub honeypot: Option<abuse::HoneypotConfig>,
    /// Failed-login counting, lockouts and credential-stuffing detection.
    #[serde(default)]
    pub brute_force: Option<abuse::BruteForceConfig>,
    /// The bot score and what each score band does (see `config/bots.rs`).
    #[serde(default)]
    pub bots: Option<bots::BotsConfig>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IpAccessConfig {
    #[serde(default)]
    pub mode: Mode,
    /// When not empty, only these networks may call the route.
    #[serde(default)]
    pub allow: Vec<Cidr>,
    /// These networks are always refused (deny wins over allow).
    #[serde(default)]
    pub deny: Vec<Cidr>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestLimitsConfig {
    #[serde(default)]
    pub mode: Mode,
    /// Allowed methods; empty allows any.
    #[serde(default)]
    pub methods: Vec<MethodName>,
    #[serde(default)]
    pub max_body_bytes: Option<ByteSize>,
    #[serde(default)]
    pub max_uri_bytes: Option<ByteSize>,
    #[serde(default)]
    pub max_query_params: Option<usize>,
    #[serde(default)]
    pub max_headers: Option<usize>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub name: String,
    #[serde(default, rename = "match")]
    pub matcher: RouteMatch,
    #[serde(serialize_with = "serialize_spanned")]
    pub upstream: Spanned<String>,
    #[serde(default, serialize_with = "serialize_spanned_opt")]
    pub policy: Option<Spanned<String>>,
    /// Remove this prefix from the path before forwarding (e.g. `/api` → ``).
    #[serde(default)]
    pub strip_prefix: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// Exact host (`api.example.com`) or a wildcard (`*.example.com`); any host when absent.
    #[serde(default)]
    pub host: Option<String>,
    /// Segment-aware prefix: `/api` matches `/api` and `/api/users`, not `/apiary`.
    #[serde(default = "defaults::root_path")]
    pub path_prefix: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSinkConfig {
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
    /// `stdout`, `stderr`, or a file path (appended to).
    #[serde(default = "defaults::stdout")]
    pub output: String,
}

impl Default for LogSinkConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            output: defaults::stdout(),
        }
    }
}

impl LogSinkConfig {
    fn disabled() -> Self {
        Self {
            enabled: false,
            output: defaults::stdout(),
        }
    }
}

impl Default for RouteMatch {
    fn default() -> Self {
        Self {
            host: None,
            path_prefix: defaults::root_path(),
        }
    }
}

fn serialize_spanned<S: Serializer>(value: &Spanned<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.value)
}

fn serialize_spanned_opt<S: Serializer>(
    value: &Option<Spanned<String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_some(&v.value),
        None => s.serialize_none(),
    }
}

mod defaults {
    use super::*;
    pub fn yes() -> bool {
        true
    }
    pub fn drain_timeout() -> ConfigDuration {
        ConfigDuration::secs(30)
    }
    pub fn admin_address() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9090))
    }
    pub fn max_header_bytes() -> ByteSize {
        ByteSize(16 * 1024)
    }
    pub fn max_headers() -> usize {
        100
    }
    pub fn max_uri_bytes() -> ByteSize {
        ByteSize(8 * 1024)
    }
    pub fn max_body_bytes() -> ByteSize {
        ByteSize(10 * 1024 * 1024)
    }
    pub fn header_read_timeout() -> ConfigDuration {
        ConfigDuration::secs(10)
    }
    pub fn idle_timeout() -> ConfigDuration {
        ConfigDuration::secs(60)
    }
    pub fn body_read_timeout() -> ConfigDuration {
        ConfigDuration::secs(30)
    }
    pub fn send_timeout() -> ConfigDuration {
        ConfigDuration::secs(60)
    }
    pub fn read_timeout() -> ConfigDuration {
        ConfigDuration::secs(60)
    }
    pub fn max_connections() -> usize {
        10_000
    }
    pub fn max_concurrent_streams() -> u32 {
        100
    }
    pub fn request_id_header() -> String {
        "x-request-id".to_owned()
    }
    pub fn connect_timeout() -> ConfigDuration {
        ConfigDuration::secs(5)
    }
    pub fn response_timeout() -> ConfigDuration {
        ConfigDuration::secs(30)
    }
    pub fn retries() -> u32 {
        1
    }
    pub fn pool_idle_timeout() -> ConfigDuration {
        ConfigDuration::secs(90)
    }
    pub fn pool_max_idle() -> usize {
        256
    }
    pub fn health_path() -> String {
        "/healthz".to_owned()
    }
    pub fn health_interval() -> ConfigDuration {
        ConfigDuration::secs(5)
    }
    pub fn health_timeout() -> ConfigDuration {
        ConfigDuration::secs(1)
    }
    pub fn healthy_threshold() -> u32 {
        2
    }
    pub fn unhealthy_threshold() -> u32 {
        3
    }
    pub fn consecutive_failures() -> u32 {
        5
    }
    pub fn ejection_time() -> ConfigDuration {
        ConfigDuration::secs(30)
    }
    pub fn root_path() -> String {
        "/".to_owned()
    }
    pub fn stdout() -> String {
        "stdout".to_owned()
    }
}

/// A configuration problem, located in its file.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {field}{message}", file.display(), location_suffix(*line, *column), field = field_prefix(field))]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// Dotted path of the offending field, e.g. `routes[1].upstream`.
    pub field: Option<String>,
    pub message: String,
}

fn location_suffix(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

fn field_prefix(field: &Option<String>) -> String {
    match field {
        Some(f) if !f.is_empty() => format!("{f}: "),
        _ => String::new(),
    }
}

impl ConfigError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            column: None,
            field: None,
            message: message.into(),
        }
    }

    /// An error about a value whose position is known from a [`Spanned`] field.
    pub fn at(
        file: &Path,
        source: &str,
        location: serde_saphyr::Location,
        message: impl Into<String>,
    ) -> Self {
        let line = location.line();
        Self {
            file: file.to_owned(),
            line: Some(line),
            column: Some(location.column()),
            field: crate::yaml_path::field_path_at_line(source, line as usize),
            message: message.into(),
        }
    }

    /// An error about a field whose dotted path is known but not its position:
    /// the position is looked up in the source text.
    pub fn at_field(file: &Path, source: &str, field: &str, message: impl Into<String>) -> Self {
        let line = crate::yaml_path::line_of_field_path(source, field);
        Self {
            file: file.to_owned(),
            line: line.map(|l| l as u64),
            column: None,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

impl Config {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<(Config, String), ConfigError> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, format!("cannot read config file: {e}")))?;
        let config = Self::parse(path, &source)?;
        Ok((config, source))
    }

    /// Parses config text; `path` is only used to name the source in errors.
    pub fn parse(path: &Path, source: &str) -> Result<Config, ConfigError> {
        serde_saphyr::from_str::<Config>(source).map_err(|err| {
            let location = err.location();
            let line = location.map(|l| l.line());
            let mut message = first_line_of_error(&err.to_string());
            if message.is_empty() {
                message = "invalid configuration".to_owned();
            }
            // A missing field is reported where its mapping ends, which names
            // an unrelated field: the message names the missing one instead.
            let field = if message.starts_with("missing field") {
                None
            } else {
                line.and_then(|l| crate::yaml_path::field_path_at_line(source, l as usize))
            };
            ConfigError {
                file: path.to_owned(),
                line,
                column: location.map(|l| l.column()),
                field,
                message,
            }
        })
    }
}

/// serde-saphyr renders a snippet after the message; the message is the part
/// before it, without the location it repeats.
fn first_line_of_error(rendered: &str) -> String {
    let first = rendered.lines().next().unwrap_or("").trim();
    let first = match first.find(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let first = first.trim_start_matches("error: ").trim();
    // serde-saphyr may lead with "line N column M:"; the location is reported separately.
    let first = match first.strip_prefix("line ") {
        Some(rest) => match rest.find(": ") {
            Some(i)
                if rest[..i]
                    .split_whitespace()
                    .all(|w| w == "column" || w.bytes().all(|b| b.is_ascii_digit())) =>
            {
                &rest[i + 2..]
            }
            _ => first,
        },
        None => first,
    };
    first.trim().to_owned()
}
