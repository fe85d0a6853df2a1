//! TLS termination with certificates made by rcgen: HTTPS over HTTP/1.1 and
//! HTTP/2 (ALPN), and client certificates (`required` / `optional`).

mod support;

use std::time::Duration;

use http::Version;
use support::*;
use tokio::io::AsyncWriteExt;

fn tls_config(pki: &Pki, upstream: &Upstream, client_auth: Option<&str>) -> String {
    let client_auth = match client_auth {
        Some(mode) => format!(
            "\n      client_auth:\n        mode: {mode}\n        ca: {}",
            pki.ca.display()
        ),
        None => String::new(),
    };
    format!(
        r#"
listeners:
  - address: $LISTEN
    tls:
      cert: {cert}
      key: {key}{client_auth}
upstreams:
  app:
    endpoints: ["{up}"]
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
"#,
        cert = pki.server_cert.display(),
        key = pki.server_key.display(),
        up = upstream.url()
    )
}

async fn start(client_auth: Option<&str>) -> (Gateway, Pki, Upstream) {
    let up = Upstream::start("A").await;
    let dir = tempdir();
    let pki = Pki::generate(dir.path());
    let gw = Gateway::start_in(dir, &tls_config(&pki, &up, client_auth), &[]).await;
    (gw, pki, up)
}

fn get_req(path: &str) -> http::Request<TestBody> {
    request("GET", path).body(TestBody::empty()).unwrap()
}

