//! Listeners and connections: accept under `max_connections`, the TLS
//! handshake (bounded by the header-read timeout) with client-certificate
//! identity, HTTP/1.1 and HTTP/2 (h2c prior knowledge or ALPN) with the
//! protocol limits, the idle timeout between requests, and graceful shutdown
//! that lets in-flight requests finish.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use portcullis_policy::protocol::FramingScanner;
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

/// What one connection is doing, for its watchdog: requests in flight, when
/// it was last busy, and when the head of a not-yet-complete request began to
/// arrive. Updated with relaxed atomics from the I/O and the service; read by
/// a per-connection timer a few times per timeout period. This replaces a
/// timer armed per request (which costs a runtime wake-up syscall each time).
#[derive(Clone)]
pub struct ConnectionActivity(Arc<ActivityInner>);

struct ActivityInner {
    origin: Instant,
    in_flight: AtomicUsize,
    last_active_ms: AtomicU64,
    /// 0 when no request head is pending, else 1 + ms at its first byte.
    head_started_ms: AtomicU64,
    /// The raw head of the request being read named both Content-Length and
    /// Transfer-Encoding (see `FramingScanner`).
    ambiguous_framing: AtomicBool,
    /// The connection speaks HTTP/2.
    http2: AtomicBool,
    /// HTTP/1.x only (one request at a time): 0, or 1 + the ms by which the
    /// upstream must have answered the request in flight.
    upstream_deadline_ms: AtomicU64,
    upstream_timed_out: AtomicBool,
    upstream_waker: std::sync::Mutex<Option<std::task::Waker>>,
    /// How many leading bytes of the connection matched the HTTP/2 client
    /// preface so far (`PREFACE_DECIDED` once it is known either way).
    preface_matched: AtomicUsize,
}

pub struct ActiveRequest(Arc<ActivityInner>);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0
            .last_active_ms
            .store(self.0.now_ms(), Ordering::Relaxed);
    }
}

impl ActivityInner {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
}

enum Watch {
    Fine,
    /// No request for longer than the idle timeout.
    Idle,
    /// A request head has been arriving for longer than the header timeout.
    SlowHead,
}

impl ConnectionActivity {
    fn mark_http2(&self) {
        self.0.http2.store(true, Ordering::Relaxed);
    }

    fn new() -> Self {
        Self(Arc::new(ActivityInner {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            head_started_ms: AtomicU64::new(0),
            ambiguous_framing: AtomicBool::new(false),
            http2: AtomicBool::new(false),
            upstream_deadline_ms: AtomicU64::new(0),
            upstream_timed_out: AtomicBool::new(false),
            upstream_waker: std::sync::Mutex::new(None),
            preface_matched: AtomicUsize::new(0),
        }))
    }

    /// Marks a request as started until the returned guard is dropped.
    pub fn begin(&self) -> ActiveRequest {
        self.0.in_flight.fetch_add(1, Ordering::Relaxed);
        self.0.head_started_ms.store(0, Ordering::Relaxed);
        ActiveRequest(self.0.clone())
    }

