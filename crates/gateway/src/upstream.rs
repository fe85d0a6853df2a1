//! Upstream pools: the endpoints of one named upstream, how a request picks
//! one (round robin or least requests), each endpoint's keep-alive connections
//! (HTTP/1.1, plain or TLS with a custom CA and client certificate), and
//! endpoint health from active checks (a periodic probe) and passive ejection
//! (consecutive failures take an endpoint out for a while). Health is kept in
//! atomics, so picking an endpoint takes no lock.
//!
//! Connections are pooled here rather than in a generic client so that a
//! request that could not be written (stale keep-alive, refused connect) comes
//! back intact and can be retried without copying it first, and so that a
//! connection returns to its endpoint's pool exactly when the response body
//! has been read to the end. The idle-stack mutex is held for a push or pop,
//! never across an await.
//!
//! An upstream connection has no task of its own: the request that uses it
//! writes and reads it inline (`upstream_connection.rs`), so a proxied
//! request runs entirely in its client connection's task, with no hand-off
//! through channels to a second task and back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use http::{Method, Uri};
use portcullis_policy::config::{Balance, UpstreamConfig};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::metrics::{EndpointLabels, Metrics};
use crate::tls;
use crate::upstream_connection::{
    ExchangeError, OutgoingBody, PoolSlot, UpstreamBody, UpstreamConnection, UpstreamStream,
};
use crate::wire::{Framing, ResponseHead};

struct IdleConnection {
    conn: UpstreamConnection,
    since: Instant,
}

pub struct Endpoint {
    pub label: Arc<String>,
    pub scheme: Scheme,
    pub authority: Authority,
    host: String,
    port: u16,
    tls_name: Option<ServerName<'static>>,
    healthy: AtomicBool,
    consecutive_failures: AtomicU32,
    /// Milliseconds since the pool's origin until which the endpoint is ejected.
    ejected_until_ms: AtomicU64,
    in_flight: AtomicUsize,
    idle: Mutex<Vec<IdleConnection>>,
}

impl Endpoint {
    fn pop_idle(&self, max_idle_age: Duration) -> Option<UpstreamConnection> {
        loop {
            // Popped under the lock, checked outside it.
            let entry = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
            let mut conn = entry.conn;
            if entry.since.elapsed() < max_idle_age && conn.is_reusable_after_idle() {
                return Some(conn);
            }
        }
    }
}

struct HealthSettings {
    path: String,
    interval: Duration,
    timeout: Duration,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
}

pub struct UpstreamPool {
    pub name: Arc<String>,
    pub endpoints: Vec<Endpoint>,
    balance: Balance,
    next: AtomicUsize,
    tls: Option<tokio_rustls::TlsConnector>,
    connect_timeout: Duration,
    pool_idle_timeout: Duration,
    max_idle: usize,
    pub response_timeout: Duration,
    /// Longest wait for the next bytes of a response body.
    pub read_timeout: Duration,
    pub retries: u32,
    ejection: Option<(u32, u64)>,
    health: Option<HealthSettings>,
    origin: Instant,
    metrics: Arc<Metrics>,
}

/// An endpoint picked for one request; dropping it ends the in-flight count.
pub struct Lease<'a> {
    pub index: usize,
    pub endpoint: &'a Endpoint,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.endpoint.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a request got no response from an endpoint.
pub enum SendError {
    /// Nothing usable reached the endpoint (refused connect, failed write on
    /// a fresh connection): the request may be sent elsewhere.
    NotSent(String),
    /// The client's body could not be read while it was streamed.
    ClientBody(crate::body::BodyError),
    /// The request may have reached the upstream.
    Failed(String),
}

/// Writes a request head for an endpoint, declaring the body's framing.
pub type HeadWriter<'a> = &'a (dyn Fn(&mut Vec<u8>, Framing) + Sync);

