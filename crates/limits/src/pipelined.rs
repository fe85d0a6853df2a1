//! The decision path's own connection to a standalone Redis: one TCP
//! connection, owned by one task, that writes every request's commands as
//! they come and matches the replies in order (RESP replies arrive in the
//! order of the commands). Requests that queue up while a write is under
//! way go out together in the next write, so under load many requests share
//! one `write` and one `read`.
//!
//! It exists because a decision is a few small commands per request, and
//! the general-purpose client spends several times more on building,
//! routing and parsing them than the gateway spends on the rest of the
//! request (`docs/performance.md`, "Rate limits"). Everything else (script
//! loading, flags, the admin listings, Cluster) keeps the redis crate.
//!
//! Failure rules: connecting (with `AUTH` and `SELECT` from the URL) and
//! writing are bounded by the store's timeout; a read error, an EOF, a reply
//! that is not RESP, or a reply older than the timeout (a server that stopped
//! answering) drops the connection and fails every call waiting on it with
//! [`StoreError::Unavailable`]. The next call connects again.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::resp::{self, Reply};
use crate::store::StoreError;

/// Calls queued for the connection task before senders wait.
const QUEUE: usize = 4096;
/// Most bytes of queued calls gathered into one write.
const MAX_WRITE: usize = 64 * 1024;
/// Unparsed reply bytes past which the peer is treated as broken.
const MAX_BUFFERED: usize = 4 * 1024 * 1024;

/// Where and how to connect.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    pub timeout: Duration,
}

/// A handle on the connection task; cloning shares the connection. The task
/// ends when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct Pipelined {
    calls: mpsc::Sender<Call>,
}

struct Call {
    /// Encoded commands.
    commands: Vec<u8>,
    /// How many replies they produce.
    replies: usize,
    done: oneshot::Sender<Result<Vec<Reply>, StoreError>>,
}

struct Waiting {
    left: usize,
    got: Vec<Reply>,
    done: oneshot::Sender<Result<Vec<Reply>, StoreError>>,
    sent_at: Instant,
}

impl Pipelined {
    /// Starts the connection task (on the current Tokio runtime). Nothing
    /// connects before the first call.
    pub fn spawn(target: Target) -> Pipelined {
        let (calls, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(queue, target));
        Pipelined { calls }
    }

    /// Sends `commands` (encoded with [`resp`], producing `replies` replies)
    /// and waits for their replies, at most about the store's timeout once
    /// sent (connecting first adds at most the timeout). Error replies (`-NOSCRIPT`) are
    /// returned as [`Reply::Error`], not as an `Err`.
    pub async fn call(&self, commands: Vec<u8>, replies: usize) -> Result<Vec<Reply>, StoreError> {
        let (done, answer) = oneshot::channel();
        let call = Call {
            commands,
            replies,
            done,
        };
        // No timer per call: the connection task fails the calls that wait
        // longer than the timeout (it checks a few times per timeout), and
        // connecting and writing are bounded there too.
        self.calls
            .send(call)
            .await
            .map_err(|_| unavailable("the Redis connection task ended"))?;
        answer
            .await
            .map_err(|_| unavailable("the Redis connection was dropped"))?
    }
}

fn unavailable(why: &str) -> StoreError {
    StoreError::Unavailable(why.to_string())
}

struct Link {
    stream: TcpStream,
    input: Vec<u8>,
    waiting: VecDeque<Waiting>,
}

impl Link {
    fn fail_all(&mut self, why: &str) {
        for w in self.waiting.drain(..) {
            let _ = w.done.send(Err(unavailable(why)));
        }
    }

    /// Hands out every complete reply in `input`.
    fn deliver(&mut self) -> Result<(), resp::ProtocolError> {
        let mut at = 0;
        while let Some((reply, used)) = resp::parse(&self.input[at..])? {
            at += used;
            let Some(front) = self.waiting.front_mut() else {
                return Err(resp::ProtocolError("a reply nobody asked for"));
            };
            front.got.push(reply);
            front.left -= 1;
            if front.left == 0
                && let Some(w) = self.waiting.pop_front()
            {
                let _ = w.done.send(Ok(w.got));
            }
        }
        self.input.drain(..at);
        if self.input.len() > MAX_BUFFERED {
            return Err(resp::ProtocolError("reply over the bound"));
        }
        Ok(())
    }
}

enum Event {
    Call(Call),
    Read(std::io::Result<usize>),
    /// Time to look for calls waiting longer than the timeout.
    Check,
}

