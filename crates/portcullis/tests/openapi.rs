//! OpenAPI enforcement through the real binary: a realistic spec (users,
//! orders, multipart upload, login) in front of a test upstream. Valid
//! traffic reaches the upstream byte for byte; each request-side violation
//! is refused with its rule before the upstream sees anything, only audited
//! on a monitor-mode route, or audited as stripped on a strip route; a broken
//! spec makes a reload fail with the file and the JSON pointer.

// Table rows are tuples, spelled out where they are declared.
#![allow(clippy::type_complexity)]

mod support;

use std::time::Duration;

use support::*;

const SHOP: &str = include_str!("../../openapi/tests/data/shop.yaml");

fn config(up: &Upstream) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  app:
    endpoints: ["{}"]
# The test upstream answers plain text that no response schema allows:
# response bodies are validated in their own test, against a JSON upstream.
policies:
  shop:
    openapi:
      spec: shop.yaml
      validate_responses: false
  shop_monitor:
    openapi:
      spec: shop.yaml
      mode: monitor
  shop_responses:
    openapi:
      spec: shop.yaml
  shop_strip:
    openapi:
      spec: shop.yaml
      unknown_query: strip
      unknown_headers: strip
      validate_responses: false
routes:
  - name: shop
    match:
      path_prefix: /v1
    upstream: app
    policy: shop
  - name: shop_monitor
    match:
      host: monitor.test
      path_prefix: /v1
    upstream: app
    policy: shop_monitor
  - name: shop_strip
    match:
      host: strip.test
      path_prefix: /v1
    upstream: app
    policy: shop_strip
  - name: shop_responses
    match:
      host: responses.test
      path_prefix: /v1
    upstream: app
    policy: shop_responses
audit_log:
  output: $DIR/audit.log
"#,
        up.url()
    )
}

async fn start() -> (Gateway, Upstream) {
    let up = Upstream::start("shop").await;
    let dir = tempdir();
    std::fs::write(dir.path().join("shop.yaml"), SHOP).unwrap();
    let gw = Gateway::start_in(dir, &config(&up), &[]).await;
    (gw, up)
}

const KEY: &str = "0b5c7c4e-7d8f-4a5b-9c1e-2f3a4b5c6d7e";

