//! The Redis store against a real 3-master Redis Cluster started here
//! (support/redis_cluster.rs): a route's limits on keys served by different
//! masters are decided exactly and shared by two stores, every decision is
//! one `EVALSHA` on the node of its key, flags work across slots, and a
//! killed master means the fail mode (fast) until it is back, and a store
//! built before its cluster exists works once it does.

use std::time::{Duration, Instant};

use portcullis_limits::{
    Gcra, Limit, PutOutcome, RedisConfig, RedisStore, SharedMap, SlidingWindow, Store, StoreError,
    now_micros,
};

#[path = "support/redis_cluster.rs"]
mod redis_cluster;
use redis_cluster::RedisCluster;

fn config(cluster: &RedisCluster) -> RedisConfig {
    RedisConfig {
        url: String::new(),
        // Only one seed: the others are discovered from the slot map.
        cluster: cluster.urls()[..1].to_vec(),
        key_prefix: "test:".into(),
        timeout: Duration::from_millis(300),
        lease: 1,
        lease_ttl: Duration::from_secs(5),
        retry_interval: Duration::from_millis(300),
    }
}

/// One key served by each master (the store prefixes `test:`).
fn key_per_node(cluster: &RedisCluster) -> Vec<String> {
    let mut keys: Vec<Option<String>> = vec![None; 3];
    for n in 0.. {
        let key = format!("k{n}");
        let node = cluster.node_of(&format!("test:{key}"));
        keys[node].get_or_insert(key);
        if keys.iter().all(Option::is_some) {
            break;
        }
    }
    keys.into_iter().flatten().collect()
}

#[tokio::test]
async fn limits_on_three_masters_are_exact_and_shared() {
    let cluster = RedisCluster::start();
    let keys = key_per_node(&cluster);
    let a = RedisStore::new(&config(&cluster)).unwrap();
    let b = RedisStore::new(&config(&cluster)).unwrap();
    // Different sizes per key, so a reply routed to the wrong key shows.
    let limits = [
        Limit::Gcra(Gcra::new(1, Duration::from_secs(60), 4).unwrap()),
        Limit::Window(SlidingWindow::new(6, Duration::from_secs(3600)).unwrap()),
        Limit::Gcra(Gcra::new(1, Duration::from_secs(60), 8).unwrap()),
    ];
    let evalsha_before = cluster.calls("evalsha");
    let mut allowed = [0u64; 3];
    for i in 0..20 {
        let store = if i % 2 == 0 { &a } else { &b };
        let items: Vec<(&[u8], &Limit)> = keys
            .iter()
            .map(|k| k.as_bytes())
            .zip(limits.iter())
            .collect();
        let (decisions, _) = store.acquire_many(&items, 1, now_micros()).await;
        for (n, d) in decisions.into_iter().enumerate() {
            let d = d.unwrap();
            if d.allowed {
                allowed[n] += 1;
                assert_eq!(d.remaining, d.limit - allowed[n], "key {n}");
            }
        }
    }
    assert_eq!(allowed, [4, 6, 8], "one shared budget per key");
    let sent = a.commands_sent() + b.commands_sent();
    // Each key: its allowed decisions, then one denial per store (remembered).
    assert_eq!(sent, 4 + 6 + 8 + 3 * 2);
    // What the nodes executed (a first NOSCRIPT, re-sent, is not counted).
    let evalsha = cluster.calls("evalsha") - evalsha_before;
    assert_eq!(evalsha, sent, "EVALSHA on the nodes");
}

#[tokio::test]
async fn flags_work_across_slots() {
    let cluster = RedisCluster::start();
    let a = RedisStore::new(&config(&cluster)).unwrap();
    let b = RedisStore::new(&config(&cluster)).unwrap();
    let now = now_micros();
    let ips: Vec<String> = (1..=12).map(|i| format!("ban|192.0.2.{i}")).collect();
    for (v, ip) in ips.iter().enumerate() {
        a.set_flag(ip.as_bytes(), v as u64, Duration::from_secs(60), now)
            .await
            .unwrap();
    }
    let nodes: std::collections::HashSet<usize> = ips
        .iter()
        .map(|ip| cluster.node_of(&format!("test:{ip}")))
        .collect();
    assert_eq!(nodes.len(), 3, "the flags are spread over the masters");
    let mut wanted: Vec<&[u8]> = ips.iter().map(|s| s.as_bytes()).collect();
    wanted.push(b"ban|absent");
    let got = b.get_flags(&wanted, now).await.unwrap();
    for (v, flag) in got[..12].iter().enumerate() {
        assert_eq!(flag.map(|f| f.0), Some(v as u64));
    }
    assert_eq!(got[12], None);
    let listed = b.list_flags(b"ban|", now).await.unwrap();
    assert_eq!(listed.len(), 12, "SCAN covers every master");
    assert!(b.remove_flag(b"ban|192.0.2.3", now).await.unwrap());
    assert_eq!(b.list_flags(b"ban|", now).await.unwrap().len(), 11);
}