async fn run(mut queue: mpsc::Receiver<Call>, target: Target) {
    let mut link: Option<Link> = None;
    let mut out = Vec::new();
    // One ticker for every call instead of a timer each: a call that waits
    // past the timeout is failed within a quarter of it more.
    let mut check = tokio::time::interval((target.timeout / 4).max(Duration::from_millis(1)));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = match &mut link {
            None => match queue.recv().await {
                Some(call) => Event::Call(call),
                None => return,
            },
            Some(l) => {
                l.input.reserve(4096);
                tokio::select! {
                    call = queue.recv() => match call {
                        Some(call) => Event::Call(call),
                        None => return,
                    },
                    read = l.stream.read_buf(&mut l.input) => Event::Read(read),
                    _ = check.tick(), if !l.waiting.is_empty() => Event::Check,
                }
            }
        };
        match event {
            Event::Check => {
                // A server that stopped answering: the oldest call is past
                // the timeout, so fail every waiting call and start again.
                if let Some(l) = &mut link
                    && l.waiting
                        .front()
                        .is_some_and(|w| w.sent_at.elapsed() > target.timeout)
                {
                    l.fail_all("Redis did not answer in time");
                    link = None;
                }
            }
            Event::Call(first) => {
                if link.is_none() {
                    match connect(&target).await {
                        Ok(l) => link = Some(l),
                        Err(e) => {
                            let why = e.to_string();
                            let _ = first.done.send(Err(unavailable(&why)));
                            while let Ok(call) = queue.try_recv() {
                                let _ = call.done.send(Err(unavailable(&why)));
                            }
                            continue;
                        }
                    }
                }
                let Some(l) = &mut link else { continue };
                out.clear();
                let now = Instant::now();
                let mut next = Some(first);
                while let Some(call) = next {
                    out.extend_from_slice(&call.commands);
                    l.waiting.push_back(Waiting {
                        left: call.replies,
                        got: Vec::with_capacity(call.replies),
                        done: call.done,
                        sent_at: now,
                    });
                    next = if out.len() < MAX_WRITE {
                        queue.try_recv().ok()
                    } else {
                        None
                    };
                }
                let written = tokio::time::timeout(target.timeout, l.stream.write_all(&out)).await;
                if !matches!(written, Ok(Ok(()))) {
                    l.fail_all("cannot write to Redis");
                    link = None;
                }
                if out.capacity() > MAX_WRITE * 2 {
                    out = Vec::new();
                }
            }
            Event::Read(read) => {
                let Some(l) = &mut link else { continue };
                let why = match read {
                    Ok(0) => Some("Redis closed the connection".to_string()),
                    Ok(_) => l.deliver().err().map(|e| e.to_string()),
                    Err(e) => Some(format!("cannot read from Redis: {e}")),
                };
                if let Some(why) = why {
                    l.fail_all(&why);
                    link = None;
                }
            }
        }
    }
}

/// Connects and authenticates; bounded by the timeout.
async fn connect(target: &Target) -> Result<Link, StoreError> {
    let attempt = async {
        let stream = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| unavailable(&format!("cannot connect to Redis: {e}")))?;
        let _ = stream.set_nodelay(true);
        let mut link = Link {
            stream,
            input: Vec::with_capacity(4096),
            waiting: VecDeque::new(),
        };
        let mut hello = Vec::new();
        let mut replies = 0;
        if let Some(password) = &target.password {
            match &target.username {
                Some(user) => {
                    resp::command(&mut hello, 3);
                    resp::bulk(&mut hello, b"AUTH");
                    resp::bulk(&mut hello, user.as_bytes());
                }
                None => {
                    resp::command(&mut hello, 2);
                    resp::bulk(&mut hello, b"AUTH");
                }
            }
            resp::bulk(&mut hello, password.as_bytes());
            replies += 1;
        }
        if target.db != 0 {
            resp::command(&mut hello, 2);
            resp::bulk(&mut hello, b"SELECT");
            resp::bulk_int(&mut hello, target.db as u64);
            replies += 1;
        }
        if replies > 0 {
            link.stream
                .write_all(&hello)
                .await
                .map_err(|e| unavailable(&format!("cannot write to Redis: {e}")))?;
            let mut got = 0;
            while got < replies {
                match resp::parse(&link.input).map_err(|e| unavailable(&e.to_string()))? {
                    Some((Reply::Error(e), _)) => {
                        return Err(unavailable(&format!("Redis refused the handshake: {e}")));
                    }
                    Some((_, used)) => {
                        link.input.drain(..used);
                        got += 1;
                    }
                    None => {
                        link.input.reserve(512);
                        let n =
                            link.stream.read_buf(&mut link.input).await.map_err(|e| {
                                unavailable(&format!("cannot read from Redis: {e}"))
                            })?;
                        if n == 0 {
                            return Err(unavailable("Redis closed the connection"));
                        }
                    }
                }
            }
        }
        Ok(link)
    };
    match tokio::time::timeout(target.timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(unavailable("connecting to Redis timed out")),
    }
}
