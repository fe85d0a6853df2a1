//! Protocol safety through real sockets: request smuggling shapes, head and
//! body limits, the header-read (slowloris) and idle timeouts, the connection
//! limit and HTTP/2 stream limit.

mod support;

use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn limits_config(up: &Upstream) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
limits:
  max_header_bytes: 4KiB
  max_headers: 20
  max_uri_bytes: 1KiB
  max_body_bytes: 64KiB
  header_read_timeout: 300ms
upstreams:
  app:
    endpoints: ["{}"]
policies:
  small:
    request_limits:
      max_body_bytes: 1KiB
routes:
  - name: small
    match:
      path_prefix: /small
    upstream: app
    policy: small
  - name: app
    match:
      path_prefix: /
    upstream: app
"#,
        up.url()
    )
}

#[tokio::test]
async fn smuggling_shapes_are_refused_before_the_upstream() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&limits_config(&up)).await;

    let cases: &[(&str, &str)] = &[
        (
            "differing Content-Lengths",
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        ),
        (
            "Content-Length list with differing values",
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 5\r\n\r\nabcde",
        ),
        (
            "signed Content-Length",
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd",
        ),
        (
            "Transfer-Encoding: gzip",
            "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabcd",
        ),
        (
            "chunked, identity",
            "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        ),
        (
            "chunked twice",
            "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "space before the colon",
            "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "Transfer-Encoding in HTTP/1.0",
            "POST /echo HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
    ];
    for (what, raw) in cases {
        let r = raw_request(gw.addr, raw.as_bytes()).await;
        let r = r.unwrap_or_else(|| panic!("{what}: no response"));
        assert_eq!(r.status, 400, "{what}: {}", r.head);
    }
    assert_eq!(up.started(), 0, "upstream saw {:?}", up.seen());

    // The upstream is reachable, and a well-formed chunked body goes through.
    let ok = raw_request(
        gw.addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, b"abc");
}

/// RFC 9112 §6.3 lets a server reject a request carrying both headers; the
/// gateway's own rule (`protocol.smuggling`, "both Content-Length and
/// Transfer-Encoding") and `portcullis check` say 400.
#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&limits_config(&up)).await;
    for raw in [
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    ] {
        let r = raw_request(gw.addr, raw.as_bytes())
            .await
            .expect("a response");
        assert_eq!(r.status, 400, "{raw:?}: {}", r.head);
    }
    assert_eq!(up.started(), 0, "upstream saw {:?}", up.seen());
}

/// Whatever the status, a request hidden behind CL+TE framing must never
/// reach the upstream, and the upstream never gets ambiguous framing.
#[tokio::test]
async fn a_request_smuggled_behind_content_length_and_chunked_never_reaches_the_upstream() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&limits_config(&up)).await;

    let raw = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let first = read_response(&mut stream, Duration::from_secs(5))
        .await
        .expect("a response to the first request");
    assert!(
        first.status == 400 || first.status == 200,
        "unexpected {}",
        first.head
    );
    assert!(
        closed_without_response(&mut stream, Duration::from_secs(3)).await,
        "the connection stayed open after CL+TE framing, or answered the smuggled request"
    );
    for seen in up.seen() {
        assert!(!seen.uri.contains("smuggled"), "smuggled request forwarded");
        assert!(
            !(seen.headers.contains_key("content-length")
                && seen.headers.contains_key("transfer-encoding")),
            "ambiguous framing forwarded: {:?}",
            seen.headers
        );
    }

    // Identical repeated Content-Length: refused, or forwarded as a single one.
    let r = raw_request(
        gw.addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
    )
    .await
    .unwrap();
    if r.status != 400 {
        assert_eq!(r.status, 200, "{}", r.head);
        let seen = up.last();
        let lengths: Vec<_> = seen.headers.get_all("content-length").iter().collect();
        assert_eq!(lengths, ["4"], "upstream framing: {:?}", seen.headers);
    }
}

