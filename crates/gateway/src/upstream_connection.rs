//! One HTTP/1.1 connection to an upstream endpoint (plain or TLS), spoken
//! without a generic client in between: the request head is serialized
//! straight into the connection's write buffer, the response head is parsed
//! from its read buffer with `httparse`, and the response body is framed here
//! (length, chunked, until close) and handed out as slices of that buffer.
//! A connection goes back to its endpoint's idle stack exactly when its
//! response body has been read to the end and both sides agreed to keep it.
//!
//! Nothing here spawns a task or arms a timer: whoever uses the connection
//! drives its I/O, and the callers bound the waits.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::Method;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::body::{BodyError, RequestBody};
use crate::upstream::UpstreamPool;
use crate::wire::{self, ChunkedDecoder, Framing, HeadError, ResponseHead};

/// Largest upstream response head accepted.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Read buffer growth step: one read takes up to this much.
const READ_CHUNK: usize = 64 * 1024;
/// On a plain connection the head is read with at most this much: a large
/// body mostly stays in the kernel, where the client writer can splice it
/// (`splice.rs`) instead of copying it in and out.
const HEAD_READ_PLAIN: usize = 8 * 1024;
/// Request bodies up to this size are copied behind the head (one write).
const COPY_BODY_BYTES: usize = 16 * 1024;

/// The socket under a connection.
pub enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl UpstreamStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            UpstreamStream::Plain(s) => s,
            UpstreamStream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Plain(s) => s.is_write_vectored(),
            UpstreamStream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One connection and its buffers.
pub struct UpstreamConnection {
    pub stream: UpstreamStream,
    /// Bytes read from the upstream and not consumed yet.
    pub read_buf: BytesMut,
    /// The request being written.
    pub write_buf: Vec<u8>,
    /// Requests this connection has carried before the current one.
    pub served: u32,
}

/// Why a request got no response head.
#[derive(Debug)]
pub enum ExchangeError {
    /// Writing the request failed: the upstream cannot have received all
    /// of it, so a replayable request may be sent again. `reused` tells a
    /// stale pooled connection from a fresh one.
    WriteFailed { reused: bool, error: io::Error },
    /// A reused connection was found closed, after the request was
    /// written, before any byte of a response arrived: most likely the
    /// upstream closed it while it was idle.
    ClosedBeforeResponse,
    /// The client's body could not be read while streaming it.
    ClientBody(BodyError),
    /// The request may have reached the upstream and failed after that.
    Failed(String),
}

/// What follows the head of an upstream request.
pub enum OutgoingBody<'a, 'c> {
    Empty,
    /// Already read (replayable on another connection).
    Buffered(&'a Bytes),
    /// Streamed from the client as it arrives, failing past `limit` bytes.
    Streamed {
        source: &'a mut RequestBody<'c>,
        /// Declared length, or `None` to send it chunked.
        length: Option<u64>,
        limit: u64,
    },
}

impl OutgoingBody<'_, '_> {
    /// How the head declares the body.
    pub fn framing(&self) -> Framing {
        match self {
            OutgoingBody::Empty => Framing::Empty,
            OutgoingBody::Buffered(b) => Framing::Length(b.len() as u64),
            OutgoingBody::Streamed {
                length: Some(n), ..
            } => Framing::Length(*n),
            OutgoingBody::Streamed { length: None, .. } => Framing::Chunked,
        }
    }

    /// Whether the request could be sent again after a failure.
    pub fn is_replayable(&self) -> bool {
        !matches!(self, OutgoingBody::Streamed { .. })
    }
}

impl UpstreamConnection {
    pub fn new(stream: UpstreamStream) -> Self {
        Self {
            stream,
            read_buf: BytesMut::new(),
            write_buf: Vec::with_capacity(1024),
            served: 0,
        }
    }

    /// Whether an idle connection can carry another request: nothing may
    /// have arrived while it was idle (a close, or stray bytes). Costs no
    /// system call unless the socket reported readable.
    pub fn is_reusable_after_idle(&mut self) -> bool {
        if !self.read_buf.is_empty() {
            return false;
        }
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        if self.stream.tcp().poll_read_ready(&mut cx).is_pending() {
            return true;
        }
        // Readable: for TLS this may be a session ticket, which is no
        // application data; anything else (data, close) ends the connection.
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        Pin::new(&mut self.stream)
            .poll_read(&mut cx, &mut probe)
            .is_pending()
    }

