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
    Upstream(Incoming),
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
            ClientBody::Upstream(inner) => Pin::new(inner)
                .poll_frame(cx)
                .map_err(|e| Box::new(e) as BoxError),
            ClientBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Upstream(inner) => inner.is_end_stream(),
            ClientBody::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Upstream(inner) => inner.size_hint(),
            ClientBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
