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
//! An upstream connection has no task of its own: whoever uses it — the
//! request waiting for its response head, then the client body streaming the
//! response — drives its I/O inline ([`UpstreamConnection::drive`]). A proxied
//! request therefore runs entirely in its client connection's task, with no
//! hand-off through channels to a second task and back.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use portcullis_policy::config::{Balance, UpstreamConfig};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::body::UpstreamBody;
use crate::metrics::{EndpointLabels, Metrics};
use crate::tls;

type Sender = http1::SendRequest<UpstreamBody>;
type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// One HTTP/1.1 connection to an endpoint: the handle to send on and the
/// future that performs its I/O, polled by whoever is using the connection.
pub struct UpstreamConnection {
    sender: Sender,
    driver: Option<Driver>,
}

impl UpstreamConnection {
    /// Performs the connection's pending I/O. Returns true once it has ended.
    pub fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(driver) = self.driver.as_mut() else {
            return true;
        };
        match driver.as_mut().poll(cx) {
            Poll::Pending => false,
            Poll::Ready(result) => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "upstream connection ended with an error");
                }
                self.driver = None;
                true
            }
        }
    }

    /// Hands the I/O to a task of its own (for a connection upgraded to a
    /// tunnel, which must keep running after the response is returned).
    pub fn detach(mut self) {
        if let Some(driver) = self.driver.take() {
            tokio::spawn(async move {
                if let Err(e) = driver.await {
                    tracing::debug!(error = %e, "upgraded upstream connection ended with an error");
                }
            });
        }
    }

    fn is_usable(&self) -> bool {
        self.driver.is_some() && !self.sender.is_closed()
    }
}

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
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(entry) = idle.pop() {
            if entry.conn.is_usable() && entry.since.elapsed() < max_idle_age {
                return Some(entry.conn);
            }
        }
        None
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

/// Gives a connection back to its endpoint once its response body has been read.
pub struct PoolReturn {
    pool: Arc<UpstreamPool>,
    index: usize,
    pub conn: UpstreamConnection,
}

impl PoolReturn {
    pub fn give_back(self) {
        let endpoint = &self.pool.endpoints[self.index];
        if !self.conn.is_usable() {
            return;
        }
        let mut idle = endpoint.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.pool.max_idle {
            idle.push(IdleConnection {
                conn: self.conn,
                since: Instant::now(),
            });
        }
    }
}

