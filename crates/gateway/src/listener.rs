//! Listeners and connections: accept under `max_connections`, the TLS
//! handshake (bounded by the header-read timeout) with client-certificate
//! identity, the protocol choice (HTTP/1.x served by `http1.rs`; HTTP/2 by
//! ALPN or the clear-text client preface, served by hyper), each
//! connection's watchdog (header-read, idle and upstream-response timeouts
//! without a timer per request), and graceful shutdown that lets in-flight
//! requests finish.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::body::{ClientBody, RequestBody};
use crate::phases::{self, AnswerBody, ClientRequest, ConnectionInfo};
use crate::state::Gateway;
use crate::tls::peer_identity;
use crate::wire::RequestFacts;

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

/// What one connection is doing, for its watchdog: requests in flight, when
/// it was last busy, and when the head of a not-yet-complete request began to
/// arrive. Updated with relaxed atomics by the connection; read by a
/// per-connection timer a few times per timeout period, which asks the
/// connection to close through [`ConnectionActivity::request_close`]. This
/// replaces a timer armed per request (a runtime wake-up syscall each time).
#[derive(Clone)]
pub struct ConnectionActivity(Arc<ActivityInner>);

struct ActivityInner {
    origin: Instant,
    in_flight: AtomicUsize,
    last_active_ms: AtomicU64,
    /// 0 when no request head is pending, else 1 + ms at its first byte.
    head_started_ms: AtomicU64,
    /// The connection speaks HTTP/2.
    http2: AtomicBool,
    /// HTTP/1.x only (one wait at a time): 0, or 1 + the ms by which the
    /// wait in progress (the upstream's response head, the next bytes of its
    /// body, a write to a client that reads slowly) must be over.
    deadline_ms: AtomicU64,
    deadline_passed: AtomicBool,
    deadline_waker: Mutex<Option<Waker>>,
    /// A [`Close`] the watchdog asked for (0 = none).
    close: AtomicU8,
    close_waker: Mutex<Option<Waker>>,
}

/// Keeps a request counted as in flight until dropped.
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

/// What the watchdog asks a connection to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Close {
    /// Finish what is in flight, then close (idle, or the gateway is draining).
    Gracefully = 1,
    /// Nothing in flight and already closing: close now.
    Now = 2,
    /// A request head is arriving too slowly: drop the connection.
    SlowHead = 3,
}

fn wake_slot(slot: &Mutex<Option<Waker>>) {
    let waker = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(waker) = waker {
        waker.wake();
    }
}

