//! Client-facing HTTP/1.x connections, plain or over TLS: reads each request
//! head into the connection's buffer and parses it once (`wire.rs`), hands
//! the request with its framed body to the phases, and writes the answer —
//! a whole body with its length, an upstream body streamed (with its length,
//! chunked, or until close for HTTP/1.0 clients), or a `101` followed by a
//! tunnel. Keep-alive, pipelining, `Expect: 100-continue` and graceful close
//! live here.
//!
//! One task per connection does everything, reads and writes alike; no
//! timer is armed per request (the connection's watchdog flags it instead).

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::body::{Http1Body, RequestBody, Unread};
use crate::listener::ConnectionActivity;
use crate::phases::{self, Answer, AnswerBody, AnswerFields, ClientRequest, ConnectionInfo};
use crate::splice::{self, SplicePipe};
use crate::state::Gateway;
use crate::upstream_connection::UpstreamConnection;
use crate::wire::{self, HeadError};

/// Read buffer growth step while a head is read.
const HEAD_CHUNK: usize = 4 * 1024;
/// Read buffer growth step while a body is dropped.
const READ_CHUNK: usize = 16 * 1024;
/// An idle connection keeps at most this much read buffer.
const IDLE_BUFFER: usize = 32 * 1024;
/// Body data up to this size is copied behind the head (one write).
const COPY_BYTES: usize = 16 * 1024;
/// A request body left unread (the request was refused) is read and
/// dropped up to this size, to keep the connection; larger ones close it.
const DRAIN_BYTES: u64 = 64 * 1024;

/// A client connection's transport. Plain TCP can take upstream bodies
/// spliced into it (`splice.rs`); TLS needs every byte encrypted here.
pub trait ClientTransport: AsyncRead + AsyncWrite + Unpin + Send {
    fn plain_tcp(&self) -> Option<&tokio::net::TcpStream>;
}

