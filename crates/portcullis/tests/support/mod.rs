//! Shared helpers for the end-to-end tests: the real `portcullis` binary run
//! as a child process on free loopback ports, test upstreams (hyper servers
//! inside the test process), HTTP/1.1, HTTP/2 and TLS clients, a raw TCP
//! client for malformed requests, and a throw-away PKI made with rcgen.
//!
//! Every test owns its tempdir and ports, so tests run in parallel.

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// Upper bound for anything a test waits for (process start, a reload, a request).
pub const DEADLINE: Duration = Duration::from_secs(10);

// ───────────────────────────── ports and polling ─────────────────────────────

/// A loopback port that was free a moment ago. Ports come from below the
/// kernel's ephemeral range (where `bind(:0)` and outgoing connections take
/// theirs), starting at a per-process offset and never handed out twice by
/// one test binary, so parallel tests do not race each other for a port.
/// Serves HTTP/1.1 on `listener`, answering every request with `handle`,
/// until the returned task is aborted: the accept loop of the tests' own
/// small servers (a JWKS endpoint, an introspection endpoint).
pub fn serve_http1<F, Fut>(listener: TcpListener, handle: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<http_body_util::Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let answer = handle(req);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    const LOW: usize = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32_768);
    let span = ephemeral_low.saturating_sub(LOW);
    if span >= 1_000 {
        let offset = (std::process::id() as usize).wrapping_mul(7_919) % span;
        for _ in 0..span {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = (LOW + (offset + n) % span) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// An address that refuses connections for as long as the returned socket
/// lives: the port is bound (so nobody else gets it) but never listened on.
pub fn dead_endpoint() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// Polls `check` every 20 ms until it returns true; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ───────────────────────────── the gateway process ─────────────────────────────

/// A running `portcullis serve`. The config is a YAML template where
/// `$LISTEN` and `$ADMIN` become free loopback addresses and `$DIR` the test's
/// tempdir. Killed on drop; its stdout/stderr (files in the tempdir) are
/// printed when the test panics.
pub struct Gateway {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// The first listener (`$LISTEN`).
    pub addr: SocketAddr,
    /// The admin listener (`$ADMIN`), when the template uses it.
    pub admin: Option<SocketAddr>,
    listen_port: u16,
    admin_port: u16,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

/// A gateway config with one catch-all route to `upstream`, plus `extra`
/// top-level YAML blocks (e.g. `"limits:\n  idle_timeout: 1s"`).
pub fn single_route_config(upstream: &Upstream, extra: &str) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  app:
    endpoints: ["{}"]
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
{extra}
"#,
        upstream.url()
    )
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("portcullis-e2e-")
        .tempdir()
        .expect("create tempdir")
}

impl Gateway {
    /// Starts a gateway in a fresh tempdir.
    pub async fn start(template: &str) -> Gateway {
        Self::start_in(tempdir(), template, &[]).await
    }

    /// Starts a gateway and returns as soon as its port accepts connections,
    /// without waiting for the signal handlers (for start-up race tests).
    pub async fn start_accepting_only(template: &str) -> Gateway {
        let mut gateway = Self::prepare(tempdir());
        match gateway.spawn(template, &[], false).await {
            Ok(()) => gateway,
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts a gateway in `dir` (which may already hold certificates), with
    /// extra CLI args. Retries on fresh ports if a port was taken meanwhile.
    pub async fn start_in(dir: tempfile::TempDir, template: &str, args: &[&str]) -> Gateway {
        let mut gateway = Self::prepare(dir);
        for attempt in 1..=3 {
            match gateway.spawn(template, args, true).await {
                Ok(()) => return gateway,
                Err(e) if attempt < 3 && e.contains("Address already in use") => {
                    gateway.listen_port = free_port();
                    gateway.admin_port = free_port();
                }
                Err(e) => panic!("{e}"),
            }
        }
        unreachable!()
    }

    fn prepare(dir: tempfile::TempDir) -> Gateway {
        let listen_port = free_port();
        let admin_port = free_port();
        let config_path = dir.path().join("gateway.yaml");
        let stdout_path = dir.path().join("gateway.stdout");
        let stderr_path = dir.path().join("gateway.stderr");
        Gateway {
            child: None,
            config_path,
            addr: SocketAddr::from(([127, 0, 0, 1], listen_port)),
            admin: None,
            listen_port,
            admin_port,
            stdout_path,
            stderr_path,
            dir,
        }
    }

    async fn spawn(
        &mut self,
        template: &str,
        args: &[&str],
        wait_for_triggers: bool,
    ) -> Result<(), String> {
        self.addr = SocketAddr::from(([127, 0, 0, 1], self.listen_port));
        self.admin = template
            .contains("$ADMIN")
            .then(|| SocketAddr::from(([127, 0, 0, 1], self.admin_port)));
        std::fs::write(&self.config_path, self.render(template)).unwrap();
        let child = Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .env("PORTCULLIS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&self.stdout_path).unwrap())
            .stderr(std::fs::File::create(&self.stderr_path).unwrap())
            .spawn()
            .expect("spawn portcullis");
        self.child = Some(child);
        self.wait_until_accepting(self.addr).await?;
        if let Some(admin) = self.admin {
            self.wait_until_accepting(admin).await?;
        }
        if !wait_for_triggers {
            return Ok(());
        }
        let watching = !template.contains("watch_config: false");
        self.wait_until_triggers_installed(watching).await
    }

    /// Fails if the process exited (with its stderr) or `deadline` passed.
    fn check_alive(&mut self, deadline: Instant, what: &str) -> Result<(), String> {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            return Err(format!(
                "portcullis exited ({status}) while waiting until it {what}\n--- stderr ---\n{}\n--- stdout ---\n{}",
                self.stderr(),
                self.stdout()
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "portcullis did not {what} within {DEADLINE:?}\n--- stderr ---\n{}",
                self.stderr()
            ));
        }
        Ok(())
    }

    async fn wait_until_accepting(&mut self, addr: SocketAddr) -> Result<(), String> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            self.check_alive(deadline, &format!("accepts on {addr}"))?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The gateway accepts connections before it installs its signal handlers
    /// and config watcher; a signal or file change in that window would be
    /// lost (or, for SIGHUP / SIGTERM, kill it outright). Waits, via procfs,
    /// until SIGHUP, SIGINT and SIGTERM are caught and, with `watching`, an
    /// inotify watch exists. This also catches a gateway that failed to bind
    /// while something else answers on its port.
    async fn wait_until_triggers_installed(&mut self, watching: bool) -> Result<(), String> {
        let deadline = Instant::now() + DEADLINE;
        while !triggers_installed(self.pid(), watching) {
            self.check_alive(deadline, "installs its signal handlers and config watcher")?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The process may have died right after the last check.
        self.check_alive(deadline + DEADLINE, "starts")?;
        Ok(())
    }

    /// Substitutes the placeholders of a config template.
    pub fn render(&self, template: &str) -> String {
        template
            .replace("$LISTEN", &format!("127.0.0.1:{}", self.listen_port))
            .replace("$ADMIN", &format!("127.0.0.1:{}", self.admin_port))
            .replace("$DIR", &self.dir.path().display().to_string())
    }

    /// Replaces the config file atomically (write aside, then rename), as a
    /// config manager would.
    pub fn write_config(&self, template: &str) {
        let aside = self.dir.path().join(".gateway.yaml.new");
        std::fs::write(&aside, self.render(template)).unwrap();
        std::fs::rename(&aside, &self.config_path).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends a signal (`"HUP"`, `"TERM"`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits for the process to exit, up to `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        get(self.addr, path).await
    }

    /// GET on the admin listener.
    pub async fn admin_get(&self, path: &str) -> Reply {
        get(self.admin.expect("template has no $ADMIN"), path).await
    }

    /// A request to the admin listener, with `Bearer token` when given.
    pub async fn admin_call(&self, method: &str, target: &str, token: Option<&str>) -> Reply {
        let mut req = request(method, target);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        h1(
            self.admin.expect("template has no $ADMIN"),
            req.body(TestBody::empty()).unwrap(),
        )
        .await
    }
}

/// The config's `rate_limit_store` block for a standalone Redis on `port`.
pub fn redis_store_block(port: u16) -> String {
    format!("rate_limit_store:\n  backend: redis\n  redis:\n    url: redis://127.0.0.1:{port}/\n")
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "──── portcullis config ────\n{}\n──── portcullis stderr ────\n{}\n──── portcullis stdout ────\n{}",
                std::fs::read_to_string(&self.config_path).unwrap_or_default(),
                self.stderr(),
                self.stdout()
            );
        }
    }
}

/// See [`Gateway::wait_until_triggers_installed`]. Without procfs, assumes yes.
fn triggers_installed(pid: u32, watching: bool) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    let caught = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    // SIGHUP = 1, SIGINT = 2, SIGTERM = 15: bit n-1.
    let wanted = 1 | (1 << 1) | (1 << 14);
    if caught & wanted != wanted {
        return false;
    }
    if !watching {
        return true;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return true;
    };
    fds.flatten().any(|fd| {
        fd.path()
            .read_link()
            .is_ok_and(|target| target.to_string_lossy().contains("inotify"))
            && std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .is_ok_and(|info| info.contains("inotify wd:"))
    })
}

/// Runs the binary to completion (for `validate` / `check`).
pub fn run_cli(args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn portcullis");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

// ───────────────────────────── bodies ─────────────────────────────

/// The deterministic byte at position `i` of a pattern body.
pub fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8 ^ ((i >> 13) as u8)
}

pub fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(pattern_byte).collect()
}

/// 64-bit FNV-1a, as lower-case hex: cheap enough for 8 MiB in a debug build.
#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn update(&mut self, data: &[u8]) {
        for b in data {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

pub fn fnv_hex(data: &[u8]) -> String {
    let mut h = Fnv::default();
    h.update(data);
    h.hex()
}

/// Fnv hash of `pattern(0, len)`, computed without materializing it.
pub fn pattern_hash(len: usize) -> String {
    let mut h = Fnv::default();
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(64 * 1024);
        h.update(&pattern(offset, n));
        offset += n;
    }
    h.hex()
}

/// A body for test requests and upstream responses.
pub enum TestBody {
    Full(Option<Bytes>),
    /// `remaining` bytes of [`pattern`], in 64 KiB chunks, length unknown (chunked).
    Pattern {
        offset: usize,
        remaining: usize,
    },
    /// Chunks sent by the test as it likes; ends when the sender is dropped.
    Channel(tokio::sync::mpsc::Receiver<Bytes>),
}

impl TestBody {
    pub fn empty() -> Self {
        TestBody::Full(None)
    }
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            TestBody::Full(None)
        } else {
            TestBody::Full(Some(bytes))
        }
    }
    pub fn pattern(len: usize) -> Self {
        TestBody::Pattern {
            offset: 0,
            remaining: len,
        }
    }
    pub fn channel() -> (tokio::sync::mpsc::Sender<Bytes>, Self) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        (tx, TestBody::Channel(rx))
    }
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            TestBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            TestBody::Pattern { offset, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let n = (*remaining).min(64 * 1024);
                let chunk = Bytes::from(pattern(*offset, n));
                *offset += n;
                *remaining -= n;
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            TestBody::Channel(rx) => rx.poll_recv(cx).map(|c| c.map(|c| Ok(Frame::data(c)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            TestBody::Full(b) => b.is_none(),
            TestBody::Pattern { remaining, .. } => *remaining == 0,
            TestBody::Channel(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            TestBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            _ => SizeHint::default(),
        }
    }
}

// ───────────────────────────── test upstreams ─────────────────────────────

/// One request as a test upstream received it (health probes excluded).
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    /// Path and query as received.
    pub uri: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Which of the upstream's TCP connections carried it (1, 2, ... in accept order).
    pub conn: usize,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
}

#[derive(Default)]
pub struct UpstreamState {
    unhealthy: AtomicBool,
    forced_status: AtomicU16,
    /// Requests whose head arrived (health probes excluded).
    started: AtomicUsize,
    health_probes: AtomicUsize,
    /// Requests whose body was read completely.
    seen: Mutex<Vec<Seen>>,
    /// TCP connections accepted so far.
    accepted: AtomicUsize,
    /// TCP connections currently open.
    open: AtomicUsize,
    /// Every response says `Connection: close` (the connection ends after it).
    close_after_response: AtomicBool,
    /// Bumped to make every open connection finish its exchange and close.
    close_idle: tokio::sync::watch::Sender<u64>,
}

/// Counts an upstream connection as open until dropped.
struct OpenConnection(Arc<UpstreamState>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A real HTTP/1.1 server on a loopback port, inside the test process. Every
/// response carries `x-upstream: <name>`. Paths:
/// - `/healthz`: 200, or 503 after `set_healthy(false)`;
/// - `/echo...`: the request body back, byte for byte;
/// - `/slow?ms=N`: answers after N ms;
/// - `/big?bytes=N`: N bytes of [`pattern`], chunked;
/// - `/drip?chunks=N&bytes=B&ms=M`: N chunks of B bytes of [`pattern`],
///   chunked, the first at once and then one every M ms;
/// - `/binary`: every byte value 0..=255, 16 times;
/// - `/status/NNN`: that status;
/// - `/hop`: a response carrying hop-by-hop headers;
/// - `/ws`: accepts an `Upgrade`, greets, then echoes upper-cased bytes;
/// - anything else: the upstream's name as the body.
///
/// `set_status(code)` makes every non-health request answer `code`. Each
/// response also tells the received body's length and FNV hash
/// (`x-body-len`, `x-body-hash`) and which of the upstream's connections
/// carried the request (`x-upstream-conn`, 1 for the first accepted).
pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
    url: String,
    pub state: Arc<UpstreamState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub async fn start(name: &str) -> Upstream {
        Self::start_with(name, None).await
    }

    /// An HTTPS upstream with `config` (see [`tls_server_config`]).
    pub async fn start_tls(name: &str, config: Arc<rustls::ServerConfig>) -> Upstream {
        Self::start_with(name, Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn start_with(name: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpstreamState::default());
        let name_arc: Arc<str> = Arc::from(name);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = {
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let conn = state.accepted.fetch_add(1, Ordering::SeqCst) + 1;
                    state.open.fetch_add(1, Ordering::SeqCst);
                    let open = OpenConnection(state.clone());
                    let close_idle = state.close_idle.subscribe();
                    let state = state.clone();
                    let name = name_arc.clone();
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let _open = open;
                        let service = service_fn(move |req| {
                            upstream_handle(state.clone(), name.clone(), conn, req)
                        });
                        match tls {
                            None => serve_upstream_connection(stream, service, close_idle).await,
                            Some(acceptor) => {
                                let Ok(stream) = acceptor.accept(stream).await else {
                                    return;
                                };
                                serve_upstream_connection(stream, service, close_idle).await
                            }
                        }
                    });
                }
            })
        };
        Upstream {
            name: name.to_owned(),
            url: format!("{scheme}://{addr}"),
            addr,
            state,
            task,
        }
    }

    /// `http://127.0.0.1:port` (`https://` for a TLS upstream).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.state.unhealthy.store(!healthy, Ordering::SeqCst);
    }

    /// Every non-health request answers `status` (0 restores normal behaviour).
    pub fn set_status(&self, status: u16) {
        self.state.forced_status.store(status, Ordering::SeqCst);
    }

    /// Requests whose head arrived (health probes excluded).
    pub fn started(&self) -> usize {
        self.state.started.load(Ordering::SeqCst)
    }

    /// TCP connections the upstream accepted so far.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// TCP connections to the upstream open right now.
    pub fn open_connections(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    /// With `true`, every response carries `Connection: close` and the
    /// upstream closes the connection after it.
    pub fn set_close_after_response(&self, close: bool) {
        self.state
            .close_after_response
            .store(close, Ordering::SeqCst);
    }

    /// Makes the upstream close its open connections (an exchange in progress
    /// finishes first), as a server does when its keep-alive timeout passes.
    pub fn close_idle_connections(&self) {
        self.state.close_idle.send_modify(|n| *n += 1);
    }

    pub fn health_probes(&self) -> usize {
        self.state.health_probes.load(Ordering::SeqCst)
    }

    /// Requests received completely (health probes excluded).
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    pub fn last(&self) -> Seen {
        self.state
            .seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_else(|| panic!("upstream {} saw no request", self.name))
    }
}

/// Serves one upstream connection (HTTP/1.1 with upgrades) until it ends or
/// `close_idle` changes, which closes it once the exchange in progress is done.
async fn serve_upstream_connection<I, S>(
    io: I,
    service: S,
    mut close_idle: tokio::sync::watch::Receiver<u64>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = TestBody> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            changed = close_idle.changed(), if !closing => {
                closing = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

fn query_number(uri: &http::Uri, key: &str) -> Option<u64> {
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

async fn upstream_handle(
    state: Arc<UpstreamState>,
    name: Arc<str>,
    conn: usize,
    mut req: Request<Incoming>,
) -> Result<Response<TestBody>, Infallible> {
    let tag = HeaderValue::from_str(&name).unwrap();
    let close = state.close_after_response.load(Ordering::SeqCst);
    let reply = |status: u16, body: TestBody| {
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        r.headers_mut().insert("x-upstream", tag.clone());
        r.headers_mut()
            .insert("x-upstream-conn", HeaderValue::from(conn));
        if close {
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    };
    let path = req.uri().path().to_owned();
    if path == "/healthz" {
        state.health_probes.fetch_add(1, Ordering::SeqCst);
        let status = if state.unhealthy.load(Ordering::SeqCst) {
            503
        } else {
            200
        };
        return Ok(reply(status, TestBody::full("health")));
    }
    state.started.fetch_add(1, Ordering::SeqCst);

    if path == "/ws" {
        let on_upgrade = hyper::upgrade::on(&mut req);
        record(&state, req.into_parts().0, Bytes::new(), conn);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let mut io = TokioIo::new(upgraded);
            let _ = io.write_all(b"hello from upstream\n").await;
            let mut buf = [0u8; 1024];
            loop {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let upper = buf[..n].to_ascii_uppercase();
                        if io.write_all(&upper).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut r = reply(101, TestBody::empty());
        r.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        return Ok(r);
    }

    let (parts, body) = req.into_parts();
    // Read the body, hashing as it arrives; a broken body is never recorded.
    let mut body = body;
    let mut hash = Fnv::default();
    let mut collected = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    hash.update(data);
                    collected.extend_from_slice(data);
                }
            }
            Err(_) => return Ok(reply(400, TestBody::full("broken body"))),
        }
    }
    let body = Bytes::from(collected);
    let body_len = body.len();
    let uri = parts.uri.clone();
    record(&state, parts, body.clone(), conn);

    let forced = state.forced_status.load(Ordering::SeqCst);
    let mut response = if forced != 0 {
        reply(forced, TestBody::full(format!("{name} forced {forced}")))
    } else if path.starts_with("/echo") {
        reply(200, TestBody::full(body))
    } else if path == "/slow" {
        let ms = query_number(&uri, "ms").unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        reply(200, TestBody::full(format!("{name} slow done")))
    } else if path == "/big" {
        let n = query_number(&uri, "bytes").unwrap_or(1024) as usize;
        with_length(&uri, n, reply(200, TestBody::pattern(n)))
    } else if path == "/drip" {
        let chunks = query_number(&uri, "chunks").unwrap_or(4) as usize;
        let size = query_number(&uri, "bytes").unwrap_or(1024) as usize;
        let pause = Duration::from_millis(query_number(&uri, "ms").unwrap_or(100));
        let (tx, body) = TestBody::channel();
        tokio::spawn(async move {
            for i in 0..chunks {
                if i > 0 {
                    tokio::time::sleep(pause).await;
                }
                if tx.send(Bytes::from(pattern(i * size, size))).await.is_err() {
                    return;
                }
            }
        });
        with_length(&uri, chunks * size, reply(200, body))
    } else if path == "/binary" {
        reply(200, TestBody::full(binary_body()))
    } else if let Some(code) = path.strip_prefix("/status/") {
        let code = code.parse().unwrap_or(500);
        reply(code, TestBody::full(format!("{name} status {code}")))
    } else if path == "/hop" {
        let mut r = reply(200, TestBody::full(name.to_string()));
        let h = r.headers_mut();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("x-upstream-hop"),
        );
        h.insert("x-upstream-hop", HeaderValue::from_static("secret"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=30"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("x-upstream-kept", HeaderValue::from_static("yes"));
        r
    } else {
        reply(200, TestBody::full(name.to_string()))
    };
    response.headers_mut().insert(
        "x-body-len",
        HeaderValue::from_str(&body_len.to_string()).unwrap(),
    );
    response
        .headers_mut()
        .insert("x-body-hash", HeaderValue::from_str(&hash.hex()).unwrap());
    Ok(response)
}

/// `?length=1`: the streamed body is announced with its `Content-Length`
/// (hyper sends it as given) instead of going out chunked.
fn with_length(
    uri: &http::Uri,
    len: usize,
    mut response: Response<TestBody>,
) -> Response<TestBody> {
    if query_number(uri, "length") == Some(1) {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    response
}

fn record(state: &UpstreamState, parts: http::request::Parts, body: Bytes, conn: usize) {
    state.seen.lock().unwrap().push(Seen {
        method: parts.method,
        uri: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        version: parts.version,
        headers: parts.headers,
        body,
        conn,
    });
}

/// What `/binary` answers: every byte value, 16 times.
pub fn binary_body() -> Vec<u8> {
    (0..16).flat_map(|_| 0u8..=255).collect()
}

// ───────────────────────────── HTTP clients ─────────────────────────────

/// A response with its body read completely.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub async fn collect(response: Response<Incoming>) -> Result<Reply, BoxError> {
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {}", self.text()))
    }

    /// Which test upstream answered (`x-upstream`).
    pub fn upstream(&self) -> String {
        self.header("x-upstream").unwrap_or_default()
    }

    /// Asserts an RFC 9457 problem answer with `status` and the response's request id.
    pub fn assert_problem(&self, status: u16) -> serde_json::Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "problem answers are application/problem+json"
        );
        let json = self.json();
        assert_eq!(json["status"], status, "{json}");
        let id = self
            .header("x-request-id")
            .expect("x-request-id on a problem");
        assert_eq!(json["request_id"], id.as_str(), "{json}");
        json
    }
}

/// A request builder for an origin-form target.
pub fn request(method: &str, target: &str) -> http::request::Builder {
    Request::builder().method(method).uri(target)
}

/// Sends one request over HTTP/1.1 on `io` (a new connection).
pub async fn send_h1<I>(io: I, mut req: Request<TestBody>, host: &str) -> Result<Reply, BoxError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    if !req.headers().contains_key(header::HOST) {
        req.headers_mut()
            .insert(header::HOST, HeaderValue::from_str(host).unwrap());
    }
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn.with_upgrades());
    let response = sender.send_request(req).await?;
    Reply::collect(response).await
}

/// Sends one request over HTTP/2 on `io` (prior knowledge or ALPN `h2`).
/// An origin-form target is made absolute (`scheme://host`).
pub async fn send_h2<I>(
    io: I,
    mut req: Request<TestBody>,
    scheme: &str,
    host: &str,
) -> Result<Reply, BoxError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    if req.uri().scheme().is_none() {
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        *req.uri_mut() = format!("{scheme}://{host}{pq}").parse()?;
    }
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
    tokio::spawn(conn);
    let response = sender.send_request(req).await?;
    Reply::collect(response).await
}

/// One client HTTP/1.1 keep-alive connection, for several requests in turn.
pub struct H1Connection {
    sender: hyper::client::conn::http1::SendRequest<TestBody>,
    conn: tokio::task::JoinHandle<()>,
    host: String,
}

impl H1Connection {
    pub async fn open(addr: SocketAddr) -> H1Connection {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        H1Connection {
            sender,
            conn,
            host: addr.to_string(),
        }
    }

    /// Sends `req` on this connection (adding a Host header if it has none)
    /// and reads its response, bounded by [`DEADLINE`].
    pub async fn send(&mut self, mut req: Request<TestBody>) -> Result<Reply, BoxError> {
        if !req.headers().contains_key(header::HOST) {
            req.headers_mut()
                .insert(header::HOST, HeaderValue::from_str(&self.host).unwrap());
        }
        tokio::time::timeout(DEADLINE, async {
            self.sender.ready().await?;
            Reply::collect(self.sender.send_request(req).await?).await
        })
        .await
        .map_err(|_| -> BoxError { "request timed out".into() })?
    }

    /// True while the connection is open.
    pub fn is_open(&self) -> bool {
        !self.conn.is_finished() && !self.sender.is_closed()
    }
}

impl Drop for H1Connection {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

/// An HTTP/2 client connection on `io` whose client sends a PING every
/// `ping`, idle or not. Returns the sender and the task driving the connection
/// (finished once the connection has ended).
pub async fn h2_pinging_connection<I>(
    io: I,
    ping: Duration,
) -> (
    hyper::client::conn::http2::SendRequest<TestBody>,
    tokio::task::JoinHandle<()>,
)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(ping)
        .keep_alive_while_idle(true)
        .keep_alive_timeout(DEADLINE)
        .handshake::<_, TestBody>(io)
        .await
        .expect("HTTP/2 handshake");
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    (sender, conn)
}

/// Keeps an HTTP/2 connection idle (its pings only) for `idle`, then sends a
/// second request on it: panics if the connection ended meanwhile or the
/// request fails. `authority` is `scheme://host[:port]`.
pub async fn h2_survives_idle<I>(io: I, authority: &str, idle: Duration) -> (Reply, Reply)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = h2_pinging_connection(io, Duration::from_millis(100)).await;
    let get = |path: &str| {
        request("GET", &format!("{authority}{path}"))
            .body(TestBody::empty())
            .unwrap()
    };
    let first = tokio::time::timeout(DEADLINE, async {
        Reply::collect(sender.send_request(get("/first")).await?).await
    })
    .await
    .expect("first request timed out")
    .expect("first request");

    let idle_from = Instant::now();
    while idle_from.elapsed() < idle {
        assert!(
            !conn.is_finished(),
            "the HTTP/2 connection ended after {:?} idle",
            idle_from.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let second = tokio::time::timeout(DEADLINE, async {
        Reply::collect(sender.send_request(get("/second")).await?).await
    })
    .await
    .expect("second request timed out")
    .unwrap_or_else(|e| panic!("second request on the idle HTTP/2 connection failed: {e}"));
    assert!(!conn.is_finished());
    conn.abort();
    (first, second)
}

/// One HTTP/1.1 request on a new TCP connection, bounded by [`DEADLINE`].
pub async fn try_h1(addr: SocketAddr, req: Request<TestBody>) -> Result<Reply, BoxError> {
    tokio::time::timeout(DEADLINE, async {
        let stream = TcpStream::connect(addr).await?;
        send_h1(TokioIo::new(stream), req, &addr.to_string()).await
    })
    .await
    .map_err(|_| -> BoxError { "request timed out".into() })?
}

pub async fn h1(addr: SocketAddr, req: Request<TestBody>) -> Reply {
    let what = format!("{} {}", req.method(), req.uri());
    try_h1(addr, req)
        .await
        .unwrap_or_else(|e| panic!("{what} via {addr} failed: {e}"))
}

/// One h2c (prior knowledge) request on a new TCP connection.
pub async fn h2c(addr: SocketAddr, req: Request<TestBody>) -> Reply {
    let what = format!("{} {}", req.method(), req.uri());
    tokio::time::timeout(DEADLINE, async {
        let stream = TcpStream::connect(addr).await?;
        send_h2(TokioIo::new(stream), req, "http", &addr.to_string()).await
    })
    .await
    .map_err(|_| -> BoxError { "request timed out".into() })
    .and_then(|r| r)
    .unwrap_or_else(|e| panic!("h2c {what} via {addr} failed: {e}"))
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    h1(addr, request("GET", path).body(TestBody::empty()).unwrap()).await
}

pub async fn post(addr: SocketAddr, path: &str, body: impl Into<Bytes>) -> Reply {
    h1(
        addr,
        request("POST", path).body(TestBody::full(body)).unwrap(),
    )
    .await
}

// ───────────────────────────── TLS ─────────────────────────────

/// A throw-away PKI written as PEM files: a CA, a server certificate for
/// `localhost` / `127.0.0.1`, a client certificate signed by the CA, and a
/// "rogue" client certificate signed by another CA.
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
}

fn new_ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert, rcgen::Issuer::new(params, key))
}