#[tokio::test]
async fn head_size_limits_answer_431_and_414() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&limits_config(&up)).await;

    // Within the limits: fine.
    let mut ok = request("GET", "/fine");
    for i in 0..10 {
        ok = ok.header(format!("x-h{i}"), "v");
    }
    let r = h1(gw.addr, ok.body(TestBody::empty()).unwrap()).await;
    assert_eq!(r.status, 200);

    // Head bigger than max_header_bytes (4 KiB): 431 problem.
    let r = h1(
        gw.addr,
        request("GET", "/big-head")
            .header("x-big", "a".repeat(6000))
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    let json = r.assert_problem(431);
    assert_eq!(json["rule"], "protocol.header_too_large");

    // A head far over any buffer: still 431.
    let raw = format!(
        "GET /huge-head HTTP/1.1\r\nHost: a\r\nX-Huge: {}\r\n\r\n",
        "b".repeat(100 * 1024)
    );
    let r = raw_request(gw.addr, raw.as_bytes())
        .await
        .expect("a response to a 100 KiB head");
    assert_eq!(r.status, 431, "{}", r.head);

    // More header fields than max_headers (20): 431.
    let mut many = request("GET", "/many");
    for i in 0..30 {
        many = many.header(format!("x-h{i}"), "v");
    }
    let r = h1(gw.addr, many.body(TestBody::empty()).unwrap()).await;
    r.assert_problem(431);
    let mut raw = String::from("GET /very-many HTTP/1.1\r\nHost: a\r\n");
    for i in 0..150 {
        raw.push_str(&format!("X-H{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    let r = raw_request(gw.addr, raw.as_bytes())
        .await
        .expect("a response to 150 headers");
    assert_eq!(r.status, 431, "{}", r.head);

    // Request target longer than max_uri_bytes (1 KiB): 414.
    let long = format!("/{}", "u".repeat(2000));
    let r = gw.get(&long).await;
    let json = r.assert_problem(414);
    assert_eq!(json["rule"], "protocol.uri_too_long");
    let r = gw.get(&format!("/q?x={}", "q".repeat(1500))).await;
    r.assert_problem(414);

    assert_eq!(
        up.count(),
        1,
        "only the request within limits was forwarded"
    );
}

#[tokio::test]
async fn declared_body_over_the_limit_is_413_without_calling_the_upstream() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&limits_config(&up)).await;

    // Only the head is sent: the answer must not wait for the body.
    let r = raw_request(
        gw.addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n",
    )
    .await
    .expect("413 before any body byte");
    assert_eq!(r.status, 413, "{}", r.head);
    assert!(r.head.contains("application/problem+json"), "{}", r.head);

    // The route's own limit (1 KiB) is lower than the gateway's (64 KiB).
    let r = post(gw.addr, "/small/x", vec![b'x'; 2000]).await;
    r.assert_problem(413);
    // ... and the gateway's limit applies elsewhere.
    let r = post(gw.addr, "/echo", vec![b'x'; 2000]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        up.started(),
        1,
        "only the allowed POST reached the upstream"
    );
}

#[tokio::test]
async fn chunked_body_growing_past_the_limit_never_succeeds() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&limits_config(&up)).await;

    for (path, size) in [("/small/chunked", 64 * 1024), ("/echo", 512 * 1024)] {
        let result = try_h1(
            gw.addr,
            request("POST", path).body(TestBody::pattern(size)).unwrap(),
        )
        .await;
        match result {
            Ok(r) => assert_eq!(
                r.status,
                413,
                "{path}: a {size}-byte chunked body over the limit got {} {}",
                r.status,
                r.text()
            ),
            Err(e) => eprintln!("{path}: connection ended without a response ({e}), acceptable"),
        }
    }
    assert_eq!(
        up.count(),
        0,
        "the upstream never received a complete oversized body"
    );

    // Under the limit, chunked works.
    let r = h1(
        gw.addr,
        request("POST", "/small/ok")
            .body(TestBody::pattern(1000))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(up.last().body.len(), 1000);
}

#[tokio::test]
async fn a_stalled_request_head_is_cut_off_by_header_read_timeout() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&limits_config(&up)).await;

    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"GET /slowloris HTTP/1.1\r\nHost: a\r\nX-Partial: ")
        .await
        .unwrap();
    let started = Instant::now();
    // Either the connection is closed, or a 408 arrives and then it is closed.
    let closed = match read_response(&mut stream, Duration::from_secs(3)).await {
        Some(r) => {
            assert_eq!(r.status, 408, "{}", r.head);
            closed_without_response(&mut stream, Duration::from_secs(1)).await
        }
        None => true,
    };
    let elapsed = started.elapsed();
    assert!(closed, "connection left open");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_millis(1500),
        "closed after {elapsed:?}, header_read_timeout is 300ms"
    );
    assert_eq!(up.started(), 0);
}