/// Why a request did not get a response from an endpoint.
pub enum SendError {
    /// Nothing was written: the request comes back and may be sent elsewhere.
    NotSent {
        request: Box<Request<UpstreamBody>>,
        error: String,
    },
    /// The request may have reached the upstream.
    Failed(hyper::Error),
}

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

    /// Opens a new connection to an endpoint and starts its connection task.
    async fn connect(&self, endpoint: &Endpoint) -> Result<UpstreamConnection, String> {
        let connect = TcpStream::connect((endpoint.host.as_str(), endpoint.port));
        let stream = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("connect to {}: {e}", endpoint.label)),
            Err(_) => return Err(format!("connect to {}: timed out", endpoint.label)),
        };
        let _ = stream.set_nodelay(true);
        match (&self.tls, &endpoint.tls_name) {
            (Some(connector), Some(server_name)) => {
                let handshake = connector.connect(server_name.clone(), stream);
                let tls_stream = match tokio::time::timeout(self.connect_timeout, handshake).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        return Err(format!("TLS handshake with {}: {e}", endpoint.label));
                    }
                    Err(_) => {
                        return Err(format!("TLS handshake with {}: timed out", endpoint.label));
                    }
                };
                Self::handshake(TokioIo::new(tls_stream)).await
            }
            _ => Self::handshake(TokioIo::new(stream)).await,
        }
    }

    async fn handshake<I>(io: I) -> Result<UpstreamConnection, String>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, connection) = http1::Builder::new()
            .max_buf_size(512 * 1024)
            // See the listener: a flattened write is cheaper for small heads.
            .writev(false)
            .handshake::<_, UpstreamBody>(io)
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        Ok(UpstreamConnection {
            sender,
            driver: Some(Box::pin(connection.with_upgrades())),
        })
    }

    /// Sends a request (whose URI is already an origin-form or absolute URI for
    /// this endpoint) on a pooled or new connection. On success, returns the
    /// response and the connection to give back once its body is read.
    pub async fn send(
        self: &Arc<Self>,
        index: usize,
        mut request: Request<UpstreamBody>,
    ) -> Result<(Response<Incoming>, PoolReturn), SendError> {
        let endpoint = &self.endpoints[index];
        // A pooled connection can turn out closed under us: then the request
        // comes back unsent, and a fresh connection is tried once.
        let mut fresh = false;
        loop {
            let mut conn = match endpoint.pop_idle(self.pool_idle_timeout) {
                Some(c) if !fresh => c,
                _ => {
                    fresh = true;
                    // Boxed: the connect path is rare once the pool is warm,
                    // and keeping it out of line keeps this future small.
                    match Box::pin(self.connect(endpoint)).await {
                        Ok(c) => c,
                        Err(error) => {
                            return Err(SendError::NotSent {
                                request: Box::new(request),
                                error,
                            });
                        }
                    }
                }
            };
            let ready = std::future::poll_fn(|cx| {
                let ended = conn.drive(cx);
                match conn.sender.poll_ready(cx) {
                    Poll::Ready(result) => Poll::Ready(result.is_ok()),
                    Poll::Pending if ended => Poll::Ready(false),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            if !ready {
                if fresh {
                    return Err(SendError::NotSent {
                        request: Box::new(request),
                        error: format!("connection to {} closed before use", endpoint.label),
                    });
                }
                continue;
            }
            let mut answer = std::pin::pin!(conn.sender.try_send_request(request));
            let outcome = std::future::poll_fn(|cx| {
                if let Poll::Ready(r) = answer.as_mut().poll(cx) {
                    return Poll::Ready(r);
                }
                // Write the request and read the answer on this task.
                conn.drive(cx);
                answer.as_mut().poll(cx)
            })
            .await;
            match outcome {
                Ok(response) => {
                    return Ok((
                        response,
                        PoolReturn {
                            pool: self.clone(),
                            index,
                            conn,
                        },
                    ));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !fresh => {
                        request = unsent;
                        fresh = true;
                    }
                    Some(unsent) => {
                        return Err(SendError::NotSent {
                            request: Box::new(unsent),
                            error: e.error().to_string(),
                        });
                    }
                    None => return Err(SendError::Failed(e.into_error())),
                },
            }
        }
    }

    /// The absolute URI of `path_and_query` on an endpoint.
    pub fn endpoint_uri(endpoint: &Endpoint, path_and_query: &str) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(endpoint.scheme.clone())
            .authority(endpoint.authority.clone())
            .path_and_query(path_and_query)
            .build()
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
        let mut request = Request::new(UpstreamBody::Empty);
        *request.uri_mut() = settings
            .path
            .parse()
            .unwrap_or_else(|_| Uri::from_static("/"));
        if let Ok(host) = http::HeaderValue::from_str(endpoint.authority.as_str()) {
            request.headers_mut().insert(http::header::HOST, host);
        }
        request.headers_mut().insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static("portcullis-health-check"),
        );
        let ok = match tokio::time::timeout(settings.timeout, self.send(index, request)).await {
            Ok(Ok((response, mut pool_return))) => {
                let ok = response.status().is_success() || response.status().is_redirection();
                if drain(response, &mut pool_return.conn).await {
                    pool_return.give_back();
                }
                ok
            }
            _ => false,
        };
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

/// Reads a response body to its end, driving its connection; true when it
/// ended cleanly.
async fn drain(response: Response<Incoming>, conn: &mut UpstreamConnection) -> bool {
    let mut body = response.into_body();
    std::future::poll_fn(|cx| {
        loop {
            conn.drive(cx);
            match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(None) => return Poll::Ready(true),
                Poll::Ready(Some(Ok(_))) => {
                    if body.is_end_stream() {
                        return Poll::Ready(true);
                    }
                }
                Poll::Ready(Some(Err(_))) => return Poll::Ready(false),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}
