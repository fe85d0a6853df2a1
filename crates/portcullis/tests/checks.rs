//! Route checks through the real binary: IP allow / deny lists, monitor mode,
//! method and body limits, the problem+json answers and the audit log.

mod support;

use std::path::PathBuf;

use support::*;

fn checks_config(up: &Upstream) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  app:
    endpoints: ["{}"]
policies:
  deny_loopback:
    ip_access:
      deny: ["127.0.0.0/8"]
  allow_elsewhere:
    ip_access:
      allow: ["10.0.0.0/8", "192.0.2.0/24"]
  watch:
    mode: monitor
    ip_access:
      deny: ["127.0.0.0/8"]
  watch_methods:
    request_limits:
      mode: monitor
      methods: [GET]
  limits:
    request_limits:
      methods: [GET, PUT]
      max_body_bytes: 100
routes:
  - name: denied
    match:
      path_prefix: /deny
    upstream: app
    policy: deny_loopback
  - name: allow_list
    match:
      path_prefix: /allow
    upstream: app
    policy: allow_elsewhere
  - name: watched
    match:
      path_prefix: /watch
    upstream: app
    policy: watch
  - name: watched_methods
    match:
      path_prefix: /methods-watch
    upstream: app
    policy: watch_methods
  - name: limited
    match:
      path_prefix: /limits
    upstream: app
    policy: limits
  - name: open
    match:
      path_prefix: /open
    upstream: app
audit_log:
  output: $DIR/audit.log
"#,
        up.url()
    )
}

async fn start() -> (Gateway, Upstream, PathBuf) {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&checks_config(&up)).await;
    let audit = gw.path("audit.log");
    (gw, up, audit)
}

fn lines_for(audit: &std::path::Path, request_id: &str) -> Vec<serde_json::Value> {
    json_lines(audit)
        .into_iter()
        .filter(|l| l["request_id"] == request_id)
        .collect()
}

#[tokio::test]
async fn ip_deny_blocks_with_a_problem_and_one_audit_line() {
    let (gw, up, audit) = start().await;

    let r = gw.get("/deny/users?id=1").await;
    let json = r.assert_problem(403);
    assert_eq!(json["rule"], "ip.deny");
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        up.started(),
        0,
        "a blocked request never reaches the upstream"
    );
    let id = r.header("x-request-id").unwrap();

    let line = wait_for_json_line(&audit, "the blocked request", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["kind"], "audit");
    assert_eq!(line["action"], "block");
    assert_eq!(line["status"], 403);
    assert_eq!(line["client_ip"], "127.0.0.1");
    assert_eq!(line["route"], "denied");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/deny/users");
    let findings = line["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{line}");
    assert_eq!(findings[0]["rule"], "ip.deny");
    assert_eq!(findings[0]["check"], "ip_access");

    // A later blocked request is logged after it: by then a duplicate of the
    // first line would be in the file too (one writer, in order).
    let second = gw.get("/deny/other").await;
    let second_id = second.header("x-request-id").unwrap();
    wait_for_json_line(&audit, "the second blocked request", |l| {
        l["request_id"] == second_id.as_str()
    })
    .await;
    assert_eq!(lines_for(&audit, &id).len(), 1, "exactly one audit line");
}

#[tokio::test]
async fn a_client_outside_the_allow_list_is_refused() {
    let (gw, up, audit) = start().await;

    let r = gw.get("/allow/x").await;
    let json = r.assert_problem(403);
    assert_eq!(json["rule"], "ip.not_allowed");
    assert_eq!(up.started(), 0);
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&audit, "allow-list block", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["action"], "block");
    assert_eq!(line["findings"][0]["rule"], "ip.not_allowed");

    // A route without a policy is open to the same client, and not audited.
    let open = gw.get("/open/x").await;
    assert_eq!(open.status, 200);
    let open_id = open.header("x-request-id").unwrap();
    let r = gw.get("/allow/again").await;
    let again = r.header("x-request-id").unwrap();
    wait_for_json_line(&audit, "second block", |l| {
        l["request_id"] == again.as_str()
    })
    .await;
    assert!(
        lines_for(&audit, &open_id).is_empty(),
        "allowed requests are not audited"
    );
}

#[tokio::test]
async fn monitor_mode_forwards_and_audits() {
    let (gw, up, audit) = start().await;

    // Policy-level monitor: the deny finding is only logged.
    let r = gw.get("/watch/x").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream(), "A");
    assert_eq!(up.count(), 1);
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&audit, "monitored request", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["action"], "monitor");
    assert_eq!(line["route"], "watched");
    assert_eq!(line["client_ip"], "127.0.0.1");
    assert_eq!(line["findings"][0]["rule"], "ip.deny");
    assert_eq!(line["findings"][0]["mode"], "monitor");

    // Check-level monitor: a method outside the list passes, logged.
    let r = post(gw.addr, "/methods-watch/x", "data").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.last().body.as_ref(), b"data");
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&audit, "monitored method", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["action"], "monitor");
    assert_eq!(line["findings"][0]["rule"], "limits.method");
}

