//! Zero-copy forwarding of an upstream response body to a plain-TCP client
//! (Linux `splice(2)`): the bytes go from the upstream socket into a pipe and
//! from the pipe into the client socket as page references, never through
//! this process' memory. Used only where nothing needs to see the body (no
//! response check buffers it) and both sides are plain TCP; a body that
//! needs decoding (chunked) or that TLS protects goes through the ordinary
//! read-and-write path.
//!
//! The pipe belongs to one client connection and is reused by each of its
//! responses. It is always empty between two calls: a call that fails with
//! bytes still inside it drops it, and the connection ends anyway.
//!
//! Readiness comes from tokio (`try_io` / `readable` / `writable` on the
//! sockets). The pipe is filled only when empty, so an `EAGAIN` from the
//! filling `splice` always means the upstream socket has nothing to read,
//! never a full pipe: the socket's readiness is cleared only when that is
//! true.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::pipe::{PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::listener::ConnectionActivity;

/// Bodies with at least this many bytes left unread are spliced; below it a
/// copy costs less than the two splices and their page bookkeeping.
pub const MIN_SPLICE_BYTES: u64 = 16 * 1024;

/// Longest run moved by one filling `splice` (the default pipe capacity).
const PIPE_BYTES: usize = 64 * 1024;

/// The pipe a client connection splices through.
pub struct SplicePipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl SplicePipe {
    pub fn new() -> io::Result<Self> {
        let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        Ok(Self { read, write })
    }
}

/// Why a spliced body did not reach the client whole.
#[derive(Debug, thiserror::Error)]
pub enum SpliceError {
    #[error("upstream closed the connection before the end of the response body")]
    UpstreamClosed,
    #[error("upstream response body stalled past read_timeout")]
    UpstreamStalled,
    #[error("reading the response body: {0}")]
    Upstream(io::Error),
    #[error("client did not read the response within send_timeout")]
    ClientStalled,
    #[error("writing to the client: {0}")]
    Client(io::Error),
}

/// Deadlines for the two waits.
pub struct Waits<'a> {
    pub activity: &'a ConnectionActivity,
    pub read_timeout: Duration,
    pub send_timeout: Duration,
}

/// Moves exactly `len` bytes from `from` to `to` through `pipe`. On error
/// the pipe may hold bytes: the caller drops it with the connection.
pub async fn forward(
    pipe: &SplicePipe,
    from: &TcpStream,
    to: &TcpStream,
    mut len: u64,
    waits: &Waits<'_>,
) -> Result<(), SpliceError> {
    while len > 0 {
        let want = len.min(PIPE_BYTES as u64) as usize;
        let filled = loop {
            match from.try_io(Interest::READABLE, || splice(from, &pipe.write, want)) {
                Ok(0) => return Err(SpliceError::UpstreamClosed),
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    waits
                        .activity
                        .within(waits.read_timeout, from.readable())
                        .await
                        .map_err(|()| SpliceError::UpstreamStalled)?
                        .map_err(SpliceError::Upstream)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SpliceError::Upstream(e)),
            }
        };
        len -= filled as u64;
        let mut in_pipe = filled;
        while in_pipe > 0 {
            match to.try_io(Interest::WRITABLE, || splice(&pipe.read, to, in_pipe)) {
                Ok(0) => {
                    return Err(SpliceError::Client(io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => in_pipe -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    waits
                        .activity
                        .within(waits.send_timeout, to.writable())
                        .await
                        .map_err(|()| SpliceError::ClientStalled)?
                        .map_err(SpliceError::Client)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SpliceError::Client(e)),
            }
        }
    }
    Ok(())
}

fn splice(from: impl AsFd, to: impl AsFd, len: usize) -> io::Result<usize> {
    rustix::pipe::splice(
        from,
        None,
        to,
        None,
        len,
        SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
    )
    .map_err(io::Error::from)
}
