//! Rate limits end to end: the real binary, a real upstream, and for the
//! shared limits a real `redis-server` started here on a free loopback port.
//! Covers the 429 answer and its headers, each key type, monitor mode, two
//! gateway processes sharing one limit through Redis, and Redis killed
//! mid-test (fail_closed, local fallback) then restarted (recovery); the
//! same two on a real 3-master Redis Cluster.

mod support;

use support::*;

fn config(up: &Upstream, store: &str, limits: &str) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
admin:
  address: $ADMIN
audit_log:
  output: $DIR/audit.log
upstreams:
  app:
    endpoints: ["{}"]
{store}
policies:
  limited:
    rate_limits:
{limits}
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
    policy: limited
"#,
        up.url()
    )
}

async fn get_with(addr: std::net::SocketAddr, path: &str, header: Option<(&str, &str)>) -> Reply {
    let mut req = request("GET", path);
    if let Some((n, v)) = header {
        req = req.header(n, v);
    }
    h1(addr, req.body(TestBody::empty()).unwrap()).await
}

#[tokio::test]
async fn over_the_limit_answers_429_with_the_rate_limit_headers() {
    let up = Upstream::start("A").await;
    let limits = r#"
      limits:
        - name: per-ip
          key: [client_ip]
          rate: 3/1m
        - name: daily
          key: [client_ip, route]
          quota: 1000/1d
"#;
    let gw = Gateway::start(&config(&up, "", limits)).await;
    for i in 0..3u64 {
        // The first over HTTP/2: its answers get the fields the same way.
        let r = if i == 0 {
            h2c(
                gw.addr,
                request("GET", "/x").body(TestBody::empty()).unwrap(),
            )
            .await
        } else {
            gw.get("/x").await
        };
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        // Allowed answers carry the draft's fields too (`headers: always`):
        // the policy of every limit, and the one nearest to refusing.
        assert_eq!(
            r.header("ratelimit-policy").as_deref(),
            Some(r#""per-ip";q=3;w=60, "daily";q=1000;w=86400"#)
        );
        let current = r.header("ratelimit").unwrap();
        assert!(
            current.starts_with(&format!(r#""per-ip";r={};t="#, 2 - i)),
            "request {i}: {current}"
        );
        assert!(r.header("retry-after").is_none());
    }
    let r = gw.get("/x").await;
    let json = r.assert_problem(429);
    assert_eq!(json["rule"], "limits.rate");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (15..=20).contains(&retry),
        "one request per 20 s: retry after {retry}"
    );
    assert_eq!(
        r.header("ratelimit-policy").as_deref(),
        Some(r#""per-ip";q=3;w=60, "daily";q=1000;w=86400"#)
    );
    let current = r.header("ratelimit").unwrap();
    assert!(current.starts_with(r#""per-ip";r=0;t="#), "{current}");
    assert_eq!(
        up.count(),
        3,
        "the refused request never reached the upstream"
    );
    let audit = wait_for_json_line(&gw.path("audit.log"), "the limited request", |l| {
        l["kind"] == "audit"
    })
    .await;
    assert_eq!(audit["findings"][0]["rule"], "limits.rate");
    let metrics = gw.admin_get("/metrics").await.text();
    assert!(
        metrics.contains(
            r#"portcullis_rate_limit_decisions_total{limit="per-ip",result="limited"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn rate_limit_headers_can_be_kept_to_refusals_or_off() {
    let up = Upstream::start("A").await;
    for (setting, on_refusal) in [("refused", true), ("never", false)] {
        let limits = format!(
            r#"
      headers: {setting}
      limits:
        - name: per-ip
          key: [client_ip]
          rate: 1/1m
"#
        );
        let gw = Gateway::start(&config(&up, "", &limits)).await;
        let r = gw.get("/").await;
        assert_eq!(r.status, 200);
        assert!(
            r.header("ratelimit").is_none() && r.header("ratelimit-policy").is_none(),
            "{setting}: not on an allowed answer"
        );
        let r = gw.get("/").await;
        r.assert_problem(429);
        assert!(
            r.header("retry-after").is_some(),
            "{setting}: always on a 429"
        );
        assert_eq!(r.header("ratelimit").is_some(), on_refusal, "{setting}");
        assert_eq!(
            r.header("ratelimit-policy").is_some(),
            on_refusal,
            "{setting}"
        );
    }
}

#[tokio::test]
async fn each_key_type_counts_separately() {
    let up = Upstream::start("A").await;
    let limits = r#"
      limits:
        - name: tenant
          key: [header:x-tenant]
          rate: 1/1m
        - name: apikey
          key: [api_key:x-api-key]
          rate: 1/1m
        - name: token
          key: [token]
          rate: 1/1m
        - name: user
          key: [query:user]
          rate: 1/1m
        - name: login
          key: [body:/username, client_ip]
          rate: 1/1m
          methods: [POST]
"#;
    let gw = Gateway::start(&config(&up, "", limits)).await;
    for (header, a, b) in [
        ("x-tenant", "acme", "globex"),
        ("x-api-key", "key-1", "key-2"),
        ("authorization", "Bearer t1", "Bearer t2"),
    ] {
        assert_eq!(
            get_with(gw.addr, "/", Some((header, a))).await.status,
            200,
            "{header} first"
        );
        assert_eq!(
            get_with(gw.addr, "/", Some((header, a))).await.status,
            429,
            "{header} again"
        );
        assert_eq!(
            get_with(gw.addr, "/", Some((header, b))).await.status,
            200,
            "{header} other value"
        );
    }
    assert_eq!(gw.get("/?user=bob").await.status, 200);
    assert_eq!(gw.get("/?user=bob").await.status, 429);
    assert_eq!(gw.get("/?user=eve").await.status, 200);
    // A request without any of the key parts is not limited by them.
    for _ in 0..3 {
        assert_eq!(gw.get("/").await.status, 200);
    }
    let login = |user: &'static str| async move {
        h1(
            gw.addr,
            request("POST", "/login")
                .header("content-type", "application/json")
                .body(TestBody::full(format!(
                    r#"{{"username":"{user}","password":"x"}}"#
                )))
                .unwrap(),
        )
        .await
    };
    assert_eq!(login("alice").await.status, 200);
    let r = login("alice").await;
    assert_eq!(r.status, 429);
    assert!(r.header("ratelimit").unwrap().starts_with(r#""login";"#));
    assert_eq!(login("bob").await.status, 200);
    assert!(
        up.last().body.starts_with(br#"{"username":"bob""#),
        "the body read for the key is forwarded"
    );
}

#[tokio::test]
async fn monitor_mode_logs_and_forwards() {
    let up = Upstream::start("A").await;
    let limits = r#"
      mode: monitor
      limits:
        - name: per-ip
          key: [client_ip]
          rate: 1/1m
"#;
    let gw = Gateway::start(&config(&up, "", limits)).await;
    for _ in 0..3 {
        assert_eq!(gw.get("/").await.status, 200);
    }
    let audit = wait_for_json_line(&gw.path("audit.log"), "the limited request", |l| {
        l["kind"] == "audit"
    })
    .await;
    assert_eq!(audit["action"], "monitor");
    assert_eq!(audit["findings"][0]["rule"], "limits.rate");
}

/// The Redis store block with short timeouts, so outages show quickly.
fn redis_store(port: u16) -> String {
    format!(
        "{}    timeout: 200ms\n    retry_interval: 200ms\n",
        redis_store_block(port)
    )
}

/// The `closed` (fail_closed, 100/1s) limit passes, and the `open`
/// (fail_open, 1/1m) limit on `x-open: key` admits one request.
async fn closed_and_open_limits_apply(gw: &Gateway, key: &str) {
    assert_eq!(
        get_with(gw.addr, "/", Some(("x-closed", "1"))).await.status,
        200
    );
    assert_eq!(
        get_with(gw.addr, "/", Some(("x-open", key))).await.status,
        200
    );
    assert_eq!(
        get_with(gw.addr, "/", Some(("x-open", key))).await.status,
        429
    );
}

/// After the store is back: the fail_closed limit passes again, the store
/// is reported up, and the fail_open limit applies again (on a fresh key).
async fn limits_recover(gw: &Gateway, what: &str) {
    eventually(what, DEADLINE, || async {
        get_with(gw.addr, "/", Some(("x-closed", "1"))).await.status == 200
    })
    .await;
    let metrics = gw.admin_get("/metrics").await.text();
    assert!(
        metrics.contains("portcullis_rate_limit_store_up 1"),
        "{metrics}"
    );
    closed_and_open_limits_apply(gw, "2").await;
}

#[tokio::test]
async fn two_gateways_share_one_limit_through_redis() {
    let redis = RedisServer::start_on(free_port());
    let up = Upstream::start("A").await;
    let limits = r#"
      limits:
        - name: global
          key: [route]
          rate: 10/1m
"#;
    let template = config(&up, &redis_store(redis.port), limits);
    let a = Gateway::start(&template).await;
    let b = Gateway::start(&template).await;
    let mut passed = 0;
    for i in 0..30 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let r = gw.get("/").await;
        match r.status.as_u16() {
            200 => passed += 1,
            429 => {}
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    // `lease: 1` (the default) is exact: one limit across both instances.
    assert_eq!(passed, 10, "both gateways together admit the one limit");
    assert_eq!(up.count(), 10);
}

#[tokio::test]
async fn redis_down_applies_the_fail_mode_then_recovers() {
    let mut redis = RedisServer::start_on(free_port());
    let port = redis.port;
    let up = Upstream::start("A").await;
    let limits = r#"
      limits:
        - name: closed
          key: [header:x-closed]
          rate: 100/1s
          on_store_error: fail_closed
        - name: local
          key: [header:x-local]
          rate: 2/1m
          on_store_error: local
        - name: open
          key: [header:x-open]
          rate: 1/1m
          on_store_error: fail_open
"#;
    let gw = Gateway::start(&config(&up, &redis_store(port), limits)).await;
    closed_and_open_limits_apply(&gw, "1").await;
    redis.stop();

    let r = get_with(gw.addr, "/", Some(("x-closed", "1"))).await;
    let json = r.assert_problem(503);
    assert_eq!(json["rule"], "limits.store_unavailable");
    // fail_open: the limit is not applied while Redis is down.
    assert_eq!(
        get_with(gw.addr, "/", Some(("x-open", "1"))).await.status,
        200
    );
    // local: this instance's own memory store keeps limiting.
    assert_eq!(
        get_with(gw.addr, "/", Some(("x-local", "1"))).await.status,
        200
    );
    assert_eq!(
        get_with(gw.addr, "/", Some(("x-local", "1"))).await.status,
        200
    );
    assert_eq!(
        get_with(gw.addr, "/", Some(("x-local", "1"))).await.status,
        429
    );
    let metrics = gw.admin_get("/metrics").await.text();
    assert!(
        metrics.contains("portcullis_rate_limit_store_up 0"),
        "{metrics}"
    );
    assert!(gw.stderr().contains("unreachable") || gw.stdout().contains("unreachable"));

    let _redis = RedisServer::start_on(port);
    // The fail_open limit applies again (it was skipped while Redis was down).
    limits_recover(&gw, "fail_closed limit passes again once Redis is back").await;
}

fn cluster_store(cluster: &RedisCluster) -> String {
    let seeds: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        r#"
rate_limit_store:
  backend: redis
  redis:
    cluster: [{}]
    timeout: 300ms
    retry_interval: 200ms
"#,
        seeds.join(", ")
    )
}

#[tokio::test]
async fn two_gateways_share_limits_through_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let up = Upstream::start("A").await;
    // Three limits per request, on keys in different slots (and so, most
    // likely, on different masters).
    let limits = r#"
      limits:
        - name: global
          key: [route]
          rate: 10/1m
        - name: per-ip
          key: [client_ip]
          rate: 1000/1m
        - name: per-client
          key: [header:x-client]
          quota: 1000/1d
"#;
    let template = config(&up, &cluster_store(&cluster), limits);
    let a = Gateway::start(&template).await;
    let b = Gateway::start(&template).await;
    let before = cluster.calls("evalsha");
    let mut passed = 0;
    for i in 0..30 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let r = get_with(gw.addr, "/", Some(("x-client", "c1"))).await;
        match r.status.as_u16() {
            200 => passed += 1,
            429 => {}
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    assert_eq!(passed, 10, "both gateways together admit the one limit");
    assert_eq!(up.count(), 10);
    // One EVALSHA per limit and request, each on its key's node, all sent
    // at once, except where a denial is remembered: the global key's first
    // denial on each gateway is kept until its Retry-After (the other two
    // keys are still charged). 10 × 3 + 2 × 3 + 18 × 2 = 72, plus a ban
    // read per gateway per 500 ms (flags are cached that long).
    let evalsha = cluster.calls("evalsha") - before;
    assert!(
        (72..=76).contains(&evalsha),
        "{evalsha} EVALSHA for 30 requests"
    );
}

#[tokio::test]
async fn a_redis_cluster_master_down_applies_the_fail_mode_then_recovers() {
    let mut cluster = RedisCluster::start();
    let up = Upstream::start("A").await;
    let limits = r#"
      limits:
        - name: closed
          key: [header:x-closed]
          rate: 100/1s
          on_store_error: fail_closed
        - name: open
          key: [header:x-open]
          rate: 1/1m
          on_store_error: fail_open
"#;
    let gw = Gateway::start(&config(&up, &cluster_store(&cluster), limits)).await;
    closed_and_open_limits_apply(&gw, "1").await;
    // A master without replicas down: its slots are unserved, and with
    // full coverage required the whole cluster answers CLUSTERDOWN.
    cluster.kill(1);
    eventually("fail_closed answers 503", DEADLINE, || async {
        get_with(gw.addr, "/", Some(("x-closed", "1"))).await.status == 503
    })
    .await;
    let r = get_with(gw.addr, "/", Some(("x-closed", "1"))).await;
    let json = r.assert_problem(503);
    assert_eq!(json["rule"], "limits.store_unavailable");
    assert_eq!(
        get_with(gw.addr, "/", Some(("x-open", "1"))).await.status,
        200
    );
    let metrics = gw.admin_get("/metrics").await.text();
    assert!(
        metrics.contains("portcullis_rate_limit_store_up 0"),
        "{metrics}"
    );

    cluster.restart(1);
    limits_recover(
        &gw,
        "fail_closed limit passes again once the master is back",
    )
    .await;
}

const HMAC_SECRET: &str = "a-rate-limit-test-secret-of-32-bytes!";

fn token(claims: serde_json::Value, secret: &str) -> String {
    portcullis_identity::signing::SigningKey::Hmac(secret.as_bytes().to_vec()).sign(
        "HS256",
        &serde_json::json!({"kid": "hs"}),
        &claims,
    )
}

fn caller(sub: &str, tenant: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"sub": sub, "tenant": tenant, "exp": exp});
    format!("Bearer {}", token(claims, HMAC_SECRET))
}

/// Identity in `monitor` mode lets unauthenticated and forged requests
/// through (with a finding), which is where a principal key must not read
/// anything unverified.
fn identity_config(up: &Upstream) -> String {
    let config = config(
        up,
        "",
        r#"
      limits:
        - name: per-caller
          key: [principal]
          rate: 2/1m
        - name: per-tenant
          key: [claim:tenant]
          rate: 3/1m
          unauthenticated: skip
"#,
    );
    config.replace(
        "    rate_limits:\n",
        &format!(
            r#"    identity:
      mode: monitor
      require: [jwt]
      jwt:
        algorithms: [HS256]
        keys:
          - secret: {HMAC_SECRET}
            kid: hs
    rate_limits:
"#
        ),
    )
}

#[tokio::test]
async fn principal_and_claim_keys_read_the_verified_caller_only() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&identity_config(&up)).await;
    let alice = caller("alice", "acme");
    let bob = caller("bob", "acme");
    let carol = caller("carol", "globex");
    let addr = gw.addr;
    let send = |auth: Option<&str>| {
        let auth = auth.map(str::to_owned);
        async move { get_with(addr, "/", auth.as_deref().map(|a| ("authorization", a))).await }
    };
    assert_eq!(send(Some(&alice)).await.status, 200);
    assert_eq!(send(Some(&alice)).await.status, 200);
    let r = send(Some(&alice)).await;
    r.assert_problem(429);
    assert!(
        r.header("ratelimit")
            .unwrap()
            .starts_with(r#""per-caller";r=0"#),
        "alice is over her own limit"
    );
    // Another caller of the same tenant: own principal counter, shared tenant.
    assert_eq!(send(Some(&bob)).await.status, 200);
    let r = send(Some(&bob)).await;
    r.assert_problem(429);
    assert!(
        r.header("ratelimit")
            .unwrap()
            .starts_with(r#""per-tenant";r=0"#),
        "acme used its 3: {:?}",
        r.header("ratelimit")
    );
    assert_eq!(send(Some(&carol)).await.status, 200, "another tenant");

    // Unauthenticated: counted per client IP under per-caller
    // (`unauthenticated: client_ip`), not at all under per-tenant (`skip`).
    // A forged token (wrong key) names carol of globex: it is not verified,
    // so it is just another anonymous request from this IP.
    let forged = format!(
        "Bearer {}",
        token(
            serde_json::json!({"sub": "carol", "tenant": "globex", "exp": 4_000_000_000u64}),
            "some-other-secret-of-at-least-32-bytes"
        )
    );
    assert_eq!(send(None).await.status, 200);
    assert_eq!(send(Some(&forged)).await.status, 200);
    let r = send(None).await;
    r.assert_problem(429);
    assert!(
        r.header("ratelimit")
            .unwrap()
            .starts_with(r#""per-caller";r=0"#)
    );
    // carol's own counter was not charged by the forged requests.
    assert_eq!(send(Some(&carol)).await.status, 200);
    assert_eq!(send(Some(&carol)).await.status, 429);
}

#[test]
fn identity_keys_need_an_identity_block() {
    let dir = tempdir();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(
        &path,
        r#"
listeners:
  - address: 127.0.0.1:0
upstreams:
  app:
    endpoints: ["http://127.0.0.1:9"]
policies:
  limited:
    rate_limits:
      limits:
        - name: per-caller
          key: [principal]
          rate: 2/1m
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
    policy: limited
"#,
    )
    .unwrap();
    let out = run_cli(&["validate", "--config", path.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("policies.limited.rate_limits.limits[0].key")
            && stderr.contains("identity")
            && stderr.contains("gateway.yaml:12:"),
        "{stderr}"
    );
}

const EXTENDED_SPEC: &str = r#"
openapi: 3.0.3
info: {title: extensions, version: "1"}
paths:
  /search:
    get:
      operationId: search
      x-portcullis-rate-limit:
        key: [client_ip]
        rate: 2/1m
      responses:
        "200": {description: ok}
  /items:
    get:
      operationId: items
      x-portcullis-rate-limit:
        - name: items
          key: [client_ip]
          rate: 1/1m
      responses:
        "200": {description: ok}
  /signin:
    post:
      operationId: signin
      x-portcullis-login:
        username: body:/email
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                email: {type: string}
                password: {type: string}
      responses:
        "200": {description: ok}
        "401": {description: wrong password}
"#;

fn extended_config(up: &Upstream) -> String {
    extended_config_text(&up.url())
}

fn extended_config_text(up_url: &str) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  app:
    endpoints: ["{}"]
policies:
  api:
    openapi:
      spec: spec.yaml
      unknown_headers: allow
      validate_responses: false
    rate_limits:
      limits:
        # Replaces the spec's limit of the same name, whole (config wins).
        - name: items
          key: [client_ip]
          rate: 3/1m
          operations: [items]
    brute_force:
      per_ip_username: 2/1m
      lockout_time: 1m
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
    policy: api
"#,
        up_url
    )
}

#[tokio::test]
async fn limits_and_logins_come_from_the_spec_extensions() {
    let up = Upstream::start("A").await;
    let dir = tempdir();
    std::fs::write(dir.path().join("spec.yaml"), EXTENDED_SPEC).unwrap();
    let gw = Gateway::start_in(dir, &extended_config(&up), &[]).await;
    for _ in 0..2 {
        assert_eq!(gw.get("/search").await.status, 200);
    }
    let r = gw.get("/search").await;
    r.assert_problem(429);
    assert_eq!(
        r.header("ratelimit-policy").as_deref(),
        Some(r#""search";q=2;w=60"#),
        "an unnamed spec limit is named after its operation"
    );
    // The config's `items` (3/1m) replaces the spec's (1/1m).
    for _ in 0..3 {
        assert_eq!(gw.get("/items").await.status, 200);
    }
    gw.get("/items").await.assert_problem(429);

    up.set_status(401);
    let signin = |email: &'static str| async move {
        h1(
            gw.addr,
            request("POST", "/signin")
                .header("content-type", "application/json")
                .body(TestBody::full(format!(
                    r#"{{"email":"{email}","password":"guess"}}"#
                )))
                .unwrap(),
        )
        .await
    };
    for _ in 0..2 {
        let r = signin("ada@example.com").await;
        assert_eq!(r.status, 401, "{}", r.text());
    }
    let r = signin("ada@example.com").await;
    assert_eq!(r.assert_problem(429)["rule"], "abuse.brute_force");
    assert_eq!(
        signin("bob@example.com").await.status,
        401,
        "the username is the spec's body:/email: another one is not locked"
    );
}

#[test]
fn a_bad_spec_limit_names_the_spec_file_line_and_field() {
    let up_url = "http://127.0.0.1:9";
    let dir = tempdir();
    std::fs::write(
        dir.path().join("spec.yaml"),
        EXTENDED_SPEC.replace(
            "rate: 2/1m",
            "rate: 2/1m\n        burst: 0\n        quota: 5/1m",
        ),
    )
    .unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::write(
        &config,
        extended_config_text(up_url).replace("$LISTEN", "127.0.0.1:0"),
    )
    .unwrap();
    let out = run_cli(&["validate", "--config", config.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("spec.yaml:8:")
            && stderr.contains("paths./search.get.x-portcullis-rate-limit")
            && stderr.contains("exactly one of `rate`"),
        "{stderr}"
    );
}