impl ClientTransport for tokio::net::TcpStream {
    fn plain_tcp(&self) -> Option<&tokio::net::TcpStream> {
        Some(self)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientTransport
    for tokio_rustls::server::TlsStream<T>
{
    fn plain_tcp(&self) -> Option<&tokio::net::TcpStream> {
        None
    }
}

/// Serves requests on one connection until either side closes it.
pub async fn serve<S: ClientTransport>(
    gateway: &Arc<Gateway>,
    info: &Arc<ConnectionInfo>,
    mut io: S,
    buf: BytesMut,
) {
    let mut buf = buf;
    let (max_head, max_headers, max_uri, body_read_timeout, send_timeout) = {
        let generation = gateway.generation.load();
        let limits = &generation.policy.config.limits;
        (
            // Admission measures the head exactly (431 with its rule); the
            // raw buffer only needs a bound.
            limits.max_header_bytes.0 as usize + 1024,
            limits.max_headers,
            limits.max_uri_bytes.0 as usize,
            limits.body_read_timeout.0,
            limits.send_timeout.0,
        )
    };
    let activity = &info.activity;
    let served = |version, is_head| Served {
        version,
        is_head,
        activity,
        send_timeout,
    };
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    // Made on the first large body this connection forwards, then reused.
    let mut pipe: Option<SplicePipe> = None;
    loop {
        // A large body grew the buffer: idle connections do not keep that.
        if buf.is_empty() && buf.capacity() > IDLE_BUFFER {
            buf = BytesMut::new();
        }
        // ── Phase: connection — the next request head ──────────────────
        let head_len = match read_head(&mut io, &mut buf, activity, max_head).await {
            HeadRead::Complete(len) => len,
            HeadRead::Closed => return,
            HeadRead::TooLarge { request_line_len } => {
                let active = activity.begin();
                let uri_too_long = request_line_len.is_none_or(|n| n > max_uri + 16);
                let answer = phases::refuse_head(
                    gateway,
                    info,
                    if uri_too_long {
                        HeadError::TooLarge {
                            request_line_complete: false,
                        }
                    } else {
                        HeadError::TooLarge {
                            request_line_complete: true,
                        }
                    },
                );
                let _ = write_answer(
                    &mut io,
                    &mut out,
                    &mut None,
                    answer,
                    &served(Version::HTTP_11, false),
                    true,
                )
                .await;
                drop(active);
                return;
            }
        };
        let active = activity.begin();
        let head = match wire::parse_request_head(&mut buf, head_len, max_headers) {
            Ok(head) => head,
            Err(error) => {
                tracing::debug!(peer = %info.peer, %error, "unparsable request head");
                let answer = phases::refuse_head(gateway, info, error);
                let _ = write_answer(
                    &mut io,
                    &mut out,
                    &mut None,
                    answer,
                    &served(Version::HTTP_11, false),
                    true,
                )
                .await;
                return;
            }
        };
        let version = head.version;
        let is_head = head.method == Method::HEAD;
        let framing = head.framing;
        let continue_expected = head.expect_continue;
        let request = ClientRequest {
            method: head.method,
            uri: head.uri,
            version,
            headers: head.headers,
            facts: head.facts,
        };

        // ── Phases: request → upstream → response head ─────────────────
        let (answer, unread) = {
            let mut body = match framing {
                Some(f) => {
                    RequestBody::Http1(Http1Body::new(&mut io, &mut buf, f, continue_expected))
                }
                // Untrustworthy framing: admission refuses the request and
                // the connection closes after the answer; nothing is read.
                None => RequestBody::Empty,
            };
            let answer = phases::serve(gateway, info, request, &mut body).await;
            let unread = match &body {
                RequestBody::Http1(b) => b.unread(),
                _ => Unread::Nothing,
            };
            (answer, unread)
        };
        let mut close =
            !head.keep_alive || framing.is_none() || activity.close_requested().is_some();
        let drain = match unread {
            Unread::Nothing => None,
            Unread::Bytes(n) if n <= DRAIN_BYTES => Some(n),
            _ => {
                close = true;
                None
            }
        };

        // ── Phase: response body ───────────────────────────────────────
        let kept = match answer.body {
            AnswerBody::Upgrade(upstream) => {
                tunnel(
                    &mut io,
                    &mut out,
                    &mut buf,
                    answer.status,
                    &answer.fields,
                    upstream,
                )
                .await;
                return;
            }
            _ => {
                write_answer(
                    &mut io,
                    &mut out,
                    &mut pipe,
                    answer,
                    &served(version, is_head),
                    close,
                )
                .await
            }
        };
        let keep = matches!(kept, Ok(true)) && !close;
        if keep && let Some(n) = drain {
            let drained = tokio::time::timeout(body_read_timeout, discard(&mut io, &mut buf, n));
            if !matches!(drained.await, Ok(Ok(()))) {
                return;
            }
        }
        drop(active);
        if !keep {
            let _ = io.shutdown().await;
            return;
        }
    }
}

enum HeadRead {
    Complete(usize),
    /// The client closed, the read failed, or the connection was told to close.
    Closed,
    /// No head end within the limit; the request line's length if it ended.
    TooLarge {
        request_line_len: Option<usize>,
    },
}

/// Reads until `buf` holds a complete request head.
async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    activity: &ConnectionActivity,
    max_head: usize,
) -> HeadRead {
    let mut scanned = 0;
    loop {
        if !buf.is_empty() {
            activity.head_started();
            if let Some(len) = wire::find_head_end(buf, &mut scanned) {
                return HeadRead::Complete(len);
            }
            if buf.len() > max_head {
                return HeadRead::TooLarge {
                    request_line_len: memchr::memchr(b'\n', buf),
                };
            }
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(HEAD_CHUNK);
        }
        // Between requests (and while a head arrives) the watchdog may ask
        // the connection to close: nothing is in flight, so it closes.
        let read = std::future::poll_fn(|cx| {
            if activity.poll_close(cx).is_some() {
                return Poll::Ready(None);
            }
            tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, buf).map(Some)
        })
        .await;
        match read {
            Some(Ok(n)) if n > 0 => {}
            _ => return HeadRead::Closed,
        }
    }
}