    /// Called when bytes arrive: between requests, they start a new head,
    /// which the framing scanner reads until its end. HTTP/2 connections
    /// (ALPN, or the client preface in clear text) carry frames between
    /// requests, so they are not tracked as heads.
    fn bytes_arrived(&self, bytes: &[u8], scanner: &mut FramingScanner) {
        let inner = &self.0;
        if inner.http2.load(Ordering::Relaxed) {
            return;
        }
        // The preface may arrive split over several reads: match it as it comes.
        let matched = inner.preface_matched.load(Ordering::Relaxed);
        if matched < PREFACE_DECIDED {
            let want = &H2_PREFACE[matched..];
            let n = want.len().min(bytes.len());
            if bytes[..n] == want[..n] {
                if matched + n == H2_PREFACE.len() {
                    inner.http2.store(true, Ordering::Relaxed);
                    inner
                        .preface_matched
                        .store(PREFACE_DECIDED, Ordering::Relaxed);
                } else {
                    inner.preface_matched.store(matched + n, Ordering::Relaxed);
                }
                return;
            }
            inner
                .preface_matched
                .store(PREFACE_DECIDED, Ordering::Relaxed);
        }
        if inner.in_flight.load(Ordering::Relaxed) == 0
            && inner.head_started_ms.load(Ordering::Relaxed) == 0
        {
            inner
                .head_started_ms
                .store(inner.now_ms() + 1, Ordering::Relaxed);
            scanner.start_head();
        }
        if scanner.in_head() {
            scanner.feed(bytes);
            if scanner.ambiguous() {
                inner.ambiguous_framing.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Whether the head of the request now being served had ambiguous
    /// framing; clears the flag.
    pub fn take_ambiguous_framing(&self) -> bool {
        self.0.ambiguous_framing.swap(false, Ordering::Relaxed)
    }

    /// Whether this connection carries one request at a time (HTTP/1.x), so
    /// the watchdog can time its upstream wait.
    pub fn serves_one_request_at_a_time(&self) -> bool {
        !self.0.http2.load(Ordering::Relaxed)
    }

    /// Arms the upstream response deadline of the request in flight; the
    /// watchdog fires it. Disarmed when the guard is dropped.
    pub fn arm_upstream_deadline(&self, limit: Duration) -> UpstreamDeadline<'_> {
        let inner = &self.0;
        inner.upstream_timed_out.store(false, Ordering::Relaxed);
        let deadline = inner.now_ms() + limit.as_millis() as u64;
        inner
            .upstream_deadline_ms
            .store(deadline + 1, Ordering::Release);
        UpstreamDeadline { inner }
    }

    /// Fires an upstream deadline that has passed (called by the watchdog).
    fn fire_upstream_deadline(&self) {
        let inner = &self.0;
        let armed = inner.upstream_deadline_ms.load(Ordering::Acquire);
        if armed != 0 && inner.now_ms() + 1 >= armed {
            inner.upstream_timed_out.store(true, Ordering::Release);
            let waker = inner
                .upstream_waker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    fn check(&self, idle_timeout: Duration, header_timeout: Duration) -> Watch {
        let inner = &self.0;
        if inner.in_flight.load(Ordering::Relaxed) > 0 {
            return Watch::Fine;
        }
        let now = inner.now_ms();
        let head = inner.head_started_ms.load(Ordering::Relaxed);
        if head != 0 {
            if now.saturating_sub(head - 1) >= header_timeout.as_millis() as u64 {
                return Watch::SlowHead;
            }
            return Watch::Fine;
        }
        if now.saturating_sub(inner.last_active_ms.load(Ordering::Relaxed))
            >= idle_timeout.as_millis() as u64
        {
            return Watch::Idle;
        }
        Watch::Fine
    }
}

/// The start of the HTTP/2 client connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";
/// `preface_matched` once the connection is known to be HTTP/2 or not.
const PREFACE_DECIDED: usize = usize::MAX;

/// Client I/O that reports arriving bytes to the connection's watchdog.
struct WatchedIo<T> {
    inner: T,
    activity: ConnectionActivity,
    scanner: FramingScanner,
}

impl<T> WatchedIo<T> {
    fn new(inner: T, activity: &ConnectionActivity) -> Self {
        Self {
            inner,
            activity: activity.clone(),
            scanner: FramingScanner::default(),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity
                .bytes_arrived(&buf.filled()[before..], &mut this.scanner);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
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
    let http2 = generation.policy.config.listeners[index].http2;
    let header_timeout = limits.header_read_timeout.0;
    let activity = ConnectionActivity::new();
    // The watched stream is the plaintext one: above TLS when there is TLS.
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
            let mode = if session.alpn_protocol() == Some(b"h2") {
                activity.mark_http2();
                Protocols::Http2
            } else {
                Protocols::Http1
            };
            drop(generation);
            let io = TokioIo::new(WatchedIo::new(tls_stream, &activity));
            let connection = Connection {
                slot,
                peer,
                tls: true,
                identity,
                activity,
            };
            serve_http(connection, io, mode, shutdown).await;
        }
        None => {
            let mode = if http2 {
                Protocols::Auto
            } else {
                Protocols::Http1
            };
            drop(generation);
            let io = TokioIo::new(WatchedIo::new(stream, &activity));
            let connection = Connection {
                slot,
                peer,
                tls: false,
                identity: None,
                activity,
            };
            serve_http(connection, io, mode, shutdown).await;
        }
    }
}

/// An armed upstream response deadline (see `arm_upstream_deadline`).
pub struct UpstreamDeadline<'a> {
    inner: &'a ActivityInner,
}

impl UpstreamDeadline<'_> {
    /// True once the deadline has passed; otherwise remembers `cx`'s waker
    /// so the watchdog can wake the request when it passes.
    pub fn expired(&self, cx: &Context<'_>) -> bool {
        {
            let mut slot = self
                .inner
                .upstream_waker
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match slot.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        self.inner.upstream_timed_out.load(Ordering::Acquire)
    }
}

impl Drop for UpstreamDeadline<'_> {
    fn drop(&mut self) {
        self.inner.upstream_deadline_ms.store(0, Ordering::Release);
        self.inner
            .upstream_waker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

/// What the watchdog tells a connection to do.
enum Close {
    /// Finish what is in flight, then close (idle, or the gateway is draining).
    Gracefully,
    /// Nothing in flight and already closing: close now.
    Now,
    /// A request head is arriving too slowly: drop the connection.
    SlowHead,
}

/// Watches one connection's activity; ends when the connection does.
async fn watchdog(
    activity: ConnectionActivity,
    idle_timeout: Duration,
    header_timeout: Duration,
    response_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    commands: tokio::sync::mpsc::UnboundedSender<Close>,
) {
    // A few checks per the shortest timeout it enforces: a stalled head or a
    // late upstream is cut within ~1.25x its limit.
    let period =
        (idle_timeout.min(header_timeout).min(response_timeout) / 4).max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing = *shutdown.borrow();
    if closing && commands.send(Close::Gracefully).is_err() {
        return;
    }
    loop {
        tokio::select! {
            _ = commands.closed() => return,
            changed = shutdown.changed(), if !closing => {
                let _ = changed;
                closing = true;
                if commands.send(Close::Gracefully).is_err() {
                    return;
                }
            }
            _ = ticks.tick() => {
                activity.fire_upstream_deadline();
                let command = match activity.check(idle_timeout, header_timeout) {
                    Watch::Fine => continue,
                    Watch::Idle if !closing => {
                        closing = true;
                        Close::Gracefully
                    }
                    Watch::Idle => Close::Now,
                    Watch::SlowHead => Close::SlowHead,
                };
                if commands.send(command).is_err() {
                    return;
                }
            }
        }
    }
}

enum Protocols {
    Auto,
    Http1,
    Http2,
}

struct Connection {
    slot: ConnectionSlot,
    peer: SocketAddr,
    tls: bool,
    identity: Option<portcullis_policy::PeerIdentity>,
    activity: ConnectionActivity,
}

async fn serve_http<I>(
    connection: Connection,
    io: I,
    protocols: Protocols,
    shutdown: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let Connection {
        slot,
        peer,
        tls,
        identity,
        activity,
    } = connection;
    let gateway = slot.0.clone();
    let (idle_timeout, header_timeout, response_timeout, builder) = {
        let generation = gateway.generation.load();
        let limits = &generation.policy.config.limits;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // No hyper header timer: the watchdog below enforces header_read_timeout
        // without arming a timer per request.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_buf_size((limits.max_header_bytes.0 as usize + 1024).max(64 * 1024))
            .keep_alive(true)
            // One copied buffer and a plain write measured cheaper here than
            // writev over several small slices (docs/performance.md).
            .writev(false);
        // hyper parses up to 100 header fields in stack arrays; an explicit
        // limit above that makes it allocate index arrays of that size on
        // every request. Up to 100, the admission check enforces the
        // configured count (with a problem+json answer).
        if limits.max_headers > 100 {
            builder.http1().max_headers(limits.max_headers);
        }
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
        let response_timeout = generation
            .policy
            .config
            .upstreams
            .values()
            .map(|u| u.response_timeout.0)
            .min()
            .unwrap_or(Duration::from_secs(30));
        (
            limits.idle_timeout.0,
            limits.header_read_timeout.0,
            response_timeout,
            builder,
        )
    };
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
    // The watchdog runs beside the connection and only sends it a command,
    // so serving a request never touches a timer.
    let (commands, mut command_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(watchdog(
        activity,
        idle_timeout,
        header_timeout,
        response_timeout,
        shutdown,
        commands,
    ));
    loop {
        tokio::select! {
            biased;
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            command = command_rx.recv() => match command {
                Some(Close::Gracefully) => connection.as_mut().graceful_shutdown(),
                Some(Close::SlowHead) => {
                    tracing::debug!(%peer, "request head not received within header_read_timeout; closing");
                    break;
                }
                Some(Close::Now) | None => break,
            },
        }
    }
    drop(slot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_http2_preface_is_recognised_and_not_timed_as_a_head() {
        let activity = ConnectionActivity::new();
        let mut scanner = FramingScanner::default();
        activity.bytes_arrived(b"PRI * HT", &mut scanner);
        activity.bytes_arrived(b"TP/2.0\r\n\r\nSM\r\n\r\n", &mut scanner);
        assert!(activity.0.http2.load(Ordering::Relaxed));
        activity.bytes_arrived(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00", &mut scanner);
        assert_eq!(activity.0.head_started_ms.load(Ordering::Relaxed), 0);
        assert!(matches!(
            activity.check(Duration::from_secs(60), Duration::ZERO),
            Watch::Fine
        ));
    }

    #[test]
    fn an_http1_head_starts_the_header_clock_and_a_stalled_one_is_reported() {
        let activity = ConnectionActivity::new();
        let mut scanner = FramingScanner::default();
        activity.bytes_arrived(b"P", &mut scanner);
        activity.bytes_arrived(b"OST /a HTTP/1.1\r\nContent-Length: 1\r\n", &mut scanner);
        assert!(!activity.0.http2.load(Ordering::Relaxed));
        assert_ne!(activity.0.head_started_ms.load(Ordering::Relaxed), 0);
        assert!(matches!(
            activity.check(Duration::from_secs(60), Duration::ZERO),
            Watch::SlowHead
        ));
        activity.bytes_arrived(b"Transfer-Encoding: chunked\r\n\r\n", &mut scanner);
        assert!(activity.take_ambiguous_framing());
        let _request = activity.begin();
        assert!(matches!(
            activity.check(Duration::ZERO, Duration::ZERO),
            Watch::Fine
        ));
    }
}
