//! Bot detection end to end, through the real binary: a curl-like client is
//! tagged on an API path and blocked where browsers are expected, a
//! browser's header set passes, the tag reaches the upstream and a forged
//! incoming copy does not, a too-regular cadence raises the score, a `limit`
//! band answers 429, a honeypot hit follows the client, monitor mode logs
//! and forwards, and the JA4 of real TLS clients (rustls and curl) is the
//! one the pure engine computes from the same client's ClientHello, and a
//! denied one is blocked.

mod support;

use std::time::Duration;

use support::*;
use tokio::io::AsyncReadExt;

fn config(up: &Upstream, bots: &str, extra_policy: &str) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
audit_log:
  output: $DIR/audit.log
upstreams:
  app:
    endpoints: ["{}"]
policies:
  guarded:
    bots:
{bots}
{extra_policy}
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
    policy: guarded
"#,
        up.url()
    )
}

const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// A raw HTTP/1.1 request with exactly these fields, in this order.
fn raw(path: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("GET {path} HTTP/1.1\r\nHost: shop.test\r\n");
    for (n, v) in fields {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

fn chrome_fields() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Upgrade-Insecure-Requests", "1"),
        ("User-Agent", CHROME_UA),
        ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Accept-Language", "en-US,en;q=0.9"),
    ]
}

async fn send(gw: &Gateway, path: &str, fields: &[(&str, &str)]) -> RawResponse {
    raw_request(gw.addr, &raw(path, fields))
        .await
        .expect("a response")
}