/// Reads and drops `n` bytes of an unwanted request body.
async fn discard<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    mut n: u64,
) -> std::io::Result<()> {
    loop {
        let take = (buf.len() as u64).min(n) as usize;
        let _ = buf.split_to(take);
        n -= take as u64;
        if n == 0 {
            return Ok(());
        }
        buf.reserve(READ_CHUNK);
        if io.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// How the client learns where the body ends.
enum ClientFraming {
    /// Declared by the answer's own fields (HEAD answers, 204, 304), or none.
    AsIs,
    Length(u64),
    Chunked,
    /// HTTP/1.0 clients of a body of unknown length: it ends with the connection.
    UntilClose,
}

/// Writes an answer. Returns whether the connection can carry another
/// request afterwards.
async fn write_answer<S: ClientTransport>(
    io: &mut S,
    out: &mut Vec<u8>,
    pipe: &mut Option<SplicePipe>,
    answer: Answer,
    request: &Served<'_>,
    mut close: bool,
) -> std::io::Result<bool> {
    let Served {
        version,
        is_head,
        activity,
        send_timeout,
    } = *request;
    let mut sink = Sink {
        io,
        activity,
        limit: send_timeout,
    };
    let Answer {
        status,
        fields,
        request_id,
        extra,
        body,
    } = answer;
    let no_body = is_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = match &body {
        AnswerBody::Full(bytes) => {
            if no_body || (bytes.is_empty() && fields.contains(&header::CONTENT_LENGTH)) {
                ClientFraming::AsIs
            } else {
                ClientFraming::Length(bytes.len() as u64)
            }
        }
        AnswerBody::Upstream { prefix, body } => match body.remaining_length() {
            _ if no_body => ClientFraming::AsIs,
            Some(n) => ClientFraming::Length(n + prefix.as_ref().map_or(0, |p| p.len() as u64)),
            None if version == Version::HTTP_11 => ClientFraming::Chunked,
            None => {
                close = true;
                ClientFraming::UntilClose
            }
        },
        AnswerBody::Upgrade(_) => ClientFraming::AsIs,
    };
    out.clear();
    push_head(
        out,
        status,
        &fields,
        request_id.as_ref(),
        &extra,
        &framing,
        version,
        close,
    );
    match body {
        AnswerBody::Full(bytes) => {
            if no_body || bytes.is_empty() {
                sink.write_all(out).await?;
            } else if bytes.len() <= COPY_BYTES {
                out.extend_from_slice(&bytes);
                sink.write_all(out).await?;
            } else {
                sink.write_vectored(&mut [IoSlice::new(out), IoSlice::new(&bytes)])
                    .await?;
            }
        }
        AnswerBody::Upstream { prefix, mut body } => {
            if no_body {
                sink.write_all(out).await?;
                return Ok(!close && body.is_done());
            }
            let first = prefix.or_else(|| body.take_buffered());
            let chunked = matches!(framing, ClientFraming::Chunked);
            match first {
                Some(data) if chunked => {
                    push_chunk(out, &data);
                    sink.write_all(out).await?;
                }
                Some(data) if data.len() <= COPY_BYTES => {
                    out.extend_from_slice(&data);
                    sink.write_all(out).await?;
                }
                Some(data) => {
                    sink.write_vectored(&mut [IoSlice::new(out), IoSlice::new(&data)])
                        .await?;
                }
                None => sink.write_all(out).await?,
            }
            loop {
                if !chunked
                    && let Some(client) = sink.io.plain_tcp()
                    && let Some((upstream, left)) = body.unread_plain()
                    && left >= splice::MIN_SPLICE_BYTES
                    && let Some(through) = splice_pipe(pipe)
                {
                    let waits = splice::Waits {
                        activity,
                        read_timeout: body.read_timeout(),
                        send_timeout,
                    };
                    match splice::forward(through, upstream, client, left, &waits).await {
                        Ok(()) => {
                            body.unread_forwarded();
                            break;
                        }
                        Err(error) => {
                            // The pipe may hold bytes of this body: never reused.
                            *pipe = None;
                            tracing::debug!(%error, "spliced response body failed; cutting the response");
                            return Ok(false);
                        }
                    }
                }
                let next = activity.within(body.read_timeout(), body.data()).await;
                let Ok(next) = next else {
                    tracing::debug!(
                        "upstream response body stalled past read_timeout; cutting the response"
                    );
                    return Ok(false);
                };
                match next {
                    Ok(Some(data)) if chunked => {
                        out.clear();
                        wire::push_chunk_header(out, data.len());
                        sink.write_vectored(&mut [
                            IoSlice::new(out),
                            IoSlice::new(&data),
                            IoSlice::new(b"\r\n"),
                        ])
                        .await?;
                    }
                    Ok(Some(data)) => sink.write_all(&data).await?,
                    Ok(None) => break,
                    Err(e) => {
                        // The client cannot be told in band: cut its connection.
                        tracing::debug!(error = %e, "upstream response body failed");
                        return Ok(false);
                    }
                }
            }
            if chunked {
                sink.write_all(b"0\r\n\r\n").await?;
            }
        }
        AnswerBody::Upgrade(_) => sink.write_all(out).await?,
    }
    Ok(!close)
}

/// The connection's splice pipe, made on first use; `None` (copy instead)
/// if the process is out of file descriptors.
fn splice_pipe(pipe: &mut Option<SplicePipe>) -> Option<&SplicePipe> {
    if pipe.is_none() {
        match SplicePipe::new() {
            Ok(p) => *pipe = Some(p),
            Err(error) => {
                tracing::debug!(%error, "no splice pipe; copying the response body");
                return None;
            }
        }
    }
    pipe.as_ref()
}

/// What the writer needs to know of the request it answers.
#[derive(Clone, Copy)]
struct Served<'a> {
    version: Version,
    is_head: bool,
    activity: &'a ConnectionActivity,
    send_timeout: std::time::Duration,
}

/// The client side of a connection, written under `limits.send_timeout`: a
/// write that cannot finish in time (the client stopped reading) fails.
struct Sink<'a, S> {
    io: &'a mut S,
    activity: &'a ConnectionActivity,
    limit: std::time::Duration,
}

