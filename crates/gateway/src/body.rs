//! The bodies that flow through the proxy, without boxing: the request body
//! as the phases read it (from an HTTP/1.x connection's buffer, framed here,
//! or from hyper's HTTP/2 stream), and the body hyper sends to HTTP/2 and
//! admin clients (a generated one, or an upstream response streamed from its
//! connection). Reading never buffers more than the caller asks for.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::upstream_connection::UpstreamBody;
use crate::wire::{ChunkedDecoder, ChunkedError, Framing};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client connection's byte stream (TCP or TLS).
pub trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientIo for T {}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the client closed the connection before the end of the body")]
    Incomplete,
    #[error(transparent)]
    Chunked(#[from] ChunkedError),
    #[error("the body exceeds the route's limit")]
    TooLarge,
    #[error("reading the body: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading the body: {0}")]
    Http2(#[from] hyper::Error),
}

/// Bytes read per system call while a body is read.
const READ_CHUNK: usize = 16 * 1024;

enum Http1State {
    Length(u64),
    Chunked(ChunkedDecoder),
    Done,
}

/// The body of a request on an HTTP/1.x connection: what follows the head in
/// the connection's read buffer, then the socket.
pub struct Http1Body<'c> {
    io: &'c mut dyn ClientIo,
    buf: &'c mut BytesMut,
    state: Http1State,
    /// `Expect: 100-continue` not answered yet: answered when the body is
    /// first read (a request refused on its head never sends the body).
    continue_pending: bool,
}

impl<'c> Http1Body<'c> {
    pub fn new(
        io: &'c mut dyn ClientIo,
        buf: &'c mut BytesMut,
        framing: Framing,
        expect_continue: bool,
    ) -> Self {
        let state = match framing {
            Framing::Length(n) if n > 0 => Http1State::Length(n),
            Framing::Chunked => Http1State::Chunked(ChunkedDecoder::default()),
            _ => Http1State::Done,
        };
        let continue_pending = expect_continue && !matches!(state, Http1State::Done);
        Self {
            io,
            buf,
            state,
            continue_pending,
        }
    }

    /// What is left unread of the body.
    pub fn unread(&self) -> Unread {
        match &self.state {
            Http1State::Done => Unread::Nothing,
            _ if self.continue_pending => Unread::Unknown,
            Http1State::Length(n) => Unread::Bytes(*n),
            Http1State::Chunked(_) => Unread::Unknown,
        }
    }