fn problem_rule(r: &RawResponse) -> String {
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("problem json");
    json["rule"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn curl_is_tagged_on_an_api_blocked_on_browser_paths_and_a_browser_passes() {
    let up = Upstream::start("A").await;
    let bots =
        "      browser_paths: [/web]\n      tag_reasons: true\n      cadence: {enabled: false}";
    let gw = Gateway::start(&config(&up, bots, "")).await;

    // API path: curl's user agent alone is the tag band (60); the client's
    // own score field is dropped, ours sent.
    let r = send(
        &gw,
        "/api/items",
        &[
            ("User-Agent", "curl/8.5.0"),
            ("Accept", "*/*"),
            ("X-Portcullis-Bot-Score", "0"),
            ("X-Portcullis-Bot-Reasons", "none"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
    let seen = up.last();
    let scores: Vec<_> = seen
        .headers
        .get_all("x-portcullis-bot-score")
        .iter()
        .collect();
    assert_eq!(scores, ["60"], "exactly our score reaches the upstream");
    assert_eq!(
        seen.header("x-portcullis-bot-reasons").as_deref(),
        Some("ua.automation")
    );

    // Browser-facing path: Accept-Language and Accept-Encoding missing
    // too (10 each): 80, blocked with the rule named.
    let before = up.count();
    let r = send(
        &gw,
        "/web/cart",
        &[("User-Agent", "curl/8.5.0"), ("Accept", "*/*")],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.head);
    assert_eq!(problem_rule(&r), "bot.score");
    assert_eq!(
        up.count(),
        before,
        "a blocked request never reaches the upstream"
    );

    // A browser's fields, in a browser's order: score 0, no tag, and a
    // forged score is still removed.
    let mut fields = chrome_fields();
    fields.push(("X-Portcullis-Bot-Score", "0"));
    let r = send(&gw, "/web/cart", &fields).await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(up.last().header("x-portcullis-bot-score"), None);

    // The same user agent with python-requests' field order (Accept-Encoding
    // before Accept) is a forged browser: header order (30) → tagged.
    let r = send(
        &gw,
        "/api/items",
        &[
            ("User-Agent", CHROME_UA),
            ("Accept-Encoding", "gzip, deflate"),
            ("Accept", "*/*"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        up.last().header("x-portcullis-bot-score").as_deref(),
        Some("30")
    );
    assert_eq!(
        up.last().header("x-portcullis-bot-reasons").as_deref(),
        Some("headers.order")
    );

    // The audit line names the block and its signals.
    let line = wait_for_json_line(&gw.path("audit.log"), "a bot.score finding", |l| {
        l["findings"][0]["rule"] == "bot.score"
    })
    .await;
    assert_eq!(
        line["findings"][0]["excerpt"], "ua.automation,headers.missing",
        "{line}"
    );
}

#[tokio::test]
async fn a_regular_cadence_raises_the_score_and_an_irregular_one_does_not() {
    let up = Upstream::start("A").await;
    // An unknown user agent scores 0; only the cadence can tag it.
    let bots = "      cadence: {samples: 4, max_variation: 0.3}";
    let gw = Gateway::start(&config(&up, bots, "")).await;
    let fields = [("User-Agent", "MyApp/1.0"), ("Accept", "*/*")];

    // Irregular first: 40, 400, 90, 700 ms apart.
    for pause in [0, 40, 400, 90, 700] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        assert_eq!(send(&gw, "/a", &fields).await.status, 200);
        assert_eq!(up.last().header("x-portcullis-bot-score"), None);
    }
    // Then a metronome: every 150 ms. Once four regular intervals are in
    // the window, the cadence signal (30) tags the requests.
    let mut tagged = Vec::new();
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(send(&gw, "/a", &fields).await.status, 200);
        tagged.push(up.last().header("x-portcullis-bot-score"));
    }
    assert_eq!(tagged[0], None, "{tagged:?}");
    assert_eq!(tagged[6].as_deref(), Some("30"), "{tagged:?}");
}

#[tokio::test]
async fn a_limit_band_refuses_past_its_rate_with_retry_after() {
    let up = Upstream::start("A").await;
    let bots = "      cadence: {enabled: false}\n      bands:\n        - {from: 30, action: limit, rate: 2/1m}";
    let gw = Gateway::start(&config(&up, bots, "")).await;
    let curl = [("User-Agent", "curl/8.5.0"), ("Accept", "*/*")];
    for _ in 0..2 {
        assert_eq!(send(&gw, "/a", &curl).await.status, 200);
        assert_eq!(
            up.last().header("x-portcullis-bot-score").as_deref(),
            Some("60")
        );
    }
    let r = send(&gw, "/a", &curl).await;
    assert_eq!(r.status, 429, "{}", r.head);
    assert_eq!(problem_rule(&r), "bot.limit");
    assert!(
        r.head.to_ascii_lowercase().contains("retry-after: 60"),
        "{}",
        r.head
    );
    // A browser is in no band: not limited.
    for _ in 0..3 {
        assert_eq!(send(&gw, "/a", &chrome_fields()).await.status, 200);
    }
}

#[tokio::test]
async fn a_honeypot_hit_follows_the_client() {
    let up = Upstream::start("A").await;
    // The honeypot only logs (no ban): the bot score remembers the hit.
    let bots = "      cadence: {enabled: false}";
    let honeypot = "    honeypot:\n      mode: monitor\n      paths: [/.env]";
    let gw = Gateway::start(&config(&up, bots, honeypot)).await;
    let app = [("User-Agent", "MyApp/1.0"), ("Accept", "*/*")];
    assert_eq!(send(&gw, "/a", &app).await.status, 200);
    let r = send(&gw, "/.env", &app).await;
    assert_eq!(r.status, 403, "{}", r.head);
    assert_eq!(problem_rule(&r), "bot.score");
    let r = send(&gw, "/a", &app).await;
    assert_eq!(
        r.status, 403,
        "the client keeps the honeypot signal: {}",
        r.head
    );
}

#[tokio::test]
async fn monitor_mode_logs_but_forwards() {
    let up = Upstream::start("A").await;
    let bots = "      mode: monitor\n      browser_facing: true\n      cadence: {enabled: false}";
    let gw = Gateway::start(&config(&up, bots, "")).await;
    let r = send(
        &gw,
        "/web",
        &[("User-Agent", "curl/8.5.0"), ("Accept", "*/*")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(
        up.last().header("x-portcullis-bot-score").as_deref(),
        Some("80")
    );
    let line = wait_for_json_line(&gw.path("audit.log"), "a bot.score finding", |l| {
        l["findings"][0]["rule"] == "bot.score"
    })
    .await;
    assert_eq!(line["action"], "monitor", "{line}");
    assert_eq!(line["findings"][0]["mode"], "monitor", "{line}");
}

/// The first bytes a client sends to a listener that never answers: its
/// ClientHello.
async fn captured_hello<F, Fut>(connect: F) -> Vec<u8>
where
    F: FnOnce(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(connect(addr));
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("the client sends its hello")
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        match portcullis_policy::ja4::hello_progress(&buf) {
            portcullis_policy::ja4::HelloProgress::Complete(len) => {
                buf.truncate(len);
                break;
            }
            portcullis_policy::ja4::HelloProgress::NeedMore if n > 0 => {}
            other => panic!("not a ClientHello: {other:?}"),
        }
    }
    drop(stream);
    client.abort();
    buf
}

fn curl_https(port: u16, path: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-A",
            "MyApp/1.0",
            &format!("https://localhost:{port}{path}"),
        ])
        .output()
        .expect("curl runs");
    let code = String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0);
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn tls_bots_config(pki: &Pki, up: &Upstream, deny: &str) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
    tls:
      cert: {cert}
      key: {key}
upstreams:
  app:
    endpoints: ["{up}"]
policies:
  guarded:
    bots:
      tag_ja4: true
      cadence: {{enabled: false}}
      deny_ja4: [{deny}]
      bands:
        - {{from: 0, action: tag}}
        - {{from: 80, action: block}}
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
    policy: guarded
"#,
        cert = pki.server_cert.display(),
        key = pki.server_key.display(),
        up = up.url()
    )
}

#[tokio::test]
async fn ja4_of_real_tls_clients_is_computed_and_a_denied_one_is_blocked() {
    let up = Upstream::start("A").await;
    let dir = tempdir();
    let pki = Pki::generate(dir.path());
    let rustls_config = tls_client_config(&pki.ca, None, &["h2", "http/1.1"]);

    // What the engine computes from each client's own ClientHello.
    let cfg = rustls_config.clone();
    let hello = captured_hello(move |addr| async move {
        let _ = tls_connect(addr, cfg).await;
    })
    .await;
    let rustls_ja4 = portcullis_policy::ja4::ja4(&hello).expect("a JA4");
    // rustls offers TLS 1.3, names the server (SNI) and offers h2 first.
    assert!(
        rustls_ja4.starts_with("t13d") && rustls_ja4[8..10] == *"h2",
        "{rustls_ja4}"
    );
    let curl_hello = captured_hello(|addr| async move {
        let port = addr.port();
        let _ = tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args([
                    "-sk",
                    "--max-time",
                    "3",
                    &format!("https://localhost:{port}/"),
                ])
                .output()
        })
        .await;
    })
    .await;
    let curl_ja4 = portcullis_policy::ja4::ja4(&curl_hello).expect("a JA4");
    assert!(curl_ja4.starts_with("t13d"), "{curl_ja4}");
    assert_ne!(rustls_ja4, curl_ja4);

    // The gateway computes the same values from live handshakes and sends
    // them upstream; a deny-listed one (rustls') is blocked, curl passes.
    let gw = Gateway::start_in(dir, &tls_bots_config(&pki, &up, &rustls_ja4), &[]).await;
    let (code, err) = tokio::task::spawn_blocking({
        let port = gw.addr.port();
        move || curl_https(port, "/curl")
    })
    .await
    .unwrap();
    assert_eq!(code, 200, "curl: {err}");
    assert_eq!(
        up.last().header("x-portcullis-ja4").as_deref(),
        Some(&*curl_ja4)
    );
    assert_eq!(
        up.last().header("x-portcullis-bot-score").as_deref(),
        Some("0")
    );

    let req = request("GET", "/rustls")
        .header("user-agent", "MyApp/1.0")
        .body(TestBody::empty())
        .unwrap();
    let r = try_tls_request(gw.addr, rustls_config.clone(), req)
        .await
        .expect("a response over TLS");
    let json = r.assert_problem(403);
    assert_eq!(json["rule"], "bot.score", "{json}");
    assert_eq!(
        up.last().uri,
        "/curl",
        "the denied client never reached the upstream"
    );
}
