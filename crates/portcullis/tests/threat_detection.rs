//! Threat detection through the real binary: attacks blocked with 403 in
//! the query, a header, a cookie, a JSON body, a form, a multipart file
//! name and an XML document (XXE); look-alike values forwarded; monitor mode
//! forwards and audits; an exception scoped to one location lets that value
//! through while the same payload elsewhere is blocked; the paranoia level
//! decides a paranoia-3 rule.

mod support;

use std::path::PathBuf;

use support::*;

fn config(up: &Upstream) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  app:
    endpoints: ["{}"]
policies:
  detect:
    threat_detection:
      exceptions:
        - rules: ["sqli.*"]
          locations: [query.comment]
          routes: [detect]
  watch:
    threat_detection:
      mode: monitor
  strict2:
    threat_detection:
      paranoia_level: 2
      anomaly_threshold: 3
  strict3:
    threat_detection:
      paranoia_level: 3
      anomaly_threshold: 3
routes:
  - name: detect
    match:
      path_prefix: /det
    upstream: app
    policy: detect
  - name: watched
    match:
      path_prefix: /watch
    upstream: app
    policy: watch
  - name: pl2
    match:
      path_prefix: /pl2
    upstream: app
    policy: strict2
  - name: pl3
    match:
      path_prefix: /pl3
    upstream: app
    policy: strict3
audit_log:
  output: $DIR/audit.log
"#,
        up.url()
    )
}

async fn start() -> (Gateway, Upstream, PathBuf) {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&config(&up)).await;
    let audit = gw.path("audit.log");
    (gw, up, audit)
}

fn encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn send(gw: &Gateway, req: http::request::Builder, body: impl Into<bytes::Bytes>) -> Reply {
    h1(gw.addr, req.body(TestBody::full(body)).unwrap()).await
}

