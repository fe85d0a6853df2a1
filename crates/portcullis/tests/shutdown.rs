//! Graceful shutdown: on SIGTERM (or SIGINT) new connections are refused,
//! in-flight requests finish, idle keep-alive connections do not hold the
//! drain, and the drain timeout bounds how long the process waits.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn config(up: &Upstream, drain_timeout: &str) -> String {
    single_route_config(up, &format!("runtime:\n  drain_timeout: {drain_timeout}"))
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    let up = Upstream::start("A").await;
    let mut gw = Gateway::start(&config(&up, "10s")).await;

    // An idle keep-alive connection, which must not hold the drain.
    let mut idle = TcpStream::connect(gw.addr).await.unwrap();
    idle.write_all(b"GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut idle, Duration::from_secs(5))
            .await
            .unwrap()
            .status,
        200
    );

    let addr = gw.addr;
    let slow = tokio::spawn(async move {
        try_h1(
            addr,
            request("GET", "/slow?ms=1500")
                .body(TestBody::empty())
                .unwrap(),
        )
        .await
    });
    eventually(
        "the slow request reaches the upstream",
        DEADLINE,
        || async { up.started() == 2 },
    )
    .await;

    gw.signal("TERM");
    eventually(
        "new connections are refused",
        Duration::from_secs(3),
        || async { TcpStream::connect(addr).await.is_err() },
    )
    .await;
    assert!(
        !slow.is_finished(),
        "the slow request ended before the signal took effect"
    );

    let r = slow
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "A slow done");
    let completed = Instant::now();

    let status = gw
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("the gateway exits once drained");
    assert!(status.success(), "exit status {status}");
    assert!(
        completed.elapsed() < Duration::from_secs(3),
        "exited {:?} after the last request (drain_timeout is 10s): an idle connection held the drain",
        completed.elapsed()
    );
    assert!(
        closed_without_response(&mut idle, Duration::from_secs(1)).await,
        "the idle connection was closed"
    );
    assert!(gw.stderr().contains("drained"), "{}", gw.stderr());
}

#[tokio::test]
async fn drain_timeout_bounds_the_wait_for_stuck_requests() {
    let up = Upstream::start("A").await;
    let mut gw = Gateway::start(&config(&up, "500ms")).await;

    let addr = gw.addr;
    let stuck = tokio::spawn(async move {
        try_h1(
            addr,
            request("GET", "/slow?ms=8000")
                .body(TestBody::empty())
                .unwrap(),
        )
        .await
    });
    eventually(
        "the stuck request reaches the upstream",
        DEADLINE,
        || async { up.started() == 1 },
    )
    .await;

    let signalled = Instant::now();
    gw.signal("TERM");
    let status = gw
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("the gateway exits after drain_timeout");
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(3000),
        "exited {took:?} after SIGTERM with drain_timeout 500ms"
    );
    let r = stuck.await.unwrap();
    assert!(r.is_err(), "the stuck request cannot have completed: {r:?}");
    assert!(
        gw.stderr().contains("drain timeout reached"),
        "{}",
        gw.stderr()
    );
}

#[tokio::test]
async fn sigint_also_shuts_down_cleanly() {
    let up = Upstream::start("A").await;
    let mut gw = Gateway::start(&config(&up, "5s")).await;
    assert_eq!(gw.get("/x").await.status, 200);
    gw.signal("INT");
    let status = gw
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("the gateway exits on SIGINT");
    assert!(status.success(), "exit status {status}");
}
