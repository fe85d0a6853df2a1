//! Connections towards the upstream: keep-alive reuse from the pool, stale
//! pooled connections replaced (the upstream closed them), and the read-ahead
//! that gives a small chunked response a Content-Length while large and slow
//! responses keep streaming.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::Request;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A mix of exchanges: a small GET, a POST with a body, a small chunked
/// answer, a 200 KiB chunked answer.
fn mixed_request(i: usize) -> (Request<TestBody>, Option<Vec<u8>>) {
    match i % 4 {
        0 => (
            request("GET", &format!("/plain/{i}"))
                .body(TestBody::empty())
                .unwrap(),
            None,
        ),
        1 => {
            let body = format!("body of request {i}").into_bytes();
            (
                request("POST", &format!("/echo/{i}"))
                    .body(TestBody::full(body.clone()))
                    .unwrap(),
                Some(body),
            )
        }
        2 => (
            request("GET", "/big?bytes=100")
                .body(TestBody::empty())
                .unwrap(),
            Some(pattern(0, 100)),
        ),
        _ => (
            request("GET", "/big?bytes=204800")
                .body(TestBody::empty())
                .unwrap(),
            Some(pattern(0, 204_800)),
        ),
    }
}

/// Sends `mixed_request(i)` on `client` and checks the answer.
async fn exchange(client: &mut H1Connection, i: usize) -> Reply {
    let (req, expected) = mixed_request(i);
    let what = format!("{} {}", req.method(), req.uri());
    let r = client
        .send(req)
        .await
        .unwrap_or_else(|e| panic!("request {i} ({what}) failed: {e}"));
    assert_eq!(r.status, 200, "request {i} ({what}): {}", r.text());
    if let Some(expected) = expected {
        assert!(
            r.body.as_ref() == expected.as_slice(),
            "request {i} ({what}): body of {} bytes differs",
            r.body.len()
        );
    }
    assert_eq!(
        r.header("connection"),
        None,
        "request {i}: the upstream's Connection header reached the client"
    );
    r
}

fn upstream_connections(up: &Upstream) -> BTreeSet<usize> {
    up.seen().iter().map(|s| s.conn).collect()
}

#[tokio::test]
async fn sequential_requests_reuse_the_upstream_connection() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    let mut client = H1Connection::open(gw.addr).await;
    for i in 0..50 {
        exchange(&mut client, i).await;
    }
    assert!(client.is_open());
    assert_eq!(up.count(), 50);
    let used = upstream_connections(&up);
    assert!(
        used.len() <= 2 && up.accepted() <= 2,
        "50 sequential requests used {} upstream connections ({} accepted): {used:?}",
        used.len(),
        up.accepted()
    );
}

/// An upstream that answers `Connection: close` ends every connection after
/// one response: the gateway must not reuse it (every request gets a fresh
/// one and succeeds), and the client's own connection stays open.
#[tokio::test]
async fn an_upstream_closing_after_each_response_gets_a_fresh_connection_each_time() {
    let up = Upstream::start("A").await;
    up.set_close_after_response(true);
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    let mut client = H1Connection::open(gw.addr).await;
    for i in 0..20 {
        exchange(&mut client, i).await;
    }
    assert!(client.is_open(), "the client connection was closed");
    assert_eq!(up.count(), 20);
    assert_eq!(
        upstream_connections(&up).len(),
        20,
        "a connection the upstream closed was reused"
    );
}

/// The upstream closes its idle keep-alive connections while they sit in the
/// gateway's pool: the next requests (including a POST with a body) must not
/// fail on the stale connection but go out on a new one.
#[tokio::test]
async fn pooled_connections_closed_by_the_upstream_are_replaced() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    let mut client = H1Connection::open(gw.addr).await;
    let mut i = 0;
    for round in 1..=3 {
        for _ in 0..4 {
            exchange(&mut client, i).await;
            i += 1;
        }
        let accepted = up.accepted();
        up.close_idle_connections();
        eventually(
            "the upstream closed its idle connections",
            DEADLINE,
            || async { up.open_connections() == 0 },
        )
        .await;
        // First after the close: a POST, which must not be lost or failed.
        for j in 0..4 {
            let kind = if j == 0 { 4 * i + 1 } else { i };
            let r = exchange(&mut client, kind).await;
            assert_eq!(r.status, 200, "round {round}");
            i += 1;
        }
        assert!(
            up.accepted() > accepted,
            "round {round}: no new upstream connection after the old ones closed"
        );
    }
    assert!(client.is_open());
    assert_eq!(up.count(), 24);
    assert!(
        up.accepted() <= 6,
        "more upstream connections than the closes explain: {}",
        up.accepted()
    );
}

