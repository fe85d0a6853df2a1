//! Proxying through the real binary: bodies byte for byte (small, streamed
//! 8 MiB up and down), hop-by-hop and forwarding headers, request ids, h2c,
//! and WebSocket upgrade pass-through.

mod support;

use std::time::Duration;

use http::Version;
use hyper_util::rt::TokioIo;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn get_and_post_bodies_are_byte_exact_both_ways() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    // GET: a binary response body (every byte value) arrives unchanged.
    let r = gw.get("/binary?x=1").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_ref(), binary_body().as_slice());
    let seen = up.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(
        seen.uri, "/binary?x=1",
        "path and query are forwarded as sent"
    );

    // POST: a binary request body reaches the upstream unchanged and comes back unchanged.
    let mut sent: Vec<u8> = binary_body();
    sent.extend_from_slice(b"\r\n\r\n0\r\n\r\ntrailing \x00 bytes");
    let r = post(gw.addr, "/echo/post", sent.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_ref(), sent.as_slice(), "echoed body differs");
    let seen = up.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.body.as_ref(),
        sent.as_slice(),
        "upstream got another body"
    );
    assert_eq!(
        seen.header("content-length").as_deref(),
        Some(sent.len().to_string().as_str())
    );
}

#[tokio::test]
async fn large_bodies_stream_through_in_both_directions() {
    const SIZE: usize = 8 * 1024 * 1024;
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    // 8 MiB request body sent chunked (no Content-Length), hashed by the upstream.
    let r = h1(
        gw.addr,
        request("PUT", "/upload")
            .body(TestBody::pattern(SIZE))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-body-len"), Some(SIZE.to_string()));
    assert_eq!(r.header("x-body-hash"), Some(pattern_hash(SIZE)));
    let seen = up.last();
    assert_eq!(
        seen.header("transfer-encoding").as_deref(),
        Some("chunked"),
        "the body was streamed, not buffered into a Content-Length"
    );

    // 8 MiB response body, streamed by the upstream, arrives intact.
    let r = gw.get(&format!("/big?bytes={SIZE}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), SIZE);
    assert_eq!(fnv_hex(&r.body), pattern_hash(SIZE));
}

#[tokio::test]
async fn hop_by_hop_headers_do_not_cross_the_proxy() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    let r = h1(
        gw.addr,
        request("GET", "/hop")
            .header("connection", "keep-alive, x-client-hop")
            .header("x-client-hop", "secret")
            .header("keep-alive", "timeout=5")
            .header("te", "trailers")
            .header("proxy-connection", "keep-alive")
            .header("x-client-kept", "yes")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = up.last();
    for name in [
        "x-client-hop",
        "keep-alive",
        "te",
        "proxy-connection",
        "proxy-authorization",
    ] {
        assert!(
            seen.header(name).is_none(),
            "upstream saw hop-by-hop header {name}: {:?}",
            seen.headers
        );
    }
    if let Some(c) = seen.header("connection") {
        assert!(
            !c.to_ascii_lowercase().contains("x-client-hop"),
            "upstream saw the client's Connection header: {c}"
        );
    }
    assert_eq!(seen.header("x-client-kept").as_deref(), Some("yes"));

    // And in the other direction: the upstream's hop-by-hop headers stay behind.
    for name in ["x-upstream-hop", "keep-alive", "proxy-connection"] {
        assert!(
            r.header(name).is_none(),
            "client saw upstream hop-by-hop header {name}: {:?}",
            r.headers
        );
    }
    assert!(
        !r.header("connection")
            .unwrap_or_default()
            .contains("x-upstream-hop")
    );
    assert_eq!(r.header("x-upstream-kept").as_deref(), Some("yes"));
}

#[tokio::test]
async fn forwarding_headers_are_set_and_spoofs_from_untrusted_peers_replaced() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    let r = h1(
        gw.addr,
        request("GET", "/fwd")
            .header("host", "API.Example.test:8443")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = up.last();
    assert_eq!(seen.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto").as_deref(), Some("http"));
    // RFC 7239: `host` is the Host header as the proxy received it.
    assert_eq!(
        seen.header("x-forwarded-host").as_deref(),
        Some("API.Example.test:8443")
    );
    assert_eq!(
        seen.header("forwarded").as_deref(),
        Some("for=127.0.0.1;proto=http;host=\"API.Example.test:8443\"")
    );

    // A client that is not a trusted proxy cannot inject a forwarding chain.
    let r = h1(
        gw.addr,
        request("GET", "/fwd")
            .header("x-forwarded-for", "6.6.6.6")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "evil.test")
            .header("forwarded", "for=6.6.6.6;proto=https")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = up.last();
    assert_eq!(seen.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto").as_deref(), Some("http"));
    assert_ne!(
        seen.header("x-forwarded-host").as_deref(),
        Some("evil.test")
    );
    let forwarded = seen.header("forwarded").unwrap();
    assert!(
        !forwarded.contains("6.6.6.6"),
        "spoofed Forwarded kept: {forwarded}"
    );
    assert!(
        forwarded.starts_with("for=127.0.0.1;proto=http"),
        "{forwarded}"
    );
    assert_eq!(seen.headers.get_all("x-forwarded-for").iter().count(), 1);
}

#[tokio::test]
async fn a_trusted_proxy_chain_is_kept_and_appended_to() {
    let up = Upstream::start("A").await;
    let config = single_route_config(&up, "") + "trusted_proxies: [\"127.0.0.1/32\"]\n";
    let gw = Gateway::start(&config).await;

    let r = h1(
        gw.addr,
        request("GET", "/fwd")
            .header("x-forwarded-for", "203.0.113.7, 10.1.2.3")
            .header("x-forwarded-proto", "https")
            .header("forwarded", "for=203.0.113.7;proto=https")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = up.last();
    assert_eq!(
        seen.header("x-forwarded-for").as_deref(),
        Some("203.0.113.7, 10.1.2.3, 127.0.0.1")
    );
    assert_eq!(
        seen.header("x-forwarded-proto").as_deref(),
        Some("https"),
        "a trusted proxy's X-Forwarded-Proto is kept"
    );
    let forwarded = seen.header("forwarded").unwrap();
    assert!(
        forwarded.starts_with("for=203.0.113.7;proto=https, for=127.0.0.1;proto=http"),
        "{forwarded}"
    );
}

#[tokio::test]
async fn request_ids_are_generated_propagated_or_replaced() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    // Absent: a fresh 32-hex id, the same upstream and on the response.
    let r = gw.get("/id").await;
    let id = r
        .header("x-request-id")
        .expect("x-request-id on the response");
    assert!(is_generated_request_id(&id), "generated id {id:?}");
    assert_eq!(up.last().header("x-request-id"), Some(id.clone()));
    let again = gw.get("/id").await.header("x-request-id").unwrap();
    assert_ne!(id, again, "each request gets its own id");

    // Well-formed: propagated as is.
    let wanted = "client-trace.42:abc_DEF";
    let r = h1(
        gw.addr,
        request("GET", "/id")
            .header("x-request-id", wanted)
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.header("x-request-id").as_deref(), Some(wanted));
    assert_eq!(up.last().header("x-request-id").as_deref(), Some(wanted));

    // Malformed (spaces, quotes, too long): replaced with a generated one.
    for bad in [
        "has spaces in it".to_owned(),
        "quote\"injection".to_owned(),
        "a".repeat(129),
    ] {
        let r = h1(
            gw.addr,
            request("GET", "/id")
                .header("x-request-id", bad.as_str())
                .body(TestBody::empty())
                .unwrap(),
        )
        .await;
        let id = r.header("x-request-id").unwrap();
        assert!(
            is_generated_request_id(&id),
            "{bad:?} was not replaced: {id:?}"
        );
        let seen = up.last();
        assert_eq!(seen.header("x-request-id"), Some(id));
        assert_eq!(seen.headers.get_all("x-request-id").iter().count(), 1);
    }
}

#[tokio::test]
async fn h2c_prior_knowledge_is_proxied() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    let r = h2c(
        gw.addr,
        request("GET", "/binary").body(TestBody::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.version, Version::HTTP_2, "answered over HTTP/2");
    assert_eq!(r.body.as_ref(), binary_body().as_slice());
    assert!(is_generated_request_id(&r.header("x-request-id").unwrap()));
    let seen = up.last();
    assert_eq!(
        seen.header("host"),
        Some(gw.addr.to_string()),
        ":authority becomes Host upstream"
    );

    let body = pattern(0, 100_000);
    let r = h2c(
        gw.addr,
        request("POST", "/echo/h2")
            .body(TestBody::full(body.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_ref(), body.as_slice());
    assert_eq!(up.last().body.as_ref(), body.as_slice());
}

#[tokio::test]
async fn websocket_upgrade_passes_through_both_ways() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    let stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let req = request("GET", "/ws")
        .header("host", gw.addr.to_string())
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(TestBody::empty())
        .unwrap();
    let mut response = tokio::time::timeout(DEADLINE, sender.send_request(req))
        .await
        .expect("upgrade response in time")
        .unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(
        response
            .headers()
            .get("upgrade")
            .map(|v| v.to_str().unwrap()),
        Some("websocket")
    );
    let seen = up.last();
    assert_eq!(seen.header("upgrade").as_deref(), Some("websocket"));
    assert_eq!(
        seen.header("sec-websocket-key").as_deref(),
        Some("dGhlIHNhbXBsZSBub25jZQ==")
    );

    let upgraded = tokio::time::timeout(DEADLINE, hyper::upgrade::on(&mut response))
        .await
        .unwrap()
        .expect("client side upgraded");
    let mut io = TokioIo::new(upgraded);
    let mut buf = [0u8; 64];

    async fn read_exact_within(
        io: &mut TokioIo<hyper::upgrade::Upgraded>,
        buf: &mut [u8],
    ) -> std::io::Result<()> {
        tokio::time::timeout(Duration::from_secs(5), io.read_exact(buf))
            .await
            .map_err(|_| std::io::Error::other("read timed out"))?
            .map(|_| ())
    }

    // Upstream → client first, unprompted.
    let greeting = b"hello from upstream\n";
    read_exact_within(&mut io, &mut buf[..greeting.len()])
        .await
        .unwrap();
    assert_eq!(&buf[..greeting.len()], greeting);
    // Client → upstream → client, twice.
    for msg in [&b"ping one"[..], &b"second message \x01\x02"[..]] {
        io.write_all(msg).await.unwrap();
        io.flush().await.unwrap();
        read_exact_within(&mut io, &mut buf[..msg.len()])
            .await
            .unwrap();
        assert_eq!(&buf[..msg.len()], msg.to_ascii_uppercase().as_slice());
    }
}

/// `match` is optional in a route (`#[serde(default)]`), and `path_prefix`
/// defaults to `/`: a route without `match:` should take every request.
#[tokio::test]
async fn a_route_without_match_takes_every_request() {
    let up = Upstream::start("A").await;
    let config = format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  app:
    endpoints: ["{}"]
routes:
  - name: app
    upstream: app
"#,
        up.url()
    );
    let gw = Gateway::start(&config).await;
    let r = gw.get("/any/path").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream(), "A");
}

#[tokio::test]
async fn routes_match_on_host_and_path_most_specific_first() {
    let exact = Upstream::start("exact").await;
    let wildcard = Upstream::start("wildcard").await;
    let any = Upstream::start("any").await;
    let config = format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  exact:
    endpoints: ["{}"]
  wildcard:
    endpoints: ["{}"]
  any:
    endpoints: ["{}"]
routes:
  - name: any
    match:
      path_prefix: /
    upstream: any
  - name: wildcard
    match:
      host: "*.example.test"
      path_prefix: /
    upstream: wildcard
  - name: exact
    match:
      host: api.example.test
      path_prefix: /v1
    upstream: exact
"#,
        exact.url(),
        wildcard.url(),
        any.url()
    );
    let gw = Gateway::start(&config).await;
    let via_host = |host: &'static str, path: &'static str| {
        let addr = gw.addr;
        async move {
            h1(
                addr,
                request("GET", path)
                    .header("host", host)
                    .body(TestBody::empty())
                    .unwrap(),
            )
            .await
            .upstream()
        }
    };
    assert_eq!(via_host("api.example.test", "/v1/users").await, "exact");
    assert_eq!(via_host("API.EXAMPLE.TEST:8080", "/v1").await, "exact");
    assert_eq!(via_host("api.example.test", "/v2").await, "wildcard");
    assert_eq!(via_host("api.example.test", "/v1x").await, "wildcard");
    assert_eq!(via_host("www.example.test", "/v1").await, "wildcard");
    assert_eq!(via_host("example.test", "/v1").await, "any");
    assert_eq!(via_host("other.test", "/v1").await, "any");

    // HTTP/2 routes on :authority.
    let r = h2c(
        gw.addr,
        request("GET", "http://api.example.test/v1/h2")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.upstream(), "exact");
}

#[tokio::test]
async fn request_id_header_and_propagation_are_configurable() {
    let up = Upstream::start("A").await;
    let config =
        single_route_config(&up, "") + "request_id:\n  header: x-trace-id\n  propagate: false\n";
    let gw = Gateway::start(&config).await;

    let r = h1(
        gw.addr,
        request("GET", "/id")
            .header("x-trace-id", "client-chosen-id")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    let id = r
        .header("x-trace-id")
        .expect("the configured header is set");
    assert!(is_generated_request_id(&id), "not propagated: {id}");
    assert!(r.header("x-request-id").is_none());
    let seen = up.last();
    assert_eq!(seen.header("x-trace-id"), Some(id));
    assert_eq!(seen.headers.get_all("x-trace-id").iter().count(), 1);
}

/// The `host=` parameter of the gateway's (last) Forwarded element, as written.
fn forwarded_host(seen: &Seen) -> String {
    let forwarded = seen.header("forwarded").expect("a Forwarded header");
    let element = forwarded.rsplit(',').next().unwrap().trim();
    element
        .split(';')
        .find_map(|pair| pair.strip_prefix("host="))
        .unwrap_or_else(|| panic!("no host= in Forwarded: {forwarded}"))
        .to_owned()
}

/// RFC 7239 §4: a value that is not a token (a host with a port's `:` or an
/// IPv6 literal's brackets) is a quoted string; a plain name stays a token.
#[tokio::test]
async fn forwarded_host_is_quoted_only_when_it_is_not_a_token() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;

    for (host, expected) in [
        ("api.example.test:8443", "\"api.example.test:8443\""),
        ("api.example.test", "api.example.test"),
        ("[2001:db8::1]:8443", "\"[2001:db8::1]:8443\""),
        ("[2001:db8::1]", "\"[2001:db8::1]\""),
    ] {
        let r = h1(
            gw.addr,
            request("GET", "/fwd-host")
                .header("host", host)
                .body(TestBody::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "Host {host}: {}", r.text());
        let seen = up.last();
        assert_eq!(forwarded_host(&seen), expected, "Host {host}");
        assert_eq!(seen.header("host").as_deref(), Some(host));
    }
    // The whole element, for a plain name: no quotes anywhere.
    let r = h1(
        gw.addr,
        request("GET", "/fwd-host")
            .header("host", "api.example.test")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        up.last().header("forwarded").as_deref(),
        Some("for=127.0.0.1;proto=http;host=api.example.test")
    );

    // Over HTTP/2 the host comes from :authority, with the same quoting.
    for (authority, expected) in [
        ("api.example.test:8443", "\"api.example.test:8443\""),
        ("api.example.test", "api.example.test"),
    ] {
        let r = h2c(
            gw.addr,
            request("GET", &format!("http://{authority}/fwd-host-h2"))
                .body(TestBody::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "authority {authority}: {}", r.text());
        assert_eq!(r.version, Version::HTTP_2);
        assert_eq!(
            forwarded_host(&up.last()),
            expected,
            "authority {authority}"
        );
    }
}

/// Pipes the gateway process holds open (`/proc/PID/fd`).
fn open_pipes(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("pipe:"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn large_length_framed_responses_are_spliced_byte_exact_on_a_kept_connection() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&single_route_config(&up, "")).await;
    let pipes_before = open_pipes(gw.pid());

    let mut client = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    // Sizes around the splice threshold and the pipe's capacity, then a
    // small answer, all on one client connection.
    for size in [1024 * 1024 + 7, 16 * 1024, 200_000, 65_536, 5] {
        let req = format!("GET /big?bytes={size}&length=1 HTTP/1.1\r\nHost: t\r\n\r\n");
        client.write_all(req.as_bytes()).await.unwrap();
        let r = read_response(&mut client, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no response for {size} bytes"));
        assert_eq!(r.status, 200, "{}", r.head);
        assert!(
            r.head
                .to_ascii_lowercase()
                .contains(&format!("content-length: {size}\r\n")),
            "the length is kept: {}",
            r.head
        );
        assert_eq!(r.body.len(), size, "{size}: body length");
        assert_eq!(fnv_hex(&r.body), pattern_hash(size), "{size}: body bytes");
    }
    // The large bodies went through a splice pipe kept by the connection
    // (one pipe: two descriptors), and the upstream connection went back to
    // the pool after each of them.
    assert_eq!(
        open_pipes(gw.pid()),
        pipes_before + 2,
        "one splice pipe per client connection"
    );
    assert_eq!(
        up.accepted(),
        1,
        "every response reused the one upstream connection"
    );

    // A body that arrives in pieces, with pauses, is spliced as it comes.
    let req = "GET /drip?chunks=4&bytes=70000&ms=50&length=1 HTTP/1.1\r\nHost: t\r\n\r\n";
    client.write_all(req.as_bytes()).await.unwrap();
    let r = read_response(&mut client, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 280_000);
    assert_eq!(fnv_hex(&r.body), pattern_hash(280_000));

    drop(client);
    eventually(
        "the pipe is closed with its connection",
        Duration::from_secs(5),
        || async { open_pipes(gw.pid()) == pipes_before },
    )
    .await;
}

#[tokio::test]
async fn a_spliced_body_cut_by_the_upstream_cuts_the_client_connection() {
    // An upstream that announces 1 MB, sends 100 KB and closes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                    .await;
                let _ = s.write_all(&pattern(0, 100_000)).await;
            });
        }
    });
    let config = format!(
        "listeners:\n  - address: $LISTEN\nupstreams:\n  app:\n    endpoints: [\"http://{addr}\"]\nroutes:\n  - name: app\n    match:\n      path_prefix: /\n    upstream: app\n"
    );
    let gw = Gateway::start(&config).await;
    let mut client = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    client
        .write_all(b"GET /cut HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the client connection was cut, not left hanging"
    );
    let head_end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    assert!(got.starts_with(b"HTTP/1.1 200"));
    let body = &got[head_end..];
    assert_eq!(body.len(), 100_000, "what the upstream sent, and no more");
    assert_eq!(body, pattern(0, 100_000).as_slice());
    // The gateway keeps serving.
    let r = raw_request(
        gw.addr,
        b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.is_some(), "the gateway still answers");
    server.abort();
}