#[tokio::test]
async fn max_connections_refuses_the_third_connection() {
    let up = Upstream::start("A").await;
    let config = format!(
        r#"
listeners:
  - address: $LISTEN
admin:
  address: $ADMIN
limits:
  max_connections: 2
upstreams:
  app:
    endpoints: ["{}"]
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
"#,
        up.url()
    );
    let gw = Gateway::start(&config).await;
    const REQ: &[u8] = b"GET /conn HTTP/1.1\r\nHost: a\r\n\r\n";

    // Two keep-alive connections, each proven to work. (The start-up probe
    // connection may still hold a slot for a moment: retry until it is gone.)
    async fn working_connection(addr: std::net::SocketAddr) -> TcpStream {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(REQ).await.unwrap();
            if let Some(r) = read_response(&mut s, Duration::from_secs(2)).await {
                assert_eq!(r.status, 200);
                return s;
            }
            assert!(Instant::now() < deadline, "no connection slot freed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut first = working_connection(gw.addr).await;
    let mut second = working_connection(gw.addr).await;

    // The third is accepted by the kernel, then closed without an answer.
    let mut third = TcpStream::connect(gw.addr).await.unwrap();
    let _ = third.write_all(REQ).await;
    assert!(
        closed_without_response(&mut third, Duration::from_secs(3)).await,
        "a third connection was served"
    );

    // Counted, and the admin listener is not subject to the limit.
    let metrics = gw.admin_get("/metrics").await.text();
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("portcullis_connections_refused_total "))
        .unwrap_or_else(|| panic!("no refused-connections counter:\n{metrics}"));
    assert!(
        refused.rsplit(' ').next().unwrap().parse::<f64>().unwrap() >= 1.0,
        "{refused}"
    );

    // The first two still work.
    for s in [&mut first, &mut second] {
        s.write_all(REQ).await.unwrap();
        let r = read_response(s, Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.status, 200);
    }
    assert_eq!(up.count(), 4);

    // Closing one frees its slot.
    drop(first);
    let mut again = working_connection(gw.addr).await;
    again.write_all(REQ).await.unwrap();
    assert_eq!(
        read_response(&mut again, Duration::from_secs(5))
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_idle_timeout() {
    let up = Upstream::start("A").await;
    let config = format!(
        r#"
listeners:
  - address: $LISTEN
limits:
  idle_timeout: 400ms
upstreams:
  app:
    endpoints: ["{}"]
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
"#,
        up.url()
    );
    let gw = Gateway::start(&config).await;

    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s, Duration::from_secs(5)).await.unwrap();
    assert_eq!(r.status, 200);
    let answered = Instant::now();
    assert!(
        closed_without_response(&mut s, Duration::from_secs(3)).await,
        "an idle keep-alive connection was not closed"
    );
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(300),
        "closed after only {idle:?} (idle_timeout 400ms)"
    );

    // A slow request is not "idle": it completes on its keep-alive connection.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /slow?ms=1000 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s, Duration::from_secs(5)).await.unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn http2_max_concurrent_streams_is_advertised() {
    let up = Upstream::start("A").await;
    let config = format!(
        r#"
listeners:
  - address: $LISTEN
limits:
  max_concurrent_streams: 7
upstreams:
  app:
    endpoints: ["{}"]
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
"#,
        up.url()
    );
    let gw = Gateway::start(&config).await;

    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::pin!(conn);
    let req = request("GET", &format!("http://{}/streams", gw.addr))
        .body(TestBody::empty())
        .unwrap();
    // Drive the connection while the request runs, so its settings are read.
    let exchange = async { Reply::collect(sender.send_request(req).await?).await };
    let r = tokio::select! {
        r = exchange => r.unwrap(),
        ended = &mut conn => panic!("connection ended early: {ended:?}"),
    };
    assert_eq!(r.status, 200);
    assert_eq!(conn.current_max_send_streams(), 7);
}

fn app_config(up: &Upstream, limits: &str) -> String {
    single_route_config(
        up,
        &format!("limits:\n{limits}\naudit_log:\n  output: $DIR/audit.log"),
    )
}

/// 6 chunks of 1000 bytes, 240 ms apart: ~1.2 s, three times `idle_timeout`.
const DRIP: &str = "/drip?chunks=6&bytes=1000&ms=240";
const DRIP_LEN: usize = 6000;

/// A response still streaming is a request in flight: the idle watchdog
/// (400ms) must not cut a body that takes ~1.2 s, over HTTP/1.1 or h2c.
#[tokio::test]
async fn a_slow_streaming_response_is_not_cut_by_the_idle_timeout() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&app_config(&up, "  idle_timeout: 400ms")).await;

    // Both at once: each takes ~1.2 s.
    let timed = |h2: bool| async move {
        let started = Instant::now();
        let req = request("GET", DRIP).body(TestBody::empty()).unwrap();
        let r = if h2 {
            h2c(gw.addr, req).await
        } else {
            h1(gw.addr, req).await
        };
        (r, started.elapsed())
    };
    let ((r1, took1), (r2, took2)) = tokio::join!(timed(false), timed(true));
    for (r, took, version) in [
        (r1, took1, http::Version::HTTP_11),
        (r2, took2, http::Version::HTTP_2),
    ] {
        assert_eq!(r.status, 200);
        assert_eq!(r.version, version);
        assert_eq!(
            r.body.len(),
            DRIP_LEN,
            "{version:?} body cut after {took:?}"
        );
        assert_eq!(r.body.as_ref(), pattern(0, DRIP_LEN).as_slice());
        assert!(
            took >= Duration::from_millis(1000),
            "{version:?}: not streamed slowly: {took:?}"
        );
    }
    assert_eq!(up.count(), 2);
}