    /// Writes the head (already in `write_buf`) and the body, then reads the
    /// response head (skipping interim 1xx answers other than 101).
    pub async fn exchange(
        &mut self,
        body: &mut OutgoingBody<'_, '_>,
        method: &Method,
    ) -> Result<ResponseHead, ExchangeError> {
        let reused = self.served > 0;
        self.served += 1;
        self.write_request(body, reused).await?;
        self.read_response_head(method, reused).await
    }

    async fn write_request(
        &mut self,
        body: &mut OutgoingBody<'_, '_>,
        reused: bool,
    ) -> Result<(), ExchangeError> {
        let stale = |error: io::Error| ExchangeError::WriteFailed { reused, error };
        match body {
            OutgoingBody::Empty => {
                self.stream
                    .write_all(&self.write_buf)
                    .await
                    .map_err(stale)?;
            }
            OutgoingBody::Buffered(bytes) if bytes.len() <= COPY_BODY_BYTES => {
                self.write_buf.extend_from_slice(bytes);
                self.stream
                    .write_all(&self.write_buf)
                    .await
                    .map_err(stale)?;
            }
            OutgoingBody::Buffered(bytes) => {
                self.stream
                    .write_all(&self.write_buf)
                    .await
                    .map_err(stale)?;
                self.stream.write_all(bytes).await.map_err(stale)?;
            }
            OutgoingBody::Streamed {
                source,
                length,
                limit,
            } => {
                self.stream
                    .write_all(&self.write_buf)
                    .await
                    .map_err(stale)?;
                let chunked = length.is_none();
                let mut sent = 0u64;
                let mut frame = Vec::new();
                loop {
                    let data = match source.data().await {
                        Ok(Some(d)) => d,
                        Ok(None) => break,
                        Err(e) => return Err(ExchangeError::ClientBody(e)),
                    };
                    sent += data.len() as u64;
                    if sent > *limit {
                        return Err(ExchangeError::ClientBody(BodyError::TooLarge));
                    }
                    let written = if chunked {
                        frame.clear();
                        wire::push_chunk_header(&mut frame, data.len());
                        frame.extend_from_slice(&data);
                        frame.extend_from_slice(b"\r\n");
                        self.stream.write_all(&frame).await
                    } else {
                        self.stream.write_all(&data).await
                    };
                    if let Err(e) = written {
                        return Err(ExchangeError::Failed(format!(
                            "writing the request body: {e}"
                        )));
                    }
                }
                if chunked && let Err(e) = self.stream.write_all(b"0\r\n\r\n").await {
                    return Err(ExchangeError::Failed(format!(
                        "writing the request body: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    async fn read_response_head(
        &mut self,
        method: &Method,
        reused: bool,
    ) -> Result<ResponseHead, ExchangeError> {
        let mut scanned = 0;
        loop {
            if let Some(len) = wire::find_head_end(&self.read_buf, &mut scanned) {
                let head = wire::parse_response_head(&mut self.read_buf, len, method)
                    .map_err(|e| ExchangeError::Failed(format!("upstream response: {e}")))?;
                if head.status.is_informational()
                    && head.status != http::StatusCode::SWITCHING_PROTOCOLS
                {
                    scanned = 0;
                    continue;
                }
                return Ok(head);
            }
            if self.read_buf.len() > MAX_RESPONSE_HEAD {
                return Err(ExchangeError::Failed(format!(
                    "upstream response: {}",
                    HeadError::TooLarge {
                        request_line_complete: true
                    }
                )));
            }
            let had_bytes = !self.read_buf.is_empty();
            let limit = match self.stream {
                UpstreamStream::Plain(_) => HEAD_READ_PLAIN,
                UpstreamStream::Tls(_) => usize::MAX,
            };
            match std::future::poll_fn(|cx| self.poll_fill_at_most(cx, limit)).await {
                Ok(0) if reused && !had_bytes => return Err(ExchangeError::ClosedBeforeResponse),
                Ok(0) => {
                    return Err(ExchangeError::Failed(
                        "upstream closed the connection before a complete response head".into(),
                    ));
                }
                Ok(_) => {}
                Err(e) if reused && !had_bytes && is_reset(&e) => {
                    return Err(ExchangeError::ClosedBeforeResponse);
                }
                Err(e) => return Err(ExchangeError::Failed(format!("reading the response: {e}"))),
            }
        }
    }

    /// Reads more bytes into `read_buf`; 0 at end of stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.poll_fill_at_most(cx, usize::MAX)
    }

    /// Reads at most `limit` more bytes into `read_buf` (growing it only
    /// when it has room for neither 4 KiB nor `limit`).
    fn poll_fill_at_most(&mut self, cx: &mut Context<'_>, limit: usize) -> Poll<io::Result<usize>> {
        if self.read_buf.capacity() - self.read_buf.len() < limit.min(4096) {
            self.read_buf.reserve(READ_CHUNK);
        }
        let mut room = bytes::BufMut::limit(&mut self.read_buf, limit);
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, &mut room)
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Why a response body could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamBodyError {
    #[error("upstream closed the connection before the end of the response body")]
    Incomplete,
    #[error(transparent)]
    Chunked(#[from] wire::ChunkedError),
    #[error("reading the response body: {0}")]
    Io(#[from] io::Error),
}

enum BodyState {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
    Done,
}

/// Where a connection goes when its response body has been read.
pub struct PoolSlot {
    pub pool: Arc<UpstreamPool>,
    pub endpoint: usize,
}

/// An upstream response body, read from its connection. The connection
/// returns to its pool when the body ends cleanly and may be reused; it is
/// closed if the body is dropped before its end.
pub struct UpstreamBody {
    conn: Option<UpstreamConnection>,
    state: BodyState,
    reusable: bool,
    slot: Option<PoolSlot>,
    read_timeout: std::time::Duration,
}

impl UpstreamBody {
    pub fn new(
        conn: UpstreamConnection,
        framing: Framing,
        keep_alive: bool,
        slot: Option<PoolSlot>,
    ) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => BodyState::Done,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(ChunkedDecoder::default()),
            Framing::UntilClose => BodyState::UntilClose,
        };
        let read_timeout = slot
            .as_ref()
            .map_or(std::time::Duration::from_secs(60), |s| s.pool.read_timeout);
        let mut body = Self {
            conn: Some(conn),
            state,
            reusable: keep_alive && framing != Framing::UntilClose,
            slot,
            read_timeout,
        };
        if matches!(body.state, BodyState::Done) {
            body.finish();
        }
        body
    }

    /// Longest wait for the next bytes (the upstream's `read_timeout`).
    pub fn read_timeout(&self) -> std::time::Duration {
        self.read_timeout
    }

    /// Bytes still to come, when the framing says.
    pub fn remaining_length(&self) -> Option<u64> {
        match self.state {
            BodyState::Done => Some(0),
            BodyState::Length(n) => Some(n),
            _ => None,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done)
    }

    /// Body data already received, taken without any I/O (length-framed
    /// bodies only; the rest need decoding as they are polled).
    pub fn take_buffered(&mut self) -> Option<Bytes> {
        let BodyState::Length(remaining) = &mut self.state else {
            return None;
        };
        let conn = self.conn.as_mut()?;
        if conn.read_buf.is_empty() {
            return None;
        }
        let n = (conn.read_buf.len() as u64).min(*remaining) as usize;
        let data = conn.read_buf.split_to(n).freeze();
        *remaining -= n as u64;
        if *remaining == 0 {
            self.state = BodyState::Done;
            self.finish();
        }
        Some(data)
    }

    /// For a length-framed body: reads more of it into the connection's
    /// buffer, which is sized for all of it at the first call, so that
    /// [`Self::take_buffered`] then returns the body in one piece, without
    /// a copy. `Ok(true)` once all of it is there (or for other framings,
    /// which this leaves to [`Self::poll_data`]).
    pub fn poll_fill_whole(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<bool, UpstreamBodyError>> {
        let BodyState::Length(remaining) = self.state else {
            return Poll::Ready(Ok(true));
        };
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Ok(true));
        };
        let Some(missing) = usize::try_from(remaining)
            .ok()
            .and_then(|n| n.checked_sub(conn.read_buf.len()))
            .filter(|&n| n > 0)
        else {
            return Poll::Ready(Ok(true));
        };
        conn.read_buf.reserve(missing);
        match conn.poll_fill_at_most(cx, missing) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) => {
                self.fail();
                Poll::Ready(Err(UpstreamBodyError::Incomplete))
            }
            Poll::Ready(Ok(n)) => Poll::Ready(Ok(n == missing)),
            Poll::Ready(Err(e)) => {
                self.fail();
                Poll::Ready(Err(e.into()))
            }
        }
    }

    /// The next piece of body data; `None` at its end.
    pub fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, UpstreamBodyError>> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(Ok(None));
            };
            match &mut self.state {
                BodyState::Done => return Poll::Ready(Ok(None)),
                BodyState::Length(remaining) => {
                    if !conn.read_buf.is_empty() {
                        let n = (conn.read_buf.len() as u64).min(*remaining) as usize;
                        let data = conn.read_buf.split_to(n).freeze();
                        *remaining -= n as u64;
                        if *remaining == 0 {
                            self.state = BodyState::Done;
                            self.finish();
                        }
                        return Poll::Ready(Ok(Some(data)));
                    }
                }
                BodyState::Chunked(decoder) => match decoder.decode(&mut conn.read_buf) {
                    Ok(Some(data)) => return Poll::Ready(Ok(Some(data))),
                    Ok(None) if decoder.is_done() => {
                        self.state = BodyState::Done;
                        self.finish();
                        return Poll::Ready(Ok(None));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.fail();
                        return Poll::Ready(Err(e.into()));
                    }
                },
                BodyState::UntilClose => {
                    if !conn.read_buf.is_empty() {
                        let data = conn.read_buf.split().freeze();
                        return Poll::Ready(Ok(Some(data)));
                    }
                }
            }
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(Ok(None));
            };
            match conn.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    if matches!(self.state, BodyState::UntilClose) {
                        self.state = BodyState::Done;
                        self.conn = None;
                        return Poll::Ready(Ok(None));
                    }
                    self.fail();
                    return Poll::Ready(Err(UpstreamBodyError::Incomplete));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    self.fail();
                    return Poll::Ready(Err(e.into()));
                }
            }
        }
    }

    pub async fn data(&mut self) -> Result<Option<Bytes>, UpstreamBodyError> {
        std::future::poll_fn(|cx| self.poll_data(cx)).await
    }

    /// The socket and byte count of a length-framed body whose remaining
    /// bytes are all still unread in the kernel, on a plain TCP connection:
    /// what `splice.rs` can move without this process touching them.
    pub fn unread_plain(&self) -> Option<(&TcpStream, u64)> {
        let BodyState::Length(remaining) = self.state else {
            return None;
        };
        let conn = self.conn.as_ref()?;
        match &conn.stream {
            UpstreamStream::Plain(tcp) if conn.read_buf.is_empty() => Some((tcp, remaining)),
            _ => None,
        }
    }

    /// The rest of the body was moved past this process (spliced): the
    /// connection goes back to its pool as after an ordinary read.
    pub fn unread_forwarded(&mut self) {
        self.state = BodyState::Done;
        self.finish();
    }

    /// Takes the connection for a tunnel (after `101 Switching Protocols`).
    pub fn into_connection(mut self) -> Option<UpstreamConnection> {
        self.slot = None;
        self.conn.take()
    }

    fn fail(&mut self) {
        self.state = BodyState::Done;
        self.conn = None;
    }

    /// The body ended: the connection goes back to its pool if it can carry
    /// another request (no stray bytes behind the response).
    fn finish(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.reusable
            && conn.read_buf.is_empty()
            && let Some(slot) = self.slot.take()
        {
            slot.pool.give_back(slot.endpoint, conn);
        }
    }
}

/// Reads a whole response body (for health probes); true when it ended cleanly.
pub async fn drain(mut body: UpstreamBody) -> bool {
    loop {
        match body.data().await {
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}