#[derive(Debug, thiserror::Error)]
pub enum UpstreamBuildError {
    #[error(transparent)]
    Tls(#[from] tls::TlsConfigError),
    #[error("upstreams.{upstream}.endpoints: {message}")]
    Endpoint { upstream: String, message: String },
}

impl UpstreamPool {
    /// Builds a pool; `demo` gives the address of the built-in demo API for
    /// `builtin:demo` endpoints.
    pub fn build(
        name: &str,
        config: &UpstreamConfig,
        metrics: Arc<Metrics>,
        demo: &dyn Fn() -> Option<SocketAddr>,
    ) -> Result<Self, UpstreamBuildError> {
        let endpoint_error = |message: String| UpstreamBuildError::Endpoint {
            upstream: name.to_owned(),
            message,
        };
        let server_name_override = match config.tls.as_ref().and_then(|t| t.server_name.clone()) {
            Some(text) => {
                Some(
                    ServerName::try_from(text.clone()).map_err(|e| tls::TlsConfigError {
                        field: format!("upstreams.{name}.tls.server_name"),
                        path: text,
                        message: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        let name = Arc::new(name.to_owned());
        let mut endpoints = Vec::with_capacity(config.endpoints.len());
        let mut any_tls = false;
        for text in &config.endpoints {
            let uri: Uri = if text == "builtin:demo" {
                let addr = demo().ok_or_else(|| {
                    endpoint_error("the built-in demo API could not be started".into())
                })?;
                format!("http://{addr}")
                    .parse()
                    .map_err(|e: http::uri::InvalidUri| endpoint_error(e.to_string()))?
            } else {
                text.parse()
                    .map_err(|e: http::uri::InvalidUri| endpoint_error(format!("{text:?}: {e}")))?
            };
            let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
            else {
                return Err(endpoint_error(format!(
                    "{text:?} needs a scheme and a host"
                )));
            };
            let is_tls = scheme == Scheme::HTTPS;
            any_tls |= is_tls;
            let host = authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = authority
                .port_u16()
                .unwrap_or(if is_tls { 443 } else { 80 });
            let tls_name = if is_tls {
                Some(match &server_name_override {
                    Some(n) => n.clone(),
                    None => ServerName::try_from(host.clone()).map_err(|e| {
                        endpoint_error(format!("{text:?}: not a valid TLS server name: {e}"))
                    })?,
                })
            } else {
                None
            };
            let endpoint = Endpoint {
                label: Arc::new(text.clone()),
                scheme,
                authority,
                host,
                port,
                tls_name,
                healthy: AtomicBool::new(true),
                consecutive_failures: AtomicU32::new(0),
                ejected_until_ms: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                idle: Mutex::new(Vec::new()),
            };
            metrics
                .endpoint_healthy
                .get_or_create(&EndpointLabels {
                    upstream: name.clone(),
                    endpoint: endpoint.label.clone(),
                })
                .set(1);
            endpoints.push(endpoint);
        }
        let tls = if any_tls || config.tls.is_some() {
            let client_config =
                tls::client_config(config.tls.as_ref(), &format!("upstreams.{name}.tls"))?;
            Some(tokio_rustls::TlsConnector::from(Arc::new(client_config)))
        } else {
            None
        };
        let passive = &config.passive_ejection;
        Ok(Self {
            name,
            endpoints,
            balance: config.balance,
            next: AtomicUsize::new(0),
            tls,
            connect_timeout: config.connect_timeout.0,
            pool_idle_timeout: config.pool_idle_timeout.0,
            max_idle: config.pool_max_idle_per_endpoint,
            response_timeout: config.response_timeout.0,
            read_timeout: config.read_timeout.0,
            retries: config.retries,
            ejection: passive.enabled.then(|| {
                (
                    passive.consecutive_failures.max(1),
                    passive.ejection_time.0.as_millis() as u64,
                )
            }),
            health: config.health_check.as_ref().map(|h| HealthSettings {
                path: h.path.clone(),
                interval: h.interval.0,
                timeout: h.timeout.0,
                healthy_threshold: h.healthy_threshold,
                unhealthy_threshold: h.unhealthy_threshold,
            }),
            origin: Instant::now(),
            metrics,
        })
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn available(&self, e: &Endpoint, now_ms: u64) -> bool {
        e.healthy.load(Ordering::Relaxed) && e.ejected_until_ms.load(Ordering::Relaxed) <= now_ms
    }

    /// Picks an available endpoint, avoiding `exclude` when another is available.
    pub fn pick(&self, exclude: Option<usize>) -> Option<Lease<'_>> {
        let n = self.endpoints.len();
        let now = if self.ejection.is_some() {
            self.now_ms()
        } else {
            u64::MAX
        };
        let usable = |i: usize| Some(i) != exclude && self.available(&self.endpoints[i], now);
        let index = match self.balance {
            Balance::RoundRobin => {
                let start = if n == 1 {
                    0
                } else {
                    self.next.fetch_add(1, Ordering::Relaxed) % n
                };
                (0..n).map(|k| (start + k) % n).find(|&i| usable(i))
            }
            Balance::LeastRequests => (0..n)
                .filter(|&i| usable(i))
                .min_by_key(|&i| self.endpoints[i].in_flight.load(Ordering::Relaxed)),
        };
        let index = match (index, exclude) {
            (None, Some(ex)) if self.available(&self.endpoints[ex], now) => ex,
            (None, _) => return None,
            (Some(i), _) => i,
        };
        let endpoint = &self.endpoints[index];
        endpoint.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Lease { index, endpoint })
    }

    pub fn record_success(&self, index: usize) {
        let e = &self.endpoints[index];
        if e.consecutive_failures.load(Ordering::Relaxed) != 0 {
            e.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    pub fn record_failure(&self, index: usize) {
        let Some((threshold, ejection_ms)) = self.ejection else {
            return;
        };
        let e = &self.endpoints[index];
        let failures = e.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= threshold {
            e.consecutive_failures.store(0, Ordering::Relaxed);
            e.ejected_until_ms
                .store(self.now_ms() + ejection_ms, Ordering::Relaxed);
            tracing::warn!(upstream = %self.name, endpoint = %e.label, failures, ejection_ms, "endpoint ejected after consecutive failures");
        }
    }

    /// Puts a connection whose response was read to its end back on its
    /// endpoint's idle stack.
    pub fn give_back(&self, endpoint: usize, conn: UpstreamConnection) {
        let mut idle = self.endpoints[endpoint]
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(IdleConnection {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// Opens a new connection to an endpoint.
    async fn connect(&self, endpoint: &Endpoint) -> Result<UpstreamConnection, String> {
        let connect = TcpStream::connect((endpoint.host.as_str(), endpoint.port));
        let stream = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("connect to {}: {e}", endpoint.label)),
            Err(_) => return Err(format!("connect to {}: timed out", endpoint.label)),
        };
        let _ = stream.set_nodelay(true);
        let stream = match (&self.tls, &endpoint.tls_name) {
            (Some(connector), Some(server_name)) => {
                let handshake = connector.connect(server_name.clone(), stream);
                match tokio::time::timeout(self.connect_timeout, handshake).await {
                    Ok(Ok(s)) => UpstreamStream::Tls(Box::new(s)),
                    Ok(Err(e)) => {
                        return Err(format!("TLS handshake with {}: {e}", endpoint.label));
                    }
                    Err(_) => {
                        return Err(format!("TLS handshake with {}: timed out", endpoint.label));
                    }
                }
            }
            _ => UpstreamStream::Plain(stream),
        };
        Ok(UpstreamConnection::new(stream))
    }

    /// Sends a request on a pooled or new connection of endpoint `index` and
    /// reads the response head. A pooled connection that turns out closed is
    /// replaced by a fresh one when the request can be replayed (for a
    /// request already written, only when it is idempotent). On success the
    /// connection comes back with the head, to read the body from.
    pub async fn send(
        &self,
        index: usize,
        method: &Method,
        idempotent: bool,
        write_head: HeadWriter<'_>,
        body: &mut OutgoingBody<'_, '_>,
    ) -> Result<(ResponseHead, UpstreamConnection), SendError> {
        let endpoint = &self.endpoints[index];
        let mut fresh_only = false;
        loop {
            let pooled = if fresh_only {
                None
            } else {
                endpoint.pop_idle(self.pool_idle_timeout)
            };
            let (mut conn, fresh) = match pooled {
                Some(c) => (c, false),
                None => {
                    // Boxed: the connect path is rare once the pool is warm,
                    // and keeping it out of line keeps this future small.
                    match Box::pin(self.connect(endpoint)).await {
                        Ok(c) => (c, true),
                        Err(error) => return Err(SendError::NotSent(error)),
                    }
                }
            };
            conn.write_buf.clear();
            write_head(&mut conn.write_buf, body.framing());
            match conn.exchange(body, method).await {
                Ok(head) => return Ok((head, conn)),
                Err(ExchangeError::WriteFailed { reused, error }) if body.is_replayable() => {
                    if reused {
                        fresh_only = true;
                        continue;
                    }
                    return Err(SendError::NotSent(format!(
                        "writing to {}: {error}",
                        endpoint.label
                    )));
                }
                Err(ExchangeError::ClosedBeforeResponse)
                    if !fresh && idempotent && body.is_replayable() =>
                {
                    fresh_only = true;
                }
                Err(ExchangeError::ClosedBeforeResponse) => {
                    return Err(SendError::Failed(format!(
                        "{} closed the connection without a response",
                        endpoint.label
                    )));
                }
                Err(ExchangeError::WriteFailed { error, .. }) => {
                    return Err(SendError::Failed(format!(
                        "writing to {}: {error}",
                        endpoint.label
                    )));
                }
                Err(ExchangeError::ClientBody(e)) => return Err(SendError::ClientBody(e)),
                Err(ExchangeError::Failed(e)) => return Err(SendError::Failed(e)),
            }
        }
    }

    /// Starts the active health checks, if configured. They stop by themselves
    /// once the pool is dropped (after a reload replaced it).
    pub fn start_health_checks(self: &Arc<Self>) {
        let Some(settings) = &self.health else { return };
        for index in 0..self.endpoints.len() {
            let weak: Weak<Self> = Arc::downgrade(self);
            let interval = settings.interval;
            tokio::spawn(async move {
                let mut successes = 0u32;
                let mut failures = 0u32;
                loop {
                    let Some(pool) = weak.upgrade() else { return };
                    pool.probe(index, &mut successes, &mut failures).await;
                    drop(pool);
                    tokio::time::sleep(interval).await;
                }
            });
        }
    }

    async fn probe(self: &Arc<Self>, index: usize, successes: &mut u32, failures: &mut u32) {
        let Some(settings) = &self.health else { return };
        let endpoint = &self.endpoints[index];
        let write_head = |out: &mut Vec<u8>, _framing: Framing| {
            out.extend_from_slice(b"GET ");
            out.extend_from_slice(settings.path.as_bytes());
            out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
            out.extend_from_slice(endpoint.authority.as_str().as_bytes());
            out.extend_from_slice(b"\r\nuser-agent: portcullis-health-check\r\n\r\n");
        };
        let probe = async {
            let mut body = OutgoingBody::Empty;
            let (head, conn) = self
                .send(index, &Method::GET, true, &write_head, &mut body)
                .await
                .ok()?;
            let ok = head.status.is_success() || head.status.is_redirection();
            let slot = PoolSlot {
                pool: self.clone(),
                endpoint: index,
            };
            let drained = crate::upstream_connection::drain(UpstreamBody::new(
                conn,
                head.framing,
                head.keep_alive,
                Some(slot),
            ))
            .await;
            Some(ok && drained)
        };
        let ok = matches!(
            tokio::time::timeout(settings.timeout, probe).await,
            Ok(Some(true))
        );
        let was_healthy = endpoint.healthy.load(Ordering::Relaxed);
        if ok {
            *failures = 0;
            *successes += 1;
            if !was_healthy && *successes >= settings.healthy_threshold {
                endpoint.healthy.store(true, Ordering::Relaxed);
                endpoint.ejected_until_ms.store(0, Ordering::Relaxed);
                tracing::info!(upstream = %self.name, endpoint = %endpoint.label, "endpoint healthy again");
            }
        } else {
            *successes = 0;
            *failures += 1;
            if was_healthy && *failures >= settings.unhealthy_threshold {
                endpoint.healthy.store(false, Ordering::Relaxed);
                tracing::warn!(upstream = %self.name, endpoint = %endpoint.label, "endpoint failed its health checks");
            }
        }
        self.metrics
            .endpoint_healthy
            .get_or_create(&EndpointLabels {
                upstream: self.name.clone(),
                endpoint: endpoint.label.clone(),
            })
            .set(i64::from(endpoint.healthy.load(Ordering::Relaxed)));
    }
}