fn send_timed_out() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "client did not read the response within send_timeout",
    )
}

impl<S: AsyncWrite + Unpin> Sink<'_, S> {
    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let write = self.io.write_all(bytes);
        self.activity
            .within(self.limit, write)
            .await
            .map_err(|()| send_timed_out())?
    }

    async fn write_vectored(&mut self, slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
        let write = write_all_vectored(self.io, slices);
        self.activity
            .within(self.limit, write)
            .await
            .map_err(|()| send_timed_out())?
    }
}

/// Appends one chunk (header, data, line end) to `out`.
fn push_chunk(out: &mut Vec<u8>, data: &Bytes) {
    wire::push_chunk_header(out, data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[allow(clippy::too_many_arguments)]
fn push_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    fields: &AnswerFields,
    request_id: Option<&(HeaderName, HeaderValue)>,
    extra: &[(HeaderName, HeaderValue)],
    framing: &ClientFraming,
    version: Version,
    close: bool,
) {
    wire::push_status_line(out, status);
    let mut has_date = false;
    let reframed = !matches!(framing, ClientFraming::AsIs);
    let mut field = |name: &[u8], value: &[u8]| {
        if name.eq_ignore_ascii_case(b"date") {
            has_date = true;
        } else if (reframed && name.eq_ignore_ascii_case(b"content-length"))
            || request_id.is_some_and(|(id, _)| name.eq_ignore_ascii_case(id.as_str().as_bytes()))
        {
            return;
        }
        wire::push_field(out, name, value);
    };
    match fields {
        AnswerFields::Generated(map) => {
            for (name, value) in map {
                field(name.as_str().as_bytes(), value.as_bytes());
            }
        }
        AnswerFields::Upstream(raw) => {
            for (name, value) in raw.iter() {
                field(name, value);
            }
        }
    }
    if let Some((name, value)) = request_id {
        wire::push_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    for (name, value) in extra {
        wire::push_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !has_date {
        push_date(out);
    }
    match framing {
        ClientFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            wire::push_decimal(out, *n);
            out.extend_from_slice(b"\r\n");
        }
        ClientFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        ClientFraming::AsIs | ClientFraming::UntilClose => {}
    }
    if status == StatusCode::SWITCHING_PROTOCOLS {
        out.extend_from_slice(b"connection: upgrade\r\n");
    } else if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a `date` field; the text is formatted once per second per thread.
fn push_date(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    thread_local! {
        static CACHED: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != now {
            *cached = (now, crate::audit::http_date(now));
        }
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(&cached.1);
        out.extend_from_slice(b"\r\n");
    });
}

/// Writes every slice, in order, with as few system calls as the socket allows.
async fn write_all_vectored<S: AsyncWrite + Unpin>(
    io: &mut S,
    mut slices: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    while !slices.is_empty() {
        let n = io.write_vectored(slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// After a `101`: writes its head, then joins the client and upstream
/// connections until either side closes. Bytes either side sent early (in
/// the read buffers) go first.
async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    out: &mut Vec<u8>,
    buf: &mut BytesMut,
    status: StatusCode,
    fields: &AnswerFields,
    mut upstream: UpstreamConnection,
) {
    out.clear();
    push_head(
        out,
        status,
        fields,
        None,
        &[],
        &ClientFraming::AsIs,
        Version::HTTP_11,
        false,
    );
    if !upstream.read_buf.is_empty() {
        out.extend_from_slice(&upstream.read_buf.split());
    }
    if io.write_all(out).await.is_err() {
        return;
    }
    if !buf.is_empty() && upstream.stream.write_all(&buf.split()).await.is_err() {
        return;
    }
    if let Err(e) = tokio::io::copy_bidirectional(io, &mut upstream.stream).await {
        tracing::debug!(error = %e, "upgraded connection ended with an error");
    }
}