fn new_leaf(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    cn: &str,
    sans: &[&str],
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> (String, String) {
    use rcgen::{CertificateParams, DnType, KeyPair};
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        let (ca_cert, ca) = new_ca("portcullis test CA");
        let (rogue_ca_cert, rogue_ca) = new_ca("rogue CA");
        let _ = rogue_ca_cert;
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let (server_cert, server_key) =
            new_leaf(&ca, "localhost", &["localhost", "127.0.0.1"], ServerAuth);
        let (client_cert, client_key) = new_leaf(&ca, "test-client", &["client.test"], ClientAuth);
        let (rogue_cert, rogue_key) = new_leaf(&rogue_ca, "rogue", &["rogue.test"], ClientAuth);
        Pki {
            ca: write("ca.pem", &ca_cert.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            rogue_cert: write("rogue.pem", &rogue_cert),
            rogue_key: write("rogue.key", &rogue_key),
        }
    }
}

/// A client config trusting `ca`, presenting `identity` (cert, key) if given,
/// offering `alpn` protocols.
pub fn tls_client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
    alpn: &[&str],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => {
            let certs: Vec<_> = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
            let key = PrivateKeyDer::from_pem_file(key).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(config)
}

/// A server config with the PKI's server certificate; with
/// `require_client_cert`, clients must present a certificate signed by the CA.
pub fn tls_server_config(pki: &Pki, require_client_cert: bool) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&pki.ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(&pki.server_cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
    Arc::new(builder.with_single_cert(certs, key).unwrap())
}

/// TLS connection to `addr`, verifying the name `localhost`.
pub async fn tls_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let stream = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(config);
    tokio::time::timeout(
        DEADLINE,
        connector.connect(ServerName::try_from("localhost").unwrap(), stream),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

/// Connects with TLS and sends one request with the protocol ALPN chose.
pub async fn try_tls_request(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    req: Request<TestBody>,
) -> Result<Reply, BoxError> {
    tokio::time::timeout(DEADLINE, async {
        let stream = tls_connect(addr, config).await?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let host = format!("localhost:{}", addr.port());
        if h2 {
            send_h2(TokioIo::new(stream), req, "https", &host).await
        } else {
            send_h1(TokioIo::new(stream), req, &host).await
        }
    })
    .await
    .map_err(|_| -> BoxError { "TLS request timed out".into() })?
}

// ───────────────────────────── raw TCP ─────────────────────────────

/// A response read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// Writes `bytes` on a new connection and reads one response; `None` when the
/// connection ends (or stays silent for 5 s) without one.
pub async fn raw_request(addr: SocketAddr, bytes: &[u8]) -> Option<RawResponse> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    // The server may answer and close before taking everything: keep reading.
    let _ = stream.write_all(bytes).await;
    read_response(&mut stream, Duration::from_secs(5)).await
}

/// Reads one response (head, then a Content-Length or chunked body) from `stream`.
pub async fn read_response<S>(stream: &mut S, timeout: Duration) -> Option<RawResponse>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let lower = head.to_ascii_lowercase();
    let content_length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = lower
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let mut body = buf[head_end..].to_vec();
    let complete = |body: &[u8]| match (content_length, chunked) {
        (Some(n), _) => body.len() >= n,
        (None, true) => find(body, b"0\r\n\r\n").is_some(),
        (None, false) => true,
    };
    while !complete(&body) {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    Some(RawResponse { status, head, body })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// True when the peer closed `stream` (EOF or reset) within `timeout`, without sending anything.
pub async fn closed_without_response<S>(stream: &mut S, timeout: Duration) -> bool
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut buf = [0u8; 1024];
    matches!(
        tokio::time::timeout(timeout, stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

// ───────────────────────────── log files ─────────────────────────────

/// The JSON lines of a log file (non-JSON lines skipped).
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits until a JSON line of `path` satisfies `pred`, and returns it.
pub async fn wait_for_json_line(
    path: &Path,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(line) = json_lines(path).into_iter().find(|l| pred(l)) {
            return line;
        }
        if Instant::now() >= deadline {
            panic!(
                "no line for {what} in {} within {DEADLINE:?}; it holds:\n{}",
                path.display(),
                std::fs::read_to_string(path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// 32 lower-case hex characters, as the gateway generates request ids.
pub fn is_generated_request_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[path = "../../../limits/tests/support/redis_server.rs"]
mod redis_server;
#[allow(unused_imports)] // only the Redis-backed tests use it
pub use redis_server::RedisServer;

#[path = "../../../limits/tests/support/redis_cluster.rs"]
mod redis_cluster;
#[allow(unused_imports)] // only the Redis Cluster tests use it
pub use redis_cluster::RedisCluster;
