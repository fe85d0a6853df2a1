//! A real `redis-server` for tests, on a loopback port, with nothing
//! persisted; killed when dropped (or earlier with [`RedisServer::stop`]).
//! Shared by the limits crate's store tests and the gateway's end-to-end
//! tests (`crates/portcullis/tests/support`, through `#[path]`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Child,
    pub port: u16,
}

#[allow(dead_code)] // each test crate uses some of it
impl RedisServer {
    pub fn start_on(port: u16) -> RedisServer {
        Self::start_with(port, &[])
    }

    /// On `port`, with extra `redis-server` arguments (`--requirepass`, ...).
    pub fn start_with(port: u16, extra: &[&str]) -> RedisServer {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, port }
    }

    /// On a free loopback port.
    pub fn start() -> RedisServer {
        Self::start_on(free_port())
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (right now).
#[allow(dead_code)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `redis-cli -p PORT ARGS...` and returns its output.
#[allow(dead_code)]
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli must be installed (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