/// HTTP/2 frames between requests (pings, window updates) are not a request
/// head: an h2c connection idle (and pinged) for longer than
/// `header_read_timeout` but within `idle_timeout` still serves requests.
#[tokio::test]
async fn an_idle_http2_connection_outlives_the_header_read_timeout() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&app_config(
        &up,
        "  header_read_timeout: 300ms\n  idle_timeout: 2s",
    ))
    .await;

    // ~1 s of pings only: more than three header_read_timeouts.
    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let (first, second) = h2_survives_idle(
        TokioIo::new(stream),
        &format!("http://{}", gw.addr),
        Duration::from_millis(1000),
    )
    .await;
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200);
    assert_eq!(second.version, http::Version::HTTP_2);
    let seen: Vec<_> = up.seen().into_iter().map(|s| s.uri).collect();
    assert_eq!(seen, ["/first", "/second"]);
}

/// A body the gateway reads before forwarding (known length up to 64 KiB)
/// that stalls gets 408 after `body_read_timeout`, never reaches the
/// upstream, and is audited.
#[tokio::test]
async fn a_stalled_request_body_gets_408_after_body_read_timeout() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&app_config(&up, "  body_read_timeout: 300ms")).await;

    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"POST /echo/stalled HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc")
        .await
        .unwrap();
    let started = Instant::now();
    let r = read_response(&mut stream, Duration::from_secs(3))
        .await
        .expect("a response to the stalled body");
    let took = started.elapsed();
    assert_eq!(r.status, 408, "{}", r.head);
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1000),
        "answered after {took:?}, body_read_timeout is 300ms"
    );
    assert!(
        r.head
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{}",
        r.head
    );
    let json: serde_json::Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)));
    assert_eq!(json["status"], 408, "{json}");
    assert_eq!(json["rule"], "protocol.body_timeout", "{json}");
    let id = json["request_id"].as_str().expect("request_id").to_owned();
    assert_eq!(up.started(), 0, "upstream saw {:?}", up.seen());

    // The rest of the declared body, shaped as a request, is still body:
    // it is never taken for a request of its own.
    let mut rest = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
    rest.resize(997, b'x');
    rest.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    let _ = stream.write_all(&rest).await;
    // The connection is closed, or the next answer is for /after.
    if let Some(after) = read_response(&mut stream, Duration::from_secs(2)).await {
        assert_eq!(after.status, 200, "after the 408: {}", after.head);
        assert_eq!(up.last().uri, "/after");
    }
    assert!(
        up.seen().iter().all(|s| s.uri != "/smuggled"),
        "the unread body was taken for a request: {:?}",
        up.seen()
    );
    let forwarded_before = up.count();

    let line = wait_for_json_line(&gw.path("audit.log"), "the timed-out body", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["action"], "block", "{line}");
    assert_eq!(line["status"], 408, "{line}");
    assert_eq!(line["path"], "/echo/stalled", "{line}");
    let findings = line["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{line}");
    assert_eq!(findings[0]["rule"], "protocol.body_timeout", "{line}");

    // A body that arrives in pieces, all within the timeout, is forwarded.
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"POST /echo/pieces HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(b"def").await.unwrap();
    let r = read_response(&mut stream, Duration::from_secs(3))
        .await
        .expect("a response to the complete body");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body, b"abcdef");
    assert_eq!(up.count(), forwarded_before + 1);

    // Over h2c: the same 408 for a stream whose body stalls.
    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, _conn) = h2_pinging_connection(TokioIo::new(stream), DEADLINE).await;
    let (tx, body) = TestBody::channel();
    tx.send(bytes::Bytes::from_static(b"abc")).await.unwrap();
    let req = request("POST", &format!("http://{}/echo/stalled-h2", gw.addr))
        .header("content-length", "1000")
        .body(body)
        .unwrap();
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(3), async {
        Reply::collect(sender.send_request(req).await?).await
    })
    .await
    .expect("no answer to the stalled h2c body")
    .unwrap();
    let took = started.elapsed();
    drop(tx);
    assert!(
        took < Duration::from_millis(1000),
        "answered after {took:?}"
    );
    assert_eq!(r.version, http::Version::HTTP_2);
    let json = r.assert_problem(408);
    assert_eq!(json["rule"], "protocol.body_timeout", "{json}");
    assert_eq!(
        up.count(),
        forwarded_before + 1,
        "upstream saw {:?}",
        up.last()
    );
}