/// Asserts a 403 naming `rule`, never forwarded, and returns the finding of
/// that rule from the request's audit line.
async fn assert_blocked(
    gw: &Gateway,
    up: &Upstream,
    audit: &std::path::Path,
    reply: &Reply,
    rule: &str,
) -> serde_json::Value {
    let json = reply.assert_problem(403);
    assert_eq!(json["rule"], rule, "{json}");
    assert_eq!(
        up.count(),
        0,
        "a blocked request never reaches the upstream"
    );
    let id = reply.header("x-request-id").unwrap();
    let line = wait_for_json_line(audit, "the blocked request", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["action"], "block", "{line}");
    let _ = gw;
    line["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
        .cloned()
        .unwrap_or_else(|| panic!("no {rule} finding in {line}"))
}

#[tokio::test]
async fn sql_injection_in_the_query_is_blocked_and_audited_with_an_excerpt() {
    let (gw, up, audit) = start().await;
    let r = gw
        .get(&format!("/det/users?q={}", encoded("x' or '1'='1")))
        .await;
    let finding = assert_blocked(&gw, &up, &audit, &r, "sqli.tautology").await;
    assert_eq!(finding["check"], "threat_detection");
    assert_eq!(finding["location"], "query.q");
    assert_eq!(finding["mode"], "block");
    assert!(
        finding["excerpt"].as_str().unwrap().contains("or '1'='1"),
        "{finding}"
    );
    assert!(
        !r.text().contains("1'='1"),
        "the value is never echoed to the client"
    );
}

#[tokio::test]
async fn attacks_in_headers_and_cookies_are_blocked() {
    let (gw, up, audit) = start().await;
    let r = send(
        &gw,
        request("GET", "/det/a").header("X-Comment", "<script>alert(1)</script>"),
        "",
    )
    .await;
    let finding = assert_blocked(&gw, &up, &audit, &r, "xss.script_tag").await;
    assert_eq!(finding["location"], "header.x-comment");

    let r = send(
        &gw,
        request("GET", "/det/a").header("Cookie", "theme=dark; file=../../../../etc/passwd"),
        "",
    )
    .await;
    let finding = assert_blocked(&gw, &up, &audit, &r, "path.traversal").await;
    assert_eq!(finding["location"], "cookie.file");

    let r = send(
        &gw,
        request("GET", "/det/a").header("User-Agent", "sqlmap/1.7.2#stable (https://sqlmap.org)"),
        "",
    )
    .await;
    assert_blocked(&gw, &up, &audit, &r, "scanner.user_agent").await;
}

#[tokio::test]
async fn cookies_with_non_ascii_bytes_and_escaped_breakouts_are_inspected() {
    let (gw, up, audit) = start().await;
    // Full-width angle brackets: the cookie header is not visible ASCII.
    let cookie =
        http::HeaderValue::from_bytes("＜script ＞alert(1)＜/script＞=value".as_bytes()).unwrap();
    let r = send(&gw, request("GET", "/det/a").header("Cookie", cookie), "").await;
    let finding = assert_blocked(&gw, &up, &audit, &r, "xss.script_tag").await;
    assert!(
        finding["location"].as_str().unwrap().starts_with("cookie."),
        "{finding}"
    );

    // A quote escaped with a backslash still closes a standard SQL literal.
    let r = send(
        &gw,
        request("POST", "/det/login").header("Content-Type", "application/x-www-form-urlencoded"),
        format!("email={}", encoded("admin@example.com\\' or json (id);")),
    )
    .await;
    let finding = assert_blocked(&gw, &up, &audit, &r, "sqli.boolean").await;
    assert_eq!(finding["location"], "form.email");

    let r = gw
        .get(&format!(
            "/det/a?ssrf={}",
            encoded("acap://①②⑦.⓪.⓪.①/admin")
        ))
        .await;
    assert_blocked(&gw, &up, &audit, &r, "ssrf.loopback").await;
}

#[tokio::test]
async fn attacks_in_json_form_and_multipart_bodies_are_blocked() {
    let (gw, up, audit) = start().await;
    let json = r#"{"user":{"name":"Ann","bio":"x; cat /etc/passwd"}}"#;
    let r = send(
        &gw,
        request("POST", "/det/users").header("Content-Type", "application/json"),
        json,
    )
    .await;
    let finding = assert_blocked(&gw, &up, &audit, &r, "rce.command_chain").await;
    assert_eq!(finding["location"], "body:/user/bio");

    let form = format!(
        "name=Ann&q={}",
        encoded("1 UNION ALL SELECT username, password FROM users--")
    );
    let r = send(
        &gw,
        request("POST", "/det/search").header("Content-Type", "application/x-www-form-urlencoded"),
        form,
    )
    .await;
    let finding = assert_blocked(&gw, &up, &audit, &r, "sqli.union").await;
    assert_eq!(finding["location"], "form.q");

    let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n\
                     --XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"../../var/www/shell.php\"\r\n\
                     Content-Type: image/png\r\n\r\nPNGDATA\r\n--XyZ--\r\n";
    let r = send(
        &gw,
        request("POST", "/det/upload").header("Content-Type", "multipart/form-data; boundary=XyZ"),
        multipart,
    )
    .await;
    let json = r.assert_problem(403);
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&audit, "multipart block", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    let findings = line["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .all(|f| f["location"] == "multipart.photo.filename"),
        "{line}"
    );
    assert!(
        findings.iter().any(|f| f["rule"] == "php.script_upload"),
        "{line}"
    );
    assert!(findings.iter().any(|f| f["rule"] == json["rule"]), "{line}");
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn xml_external_entities_are_blocked() {
    let (gw, up, audit) = start().await;
    let doc = r#"<?xml version="1.0"?><!DOCTYPE order [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><order><note>&xxe;</note></order>"#;
    let r = send(
        &gw,
        request("POST", "/det/orders").header("Content-Type", "application/xml"),
        doc,
    )
    .await;
    let finding = assert_blocked(&gw, &up, &audit, &r, "xxe.external_entity").await;
    assert_eq!(finding["location"], "body");
}

#[tokio::test]
async fn look_alike_values_are_forwarded() {
    let (gw, up, _audit) = start().await;
    let json = r#"{"name":"Miles O'Brien","note":"drop off at 5; select a plan","tags":["union station","cat food & dog toys"]}"#;
    let r = send(
        &gw,
        request("POST", "/det/users").header("Content-Type", "application/json"),
        json,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = gw
        .get(&format!(
            "/det/search?q={}&name={}",
            encoded("where is my order?"),
            encoded("D'Angelo")
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn monitor_mode_forwards_and_audits() {
    let (gw, up, audit) = start().await;
    let r = gw
        .get(&format!(
            "/watch/a?q={}",
            encoded("<script>alert(1)</script>")
        ))
        .await;
    assert_eq!(r.status, 200, "monitor mode forwards");
    assert_eq!(up.count(), 1);
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&audit, "the monitored request", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["action"], "monitor", "{line}");
    assert_eq!(line["findings"][0]["rule"], "xss.script_tag", "{line}");
    assert_eq!(line["findings"][0]["mode"], "monitor", "{line}");
}

#[tokio::test]
async fn an_exception_excuses_one_location_only() {
    let (gw, up, audit) = start().await;
    let payload = encoded("1' or '1'='1");
    let r = gw.get(&format!("/det/posts?comment={payload}")).await;
    assert_eq!(
        r.status, 200,
        "query.comment is excused from sqli.* on this route"
    );
    assert_eq!(up.count(), 1);
    let r = gw.get(&format!("/det/posts?title={payload}")).await;
    let json = r.assert_problem(403);
    assert_eq!(json["rule"], "sqli.tautology");
    assert_eq!(up.count(), 1, "the same payload elsewhere is blocked");
    let _ = audit;
}

#[tokio::test]
async fn the_paranoia_level_decides_a_paranoia_three_rule() {
    let (gw, up, audit) = start().await;
    let markup = encoded("<b>bold</b> text");
    let r = gw.get(&format!("/pl2/a?q={markup}")).await;
    assert_eq!(r.status, 200, "xss.html_tag is a paranoia-3 rule");
    assert_eq!(up.count(), 1);
    let r = gw.get(&format!("/pl3/a?q={markup}")).await;
    let json = r.assert_problem(403);
    assert_eq!(json["rule"], "xss.html_tag");
    assert_eq!(up.count(), 1);
    let id = r.header("x-request-id").unwrap();
    let line = wait_for_json_line(&audit, "the paranoia-3 block", |l| {
        l["request_id"] == id.as_str()
    })
    .await;
    assert_eq!(line["findings"][0]["severity"], "warning", "{line}");
}
