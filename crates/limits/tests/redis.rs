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

#[tokio::test]
async fn flushed_scripts_are_reloaded_without_charging_twice() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&config(redis.port, 1)).unwrap();
    let quota = Limit::Window(SlidingWindow::new(5, Duration::from_secs(3600)).unwrap());
    let rate = Limit::Gcra(Gcra::new(5, Duration::from_secs(3600), 5).unwrap());
    let both = [(&b"w"[..], &quota), (&b"g"[..], &rate)];
    for _ in 0..3 {
        let (results, _) = store.acquire_many(&both, 1, now_micros()).await;
        assert!(results.iter().all(|r| r.as_ref().unwrap().allowed));
    }
    assert_eq!(redis_server::cli(redis.port, &["SCRIPT", "FLUSH"]), "OK");
    let mut allowed = [0, 0];
    for _ in 0..4 {
        let (results, _) = store.acquire_many(&both, 1, now_micros()).await;
        for (n, r) in results.iter().enumerate() {
            allowed[n] += r.as_ref().expect("reloaded, not failed").allowed as u32;
        }
    }
    // 3 before the flush + 2 after = the limit of 5 on each key: the
    // decisions that met NOSCRIPT were sent again once, not charged twice.
    assert_eq!(allowed, [2, 2]);
}

#[tokio::test]
async fn password_and_database_from_the_url_are_used() {
    let port = redis_server::free_port();
    let _redis = RedisServer::start_with(port, &["--requirepass", "s3cret"]);
    let limit = Limit::Gcra(Gcra::new(2, Duration::from_secs(3600), 2).unwrap());
    let mut good = config(port, 1);
    good.url = format!("redis://:s3cret@127.0.0.1:{port}/3");
    let store = RedisStore::new(&good).unwrap();
    for expected in [true, true, false] {
        let d = store
            .acquire(b"auth", &limit, 1, now_micros())
            .await
            .unwrap();
        assert_eq!(d.allowed, expected);
    }
    let keys = redis_server::cli(
        port,
        &["-a", "s3cret", "--no-auth-warning", "-n", "3", "KEYS", "*"],
    );
    assert_eq!(keys, "test:auth", "the key lives in database 3");

    let mut bad = config(port, 1);
    bad.url = format!("redis://:wrong@127.0.0.1:{port}/0");
    let store = RedisStore::new(&bad).unwrap();
    let err = store
        .acquire(b"auth", &limit, 1, now_micros())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("handshake"), "{err}");
    assert!(store.is_down());
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout_not_a_hang() {
    // Accepts and reads, never writes: a Redis that stopped answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            held.push(tokio::spawn(async move {
                let mut sink = vec![0u8; 4096];
                while let Ok(n) = tokio::io::AsyncReadExt::read(&mut socket, &mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            }));
        }
    });
    let store = RedisStore::new(&config(port, 1)).unwrap();
    let limit = Limit::Gcra(Gcra::new(10, Duration::from_secs(1), 10).unwrap());
    let started = Instant::now();
    let err = store
        .acquire(b"mute", &limit, 1, now_micros())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in time"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(store.is_down());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exact_decisions_share_the_connection_and_stay_exact() {
    let redis = RedisServer::start();
    let store = std::sync::Arc::new(RedisStore::new(&config(redis.port, 1)).unwrap());
    let quota = Limit::Window(SlidingWindow::new(150, Duration::from_secs(3600)).unwrap());
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                // Two keys per call, answered in the order they were asked.
                let own = format!("own{i}");
                let items = [(&b"shared"[..], &quota), (own.as_bytes(), &quota)];
                let (results, _) = store.acquire_many(&items, 1, now_micros()).await;
                let shared = results[0].as_ref().unwrap();
                let own = results[1].as_ref().unwrap();
                assert!(own.allowed && own.remaining == 149, "own key: {own:?}");
                shared.allowed
            })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        allowed += task.await.unwrap() as u32;
    }
    assert_eq!(
        allowed, 150,
        "exactly the quota, over one shared connection"
    );
    let clients = redis_server::cli(redis.port, &["CLIENT", "LIST"]);
    assert!(clients.lines().count() <= 3, "{clients}");
}