    async fn data(&mut self) -> Result<Option<Bytes>, BodyError> {
        if self.continue_pending {
            self.continue_pending = false;
            self.io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        loop {
            match &mut self.state {
                Http1State::Done => return Ok(None),
                Http1State::Length(remaining) => {
                    if !self.buf.is_empty() {
                        let n = (self.buf.len() as u64).min(*remaining) as usize;
                        let data = self.buf.split_to(n).freeze();
                        *remaining -= n as u64;
                        if *remaining == 0 {
                            self.state = Http1State::Done;
                        }
                        return Ok(Some(data));
                    }
                }
                Http1State::Chunked(decoder) => match decoder.decode(self.buf)? {
                    Some(data) => return Ok(Some(data)),
                    None if decoder.is_done() => {
                        self.state = Http1State::Done;
                        return Ok(None);
                    }
                    None => {}
                },
            }
            if self.buf.capacity() - self.buf.len() < 1024 {
                self.buf.reserve(READ_CHUNK);
            }
            if self.io.read_buf(self.buf).await? == 0 {
                return Err(BodyError::Incomplete);
            }
        }
    }
}

/// What is left of a request body that the phases did not read.
pub enum Unread {
    Nothing,
    /// This many bytes of a body with a known length.
    Bytes(u64),
    /// A chunked body, or one announced with `Expect: 100-continue` and never
    /// asked for (the client may not send it).
    Unknown,
}

/// A request body as the phases read it.
pub enum RequestBody<'c> {
    Empty,
    Http1(Http1Body<'c>),
    Http2(Incoming),
}

impl RequestBody<'_> {
    /// True when no (more) body data will come.
    pub fn is_complete(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Http1(b) => matches!(b.state, Http1State::Done),
            RequestBody::Http2(b) => b.is_end_stream(),
        }
    }

    /// The exact number of bytes still to come, when known.
    pub fn remaining_length(&self) -> Option<u64> {
        match self {
            RequestBody::Empty => Some(0),
            RequestBody::Http1(b) => match b.state {
                Http1State::Length(n) => Some(n),
                Http1State::Done => Some(0),
                Http1State::Chunked(_) => None,
            },
            RequestBody::Http2(b) => b.size_hint().exact(),
        }
    }

    /// The next piece of body data; `None` at its end.
    pub async fn data(&mut self) -> Result<Option<Bytes>, BodyError> {
        match self {
            RequestBody::Empty => Ok(None),
            RequestBody::Http1(b) => b.data().await,
            RequestBody::Http2(b) => loop {
                match b.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                        // Trailers are not forwarded.
                    }
                }
            },
        }
    }

    /// Reads the whole body, failing once more than `limit` bytes arrive.
    /// A body that arrives in one piece is returned without a copy.
    pub async fn read_to_end(&mut self, limit: u64) -> Result<Bytes, BodyError> {
        let mut first: Option<Bytes> = None;
        let mut joined: Option<BytesMut> = None;
        let mut total = 0u64;
        while let Some(data) = self.data().await? {
            total += data.len() as u64;
            if total > limit {
                return Err(BodyError::TooLarge);
            }
            match (&mut joined, first.take()) {
                (Some(j), _) => j.extend_from_slice(&data),
                (None, None) => first = Some(data),
                (None, Some(previous)) => {
                    let mut j = BytesMut::with_capacity(
                        self.remaining_length().map_or(0, |r| r.min(limit) as usize)
                            + previous.len()
                            + data.len(),
                    );
                    j.extend_from_slice(&previous);
                    j.extend_from_slice(&data);
                    joined = Some(j);
                }
            }
        }
        Ok(match (joined, first) {
            (Some(j), _) => j.freeze(),
            (None, Some(f)) => f,
            (None, None) => Bytes::new(),
        })
    }
}

/// A body hyper sends: to HTTP/2 clients (generated or streamed from an
/// upstream connection) and from the admin API.
pub enum ClientBody {
    Full(Option<Bytes>),
    Upstream {
        /// Read ahead of the head; sent first.
        prefix: Option<Bytes>,
        body: UpstreamBody,
        /// Keeps the request counted as in flight on its connection until the
        /// body has been sent (or dropped), so the idle watchdog leaves it alone.
        active: Option<crate::listener::ActiveRequest>,
        /// Armed while the upstream sends nothing: `read_timeout`.
        stall: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

/// The upstream sent nothing for longer than its `read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("upstream response body stalled past read_timeout")]
pub struct BodyStalled;

impl ClientBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ClientBody::Full(Some(bytes.into()))
    }
    pub fn empty() -> Self {
        ClientBody::Full(None)
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ClientBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ClientBody::Upstream {
                prefix,
                body,
                stall,
                ..
            } => {
                if let Some(p) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(p))));
                }
                match body.poll_data(cx) {
                    Poll::Pending => {
                        let timer = stall.get_or_insert_with(|| {
                            Box::pin(tokio::time::sleep(body.read_timeout()))
                        });
                        match timer.as_mut().poll(cx) {
                            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled)))),
                            Poll::Pending => Poll::Pending,
                        }
                    }
                    Poll::Ready(Ok(Some(data))) => {
                        *stall = None;
                        Poll::Ready(Some(Ok(Frame::data(data))))
                    }
                    Poll::Ready(Ok(None)) => Poll::Ready(None),
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(Box::new(e) as BoxError))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Full(b) => b.is_none(),
            ClientBody::Upstream { prefix, body, .. } => prefix.is_none() && body.is_done(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ClientBody::Upstream { prefix, body, .. } => {
                let buffered = prefix.as_ref().map_or(0, |p| p.len() as u64);
                match body.remaining_length() {
                    Some(n) => SizeHint::with_exact(n + buffered),
                    None => {
                        let mut hint = SizeHint::new();
                        hint.set_lower(buffered);
                        hint
                    }
                }
            }
        }
    }
}
