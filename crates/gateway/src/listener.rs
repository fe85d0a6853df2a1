//! Listeners and connections: accept under `max_connections`, the TLS
//! handshake (bounded by the header-read timeout) with client-certificate
//! identity, HTTP/1.1 and HTTP/2 (h2c prior knowledge or ALPN) with the
//! protocol limits, the idle timeout between requests, and graceful shutdown
//! that lets in-flight requests finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::phases::{self, ConnectionInfo};
use crate::state::Gateway;
use crate::tls::peer_identity;

/// Binds a listening socket with `SO_REUSEADDR` and a deep backlog.
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(address);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(4096)?;
    TcpListener::from_std(socket.into())
}

/// Requests in flight on one connection and when it was last busy, for the idle timeout.
#[derive(Clone)]
pub struct ConnectionActivity(Arc<ActivityInner>);

struct ActivityInner {
    origin: Instant,
    in_flight: AtomicUsize,
    last_active_ms: AtomicU64,
}

pub struct ActiveRequest(Arc<ActivityInner>);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.last_active_ms.store(
            self.0.origin.elapsed().as_millis() as u64,
            Ordering::Relaxed,
        );
    }
}

impl ConnectionActivity {
    fn new() -> Self {
        Self(Arc::new(ActivityInner {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
        }))
    }

    /// Marks a request as started until the returned guard is dropped.
    pub fn begin(&self) -> ActiveRequest {
        self.0.in_flight.fetch_add(1, Ordering::Relaxed);
        ActiveRequest(self.0.clone())
    }

    fn idle_for(&self) -> Option<Duration> {
        if self.0.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let now = self.0.origin.elapsed().as_millis() as u64;
        Some(Duration::from_millis(now.saturating_sub(
            self.0.last_active_ms.load(Ordering::Relaxed),
        )))
    }
}

struct ConnectionSlot(Arc<Gateway>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.connections.dec();
    }
}

/// Accepts connections until `shutdown` flips.
pub async fn accept_loop(
    gateway: Arc<Gateway>,
    index: usize,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let max = gateway
            .generation
            .load()
            .policy
            .config
            .limits
            .max_connections;
        if gateway.connections.fetch_add(1, Ordering::AcqRel) >= max {
            gateway.connections.fetch_sub(1, Ordering::AcqRel);
            gateway.metrics.connections_refused.inc();
            drop(stream);
            continue;
        }
        gateway.metrics.connections.inc();
        let slot = ConnectionSlot(gateway.clone());
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            slot,
            index,
            stream,
            peer,
            shutdown.clone(),
        ));
    }
}

async fn serve_connection(
    slot: ConnectionSlot,
    index: usize,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    let gateway = slot.0.clone();
    let generation = gateway.generation.load_full();
    let limits = &generation.policy.config.limits;
    let listener = &generation.policy.config.listeners[index];
    let http2 = listener.http2;
    let header_timeout = limits.header_read_timeout.0;
    match generation.listener_tls.get(index).cloned().flatten() {
        Some(tls_config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls_config);
            let tls_stream =
                match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let session = tls_stream.get_ref().1;
            let identity = session
                .peer_certificates()
                .and_then(|c| c.first())
                .map(peer_identity);
            let negotiated_h2 = session.alpn_protocol() == Some(b"h2");
            let mode = if negotiated_h2 {
                Protocols::Http2
            } else {
                Protocols::Http1
            };
            drop(generation);
            serve_http(
                slot,
                TokioIo::new(tls_stream),
                peer,
                true,
                identity,
                mode,
                shutdown,
            )
            .await;
        }
        None => {
            let mode = if http2 {
                Protocols::Auto
            } else {
                Protocols::Http1
            };
            drop(generation);
            serve_http(
                slot,
                TokioIo::new(stream),
                peer,
                false,
                None,
                mode,
                shutdown,
            )
            .await;
        }
    }
}

enum Protocols {
    Auto,
    Http1,
    Http2,
}

async fn serve_http<I>(
    slot: ConnectionSlot,
    io: I,
    peer: SocketAddr,
    tls: bool,
    identity: Option<portcullis_policy::PeerIdentity>,
    protocols: Protocols,
    mut shutdown: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let gateway = slot.0.clone();
    let (idle_timeout, builder) = {
        let generation = gateway.generation.load();
        let limits = &generation.policy.config.limits;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout.0)
            .max_buf_size((limits.max_header_bytes.0 as usize + 1024).max(64 * 1024))
            .max_headers(limits.max_headers.saturating_mul(2).max(100))
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_concurrent_streams)
            .max_header_list_size(limits.max_header_bytes.0.min(u32::MAX as u64) as u32)
            .max_send_buf_size(256 * 1024);
        let builder = match protocols {
            Protocols::Auto => builder,
            Protocols::Http1 => builder.http1_only(),
            Protocols::Http2 => builder.http2_only(),
        };
        (limits.idle_timeout.0, builder)
    };
    let activity = ConnectionActivity::new();
    let info = Arc::new(ConnectionInfo {
        peer,
        tls,
        identity,
        activity: activity.clone(),
    });
    let service_gateway = gateway.clone();
    let service =
        service_fn(move |request| phases::handle(service_gateway.clone(), info.clone(), request));
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let mut idle_check = tokio::time::interval_at(
        tokio::time::Instant::now() + idle_timeout / 2,
        idle_timeout / 2,
    );
    let mut closing = *shutdown.borrow();
    if closing {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            changed = shutdown.changed(), if !closing => {
                let _ = changed;
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = idle_check.tick(), if !closing => {
                if activity.idle_for().is_some_and(|idle| idle >= idle_timeout) {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
    drop(slot);
}