fn register(slot: &Mutex<Option<Waker>>, cx: &Context<'_>) {
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    match slot.as_ref() {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl ConnectionActivity {
    fn new() -> Self {
        Self(Arc::new(ActivityInner {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            head_started_ms: AtomicU64::new(0),
            http2: AtomicBool::new(false),
            deadline_ms: AtomicU64::new(0),
            deadline_passed: AtomicBool::new(false),
            deadline_waker: Mutex::new(None),
            close: AtomicU8::new(0),
            close_waker: Mutex::new(None),
        }))
    }

    fn mark_http2(&self) {
        self.0.http2.store(true, Ordering::Relaxed);
    }

    /// Marks a request as started until the returned guard is dropped.
    pub fn begin(&self) -> ActiveRequest {
        self.0.in_flight.fetch_add(1, Ordering::Relaxed);
        self.0.head_started_ms.store(0, Ordering::Relaxed);
        ActiveRequest(self.0.clone())
    }

    /// The first bytes of a request head arrived: its clock starts.
    pub fn head_started(&self) {
        let inner = &self.0;
        if inner.head_started_ms.load(Ordering::Relaxed) == 0 {
            inner
                .head_started_ms
                .store(inner.now_ms() + 1, Ordering::Relaxed);
        }
    }

    /// Whether this connection carries one request at a time (HTTP/1.x), so
    /// the watchdog can time its upstream wait.
    pub fn serves_one_request_at_a_time(&self) -> bool {
        !self.0.http2.load(Ordering::Relaxed)
    }

    /// Arms the deadline of the wait in progress; the watchdog fires it.
    /// Disarmed when the guard is dropped.
    pub fn arm_deadline(&self, limit: Duration) -> Deadline<'_> {
        let inner = &self.0;
        inner.deadline_passed.store(false, Ordering::Relaxed);
        let deadline = inner.now_ms() + limit.as_millis() as u64;
        inner.deadline_ms.store(deadline + 1, Ordering::Release);
        Deadline { inner }
    }

    /// Fires a deadline that has passed (called by the watchdog).
    fn fire_deadline(&self) {
        let inner = &self.0;
        let armed = inner.deadline_ms.load(Ordering::Acquire);
        if armed != 0 && inner.now_ms() + 1 >= armed {
            inner.deadline_passed.store(true, Ordering::Release);
            wake_slot(&inner.deadline_waker);
        }
    }

    /// Runs `wait` to completion or until `limit` has passed (`Err`). On an
    /// HTTP/1.x connection, which waits for one thing at a time, the deadline
    /// is kept by the watchdog, and armed only if the wait does not finish
    /// at once, so a wait that needs no waiting reads no clock; HTTP/2
    /// connections, with many streams at once, use a timer.
    pub async fn within<F: std::future::Future>(
        &self,
        limit: Duration,
        wait: F,
    ) -> Result<F::Output, ()> {
        if !self.serves_one_request_at_a_time() {
            return tokio::time::timeout(limit, wait).await.map_err(|_| ());
        }
        let mut wait = std::pin::pin!(wait);
        let mut deadline: Option<Deadline<'_>> = None;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = wait.as_mut().poll(cx) {
                return Poll::Ready(Ok(output));
            }
            let armed = deadline.get_or_insert_with(|| self.arm_deadline(limit));
            if armed.expired(cx) {
                return Poll::Ready(Err(()));
            }
            Poll::Pending
        })
        .await
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

    /// Asks the connection to close (a stronger request wins) and wakes it.
    fn request_close(&self, close: Close) {
        self.0.close.fetch_max(close as u8, Ordering::AcqRel);
        wake_slot(&self.0.close_waker);
    }

    /// The close asked for so far, if any.
    pub fn close_requested(&self) -> Option<Close> {
        match self.0.close.load(Ordering::Acquire) {
            0 => None,
            1 => Some(Close::Gracefully),
            2 => Some(Close::Now),
            _ => Some(Close::SlowHead),
        }
    }

    /// Like [`ConnectionActivity::close_requested`], waking `cx` when a
    /// close is asked for later.
    pub fn poll_close(&self, cx: &Context<'_>) -> Option<Close> {
        register(&self.0.close_waker, cx);
        self.close_requested()
    }
}

/// An armed deadline (see `arm_deadline`).
pub struct Deadline<'a> {
    inner: &'a ActivityInner,
}

impl Deadline<'_> {
    /// True once the deadline has passed; otherwise remembers `cx`'s waker
    /// so the watchdog can wake the request when it passes.
    pub fn expired(&self, cx: &Context<'_>) -> bool {
        register(&self.inner.deadline_waker, cx);
        self.inner.deadline_passed.load(Ordering::Acquire)
    }
}

