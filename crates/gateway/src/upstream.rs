//! Upstream pools: the endpoints of one named upstream, how a request picks
//! one (round robin or least requests), the keep-alive connection pool (HTTP/1.1,
//! plain or TLS with a custom CA and client certificate), and endpoint health
//! from active checks (a periodic probe) and passive ejection (consecutive
//! failures take an endpoint out for a while). Health is kept in atomics, so
//! picking an endpoint takes no lock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use portcullis_policy::config::{Balance, UpstreamConfig};

use crate::body::UpstreamBody;
use crate::metrics::{EndpointLabels, Metrics};
use crate::tls;

pub type HttpClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

pub struct Endpoint {
    pub label: Arc<String>,
    pub scheme: Scheme,
    pub authority: Authority,
    healthy: AtomicBool,
    consecutive_failures: AtomicU32,
    /// Milliseconds since the pool's origin until which the endpoint is ejected.
    ejected_until_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Endpoint {
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
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
    client: HttpClient,
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
        let tls_config = tls::client_config(config.tls.as_ref(), &format!("upstreams.{name}.tls"))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout.0));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config)
            .https_or_http();
        let builder = match config.tls.as_ref().and_then(|t| t.server_name.clone()) {
            Some(server_name) => {
                let name =
                    rustls::pki_types::ServerName::try_from(server_name.clone()).map_err(|e| {
                        tls::TlsConfigError {
                            field: format!("upstreams.{name}.tls.server_name"),
                            path: server_name.clone(),
                            message: e.to_string(),
                        }
                    })?;
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let connector = builder.enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.pool_idle_timeout.0)
            .pool_max_idle_per_host(config.pool_max_idle_per_endpoint)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        let name = Arc::new(name.to_owned());
        let mut endpoints = Vec::with_capacity(config.endpoints.len());
        for text in &config.endpoints {
            let uri: Uri = if text == "builtin:demo" {
                let addr = demo().ok_or_else(|| UpstreamBuildError::Endpoint {
                    upstream: name.to_string(),
                    message: "the built-in demo API could not be started".into(),
                })?;
                format!("http://{addr}")
                    .parse()
                    .map_err(|e: http::uri::InvalidUri| UpstreamBuildError::Endpoint {
                        upstream: name.to_string(),
                        message: e.to_string(),
                    })?
            } else {
                text.parse()
                    .map_err(|e: http::uri::InvalidUri| UpstreamBuildError::Endpoint {
                        upstream: name.to_string(),
                        message: format!("{text:?}: {e}"),
                    })?
            };
            let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
            else {
                return Err(UpstreamBuildError::Endpoint {
                    upstream: name.to_string(),
                    message: format!("{text:?} needs a scheme and a host"),
                });
            };
            let endpoint = Endpoint {
                label: Arc::new(text.clone()),
                scheme,
                authority,
                healthy: AtomicBool::new(true),
                consecutive_failures: AtomicU32::new(0),
                ejected_until_ms: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
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
        let passive = &config.passive_ejection;
        Ok(Self {
            name,
            endpoints,
            balance: config.balance,
            next: AtomicUsize::new(0),
            client,
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

    /// Sends a request; the URI must already point at the leased endpoint.
    pub fn send(
        &self,
        request: Request<UpstreamBody>,
    ) -> hyper_util::client::legacy::ResponseFuture {
        self.client.request(request)
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

    async fn probe(&self, index: usize, successes: &mut u32, failures: &mut u32) {
        let Some(settings) = &self.health else { return };
        let endpoint = &self.endpoints[index];
        let ok = match Self::endpoint_uri(endpoint, &settings.path) {
            Ok(uri) => {
                let mut request = Request::new(UpstreamBody::Empty);
                *request.uri_mut() = uri;
                request.headers_mut().insert(
                    http::header::USER_AGENT,
                    http::HeaderValue::from_static("portcullis-health-check"),
                );
                match tokio::time::timeout(settings.timeout, self.client.request(request)).await {
                    Ok(Ok(response)) => {
                        let ok =
                            response.status().is_success() || response.status().is_redirection();
                        drain(response).await;
                        ok
                    }
                    _ => false,
                }
            }
            Err(_) => false,
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

async fn drain(response: Response<Incoming>) {
    use http_body_util::BodyExt;
    let mut body = response.into_body();
    while let Some(Ok(_)) = body.frame().await {}
}
