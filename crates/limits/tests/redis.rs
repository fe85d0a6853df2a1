//! The Redis store against a real `redis-server` started here on a free
//! loopback port: decisions match the in-memory store's, two stores (two
//! gateway instances) share one limit, leases never over-admit, and a
//! killed server fails fast then recovers.

use std::time::{Duration, Instant};

use portcullis_limits::{Gcra, Limit, RedisConfig, RedisStore, SlidingWindow, Store, now_micros};

#[path = "support/redis_server.rs"]
mod redis_server;
use redis_server::RedisServer;

fn config(port: u16, lease: u64) -> RedisConfig {
    RedisConfig {
        url: format!("redis://127.0.0.1:{port}/"),
        cluster: Vec::new(),
        key_prefix: "test:".into(),
        timeout: Duration::from_millis(200),
        lease,
        lease_ttl: Duration::from_secs(5),
        retry_interval: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn gcra_is_shared_by_two_stores_and_exact() {
    let redis = RedisServer::start();
    let a = RedisStore::new(&config(redis.port, 1)).unwrap();
    let b = RedisStore::new(&config(redis.port, 1)).unwrap();
    let limit = Limit::Gcra(Gcra::new(1, Duration::from_secs(60), 10).unwrap());
    let mut allowed = 0;
    for i in 0..30 {
        let store = if i % 2 == 0 { &a } else { &b };
        let d = store.acquire(b"k", &limit, 1, now_micros()).await.unwrap();
        if d.allowed {
            allowed += 1;
            assert_eq!(d.remaining, 10 - allowed, "remaining after {allowed}");
        } else {
            assert!(
                d.retry_after > Duration::from_secs(50),
                "{:?}",
                d.retry_after
            );
        }
    }
    assert_eq!(allowed, 10, "one shared burst of 10");
    // One command per allowed decision; each store then remembers its denial.
    assert_eq!(a.commands_sent() + b.commands_sent(), 12);
}

#[tokio::test]
async fn window_quota_is_shared_and_reports_remaining() {
    let redis = RedisServer::start();
    let a = RedisStore::new(&config(redis.port, 1)).unwrap();
    let b = RedisStore::new(&config(redis.port, 1)).unwrap();
    let limit = Limit::Window(SlidingWindow::new(7, Duration::from_secs(3600)).unwrap());
    let mut allowed = 0;
    for i in 0..20 {
        let store = if i % 3 == 0 { &a } else { &b };
        let d = store.acquire(b"q", &limit, 1, now_micros()).await.unwrap();
        if d.allowed {
            allowed += 1;
        } else {
            assert_eq!(d.remaining, 0);
            assert!(d.retry_after > Duration::ZERO);
        }
    }
    assert_eq!(allowed, 7);
}

#[tokio::test]
async fn leases_cut_round_trips_and_never_over_admit() {
    let redis = RedisServer::start();
    let stores: Vec<RedisStore> = (0..3)
        .map(|_| RedisStore::new(&config(redis.port, 10)).unwrap())
        .collect();
    let limit = Limit::Window(SlidingWindow::new(100, Duration::from_secs(3600)).unwrap());
    let mut allowed = 0;
    for i in 0..300 {
        let d = stores[i % 3]
            .acquire(b"lease", &limit, 1, now_micros())
            .await
            .unwrap();
        allowed += d.allowed as u32;
    }
    let commands: u64 = stores.iter().map(|s| s.commands_sent()).sum();
    // Leases only ever lose tokens (taken, then unspent): never more than the limit.
    assert!(allowed <= 100, "allowed {allowed}");
    assert!(
        allowed >= 100 - 3 * 9,
        "allowed {allowed}: at most lease-1 lost per instance"
    );
    assert!(commands <= 3 * 12, "{commands} commands for 300 decisions");
}

#[tokio::test]
async fn a_killed_server_fails_fast_then_recovers() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let store = RedisStore::new(&config(port, 1)).unwrap();
    let limit = Limit::Gcra(Gcra::new(100, Duration::from_secs(1), 100).unwrap());
    assert!(
        store
            .acquire(b"r", &limit, 1, now_micros())
            .await
            .unwrap()
            .allowed
    );
    redis.stop();
    let started = Instant::now();
    assert!(store.acquire(b"r", &limit, 1, now_micros()).await.is_err());
    assert!(store.is_down());
    // Marked down: the next calls fail without waiting on the network.
    let fast = Instant::now();
    for _ in 0..100 {
        assert!(store.acquire(b"r", &limit, 1, now_micros()).await.is_err());
    }
    assert!(
        fast.elapsed() < Duration::from_millis(50),
        "{:?}",
        fast.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let _redis = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(d) = store.acquire(b"r", &limit, 1, now_micros()).await {
            assert!(d.allowed);
            break;
        }
        assert!(Instant::now() < deadline, "the store did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!store.is_down());
}

#[tokio::test]
async fn flags_are_shared_listed_and_removed() {
    let redis = RedisServer::start();
    let a = RedisStore::new(&config(redis.port, 1)).unwrap();
    let b = RedisStore::new(&config(redis.port, 1)).unwrap();
    let now = now_micros();
    a.set_flag(b"ban|192.0.2.1", 7, Duration::from_secs(60), now)
        .await
        .unwrap();
    a.set_flag(b"ban|192.0.2.2", 8, Duration::from_secs(60), now)
        .await
        .unwrap();
    a.set_flag(b"lock|u", 1, Duration::from_secs(60), now)
        .await
        .unwrap();
    let got = b
        .get_flags(&[b"ban|192.0.2.1", b"ban|none"], now)
        .await
        .unwrap();
    assert_eq!(got[0].map(|f| f.0), Some(7));
    assert!(got[0].unwrap().1 > Duration::from_secs(58));
    assert_eq!(got[1], None);
    let listed = b.list_flags(b"ban|", now).await.unwrap();
    let keys: Vec<&[u8]> = listed.iter().map(|f| f.key.as_slice()).collect();
    assert_eq!(keys, [&b"ban|192.0.2.1"[..], b"ban|192.0.2.2"]);
    assert!(b.remove_flag(b"ban|192.0.2.1", now).await.unwrap());
    // `b` removed it: its own cache knows at once; `a` within FLAG_CACHE.
    assert_eq!(
        b.get_flags(&[b"ban|192.0.2.1"], now).await.unwrap()[0],
        None
    );
    let later = now + portcullis_limits::redis_store::FLAG_CACHE.as_micros() as u64 + 1;
    assert_eq!(
        a.get_flags(&[b"ban|192.0.2.1"], later).await.unwrap()[0],
        None
    );
}

/// Requests that find the local lease empty at the same moment each take a
/// lease from Redis; those tokens must add up locally, not replace each
/// other (a benchmark at 32 connections was refused a third of its requests
/// under a limit ten times its rate before they did).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lease_misses_keep_every_leased_token() {
    let redis = RedisServer::start();
    let store = std::sync::Arc::new(RedisStore::new(&config(redis.port, 10)).unwrap());
    let limit = Limit::Window(SlidingWindow::new(100, Duration::from_secs(3600)).unwrap());
    let mut allowed = 0;
    for _wave in 0..15 {
        let mut wave = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let store = store.clone();
            wave.spawn(async move {
                store
                    .acquire(b"wave", &limit, 1, now_micros())
                    .await
                    .unwrap()
                    .allowed
            });
        }
        while let Some(ok) = wave.join_next().await {
            allowed += ok.unwrap() as u32;
        }
    }
    // 300 requests against a quota of 100: every token Redis handed out is
    // spent, except at most one lease's remainder.
    assert!(allowed <= 100, "allowed {allowed}");
    assert!(
        allowed >= 100 - 9,
        "allowed {allowed}: leased tokens were lost"
    );
}