impl Drop for Deadline<'_> {
    fn drop(&mut self) {
        self.inner.deadline_ms.store(0, Ordering::Release);
        self.inner
            .deadline_waker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

/// Watches one connection's activity; ends once the connection is gone.
async fn watchdog(
    activity: ConnectionActivity,
    idle_timeout: Duration,
    header_timeout: Duration,
    shortest_wait: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    // A few checks per the shortest timeout it enforces: a stalled head or a
    // late upstream is cut within ~1.25x its limit.
    let period =
        (idle_timeout.min(header_timeout).min(shortest_wait) / 4).max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing = *shutdown.borrow();
    if closing {
        activity.request_close(Close::Gracefully);
    }
    loop {
        tokio::select! {
            changed = shutdown.changed(), if !closing => {
                let _ = changed;
                closing = true;
                activity.request_close(Close::Gracefully);
            }
            _ = ticks.tick() => {
                // Only this task holds the activity: the connection has ended.
                if Arc::strong_count(&activity.0) == 1 {
                    return;
                }
                activity.fire_deadline();
                match activity.check(idle_timeout, header_timeout) {
                    Watch::Fine => {}
                    Watch::Idle if !closing => {
                        closing = true;
                        activity.request_close(Close::Gracefully);
                    }
                    Watch::Idle => activity.request_close(Close::Now),
                    Watch::SlowHead => activity.request_close(Close::SlowHead),
                }
            }
        }
    }
}

/// The start of the HTTP/2 client connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

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
    let idle_timeout = limits.idle_timeout.0;
    // The shortest of the waits the watchdog times for requests in flight.
    let shortest_wait = generation
        .policy
        .config
        .upstreams
        .values()
        .map(|u| u.response_timeout.0.min(u.read_timeout.0))
        .min()
        .unwrap_or(Duration::from_secs(30))
        .min(limits.send_timeout.0)
        .min(limits.body_read_timeout.0);
    let activity = ConnectionActivity::new();
    let tls = generation.listener_tls.get(index).cloned().flatten();
    let wants_ja4 = generation.bots.wants_ja4();
    drop(generation);
    // The watchdog runs beside the connection and only flags it, so serving
    // a request never touches a timer.
    tokio::spawn(watchdog(
        activity.clone(),
        idle_timeout,
        header_timeout,
        shortest_wait,
        shutdown,
    ));
    match tls {
        Some(tls_config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls_config);
            // The ClientHello is read first when a route scores bots (its
            // JA4), then replayed to rustls.
            let mut stream = stream;
            let handshake = async {
                let mut prefix = BytesMut::new();
                let ja4 = if wants_ja4 {
                    crate::bots::read_client_hello(&mut stream, &mut prefix).await
                } else {
                    None
                };
                let rewound = Rewind {
                    prefix,
                    inner: stream,
                };
                acceptor.accept(rewound).await.map(|s| (s, ja4))
            };
            let (tls_stream, ja4) = match tokio::time::timeout(header_timeout, handshake).await {
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
            let alpn_h2 = session.alpn_protocol() == Some(b"h2");
            let info = Arc::new(ConnectionInfo {
                peer,
                peer_text: crate::forwarding::ip_text(peer.ip()),
                tls: true,
                identity,
                activity,
                ja4,
            });
            if alpn_h2 {
                info.activity.mark_http2();
                serve_http2(&gateway, info, TokioIo::new(tls_stream)).await;
            } else {
                crate::http1::serve(&gateway, &info, tls_stream, BytesMut::new()).await;
            }
        }
        None => {
            let info = Arc::new(ConnectionInfo {
                peer,
                peer_text: crate::forwarding::ip_text(peer.ip()),
                tls: false,
                identity: None,
                activity,
                ja4: None,
            });
            let mut stream = stream;
            let mut buf = BytesMut::new();
            if http2 && !read_preface_prefix(&mut stream, &mut buf, &info.activity).await {
                return;
            }
            if http2 && buf.starts_with(H2_PREFACE) {
                info.activity.mark_http2();
                let io = TokioIo::new(Rewind {
                    prefix: buf,
                    inner: stream,
                });
                serve_http2(&gateway, info, io).await;
            } else {
                crate::http1::serve(&gateway, &info, stream, buf).await;
            }
        }
    }
    drop(slot);
}

/// Reads until the first bytes either are the HTTP/2 preface or cannot be.
/// False when the connection ended (or was told to close) first.
async fn read_preface_prefix(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    activity: &ConnectionActivity,
) -> bool {
    loop {
        let n = buf.len().min(H2_PREFACE.len());
        if buf[..n] != H2_PREFACE[..n] || n == H2_PREFACE.len() {
            return true;
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(16 * 1024);
        }
        let read = std::future::poll_fn(|cx| {
            if activity.poll_close(cx).is_some() {
                return Poll::Ready(None);
            }
            tokio_util::io::poll_read_buf(Pin::new(&mut *stream), cx, buf).map(Some)
        })
        .await;
        match read {
            Some(Ok(n)) if n > 0 => activity.head_started(),
            _ => return false,
        }
    }
}