/// A bare upstream that answers each request head with `200 ok` and then
/// closes the connection without a `Connection: close`; counts connections.
async fn silently_closing_upstream() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                // Dropped: closed right after the response, without a word.
            });
        }
    });
    (addr, accepted)
}

/// An upstream that closes every connection right after its response without
/// announcing it: the pooled connection is found closed when next used and
/// replaced, so no request fails (retries are off: this is not a retry).
#[tokio::test]
async fn connections_the_upstream_closed_silently_are_not_used_again() {
    let (addr, accepted) = silently_closing_upstream().await;
    let config = format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  app:
    endpoints: ["http://{addr}"]
    retries: 0
routes:
  - name: app
    upstream: app
"#
    );
    let gw = Gateway::start(&config).await;
    let mut client = H1Connection::open(gw.addr).await;
    for i in 0..30 {
        let r = client
            .send(
                request("GET", &format!("/silent/{i}"))
                    .body(TestBody::empty())
                    .unwrap(),
            )
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.text(), "ok");
    }
    assert!(client.is_open());
    assert_eq!(accepted.load(Ordering::SeqCst), 30);
}

/// What a raw HTTP/1.1 exchange with `addr` shows on the wire.
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> RawResponse {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    raw_request(addr, raw.as_bytes())
        .await
        .unwrap_or_else(|| panic!("no response to GET {path} from {addr}"))
}

fn head_value(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// A small chunked answer is complete before its head leaves the gateway, so
/// the client gets it with an exact Content-Length; a 1 MiB chunked answer
/// still streams (chunked), intact; a slow answer is not held back.
#[tokio::test]
async fn small_chunked_responses_get_a_content_length_and_large_ones_stream() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    // The upstream really answers chunked, without a length.
    let direct = raw_get(up.addr, "/big?bytes=100").await;
    assert_eq!(
        head_value(&direct.head, "transfer-encoding").as_deref(),
        Some("chunked"),
        "{}",
        direct.head
    );
    assert_eq!(head_value(&direct.head, "content-length"), None);

    // Through the gateway: a length, no chunking, on fresh and pooled connections.
    for size in [100usize, 1, 3000] {
        let path = format!("/big?bytes={size}");
        let r = raw_get(gw.addr, &path).await;
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(
            head_value(&r.head, "content-length"),
            Some(size.to_string()),
            "{path}: {}",
            r.head
        );
        assert_eq!(head_value(&r.head, "transfer-encoding"), None, "{}", r.head);
        assert_eq!(r.body, pattern(0, size), "{path}");
    }
    let mut client = H1Connection::open(gw.addr).await;
    for _ in 0..3 {
        let r = client
            .send(
                request("GET", "/big?bytes=100")
                    .body(TestBody::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.header("content-length").as_deref(), Some("100"));
        assert_eq!(r.header("transfer-encoding"), None);
        assert_eq!(r.body.as_ref(), pattern(0, 100).as_slice());
    }

    // 1 MiB in 64 KiB chunks: streamed chunked, byte for byte.
    const MIB: usize = 1024 * 1024;
    let r = client
        .send(
            request("GET", &format!("/big?bytes={MIB}"))
                .body(TestBody::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding").as_deref(), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.body.len(), MIB);
    assert_eq!(fnv_hex(&r.body), pattern_hash(MIB));

    // A slow chunked answer is neither buffered nor given a length: its first
    // chunk arrives long before its last.
    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let started = Instant::now();
    let response = sender
        .send_request(
            request("GET", "/drip?chunks=3&bytes=100&ms=300")
                .header("host", "a")
                .body(TestBody::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get("transfer-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("chunked")
    );
    let mut body = response.into_body();
    let first = tokio::time::timeout(Duration::from_secs(2), body.frame())
        .await
        .expect("first chunk")
        .expect("a frame")
        .unwrap();
    let first_at = started.elapsed();
    assert_eq!(
        first.data_ref().map(|d| d.as_ref()),
        Some(pattern(0, 100).as_slice())
    );
    assert!(
        first_at < Duration::from_millis(250),
        "the first chunk was held back for {first_at:?}"
    );
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest.as_ref(), pattern(100, 200).as_slice());
    assert!(started.elapsed() >= Duration::from_millis(550));
}
