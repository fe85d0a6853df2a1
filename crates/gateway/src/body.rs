//! The body types that flow through the proxy without boxing: a client body
//! streamed to the upstream under a byte limit, a buffered body, an upstream
//! body streamed back, or a small generated one (problem+json, admin).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The streamed request body went past the route's limit.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds {limit} bytes")]
pub struct BodyTooLarge {
    pub limit: u64,
}

/// True when `err` (or anything in its source chain) is [`BodyTooLarge`].
pub fn is_body_too_large(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<BodyTooLarge>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// A body sent upstream.
pub enum UpstreamBody {
    Empty,
    Buffered(Option<Bytes>),
    /// The client's body, streamed, failing once more than `remaining` bytes arrive.
    Streaming {
        inner: Incoming,
        remaining: u64,
        limit: u64,
    },
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            UpstreamBody::Empty => Poll::Ready(None),
            UpstreamBody::Buffered(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            UpstreamBody::Streaming {
                inner,
                remaining,
                limit,
            } => match Pin::new(inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        let len = data.len() as u64;
                        if len > *remaining {
                            return Poll::Ready(Some(Err(Box::new(BodyTooLarge {
                                limit: *limit,
                            }))));
                        }
                        *remaining -= len;
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Empty => true,
            UpstreamBody::Buffered(b) => b.is_none(),
            UpstreamBody::Streaming { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Empty => SizeHint::with_exact(0),
            UpstreamBody::Buffered(b) => {
                SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64))
            }
            UpstreamBody::Streaming { inner, .. } => inner.size_hint(),
        }
    }
}

/// A body sent to the client.
pub enum ClientBody {
    /// The upstream's response body; its connection goes back to the pool
    /// when the body has been read to the end (and is closed if it is not).
    Upstream {
        /// Frames already read ahead (see `phases::read_ahead`), sent first.
        prefix: std::collections::VecDeque<Frame<Bytes>>,
        body: Incoming,
        /// True once `body` has ended (while `prefix` may still hold frames).
        ended: bool,
        /// A failure met while reading ahead, reported after `prefix`.
        error: Option<hyper::Error>,
        /// Keeps the request counted as in flight on its connection until the
        /// body has been sent (or dropped), so the idle watchdog leaves it alone.
        active: Option<crate::listener::ActiveRequest>,
        pool_return: Option<crate::upstream::PoolReturn>,
    },
    Full(Option<Bytes>),
}

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
            ClientBody::Upstream {
                prefix,
                body,
                ended,
                error,
                pool_return,
                ..
            } => {
                if let Some(frame) = prefix.pop_front() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                if let Some(e) = error.take() {
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
                if *ended {
                    return Poll::Ready(None);
                }
                if let Some(r) = pool_return.as_mut() {
                    r.conn.drive(cx);
                }
                let polled = Pin::new(&mut *body).poll_frame(cx);
                // hyper stops polling once `is_end_stream` is true, so the end
                // may be seen after the last frame rather than as `None`.
                let ended = match &polled {
                    Poll::Ready(None) => true,
                    Poll::Ready(Some(Ok(_))) => body.is_end_stream(),
                    _ => false,
                };
                if ended && let Some(r) = pool_return.take() {
                    r.give_back();
                }
                polled.map_err(|e| Box::new(e) as BoxError)
            }
            ClientBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Upstream {
                prefix,
                body,
                ended,
                error,
                ..
            } => prefix.is_empty() && error.is_none() && (*ended || body.is_end_stream()),
            ClientBody::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Upstream {
                prefix,
                body,
                ended,
                error,
                ..
            } => {
                let buffered: u64 = prefix
                    .iter()
                    .filter_map(|f| f.data_ref())
                    .map(|d| d.len() as u64)
                    .sum();
                if *ended && error.is_none() {
                    SizeHint::with_exact(buffered)
                } else {
                    let inner = body.size_hint();
                    let mut hint = SizeHint::new();
                    hint.set_lower(inner.lower() + buffered);
                    if let Some(upper) = inner.upper() {
                        hint.set_upper(upper + buffered);
                    }
                    hint
                }
            }
            ClientBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