#[tokio::test]
async fn request_limits_refuse_methods_and_bodies() {
    let (gw, up, audit) = start().await;

    let r = post(gw.addr, "/limits/x", "small").await;
    let json = r.assert_problem(405);
    assert_eq!(json["rule"], "limits.method");
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&audit, "405", |l| l["request_id"] == id.as_str()).await;
    assert_eq!(line["action"], "block");
    assert_eq!(line["status"], 405);
    assert_eq!(line["method"], "POST");

    let r = h1(
        gw.addr,
        request("PUT", "/limits/x")
            .body(TestBody::full(vec![b'x'; 200]))
            .unwrap(),
    )
    .await;
    r.assert_problem(413);
    assert_eq!(up.started(), 0);

    // Within the limits: forwarded.
    let r = gw.get("/limits/x").await;
    assert_eq!(r.status, 200);
    let r = h1(
        gw.addr,
        request("PUT", "/limits/x")
            .body(TestBody::full(vec![b'y'; 100]))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(up.last().body.len(), 100);
}

#[tokio::test]
async fn ip_checks_use_the_client_behind_a_trusted_proxy() {
    let up = Upstream::start("A").await;
    let config = format!(
        r#"
listeners:
  - address: $LISTEN
trusted_proxies: ["127.0.0.1/32"]
upstreams:
  app:
    endpoints: ["{}"]
policies:
  p:
    ip_access:
      deny: ["203.0.113.0/24"]
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
    policy: p
audit_log:
  output: $DIR/audit.log
"#,
        up.url()
    );
    let gw = Gateway::start(&config).await;

    let r = h1(
        gw.addr,
        request("GET", "/x")
            .header("x-forwarded-for", "203.0.113.9")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    r.assert_problem(403);
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&gw.path("audit.log"), "block", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["client_ip"], "203.0.113.9");

    // A spoofed left-most entry does not hide the real client from the deny list.
    let r = h1(
        gw.addr,
        request("GET", "/x")
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    r.assert_problem(403);

    let r = h1(
        gw.addr,
        request("GET", "/x")
            .header("x-forwarded-for", "198.51.100.1")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn unrouted_requests_get_a_404_problem() {
    let (gw, up, _audit) = start().await;
    let r = gw.get("/nowhere").await;
    let json = r.assert_problem(404);
    assert_eq!(json["rule"], "route.none");
    // Segment-aware prefixes: /openx is not /open.
    gw.get("/openx").await.assert_problem(404);
    assert_eq!(up.started(), 0);
}

#[tokio::test]
async fn paths_are_normalized_before_routing_and_forwarding() {
    let (gw, up, _audit) = start().await;

    // Dot segments cannot walk from an open route into a denied one.
    for sneaky in [
        "/open/../deny/x",
        "/open/%2e%2e/deny/x",
        "/open/%2E%2e/deny/x",
        "/open/./../deny/x",
        "//deny/x",
        "/open/..//deny/x",
    ] {
        let r = gw.get(sneaky).await;
        assert_eq!(r.status, 403, "{sneaky} was routed elsewhere: {}", r.text());
    }
    assert_eq!(up.started(), 0);

    // The upstream gets the normalized path.
    let r = gw.get("/open//a/./b/../c?q=%2e").await;
    assert_eq!(r.status, 200);
    assert_eq!(up.last().uri, "/open/a/c?q=%2e");
    let r = gw.get("/open/%7Euser/%41").await;
    assert_eq!(r.status, 200);
    assert_eq!(up.last().uri, "/open/~user/A");

    // Broken escapes and encoded NUL are refused.
    for bad in ["/open/%00x", "/open/%zz", "/open/%4"] {
        let r = raw_request(
            gw.addr,
            format!("GET {bad} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        )
        .await
        .expect("a response");
        assert_eq!(r.status, 400, "{bad}: {}", r.head);
    }
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn the_access_log_has_a_line_per_request() {
    let up = Upstream::start("A").await;
    let config = checks_config(&up) + "access_log:\n  enabled: true\n  output: $DIR/access.log\n";
    let gw = Gateway::start(&config).await;
    let log = gw.path("access.log");

    let ok = gw.get("/open/page?x=1").await;
    let blocked = gw.get("/deny/page").await;
    for (reply, status, verdict, route) in [
        (&ok, 200, "allow", "open"),
        (&blocked, 403, "block", "denied"),
    ] {
        let id = reply.header("x-request-id").unwrap();
        let line =
            wait_for_json_line(&log, "an access line", |l| l["request_id"] == id.as_str()).await;
        assert_eq!(line["kind"], "access");
        assert_eq!(line["status"], status);
        assert_eq!(line["verdict"], verdict);
        assert_eq!(line["route"], route);
        assert_eq!(line["method"], "GET");
        assert_eq!(line["client_ip"], "127.0.0.1");
        assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
    }
    let _ = up;
}