#[tokio::test]
async fn a_killed_master_fails_fast_then_recovers() {
    let mut cluster = RedisCluster::start();
    let keys = key_per_node(&cluster);
    let store = RedisStore::new(&config(&cluster)).unwrap();
    let limit = Limit::Gcra(Gcra::new(1000, Duration::from_secs(1), 1000).unwrap());
    // The key served by the master that is not the seed.
    let key = keys[1].as_bytes();
    assert!(
        store
            .acquire(key, &limit, 1, now_micros())
            .await
            .unwrap()
            .allowed
    );
    cluster.kill(1);
    let started = Instant::now();
    let failed = store.acquire(key, &limit, 1, now_micros()).await;
    assert!(
        matches!(failed, Err(StoreError::Unavailable(_))),
        "{failed:?}"
    );
    assert!(store.is_down());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let fast = Instant::now();
    for _ in 0..100 {
        assert!(store.acquire(key, &limit, 1, now_micros()).await.is_err());
    }
    assert!(
        fast.elapsed() < Duration::from_millis(50),
        "{:?}",
        fast.elapsed()
    );
    // Back on its port with its nodes.conf (its slots) and no data, nor
    // scripts: the store reloads them.
    cluster.restart(1);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(d) = store.acquire(key, &limit, 1, now_micros()).await {
            assert!(d.allowed);
            break;
        }
        assert!(Instant::now() < deadline, "the store did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!store.is_down());
}

/// A gateway may start before its cluster: the store connects lazily,
/// fails as unavailable meanwhile, and works once the cluster is up.
#[tokio::test]
async fn a_store_built_before_its_cluster_fails_then_works() {
    let ports = RedisCluster::free_ports();
    let config = RedisConfig {
        url: String::new(),
        cluster: vec![format!("redis://127.0.0.1:{}", ports[0])],
        key_prefix: "test:".into(),
        timeout: Duration::from_millis(200),
        lease: 1,
        lease_ttl: Duration::from_secs(5),
        retry_interval: Duration::from_millis(300),
    };
    let store = RedisStore::new(&config).unwrap();
    let limit = Limit::Gcra(Gcra::new(10, Duration::from_secs(1), 10).unwrap());
    let started = Instant::now();
    let failed = store.acquire(b"k", &limit, 1, now_micros()).await;
    assert!(
        matches!(failed, Err(StoreError::Unavailable(_))),
        "{failed:?}"
    );
    assert!(store.is_down());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let _cluster = RedisCluster::start_on(ports);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(d) = store.acquire(b"k", &limit, 1, now_micros()).await {
            assert!(d.allowed);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the store never reached the cluster"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!store.is_down());
}

/// The admin-edited shared map (one hash: one slot) works on a cluster:
/// an edit through one handle is seen, by version and entries, through
/// another handle seeded with a different node.
#[tokio::test]
async fn a_shared_map_on_a_cluster_is_seen_by_every_handle() {
    let cluster = RedisCluster::start();
    let a = SharedMap::new(&config(&cluster), "test:access_lists".into()).unwrap();
    let mut other_seed = config(&cluster);
    other_seed.cluster = cluster.urls()[2..].to_vec();
    let b = SharedMap::new(&other_seed, "test:access_lists".into()).unwrap();
    assert_eq!(b.version().await.unwrap().version, 0);
    let PutOutcome::Stored(v1) = a.put("deny|192.0.2.0/24", "{}", 10).await.unwrap() else {
        panic!("the map is not full")
    };
    assert_eq!(b.version().await.unwrap(), v1);
    let (seen, entries) = b.load().await.unwrap();
    assert_eq!(seen, v1);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "deny|192.0.2.0/24");
    assert!(b.remove("deny|192.0.2.0/24").await.unwrap());
    let v2 = a.version().await.unwrap();
    assert_eq!(v2.version, 2);
    assert!(a.load().await.unwrap().1.is_empty());
}

/// A master that dies is replaced by its replica (Redis Cluster failover):
/// the store fails over with it (the fail mode meanwhile), and the count
/// the replica inherited keeps the limit exact across the failover.
#[tokio::test]
async fn a_failed_over_master_is_replaced_by_its_replica_and_the_limit_holds() {
    let mut cluster = RedisCluster::start_replicated();
    let mut config = config(&cluster);
    config.cluster = cluster.urls();
    let store = RedisStore::new(&config).unwrap();
    let quota = Limit::Window(SlidingWindow::new(50, Duration::from_secs(3600)).unwrap());
    let key = key_per_node(&cluster)[1].clone();
    let master = cluster.node_of(&format!("test:{key}"));
    for _ in 0..20 {
        let d = store.acquire(key.as_bytes(), &quota, 1, now_micros()).await;
        assert!(d.unwrap().allowed);
    }
    cluster.wait_replicated();
    cluster.kill(master);
    let killed = Instant::now();
    let mut allowed = 20;
    let mut failed = 0;
    loop {
        match store.acquire(key.as_bytes(), &quota, 1, now_micros()).await {
            Ok(d) if d.allowed => allowed += 1,
            Ok(_) => break,
            Err(StoreError::Unavailable(_)) => {
                failed += 1;
                assert!(
                    killed.elapsed() < Duration::from_secs(30),
                    "no failover after {failed} failed calls"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(failed > 0, "the master was down for a while");
    assert_eq!(
        allowed, 50,
        "the replica kept the 20 spent before the failover"
    );
    assert!(!store.is_down());
    assert_ne!(
        cluster.node_of(&format!("test:{key}")),
        master,
        "a replica took over"
    );
}