#[tokio::test]
async fn https_over_http1_and_http2_via_alpn() {
    let (gw, pki, up) = start(None).await;

    // ALPN http/1.1
    let config = tls_client_config(&pki.ca, None, &["http/1.1"]);
    let stream = tls_connect(gw.addr, config.clone()).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    drop(stream);
    let r = try_tls_request(gw.addr, config, get_req("/binary"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.version, Version::HTTP_11);
    assert_eq!(r.body.as_ref(), binary_body().as_slice());
    let seen = up.last();
    assert_eq!(seen.header("x-forwarded-proto").as_deref(), Some("https"));
    assert!(
        seen.header("forwarded").unwrap().contains("proto=https"),
        "{:?}",
        seen.header("forwarded")
    );

    // ALPN h2
    let config = tls_client_config(&pki.ca, None, &["h2", "http/1.1"]);
    let stream = tls_connect(gw.addr, config.clone()).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    drop(stream);
    let body = pattern(0, 50_000);
    let r = try_tls_request(
        gw.addr,
        config,
        request("POST", "/echo/tls")
            .body(TestBody::full(body.clone()))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.body.as_ref(), body.as_slice());
    assert_eq!(
        up.last().header("x-forwarded-proto").as_deref(),
        Some("https")
    );

    // No ALPN at all: HTTP/1.1.
    let config = tls_client_config(&pki.ca, None, &[]);
    let r = try_tls_request(gw.addr, config, get_req("/plain"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.version, Version::HTTP_11);
}

#[tokio::test]
async fn plain_http_on_a_tls_listener_gets_no_response() {
    let (gw, _pki, up) = start(None).await;
    let r = raw_request(gw.addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(r.is_none(), "cleartext answered on a TLS port: {r:?}");
    assert_eq!(up.started(), 0);
}

#[tokio::test]
async fn client_certificate_required() {
    let (gw, pki, up) = start(Some("required")).await;

    // Without a certificate: the handshake fails or no response ever comes.
    let anonymous = tls_client_config(&pki.ca, None, &["http/1.1"]);
    let r = try_tls_request(gw.addr, anonymous, get_req("/no-cert")).await;
    assert!(r.is_err(), "a client without a certificate got {r:?}");

    // A certificate from another CA is refused as well.
    let rogue = tls_client_config(
        &pki.ca,
        Some((&pki.rogue_cert, &pki.rogue_key)),
        &["http/1.1"],
    );
    let r = try_tls_request(gw.addr, rogue, get_req("/rogue")).await;
    assert!(r.is_err(), "a client with a foreign certificate got {r:?}");
    assert_eq!(up.started(), 0, "refused clients never reach the upstream");

    // A CA-signed client certificate works, over HTTP/1.1 and HTTP/2.
    for alpn in ["http/1.1", "h2"] {
        let trusted =
            tls_client_config(&pki.ca, Some((&pki.client_cert, &pki.client_key)), &[alpn]);
        let r = try_tls_request(gw.addr, trusted, get_req("/with-cert"))
            .await
            .unwrap_or_else(|e| panic!("client with a valid cert over {alpn}: {e}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.upstream(), "A");
    }
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn client_certificate_optional() {
    let (gw, pki, up) = start(Some("optional")).await;

    let anonymous = tls_client_config(&pki.ca, None, &["http/1.1"]);
    let r = try_tls_request(gw.addr, anonymous, get_req("/no-cert"))
        .await
        .expect("optional client auth accepts clients without a certificate");
    assert_eq!(r.status, 200);

    let trusted = tls_client_config(&pki.ca, Some((&pki.client_cert, &pki.client_key)), &["h2"]);
    let r = try_tls_request(gw.addr, trusted, get_req("/with-cert"))
        .await
        .expect("optional client auth accepts a CA-signed certificate");
    assert_eq!(r.status, 200);
    assert_eq!(r.version, Version::HTTP_2);

    // A presented certificate is still verified.
    let rogue = tls_client_config(
        &pki.ca,
        Some((&pki.rogue_cert, &pki.rogue_key)),
        &["http/1.1"],
    );
    let r = try_tls_request(gw.addr, rogue, get_req("/rogue")).await;
    assert!(
        r.is_err(),
        "an unverifiable certificate was accepted: {r:?}"
    );
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn listener_with_http2_disabled_speaks_http1_only() {
    let up = Upstream::start("A").await;
    let dir = tempdir();
    let pki = Pki::generate(dir.path());
    let config = tls_config(&pki, &up, None).replace(
        "  - address: $LISTEN\n",
        "  - address: $LISTEN\n    http2: false\n",
    );
    let gw = Gateway::start_in(dir, &config, &[]).await;
    let config = tls_client_config(&pki.ca, None, &["h2", "http/1.1"]);
    let stream = tls_connect(gw.addr, config.clone()).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    drop(stream);
    let r = try_tls_request(gw.addr, config, get_req("/x"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.version, Version::HTTP_11);
}

#[tokio::test]
async fn tls_to_upstreams_with_custom_ca_server_name_and_client_certificate() {
    let dir = tempdir();
    let pki = Pki::generate(dir.path());
    let plain_tls = Upstream::start_tls("tls", tls_server_config(&pki, false)).await;
    let mtls = Upstream::start_tls("mtls", tls_server_config(&pki, true)).await;
    let ca = pki.ca.display();
    let (cert, key) = (pki.client_cert.display(), pki.client_key.display());
    let tls_url = plain_tls.url();
    let mtls_url = mtls.url();
    assert!(tls_url.starts_with("https://127.0.0.1:"), "{tls_url}");
    let config = format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  trusted:
    endpoints: ["{tls_url}"]
    tls:
      ca: {ca}
  default_roots:
    endpoints: ["{tls_url}"]
    retries: 0
  named:
    endpoints: ["{tls_url}"]
    tls:
      ca: {ca}
      server_name: localhost
  misnamed:
    endpoints: ["{tls_url}"]
    retries: 0
    tls:
      ca: {ca}
      server_name: wrong.example
  with_client_cert:
    endpoints: ["{mtls_url}"]
    tls:
      ca: {ca}
      client_cert: {cert}
      client_key: {key}
  without_client_cert:
    endpoints: ["{mtls_url}"]
    retries: 0
    tls:
      ca: {ca}
routes:
  - name: trusted
    match:
      path_prefix: /trusted
    upstream: trusted
    strip_prefix: /trusted
  - name: default_roots
    match:
      path_prefix: /default-roots
    upstream: default_roots
  - name: named
    match:
      path_prefix: /named
    upstream: named
  - name: misnamed
    match:
      path_prefix: /misnamed
    upstream: misnamed
  - name: with_client_cert
    match:
      path_prefix: /mtls
    upstream: with_client_cert
  - name: without_client_cert
    match:
      path_prefix: /anonymous
    upstream: without_client_cert
"#
    );
    let gw = Gateway::start_in(dir, &config, &[]).await;

    let r = post(gw.addr, "/trusted/echo", "over tls").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream(), "tls");
    assert_eq!(r.text(), "over tls");
    assert_eq!(gw.get("/named/x").await.upstream(), "tls");
    assert_eq!(gw.get("/mtls/x").await.upstream(), "mtls");
    assert_eq!(plain_tls.count(), 2);
    assert_eq!(mtls.count(), 1);

    // The upstream certificate is verified: unknown CA, wrong name, missing client cert.
    gw.get("/default-roots/x").await.assert_problem(502);
    gw.get("/misnamed/x").await.assert_problem(502);
    gw.get("/anonymous/x").await.assert_problem(502);
    assert_eq!(plain_tls.count(), 2);
    assert_eq!(mtls.count(), 1);
}

/// Writes `raw` on a new TLS connection (ALPN http/1.1) and reads one response.
async fn raw_tls_request(
    gw: &Gateway,
    pki: &Pki,
    raw: &[u8],
) -> (
    Option<RawResponse>,
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) {
    let config = tls_client_config(&pki.ca, None, &["http/1.1"]);
    let mut stream = tls_connect(gw.addr, config).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let _ = stream.write_all(raw).await;
    let _ = stream.flush().await;
    let response = read_response(&mut stream, Duration::from_secs(5)).await;
    (response, stream)
}

/// The raw-head framing scanner reads the decrypted bytes: over TLS, a head
/// naming both Content-Length and Transfer-Encoding is refused as in clear
/// text, and nothing of it (or behind it) reaches the upstream.
#[tokio::test]
async fn content_length_with_transfer_encoding_over_tls_is_refused() {
    let (gw, pki, up) = start(None).await;

    for raw in [
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n",
    ] {
        let (r, _) = raw_tls_request(&gw, &pki, raw.as_bytes()).await;
        let r = r.unwrap_or_else(|| panic!("{raw:?}: no response over TLS"));
        assert_eq!(r.status, 400, "{raw:?}: {}", r.head);
        let json: serde_json::Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)));
        assert_eq!(json["rule"], "protocol.smuggling", "{json}");
    }

    // A request smuggled behind the ambiguous framing is never answered or forwarded.
    let raw = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let (r, mut stream) = raw_tls_request(&gw, &pki, raw).await;
    let r = r.expect("a response to the CL+TE request over TLS");
    assert_eq!(r.status, 400, "{}", r.head);
    assert!(
        closed_without_response(&mut stream, Duration::from_secs(3)).await,
        "the TLS connection answered the smuggled request or stayed open"
    );
    assert_eq!(up.started(), 0, "upstream saw {:?}", up.seen());

    // The same connection shape with one framing header goes through.
    let (r, _) = raw_tls_request(
        &gw,
        &pki,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    let r = r.expect("a response to a well-formed chunked request over TLS");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(up.last().body.as_ref(), b"abc");
}

/// Over TLS with ALPN h2, frames between requests (pings) are not a request
/// head either: the connection outlives `header_read_timeout`.
#[tokio::test]
async fn an_idle_http2_connection_over_tls_outlives_the_header_read_timeout() {
    let up = Upstream::start("A").await;
    let dir = tempdir();
    let pki = Pki::generate(dir.path());
    let config = format!(
        "{}limits:\n  header_read_timeout: 300ms\n  idle_timeout: 2s\n",
        tls_config(&pki, &up, None)
    );
    let gw = Gateway::start_in(dir, &config, &[]).await;

    let stream = tls_connect(gw.addr, tls_client_config(&pki.ca, None, &["h2"]))
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (first, second) = h2_survives_idle(
        hyper_util::rt::TokioIo::new(stream),
        &format!("https://localhost:{}", gw.addr.port()),
        Duration::from_millis(1000),
    )
    .await;
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200);
    assert_eq!(second.version, Version::HTTP_2);
    assert_eq!(up.count(), 2);
}

/// The head timer runs on decrypted bytes: over TLS, a request head that
/// stalls is cut after `header_read_timeout` (counted from its first byte).
#[tokio::test]
async fn a_stalled_request_head_over_tls_is_cut_off_by_header_read_timeout() {
    let up = Upstream::start("A").await;
    let dir = tempdir();
    let pki = Pki::generate(dir.path());
    let config = format!(
        "{}limits:\n  header_read_timeout: 300ms\n  idle_timeout: 5s\n",
        tls_config(&pki, &up, None)
    );
    let gw = Gateway::start_in(dir, &config, &[]).await;

    let config = tls_client_config(&pki.ca, None, &["http/1.1"]);
    let mut stream = tls_connect(gw.addr, config).await.unwrap();
    stream
        .write_all(b"GET /slowloris HTTP/1.1\r\nHost: a\r\nX-Partial: ")
        .await
        .unwrap();
    stream.flush().await.unwrap();
    let started = std::time::Instant::now();
    let closed = match read_response(&mut stream, Duration::from_secs(3)).await {
        Some(r) => {
            assert_eq!(r.status, 408, "{}", r.head);
            closed_without_response(&mut stream, Duration::from_secs(1)).await
        }
        None => true,
    };
    let elapsed = started.elapsed();
    assert!(closed, "TLS connection left open");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_millis(1500),
        "closed after {elapsed:?}, header_read_timeout is 300ms"
    );
    assert_eq!(up.started(), 0);
}