fn send(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> http::Request<TestBody> {
    let mut b = request(method, target);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(TestBody::full(body.to_vec())).unwrap()
}

fn multipart(parts: &[(&str, Option<&str>, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, content_type, data) in parts {
        out.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
        out.extend_from_slice(name.as_bytes());
        out.push(b'"');
        if let Some(f) = filename {
            out.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        out.extend_from_slice(format!("\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--XyZ--\r\n");
    out
}

#[tokio::test]
async fn valid_traffic_reaches_the_upstream_byte_for_byte() {
    let (gw, up) = start().await;
    let order = br#"{ "items": [ {"sku": "ABC-1234", "quantity": 2, "price": 9.50} ],
  "shipping": {"street": "1 Main St", "city": "Paris", "country": "FR"}, "note": null }"#;
    let png = [0x89u8, b'P', b'N', b'G', 0, 1, 2, 255];
    let upload = multipart(&[
        ("file", Some("cat.png"), "image/png", &png),
        ("description", None, "text/plain", b"a cat"),
        ("tags", None, "text/plain", b"pets"),
        ("tags", None, "text/plain", b"cute"),
    ]);
    let cases: Vec<(&str, &str, Vec<(&str, &str)>, Vec<u8>)> = vec![
        (
            "GET",
            "/v1/users?limit=10&sort=-name&fields=id,name&tag=a&tag=b&filter[role]=admin",
            vec![("x-trace-id", KEY)],
            vec![],
        ),
        ("GET", "/v1/users/me", vec![], vec![]),
        ("GET", "/v1/users/42/orders?status=new|paid", vec![], vec![]),
        (
            "POST",
            "/v1/orders",
            vec![
                ("content-type", "application/json"),
                ("idempotency-key", KEY),
            ],
            order.to_vec(),
        ),
        (
            "POST",
            "/v1/files",
            vec![("content-type", "multipart/form-data; boundary=XyZ")],
            upload,
        ),
        (
            "POST",
            "/v1/login",
            vec![("content-type", "application/x-www-form-urlencoded")],
            b"username=ada&password=correct+horse".to_vec(),
        ),
        (
            "POST",
            "/v1/login",
            vec![("content-type", "application/json")],
            br#"{"username":"ada","password":"correct horse"}"#.to_vec(),
        ),
        ("DELETE", "/v1/users/7", vec![], vec![]),
        (
            "GET",
            "/v1/reports/2024.csv",
            vec![("cookie", "session=abc")],
            vec![],
        ),
    ];
    for (method, target, headers, body) in cases {
        // The response head is checked too: answer a status the operation documents.
        let documented = match target {
            "/v1/files" => 201,
            "/v1/users/7" => 204,
            _ => 200,
        };
        up.set_status(if documented == 200 { 0 } else { documented });
        let before = up.count();
        let r = h1(gw.addr, send(method, target, &headers, &body)).await;
        assert_eq!(r.status, documented, "{method} {target}: {}", r.text());
        assert_eq!(
            up.count(),
            before + 1,
            "{method} {target} reached the upstream"
        );
        let seen = up.last();
        assert_eq!(seen.uri, target, "path and query forwarded unchanged");
        assert_eq!(
            seen.body, body,
            "{method} {target}: body forwarded byte for byte"
        );
    }
    assert!(
        !gw.path("audit.log").exists() || json_lines(&gw.path("audit.log")).is_empty(),
        "valid traffic is not audited"
    );
}

#[tokio::test]
async fn each_request_violation_is_refused_before_the_upstream() {
    let (gw, up) = start().await;
    let json = ("content-type", "application/json");
    let cases: Vec<(&str, &str, Vec<(&str, &str)>, &[u8], u16, &str)> = vec![
        (
            "GET",
            "/v1/admin/export",
            vec![],
            b"",
            404,
            "openapi.path.unknown",
        ),
        (
            "PUT",
            "/v1/users/1",
            vec![],
            b"",
            405,
            "openapi.method.unknown",
        ),
        (
            "GET",
            "/v1/users/0",
            vec![],
            b"",
            400,
            "openapi.path.schema",
        ),
        (
            "GET",
            "/v1/users?limit=1000",
            vec![],
            b"",
            400,
            "openapi.query.schema",
        ),
        (
            "GET",
            "/v1/users?limit=1&limit=2",
            vec![],
            b"",
            400,
            "openapi.query.schema",
        ),
        (
            "GET",
            "/v1/users?debug=true",
            vec![],
            b"",
            400,
            "openapi.query.unknown",
        ),
        (
            "GET",
            "/v1/users",
            vec![("x-trace-id", "not-a-uuid")],
            b"",
            400,
            "openapi.header.schema",
        ),
        (
            "GET",
            "/v1/reports/2024.csv",
            vec![],
            b"",
            400,
            "openapi.parameter.missing",
        ),
        (
            "POST",
            "/v1/users",
            vec![json],
            br#"{"name":"Ada","email":"ada@example.com","is_admin":true}"#,
            400,
            "openapi.body.undeclared",
        ),
        (
            "POST",
            "/v1/users",
            vec![json],
            br#"{"id":1,"name":"Ada","email":"ada@example.com"}"#,
            400,
            "openapi.body.read_only",
        ),
        (
            "POST",
            "/v1/users",
            vec![json],
            br#"{"name":"Ada","email":"nope"}"#,
            400,
            "openapi.body.schema",
        ),
        (
            "POST",
            "/v1/users",
            vec![json],
            b"{\"name\":",
            400,
            "openapi.body.malformed",
        ),
        (
            "POST",
            "/v1/users",
            vec![("content-type", "text/xml")],
            b"<user/>",
            415,
            "openapi.content_type.unknown",
        ),
        (
            "POST",
            "/v1/orders",
            vec![json, ("idempotency-key", KEY)],
            br#"{"items":[{"sku":"bad","quantity":1,"price":1}]}"#,
            400,
            "openapi.body.schema",
        ),
        (
            "POST",
            "/v1/users",
            vec![json, ("content-length", "0")],
            b"",
            400,
            "openapi.body.missing",
        ),
        (
            "GET",
            "/v1/users/1",
            vec![("content-type", "text/plain")],
            b"hello",
            400,
            "openapi.body.unexpected",
        ),
    ];
    for (method, target, headers, body, status, rule) in cases {
        let before = up.started();
        let r = h1(gw.addr, send(method, target, &headers, body)).await;
        let problem = r.assert_problem(status);
        assert_eq!(problem["rule"], rule, "{method} {target}: {problem}");
        assert_eq!(
            up.started(),
            before,
            "{method} {target}: the upstream never sees a refused request"
        );
        let detail = problem["detail"].as_str().unwrap_or("");
        for echoed in ["is_admin", "nope", "bad", "1000", "not-a-uuid"] {
            assert!(
                !detail.contains(echoed),
                "{target}: detail echoes input: {detail}"
            );
        }
    }
    // The audit line names the operation and where the problem is.
    let r = h1(
        gw.addr,
        send(
            "POST",
            "/v1/users",
            &[json],
            br#"{"name":"Ada","email":"ada@example.com","is_admin":true}"#,
        ),
    )
    .await;
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&gw.path("audit.log"), "the mass-assignment block", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["operation"], "createUser");
    assert_eq!(line["findings"][0]["location"], "body:/is_admin");
    assert_eq!(line["findings"][0]["excerpt"], "true");
}

#[tokio::test]
async fn an_undocumented_response_status_becomes_a_502() {
    let (gw, up) = start().await;
    up.set_status(500);
    let r = h1(
        gw.addr,
        send("GET", "/v1/users/me", &[("host", "responses.test")], b""),
    )
    .await;
    r.assert_problem(502);
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&gw.path("audit.log"), "the refused response", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["action"], "block");
    assert_eq!(line["findings"][0]["rule"], "openapi.response.status");
    // On a monitor route the same answer is forwarded and audited.
    let r = h1(
        gw.addr,
        send("GET", "/v1/users/me", &[("host", "monitor.test")], b""),
    )
    .await;
    assert_eq!(r.status, 500);
}

#[tokio::test]
async fn monitor_mode_forwards_and_audits() {
    let (gw, up) = start().await;
    let r = h1(
        gw.addr,
        send(
            "GET",
            "/v1/users?limit=1000&debug=1",
            &[("host", "monitor.test")],
            b"",
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.last().uri, "/v1/users?limit=1000&debug=1");
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&gw.path("audit.log"), "the monitored request", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["action"], "monitor");
    assert_eq!(line["operation"], "listUsers");
    let rules: Vec<&str> = line["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert_eq!(rules, ["openapi.query.schema", "openapi.query.unknown"]);
    let r = h1(
        gw.addr,
        send("GET", "/v1/shadow", &[("host", "monitor.test")], b""),
    )
    .await;
    assert_eq!(
        r.status, 200,
        "an undocumented path is only audited in monitor mode"
    );
}

/// A documented request with an undocumented query parameter and header, on the strip route.
async fn send_undocumented_names(gw: &Gateway) -> Reply {
    let r = h1(
        gw.addr,
        send(
            "GET",
            "/v1/users?limit=5&utm_source=mail",
            &[("host", "strip.test"), ("x-debug", "1")],
            b"",
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r
}

#[tokio::test]
async fn strip_mode_audits_undocumented_names_and_forwards() {
    let (gw, up) = start().await;
    let r = send_undocumented_names(&gw).await;
    assert_eq!(up.count(), 1);
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&gw.path("audit.log"), "the stripped request", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["action"], "monitor");
    let locations: Vec<&str> = line["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["location"].as_str())
        .collect();
    assert_eq!(locations, ["query.utm_source", "header.x-debug"]);
    assert!(
        line["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] == "openapi.parameter.stripped")
    );
}

/// The gateway applies `Exchange::rewrites()` before forwarding: the
/// undocumented query parameter and header never reach the upstream.
#[tokio::test]
async fn strip_mode_removes_undocumented_names_before_forwarding() {
    let (gw, up) = start().await;
    send_undocumented_names(&gw).await;
    let seen = up.last();
    assert_eq!(seen.uri, "/v1/users?limit=5");
    assert!(seen.header("x-debug").is_none());
}

#[tokio::test]
async fn a_broken_spec_fails_the_reload_with_file_and_pointer() {
    let (gw, _up) = start().await;
    let broken = SHOP.replace("pattern: \"^[A-Z]{2}$\"", "pattern: \"(?<=x)y\"");
    assert_ne!(broken, SHOP);
    std::fs::write(gw.path("shop.yaml"), broken).unwrap();
    gw.signal("HUP");
    eventually("the reload is refused", DEADLINE, || async {
        gw.stderr().contains("reload refused")
    })
    .await;
    let stderr = gw.stderr();
    assert!(
        stderr.contains("policies.shop.openapi.spec")
            && stderr.contains("shop.yaml#/components/schemas/Address/properties/country/pattern"),
        "{stderr}"
    );
    // The old spec keeps serving.
    let r = gw.get("/v1/users/me").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        gw.get("/v1/nope").await.assert_problem(404)["rule"],
        "openapi.path.unknown"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[test]
fn validate_reports_a_broken_spec_with_file_and_pointer() {
    let dir = tempdir();
    let config = "listeners:\n  - address: 127.0.0.1:8080\nupstreams:\n  app:\n    endpoints: [\"builtin:demo\"]\npolicies:\n  shop:\n    openapi:\n      spec: shop.yaml\nroutes:\n  - name: shop\n    upstream: app\n    policy: shop\n";
    std::fs::write(dir.path().join("gateway.yaml"), config).unwrap();
    std::fs::write(
        dir.path().join("shop.yaml"),
        SHOP.replace(
            "$ref: \"#/components/schemas/Address\"",
            "$ref: \"#/components/schemas/Adress\"",
        ),
    )
    .unwrap();
    let path = dir.path().join("gateway.yaml");
    let out = run_cli(&["validate", "--config", path.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("gateway.yaml:9: policies.shop.openapi.spec: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("shop.yaml#/components/schemas/Order/properties/shipping/$ref: reference \"#/components/schemas/Adress\" points to nothing"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("shop.yaml"), SHOP).unwrap();
    let out = run_cli(&["validate", "--config", path.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn audit_spec_reports_weaknesses_and_fails_at_the_threshold() {
    let dir = tempdir();
    let weak = dir.path().join("weak.yaml");
    std::fs::write(
        &weak,
        "openapi: 3.1.0\ninfo: {title: weak, version: '1'}\nservers: [{url: 'http://api.example.com'}]\npaths:\n  /notes:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n              type: object\n              additionalProperties: true\n              properties:\n                text: {type: string}\n                tags: {type: array, items: {type: string, maxLength: 10}}\n                n: {type: integer}\n      responses:\n        '200': {description: ok}\n",
    )
    .unwrap();
    let out = run_cli(
        &["audit-spec", weak.to_str().unwrap(), "--format", "json"],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "high findings fail by default");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
                f["pointer"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let body = "/paths/~1notes/post/requestBody/content/application~1json/schema";
    for want in [
        (
            "operation-without-security",
            "high",
            "/paths/~1notes/post".to_owned(),
        ),
        ("server-plain-http", "high", "/servers/0".to_owned()),
        ("object-open", "medium", body.to_owned()),
        (
            "string-unbounded",
            "medium",
            format!("{body}/properties/text"),
        ),
        (
            "array-unbounded",
            "medium",
            format!("{body}/properties/tags"),
        ),
        ("number-unbounded", "low", format!("{body}/properties/n")),
        (
            "operation-without-4xx",
            "low",
            "/paths/~1notes/post".to_owned(),
        ),
    ] {
        let want = (want.0.to_owned(), want.1.to_owned(), want.2);
        assert!(found.contains(&want), "missing {want:?} in {found:?}");
    }
    assert!(
        !found
            .iter()
            .any(|(id, _, p)| id == "string-unbounded" && p.ends_with("/tags/items")),
        "a bounded string is not reported"
    );
    let out = run_cli(
        &[
            "audit-spec",
            weak.to_str().unwrap(),
            "--fail-on",
            "critical",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 operation(s), 7 finding(s): 0 critical, 2 high, 3 medium, 2 low, 0 info"),
        "{text}"
    );
    let out = run_cli(
        &[
            "audit-spec",
            dir.path().join("missing.yaml").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

/// A bare upstream that answers every request with the JSON body its path
/// names (`/v1/users/me` a leaky user, `/v1/users/2` a malformed one,
/// `/v1/users/4` a clean one padded to 150 KB and written in pieces with
/// pauses, `/v1/users/5` one cut short of its `Content-Length`, anything
/// else a clean user), with a `Content-Length`, on keep-alive connections.
async fn json_upstream() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let body: &str = match path.as_str() {
                        "/v1/users/me" => LEAKY_USER,
                        "/v1/users/2" => r#"{"id":"two","name":"Bob","email":"bob@example.com"}"#,
                        "/v1/users/4" => &PADDED_USER,
                        _ => r#"{"id":3,"name":"Cy","email":"cy@example.com"}"#,
                    };
                    let declared = body.len() + usize::from(path == "/v1/users/5") * 10;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
                    );
                    if path == "/v1/users/4" {
                        // The head alone, then the body in three pieces.
                        let pieces = [&body[..10], &body[10..100_000], &body[100_000..]];
                        let mut failed = stream.write_all(head.as_bytes()).await.is_err();
                        for piece in pieces {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            failed |= stream.write_all(piece.as_bytes()).await.is_err();
                        }
                        if failed {
                            return;
                        }
                        continue;
                    }
                    let response = format!("{head}{body}");
                    if stream.write_all(response.as_bytes()).await.is_err() || path == "/v1/users/5"
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A clean user with 150 KB of white space between its members.
static PADDED_USER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        r#"{{"id":4,{}"name":"Di","email":"di@example.com"}}"#,
        " ".repeat(150_000)
    )
});

/// `password` is `writeOnly` and `internal_note` undeclared: both exposures.
const LEAKY_USER: &str = r#"{"id": 1, "name": "Ada", "password": "hunter2hunter2", "email": "ada@example.com", "internal_note": "vip"}"#;

fn response_config(addr: std::net::SocketAddr) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  app:
    endpoints: ["http://{addr}"]
policies:
  block:
    openapi:
      spec: shop.yaml
  strip:
    openapi:
      spec: shop.yaml
      response_exposure: strip
  monitor:
    openapi:
      spec: shop.yaml
      response_exposure: monitor
  headers_only:
    openapi:
      spec: shop.yaml
      validate_responses: headers_only
routes:
  - name: block
    match:
      path_prefix: /v1
    upstream: app
    policy: block
  - name: strip
    match:
      host: strip.test
      path_prefix: /v1
    upstream: app
    policy: strip
  - name: monitor
    match:
      host: monitor.test
      path_prefix: /v1
    upstream: app
    policy: monitor
  - name: headers_only
    match:
      host: headers.test
      path_prefix: /v1
    upstream: app
    policy: headers_only
audit_log:
  output: $DIR/audit.log
"#
    )
}

/// Response bodies are validated before any byte leaves: an exposure is
/// refused with a 502 (nothing of the original sent), stripped (the rest of
/// the upstream's text forwarded byte for byte, with a corrected length) or
/// only audited; a body that breaks its schema is refused even where
/// exposures are stripped; a clean body passes untouched.
#[tokio::test]
async fn response_bodies_are_validated_refused_stripped_or_monitored() {
    let addr = json_upstream().await;
    let dir = tempdir();
    std::fs::write(dir.path().join("shop.yaml"), SHOP).unwrap();
    let gw = Gateway::start_in(dir, &response_config(addr), &[]).await;
    let get = |host: &'static str, path: &'static str| {
        request("GET", path)
            .header("host", host)
            .header("x-api-key", KEY)
            .body(TestBody::empty())
            .unwrap()
    };

    let refused = h1(gw.addr, get("api.test", "/v1/users/me")).await;
    let problem = refused.assert_problem(502);
    assert!(!refused.text().contains("hunter2"), "{}", refused.text());
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("refused by policy")
    );

    let stripped = h1(gw.addr, get("strip.test", "/v1/users/me")).await;
    assert_eq!(stripped.status, 200, "{}", stripped.text());
    // Kept members are the upstream's text; the object that lost some is
    // rejoined without the whitespace between members.
    assert_eq!(
        stripped.text(),
        r#"{"id":1,"name":"Ada","email":"ada@example.com"}"#
    );
    assert_eq!(
        stripped.header("content-length").as_deref(),
        Some(stripped.body.len().to_string().as_str())
    );

    let monitored = h1(gw.addr, get("monitor.test", "/v1/users/me")).await;
    assert_eq!(monitored.status, 200);
    assert_eq!(monitored.text(), LEAKY_USER);

    for host in ["api.test", "strip.test", "monitor.test"] {
        let broken = h1(gw.addr, get(host, "/v1/users/2")).await;
        assert_eq!(broken.status, 502, "{host}: {}", broken.text());
        let clean = h1(gw.addr, get(host, "/v1/users/3")).await;
        assert_eq!(clean.status, 200, "{host}");
        assert_eq!(
            clean.text(),
            r#"{"id":3,"name":"Cy","email":"cy@example.com"}"#
        );
    }

    // HTTP/2 clients get the same answers (their authority, the gateway's
    // address, routes them to the blocking route).
    let refused = h2c(gw.addr, get("api.test", "/v1/users/me")).await;
    refused.assert_problem(502);
    assert!(!refused.text().contains("hunter2"));
    let clean = h2c(gw.addr, get("api.test", "/v1/users/3")).await;
    assert_eq!(
        clean.text(),
        r#"{"id":3,"name":"Cy","email":"cy@example.com"}"#
    );

    for (route, operation, rule) in [
        ("block", "getCurrentUser", "openapi.response.exposure"),
        ("strip", "getCurrentUser", "openapi.response.stripped"),
        ("monitor", "getCurrentUser", "openapi.response.exposure"),
        ("block", "getUser", "openapi.response.schema"),
    ] {
        wait_for_json_line(&gw.path("audit.log"), rule, |l| {
            l["route"] == route
                && l["operation"] == operation
                && l["findings"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f["rule"] == rule))
        })
        .await;
    }
}

/// A validated response of known length is read whole however it arrives
/// (here the head alone, then three pieces with pauses) and forwarded byte
/// for byte; one that ends before its `Content-Length` is refused with a
/// 502 and none of it is sent.
#[tokio::test]
async fn validated_responses_arriving_in_pieces_are_forwarded_whole() {
    let addr = json_upstream().await;
    let dir = tempdir();
    std::fs::write(dir.path().join("shop.yaml"), SHOP).unwrap();
    let gw = Gateway::start_in(dir, &response_config(addr), &[]).await;
    let get = |path: &'static str| {
        request("GET", path)
            .header("host", "api.test")
            .header("x-api-key", KEY)
            .body(TestBody::empty())
            .unwrap()
    };
    for _ in 0..2 {
        let whole = h1(gw.addr, get("/v1/users/4")).await;
        assert_eq!(whole.status, 200, "{}", whole.text());
        assert_eq!(whole.body.len(), PADDED_USER.len());
        assert!(whole.text() == *PADDED_USER);
        // The connection went back to the pool and serves the next answer.
        let clean = h1(gw.addr, get("/v1/users/3")).await;
        assert_eq!(
            clean.text(),
            r#"{"id":3,"name":"Cy","email":"cy@example.com"}"#
        );
    }
    let cut = h1(gw.addr, get("/v1/users/5")).await;
    cut.assert_problem(502);
    assert!(!cut.text().contains("cy@example.com"), "{}", cut.text());
}

/// `validate_responses: headers_only`: bodies stream unchecked (a leaky or
/// malformed one reaches the client byte for byte, nothing is audited),
/// while the request side is still enforced.
#[tokio::test]
async fn headers_only_responses_stream_their_bodies_unchecked() {
    let addr = json_upstream().await;
    let dir = tempdir();
    std::fs::write(dir.path().join("shop.yaml"), SHOP).unwrap();
    let gw = Gateway::start_in(dir, &response_config(addr), &[]).await;
    let get = |path: &'static str| {
        request("GET", path)
            .header("host", "headers.test")
            .header("x-api-key", KEY)
            .body(TestBody::empty())
            .unwrap()
    };
    let leaky = h1(gw.addr, get("/v1/users/me")).await;
    assert_eq!(leaky.status, 200, "{}", leaky.text());
    assert_eq!(leaky.text(), LEAKY_USER);
    let broken = h1(gw.addr, get("/v1/users/2")).await;
    assert_eq!(broken.status, 200, "{}", broken.text());
    // The request is still checked against the spec.
    let undocumented = h1(gw.addr, get("/v1/nowhere")).await;
    undocumented.assert_problem(404);
    // The blocking route in front of the same upstream still refuses.
    let refused = h1(
        gw.addr,
        request("GET", "/v1/users/me")
            .header("host", "api.test")
            .header("x-api-key", KEY)
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    refused.assert_problem(502);
    let audit = std::fs::read_to_string(gw.path("audit.log")).unwrap_or_default();
    assert!(
        !audit
            .lines()
            .any(|l| l.contains("\"route\":\"headers_only\"") && l.contains("openapi.response")),
        "{audit}"
    );
}

/// A `Cookie` header of Latin-1 bytes cannot be split into the pairs the
/// spec validates: an operation with a cookie parameter refuses it (400,
/// `openapi.cookie.schema` at `header.cookie`) instead of forwarding its
/// cookies unvalidated; the same bytes as UTF-8 pass.
#[tokio::test]
async fn a_cookie_header_that_is_not_utf8_is_refused_where_cookies_are_validated() {
    let (gw, up) = start().await;
    let reply = raw_request(
        gw.addr,
        b"GET /v1/reports/2024.csv HTTP/1.1\r\nHost: a\r\nCookie: session=caf\xe9\r\nConnection: close\r\n\r\n",
    )
    .await
    .expect("an answer");
    assert_eq!(reply.status, 400, "{}", reply.head);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["rule"], "openapi.cookie.schema", "{body}");
    assert_eq!(up.count(), 0, "refused before the upstream");
    let reply = raw_request(
        gw.addr,
        "GET /v1/reports/2024.csv HTTP/1.1\r\nHost: a\r\nCookie: session=café\r\nConnection: close\r\n\r\n".as_bytes(),
    )
    .await
    .expect("an answer");
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(up.count(), 1);
}
