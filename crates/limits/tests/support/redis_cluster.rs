//! A real 3-master Redis Cluster for tests: three `redis-server
//! --cluster-enabled yes` on free loopback ports, each in its own temp dir,
//! joined by `redis-cli --cluster create`; ready once every node reports
//! `cluster_state:ok`. A node can be killed and started again on its port
//! (its `nodes.conf` keeps its slots, so the cluster heals). Killed and the
//! dirs removed when dropped. Shared by the limits crate's store tests and the
//! gateway's end-to-end tests (through `#[path]`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisCluster {
    nodes: Vec<Option<Child>>,
    pub ports: Vec<u16>,
    dirs: Vec<PathBuf>,
}

/// A free loopback port whose cluster bus port (port + 10000) is free too.
fn free_port_pair() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .expect("redis-cli must be installed (scripts/test installs redis-tools)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[allow(dead_code)] // each test crate uses some of it
impl RedisCluster {
    pub fn start() -> RedisCluster {
        Self::start_on(Self::free_ports())
    }

    /// Three free ports for [`RedisCluster::start_on`] (a client can be
    /// pointed at them before the cluster exists).
    pub fn free_ports() -> [u16; 3] {
        [free_port_pair(), free_port_pair(), free_port_pair()]
    }

    pub fn start_on(ports: [u16; 3]) -> RedisCluster {
        Self::start_nodes(&ports, 0)
    }

    /// Three masters and a replica of each (six nodes; the masters are
    /// nodes 0-2 right after the start, as `redis-cli --cluster create`
    /// makes the first three masters). A killed master is replaced by its
    /// replica after the node timeout (1 s).
    pub fn start_replicated() -> RedisCluster {
        let ports: Vec<u16> = (0..6).map(|_| free_port_pair()).collect();
        let cluster = Self::start_nodes(&ports, 1);
        // Every replica attached and in sync before the test starts.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(0..3).all(|i| {
            redis_cli(cluster.ports[i], &["info", "replication"]).contains("connected_slaves:1")
        }) {
            assert!(Instant::now() < deadline, "the replicas did not attach");
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    /// Waits until every replica has every write its master has.
    pub fn wait_replicated(&self) {
        let offset = |port: u16, field: &str| -> Option<u64> {
            redis_cli(port, &["info", "replication"])
                .lines()
                .find_map(|l| l.trim().strip_prefix(field))
                .and_then(|v| v.trim().parse().ok())
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for (port, node) in self.ports.iter().zip(&self.nodes) {
            if node.is_none() || !redis_cli(*port, &["info", "replication"]).contains("role:master")
            {
                continue;
            }
            loop {
                let master = offset(*port, "master_repl_offset:");
                let replica = redis_cli(*port, &["info", "replication"])
                    .lines()
                    .find(|l| l.starts_with("slave0:"))
                    .and_then(|l| l.split(',').find_map(|f| f.strip_prefix("offset=")))
                    .and_then(|v| v.parse::<u64>().ok());
                if master.is_some() && master == replica {
                    break;
                }
                assert!(Instant::now() < deadline, "replication did not catch up");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn start_nodes(ports: &[u16], replicas: usize) -> RedisCluster {
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            ports: Vec::new(),
            dirs: Vec::new(),
        };
        for &port in ports {
            let dir = std::env::temp_dir()
                .join(format!("portcullis-cluster-{}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            cluster.ports.push(port);
            cluster.dirs.push(dir);
            cluster.nodes.push(None);
            let i = cluster.ports.len() - 1;
            cluster.start_node(i);
        }
        let addrs: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli must be installed (scripts/test installs redis-tools)");
        assert!(status.success(), "redis-cli --cluster create failed");
        cluster.wait_ok();
        cluster
    }

    /// Seed node URLs (`redis://127.0.0.1:P`), one per master.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    fn start_node(&mut self, i: usize) {
        let port = self.ports[i];
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "1000",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(&self.dirs[i])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test installs it)");
        self.nodes[i] = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until every running node reports `cluster_state:ok`.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self
                .ports
                .iter()
                .zip(&self.nodes)
                .filter(|(_, n)| n.is_some())
                .all(|(p, _)| redis_cli(*p, &["cluster", "info"]).contains("cluster_state:ok"));
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "cluster_state did not become ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills node `i` (a master: its slots are then unserved).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again on its port and waits for the cluster to be ok.
    pub fn restart(&mut self, i: usize) {
        self.start_node(i);
        self.wait_ok();
    }

    /// Which node (index) serves `key`.
    pub fn node_of(&self, key: &str) -> usize {
        let slot: u16 = redis_cli(self.ports[0], &["cluster", "keyslot", key])
            .trim()
            .parse()
            .expect("CLUSTER KEYSLOT answers a number");
        let shards = redis_cli(self.ports[0], &["cluster", "slots"]);
        // Lines of `redis-cli cluster slots`: start, end, ip, port, id, ...
        let lines: Vec<&str> = shards.lines().map(str::trim).collect();
        let mut i = 0;
        while i + 3 < lines.len() {
            if let (Ok(start), Ok(end)) = (lines[i].parse::<u16>(), lines[i + 1].parse::<u16>())
                && let Ok(port) = lines[i + 3].parse::<u16>()
                && (start..=end).contains(&slot)
                && let Some(n) = self.ports.iter().position(|p| *p == port)
            {
                return n;
            }
            i += 1;
        }
        panic!("no node serves slot {slot}: {shards}");
    }

    /// Calls of one command that did not fail (`calls − failed_calls` of
    /// `INFO commandstats`: a NOSCRIPT is not counted), summed over the nodes.
    pub fn calls(&self, command: &str) -> u64 {
        let needle = format!("cmdstat_{}:calls=", command.to_ascii_lowercase());
        self.ports
            .iter()
            .zip(&self.nodes)
            .filter(|(_, n)| n.is_some())
            .map(|(p, _)| {
                let stats = redis_cli(*p, &["info", "commandstats"]);
                let Some(line) = stats.lines().find_map(|l| l.strip_prefix(&needle)) else {
                    return 0;
                };
                let field = |name: &str| {
                    line.split(',')
                        .find_map(|f| f.strip_prefix(name))
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                line.split(',')
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
                    - field("failed_calls=")
            })
            .sum()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
