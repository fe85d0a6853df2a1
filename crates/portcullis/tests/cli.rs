//! The command line: `validate` (located errors), `check` (offline verdicts),
//! `serve` refusing a broken config, `demo-upstream`, and the quickstart
//! config served end to end.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::*;
use tokio::io::AsyncWriteExt;

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/gateway.yaml")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `gateway.yaml` in a fresh tempdir.
fn config_file(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempdir();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    (dir, path)
}

/// 1-based line of the first line of `yaml` containing `needle`.
fn line_of(yaml: &str, needle: &str) -> usize {
    yaml.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the config"))
        + 1
}

/// Runs `validate`, expects failure, returns stderr.
fn validate_fails(path: &Path) -> String {
    let out = run_cli(&["validate", "--config", path.to_str().unwrap()], None);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "validate accepted a broken config; stdout: {}",
        text(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

#[test]
fn validate_accepts_the_quickstart_config() {
    let path = quickstart();
    let out = run_cli(&["validate", "--config", path.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(": ok"), "{stdout}");
    assert!(stdout.contains("1 route(s)"), "{stdout}");
}

#[test]
fn validate_names_file_line_and_field_of_an_unknown_upstream() {
    let yaml = r#"listeners:
  - address: 127.0.0.1:8080
upstreams:
  app:
    endpoints: ["http://127.0.0.1:8081"]
routes:
  - name: api
    match:
      path_prefix: /
    upstream: nope
"#;
    let (_dir, path) = config_file(yaml);
    let stderr = validate_fails(&path);
    let line = line_of(yaml, "upstream: nope");
    assert!(stderr.contains(&format!("gateway.yaml:{line}")), "{stderr}");
    assert!(stderr.contains("routes[0].upstream"), "{stderr}");
    assert!(stderr.contains("nope"), "{stderr}");
}

#[test]
fn validate_names_the_bad_redis_cluster_seed_and_a_url_with_a_cluster() {
    let store = r#"rate_limit_store:
  backend: redis
  redis:
    cluster:
      - redis://127.0.0.1:7000
      - 127.0.0.1:7001
upstreams:
  app:
    endpoints: ["http://127.0.0.1:8081"]
routes:
  - name: api
    match:
      path_prefix: /
    upstream: app
"#;
    let yaml = format!("listeners:\n  - address: 127.0.0.1:8080\n{store}");
    let (_dir, path) = config_file(&yaml);
    let stderr = validate_fails(&path);
    let line = line_of(&yaml, "- 127.0.0.1:7001");
    assert!(stderr.contains(&format!("gateway.yaml:{line}")), "{stderr}");
    assert!(
        stderr.contains("rate_limit_store.redis.cluster[1]"),
        "{stderr}"
    );
    assert!(stderr.contains("redis://"), "{stderr}");

    let both = yaml.replace(
        "    cluster:\n",
        "    url: redis://127.0.0.1:6379/\n    cluster:\n",
    );
    let both = both.replace("- 127.0.0.1:7001", "- redis://127.0.0.1:7001");
    let (_dir, path) = config_file(&both);
    let stderr = validate_fails(&path);
    let line = line_of(&both, "  redis:");
    assert!(stderr.contains(&format!("gateway.yaml:{line}")), "{stderr}");
    assert!(stderr.contains("exactly one of `url`"), "{stderr}");

    let ok = both.replace("    url: redis://127.0.0.1:6379/\n", "");
    let (_dir, path) = config_file(&ok);
    let out = run_cli(&["validate", "--config", path.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn validate_refuses_unknown_fields() {
    let yaml = r#"listeners:
  - address: 127.0.0.1:8080
limits:
  max_header_byte: 1KiB
upstreams:
  app:
    endpoints: ["http://127.0.0.1:8081"]
routes:
  - name: api
    match:
      path_prefix: /
    upstream: app
"#;
    let (_dir, path) = config_file(yaml);
    let stderr = validate_fails(&path);
    let line = line_of(yaml, "max_header_byte:");
    assert!(stderr.contains(&format!("gateway.yaml:{line}")), "{stderr}");
    assert!(stderr.contains("limits.max_header_byte"), "{stderr}");
    assert!(stderr.contains("unknown field"), "{stderr}");
}

#[test]
fn validate_refuses_a_bad_cidr() {
    let yaml = r#"listeners:
  - address: 127.0.0.1:8080
upstreams:
  app:
    endpoints: ["http://127.0.0.1:8081"]
policies:
  p:
    ip_access:
      deny:
        - 10.0.0.0/8
        - 10.0.0.300/8
routes:
  - name: api
    match:
      path_prefix: /
    upstream: app
    policy: p
"#;
    let (_dir, path) = config_file(yaml);
    let stderr = validate_fails(&path);
    let line = line_of(yaml, "10.0.0.300/8");
    assert!(stderr.contains(&format!("gateway.yaml:{line}")), "{stderr}");
    assert!(stderr.contains("policies.p.ip_access.deny[1]"), "{stderr}");
    assert!(stderr.contains("10.0.0.300/8"), "{stderr}");
}

#[test]
fn validate_names_a_missing_certificate_file() {
    let dir = tempdir();
    let pki = Pki::generate(dir.path());
    let missing = dir.path().join("missing-cert.pem");
    let yaml = format!(
        r#"listeners:
  - address: 127.0.0.1:8443
    tls:
      cert: {}
      key: {}
upstreams:
  app:
    endpoints: ["http://127.0.0.1:8081"]
routes:
  - name: api
    match:
      path_prefix: /
    upstream: app
"#,
        missing.display(),
        pki.server_key.display()
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let stderr = validate_fails(&path);
    let line = line_of(&yaml, "cert:");
    assert!(stderr.contains(&format!("gateway.yaml:{line}")), "{stderr}");
    assert!(stderr.contains("listeners[0].tls.cert"), "{stderr}");
    assert!(stderr.contains("missing-cert.pem"), "{stderr}");

    // With the real files it validates.
    std::fs::write(
        &path,
        yaml.replace(
            &missing.display().to_string(),
            &pki.server_cert.display().to_string(),
        ),
    )
    .unwrap();
    let out = run_cli(&["validate", "--config", path.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn validate_reports_bad_values_and_unreadable_files() {
    let yaml = r#"listeners:
  - address: 127.0.0.1:8080
upstreams:
  app:
    endpoints: ["http://127.0.0.1:8081"]
    response_timeout: 10 parsecs
routes:
  - name: api
    match:
      path_prefix: /
    upstream: app
"#;
    let (dir, path) = config_file(yaml);
    let stderr = validate_fails(&path);
    assert!(stderr.contains("gateway.yaml:6"), "{stderr}");
    assert!(
        stderr.contains("upstreams.app.response_timeout"),
        "{stderr}"
    );

    let stderr = validate_fails(&dir.path().join("does-not-exist.yaml"));
    assert!(stderr.contains("does-not-exist.yaml"), "{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn serve_refuses_a_broken_config_without_starting() {
    let port = free_port();
    let yaml = format!(
        r#"listeners:
  - address: 127.0.0.1:{port}
upstreams:
  app:
    endpoints: ["http://127.0.0.1:8081"]
routes:
  - name: api
    match:
      path_prefix: /
    upstream: nope
"#
    );
    let (_dir, path) = config_file(&yaml);
    let out = run_cli(&["serve", "--config", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("routes[0].upstream"), "{stderr}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens"
    );
}

// ─────────────────────────────── check ───────────────────────────────

fn check(config: &Path, request: &[u8], extra: &[&str]) -> (i32, serde_json::Value, String) {
    let dir = tempdir();
    let file = dir.path().join("request.http");
    std::fs::write(&file, request).unwrap();
    let mut args = vec![
        "check",
        "--config",
        config.to_str().unwrap(),
        "--request",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run_cli(&args, None);
    let stdout = text(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap(), json, text(&out.stderr))
}

#[test]
fn check_allows_a_request_within_the_policy() {
    let (code, json, stderr) = check(
        &quickstart(),
        b"GET /api/users?page=2 HTTP/1.1\r\nHost: api.test\r\n\r\n",
        &[],
    );
    assert_eq!(code, 0, "{json} {stderr}");
    assert_eq!(json["verdict"], "allow");
    assert_eq!(json["route"], "api");
    assert_eq!(json["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn check_blocks_a_denied_method_with_its_rule() {
    let (code, json, stderr) = check(
        &quickstart(),
        b"DELETE /api/users/1 HTTP/1.1\nHost: api.test\n\n",
        &[],
    );
    assert_eq!(code, 1, "{json} {stderr}");
    assert_eq!(json["verdict"], "block");
    assert_eq!(json["status"], 405);
    assert_eq!(json["rule"], "limits.method");
    assert_eq!(json["findings"][0]["excerpt"], "DELETE");
}

#[test]
fn check_blocks_smuggling_with_400() {
    let (code, json, stderr) = check(
        &quickstart(),
        b"POST /api/users HTTP/1.1\r\nHost: api.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        &[],
    );
    assert_eq!(code, 1, "{json} {stderr}");
    assert_eq!(json["verdict"], "block");
    assert_eq!(json["status"], 400);
    assert_eq!(json["rule"], "protocol.smuggling");
}

#[test]
fn check_takes_the_client_ip_and_reads_stdin() {
    let out = run_cli(
        &[
            "check",
            "--config",
            quickstart().to_str().unwrap(),
            "--request",
            "-",
            "--client-ip",
            "127.0.0.2",
        ],
        Some(b"GET /api/users HTTP/1.1\r\nHost: api.test\r\n\r\n"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["rule"], "ip.deny");
    assert_eq!(json["status"], 403);
    assert_eq!(json["client_ip"], "127.0.0.2");

    // A body over the route's 64 KiB limit.
    let mut big = b"POST /api/users HTTP/1.1\r\nHost: a\r\nContent-Type: application/octet-stream\r\nContent-Length: 70000\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 70000));
    let (code, json, _) = check(&quickstart(), &big, &[]);
    assert_eq!(code, 1);
    assert_eq!(json["status"], 413);

    // Not a request at all: an error, not a verdict.
    let out = run_cli(
        &[
            "check",
            "--config",
            quickstart().to_str().unwrap(),
            "--request",
            "-",
        ],
        Some(b"this is not HTTP\r\n\r\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a valid HTTP/1.1 request"),
        "{}",
        text(&out.stderr)
    );
}

// ─────────────────────────── serving binaries ───────────────────────────

#[tokio::test]
async fn demo_upstream_serves_the_demo_api() {
    let port = free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let dir = tempdir();
    let child = std::process::Command::new(BIN)
        .args(["demo-upstream", "--listen", &addr.to_string()])
        .stdout(std::fs::File::create(dir.path().join("out")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("err")).unwrap())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(child);
    let deadline = std::time::Instant::now() + DEADLINE;
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("demo-upstream exited: {status}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "demo-upstream never listened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(get(addr, "/healthz").await.status, 200);
    let r = get(addr, "/api/users").await;
    assert_eq!(r.status, 200);
    assert!(r.json().is_array() || r.json().is_object(), "{}", r.text());
}

#[tokio::test]
async fn the_quickstart_config_serves_the_demo_api() {
    let template = std::fs::read_to_string(quickstart())
        .unwrap()
        .replace("127.0.0.1:8080", "$LISTEN")
        .replace("127.0.0.1:9090", "$ADMIN")
        .replace("output: stdout", "output: $DIR/audit.log")
        // The spec is relative to the config file, which the test moves.
        .replace(
            "spec: openapi.yaml",
            &format!(
                "spec: {}",
                quickstart().with_file_name("openapi.yaml").display()
            ),
        )
        .replace(
            "client_secret_file: demo-introspection-secret.txt",
            &format!(
                "client_secret_file: {}",
                quickstart()
                    .with_file_name("demo-introspection-secret.txt")
                    .display()
            ),
        );
    let gw = Gateway::start(&template).await;

    // The README's opaque-token lines: the demo introspection endpoint.
    let orders = |token: &str| {
        request("GET", "/api/orders")
            .header("authorization", format!("Bearer {token}"))
            .body(TestBody::empty())
            .unwrap()
    };
    assert_eq!(h1(gw.addr, orders("demo-opaque-alice")).await.status, 200);
    let r = h1(gw.addr, orders("demo-opaque-bob")).await;
    assert_eq!(r.assert_problem(403)["rule"], "auth.scope");
    let r = h1(gw.addr, orders("not-a-real-token")).await;
    assert_eq!(r.assert_problem(401)["rule"], "auth.introspection.inactive");

    let r = gw.get("/api/users").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = gw.get("/api/internal/debug").await;
    assert_eq!(r.assert_problem(404)["rule"], "openapi.path.unknown");
    assert!(is_generated_request_id(&r.header("x-request-id").unwrap()));
    gw.get("/elsewhere").await.assert_problem(404);
    let r = h1(
        gw.addr,
        request("DELETE", "/api/users/1")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.assert_problem(405)["rule"], "limits.method");
    h1(
        gw.addr,
        request("POST", "/api/users")
            .header("content-type", "application/octet-stream")
            .body(TestBody::full(vec![b'x'; 70 * 1024]))
            .unwrap(),
    )
    .await
    .assert_problem(413);

    // 127.0.0.2 stands for the denied network (see the quickstart comments).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut stream = socket.connect(gw.addr).await.unwrap();
    stream
        .write_all(b"GET /api/users HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.head);
    let line = wait_for_json_line(&gw.path("audit.log"), "the 127.0.0.2 block", |l| {
        l["client_ip"] == "127.0.0.2"
    })
    .await;
    assert_eq!(line["findings"][0]["rule"], "ip.deny");

    assert_eq!(gw.admin_get("/ready").await.status, 200);
}

/// `portcullis check … | head` closes stdout before the report is written:
/// the command still ends with its verdict's exit code, without a panic.
#[test]
fn check_into_a_closed_pipe_keeps_its_exit_code_without_a_panic() {
    let dir = tempdir();
    let request = dir.path().join("request.http");
    std::fs::write(
        &request,
        b"DELETE /api/users/1 HTTP/1.1\r\nHost: api.test\r\n\r\n",
    )
    .unwrap();
    // The read end is closed before the command starts: every write fails.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = std::process::Command::new(BIN)
        .arg("check")
        .arg("--config")
        .arg(quickstart())
        .arg("--request")
        .arg(&request)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(1), "the block verdict: {stderr}");
}