/// Bytes already read from a stream, replayed before the rest of it.
struct Rewind<S> {
    prefix: BytesMut,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Serves an HTTP/2 connection with hyper; each stream goes through the
/// same phases as an HTTP/1.x request.
async fn serve_http2<I>(gateway: &Arc<Gateway>, info: Arc<ConnectionInfo>, io: I)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let builder = {
        let generation = gateway.generation.load();
        let limits = &generation.policy.config.limits;
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_concurrent_streams)
            .max_header_list_size(limits.max_header_bytes.0.min(u32::MAX as u64) as u32)
            .max_send_buf_size(256 * 1024);
        builder
    };
    let service_gateway = gateway.clone();
    let service_info = info.clone();
    let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
        let gateway = service_gateway.clone();
        let info = service_info.clone();
        async move {
            let active = info.activity.begin();
            let (parts, incoming) = request.into_parts();
            let facts = RequestFacts {
                // HTTP/2 has no upgrades and no `Connection` field.
                upgrade: false,
                connection_names_others: false,
                content_length_sent: parts.headers.contains_key(http::header::CONTENT_LENGTH),
            };
            let request = ClientRequest {
                method: parts.method,
                uri: parts.uri,
                version: parts.version,
                headers: parts.headers,
                facts,
            };
            let mut body = RequestBody::Http2(incoming);
            let answer = phases::serve(&gateway, &info, request, &mut body).await;
            let body = match answer.body {
                AnswerBody::Full(bytes) => ClientBody::full(bytes),
                AnswerBody::Upstream { prefix, body } => ClientBody::Upstream {
                    prefix,
                    body,
                    active: Some(active),
                    stall: None,
                },
                // HTTP/2 requests carry no upgrade (phases refuse a 101 to them).
                AnswerBody::Upgrade(_) => ClientBody::empty(),
            };
            let mut response = http::Response::new(body);
            *response.status_mut() = answer.status;
            *response.headers_mut() = answer
                .fields
                .into_header_map(answer.request_id, answer.extra);
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let activity = &info.activity;
    let mut graceful = false;
    loop {
        let next = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = connection.as_mut().poll(cx) {
                return Poll::Ready(Err(result));
            }
            match activity.poll_close(cx) {
                Some(Close::Gracefully) if graceful => Poll::Pending,
                Some(close) => Poll::Ready(Ok(close)),
                None => Poll::Pending,
            }
        })
        .await;
        match next {
            Err(result) => {
                if let Err(e) = result {
                    tracing::debug!(peer = %info.peer, error = %e, "HTTP/2 connection ended with an error");
                }
                return;
            }
            Ok(Close::Gracefully) => {
                graceful = true;
                connection.as_mut().graceful_shutdown();
            }
            Ok(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_head_is_timed_and_a_stalled_one_reported() {
        let activity = ConnectionActivity::new();
        assert!(matches!(
            activity.check(Duration::from_secs(60), Duration::ZERO),
            Watch::Fine
        ));
        activity.head_started();
        assert!(matches!(
            activity.check(Duration::from_secs(60), Duration::ZERO),
            Watch::SlowHead
        ));
        let request = activity.begin();
        assert!(matches!(
            activity.check(Duration::ZERO, Duration::ZERO),
            Watch::Fine
        ));
        drop(request);
        assert!(matches!(
            activity.check(Duration::ZERO, Duration::from_secs(60)),
            Watch::Idle
        ));
    }

    #[test]
    fn a_stronger_close_wins_and_wakes_the_connection() {
        let activity = ConnectionActivity::new();
        let woken = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let waker = Waker::from(Arc::new(Flag(woken.clone())));
        let cx = Context::from_waker(&waker);
        assert_eq!(activity.poll_close(&cx), None);
        activity.request_close(Close::SlowHead);
        assert!(woken.load(Ordering::SeqCst));
        activity.request_close(Close::Gracefully);
        assert_eq!(activity.close_requested(), Some(Close::SlowHead));
    }

    #[test]
    fn the_upstream_deadline_fires_only_while_armed() {
        let activity = ConnectionActivity::new();
        let waker = Waker::noop();
        let cx = Context::from_waker(waker);
        {
            let deadline = activity.arm_deadline(Duration::ZERO);
            assert!(!deadline.expired(&cx));
            activity.fire_deadline();
            assert!(deadline.expired(&cx));
        }
        let deadline = activity.arm_deadline(Duration::from_secs(60));
        activity.fire_deadline();
        assert!(!deadline.expired(&cx));
    }
}