/// An upstream that stops sending in the middle of a body is cut off after
/// `read_timeout` (the client sees the response end early), over HTTP/1.1
/// and h2c, instead of holding both connections open forever.
#[tokio::test]
async fn a_stalled_upstream_body_is_cut_after_read_timeout() {
    let up = Upstream::start("A").await;
    let config =
        single_route_config(&up, "").replace("endpoints:", "read_timeout: 300ms\n    endpoints:");
    let gw = Gateway::start(&config).await;

    // Chunks 1.5 s apart: the second one comes far past the 300 ms limit.
    let stalled = "/drip?chunks=2&bytes=100&ms=1500";
    let started = Instant::now();
    let raw = format!("GET {stalled} HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = raw_request(gw.addr, raw.as_bytes())
        .await
        .expect("a response head");
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(
        r.body.len() < 300 && !r.body.ends_with(b"0\r\n\r\n"),
        "the stalled body was not cut: {} bytes",
        r.body.len()
    );
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1400),
        "cut after {took:?}, read_timeout is 300ms"
    );

    let req = request("GET", stalled).body(TestBody::empty()).unwrap();
    let started = Instant::now();
    let h2 = tokio::time::timeout(Duration::from_secs(5), async {
        let stream = TcpStream::connect(gw.addr).await.unwrap();
        send_h2(TokioIo::new(stream), req, "http", &gw.addr.to_string()).await
    })
    .await
    .expect("the h2 stream ends");
    assert!(
        h2.is_err(),
        "the h2 body was not reset: {:?}",
        h2.map(|r| r.body.len())
    );
    assert!(started.elapsed() < Duration::from_millis(1400));

    // A body that keeps coming within the limit is not cut.
    let r = get(gw.addr, "/drip?chunks=4&bytes=100&ms=100").await;
    assert_eq!(r.body.as_ref(), pattern(0, 400).as_slice());
}

/// A client that stops reading a large response (slow read) has its
/// connection closed after `send_timeout` instead of holding it, and the
/// upstream connection, open.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_after_send_timeout() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&app_config(&up, "  send_timeout: 300ms")).await;

    const SIZE: usize = 64 * 1024 * 1024;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(format!("GET /big?bytes={SIZE} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Not reading: the socket buffers fill up and the gateway's writes block.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut received = 0usize;
    let mut chunk = vec![0u8; 256 * 1024];
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection stayed open");
    assert!(
        received < SIZE,
        "the whole response was delivered ({received} bytes): nothing was cut"
    );
    // The gateway still serves others.
    assert_eq!(get(gw.addr, "/plain").await.status, 200);
}
