//! The versioned shared map against a real `redis-server`: two handles (two
//! gateway instances) see each other's edits through the version, the entry
//! bound holds, and a restarted (emptied) server changes the version.

use std::time::Duration;

use portcullis_limits::{PutOutcome, RedisConfig, SharedMap};

#[path = "support/redis_server.rs"]
mod redis_server;
use redis_server::RedisServer;

fn map(port: u16) -> SharedMap {
    let config = RedisConfig {
        url: format!("redis://127.0.0.1:{port}/"),
        cluster: Vec::new(),
        key_prefix: "test:".into(),
        timeout: Duration::from_millis(500),
        lease: 1,
        lease_ttl: Duration::from_secs(1),
        retry_interval: Duration::from_secs(1),
    };
    SharedMap::new(&config, "test:access_lists".into()).unwrap()
}

#[tokio::test]
async fn edits_bump_the_version_and_are_seen_by_another_handle() {
    let redis = RedisServer::start();
    let a = map(redis.port);
    let b = map(redis.port);
    let empty = b.version().await.unwrap();
    assert_eq!(empty.version, 0);
    assert!(empty.epoch.is_empty());
    assert_eq!(b.load().await.unwrap().1, vec![]);

    let PutOutcome::Stored(v1) = a.put("deny|10.0.0.0/8", "{}", 3).await.unwrap() else {
        panic!("not full yet")
    };
    assert_eq!(v1.version, 1);
    assert_eq!(v1.epoch.len(), 16);
    assert_eq!(b.version().await.unwrap(), v1);
    let (seen, entries) = b.load().await.unwrap();
    assert_eq!(seen, v1);
    assert_eq!(
        entries,
        vec![("deny|10.0.0.0/8".to_owned(), "{}".to_owned())]
    );

    // Replacing an entry bumps the version but does not count twice.
    let PutOutcome::Stored(v2) = b.put("deny|10.0.0.0/8", "{\"c\":1}", 3).await.unwrap() else {
        panic!("a replaced entry is never refused")
    };
    assert_eq!(
        (v2.version, &v2.epoch),
        (2, &v1.epoch),
        "one epoch per hash"
    );
    a.put("allow|192.0.2.1/32", "{}", 3).await.unwrap();
    a.put("allow|192.0.2.2/32", "{}", 3).await.unwrap();
    assert_eq!(
        a.put("allow|192.0.2.3/32", "{}", 3).await.unwrap(),
        PutOutcome::Full
    );
    assert_eq!(b.load().await.unwrap().1.len(), 3);
    assert!(a.put("_version", "1", 10).await.is_err(), "reserved names");

    assert!(b.remove("allow|192.0.2.2/32").await.unwrap());
    assert!(!b.remove("allow|192.0.2.2/32").await.unwrap());
    let v = a.version().await.unwrap();
    assert_eq!(v.version, 5);
    assert_eq!(a.load().await.unwrap().1.len(), 2);
}

#[tokio::test]
async fn an_emptied_server_is_a_new_epoch() {
    let redis = RedisServer::start();
    let a = map(redis.port);
    a.put("deny|10.0.0.1/32", "{}", 10).await.unwrap();
    let before = a.version().await.unwrap();
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    a.put("deny|10.0.0.2/32", "{}", 10).await.unwrap();
    let after = a.version().await.unwrap();
    assert_eq!(after.version, before.version, "the counter restarted");
    assert_ne!(after, before, "but the epoch tells the copies apart");
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_not_a_hang() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let a = map(port);
    let started = std::time::Instant::now();
    assert!(a.version().await.is_err());
    assert!(a.put("deny|10.0.0.1/32", "{}", 10).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}
