//! OAuth2 token introspection (RFC 7662) through the real binary, against a
//! real introspection endpoint in this process that checks the gateway's
//! client authentication, counts calls, can revoke tokens, and can go down
//! (hang past the gateway's timeout). Covers: opaque tokens mapped to the
//! same principal the JWT path builds (OpenAPI scopes, BOLA, upstream
//! headers), inactive tokens, the cache (no second call), the TTL bounded
//! by the cache TTL and by `exp`, negative caching, a wrong client secret,
//! single-flight, and the circuit breaker opening, failing fast and
//! recovering.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: introspection test, version: "1"}
servers: [{url: /v1}]
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows:
        clientCredentials:
          tokenUrl: https://idp.test/token
          scopes: {users:read: read users, users:admin: any user}
security:
  - oauth: []
paths:
  /users/{userId}:
    get:
      operationId: getUser
      security:
        - oauth: [users:read]
      parameters:
        - {name: userId, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
  /ping:
    get:
      operationId: ping
      responses: {"200": {description: ok}}
"#;

const CLIENT_ID: &str = "portcullis";
const CLIENT_SECRET: &str = "introspection-client-secret-7d1f";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An RFC 7662 endpoint on a loopback port. Tokens it does not know are
/// inactive; it answers 401 to a client that does not authenticate as
/// `CLIENT_ID` / `CLIENT_SECRET` (Basic or in the body); while `down`, it
/// accepts and never answers.
struct Idp {
    url: String,
    tokens: Arc<Mutex<HashMap<String, Value>>>,
    calls: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    delay_ms: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn client_authenticated(headers: &http::HeaderMap, form: &HashMap<String, String>) -> bool {
    use base64::Engine;
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match basic {
        Some(pair) => pair == format!("{CLIENT_ID}:{CLIENT_SECRET}"),
        None => {
            form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        }
    }
}

impl Idp {
    async fn start() -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tokens: Arc<Mutex<HashMap<String, Value>>> = Default::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicUsize::new(0));
        let state = (
            tokens.clone(),
            calls.clone(),
            down.clone(),
            delay_ms.clone(),
        );
        let task = serve_http1(
            listener,
            move |req: http::Request<hyper::body::Incoming>| {
                let (tokens, calls, down, delay) = state.clone();
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    if down.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    let delay = delay.load(Ordering::SeqCst) as u64;
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.unwrap().to_bytes();
                    let form: HashMap<String, String> =
                        form_urlencoded::parse(&body).into_owned().collect();
                    let (status, answer) = if parts.method != http::Method::POST
                        || parts.headers.get("content-type").map(|v| v.as_bytes())
                            != Some(b"application/x-www-form-urlencoded")
                    {
                        (400, json!({"error": "invalid_request"}))
                    } else if !client_authenticated(&parts.headers, &form) {
                        (401, json!({"error": "invalid_client"}))
                    } else {
                        let token = form.get("token").cloned().unwrap_or_default();
                        let answer = tokens
                            .lock()
                            .unwrap()
                            .get(&token)
                            .cloned()
                            .unwrap_or(json!({"active": false}));
                        (200, answer)
                    };
                    let mut r = http::Response::new(Full::new(Bytes::from(answer.to_string())));
                    *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                    r.headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    r
                }
            },
        );
        Idp {
            url: format!("http://{addr}/oauth2/introspect"),
            tokens,
            calls,
            down,
            delay_ms,
            task,
        }
    }

    fn issue(&self, token: &str, sub: &str, scope: &str, exp: u64) {
        self.tokens.lock().unwrap().insert(
            token.into(),
            json!({"active": true, "sub": sub, "scope": scope, "client_id": "web-app",
                   "iss": "https://idp.test", "aud": ["shop"], "exp": exp, "tenant": "acme"}),
        );
    }

    fn revoke(&self, token: &str) {
        self.tokens.lock().unwrap().remove(token);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// `extra` goes into the `introspection` block (indented 8 spaces).
fn config(up: &Upstream, idp: &Idp, extra: &str) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  app:
    endpoints: ["{up}"]
policies:
  shop:
    openapi:
      spec: spec.yaml
      unknown_headers: allow
      validate_responses: false
    identity:
      introspection:
        url: {url}
        client_id: {CLIENT_ID}
        client_secret_file: secret.txt
        issuers: [https://idp.test]
        audiences: [shop]
{extra}
      upstream_headers:
        claims:
          x-auth-tenant: tenant
      operations:
        getUser:
          bola:
            - param: path.userId
              claim: sub
              unless_scopes: [users:admin]
routes:
  - name: shop
    match:
      path_prefix: /v1
    upstream: app
    policy: shop
audit_log:
  output: $DIR/audit.log
"#,
        up = up.url(),
        url = idp.url,
    )
}

async fn start(idp: &Idp, extra: &str, secret: &str) -> (Gateway, Upstream) {
    let up = Upstream::start("app").await;
    let dir = tempdir();
    std::fs::write(dir.path().join("spec.yaml"), SPEC).unwrap();
    std::fs::write(dir.path().join("secret.txt"), format!("{secret}\n")).unwrap();
    let gw = Gateway::start_in(dir, &config(&up, idp, extra), &[]).await;
    (gw, up)
}

async fn get(gw: &Gateway, path: &str, token: Option<&str>) -> Reply {
    let mut b = request("GET", path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let mut c = H1Connection::open(gw.addr).await;
    c.send(b.body(TestBody::empty()).unwrap()).await.unwrap()
}

fn logs(gw: &Gateway) -> String {
    format!("{}{}", gw.stdout(), gw.stderr())
}

#[tokio::test]
async fn opaque_tokens_get_the_jwt_principal_scopes_and_bola_and_answers_are_cached() {
    let idp = Idp::start().await;
    let (gw, up) = start(&idp, "", CLIENT_SECRET).await;
    let exp = now() + 600;
    idp.issue("opaque-alice-1", "alice", "users:read", exp);
    idp.issue("opaque-nobody-2", "nobody", "profile", exp);

    // Active, with the scope the operation requires; spoofed headers stripped.
    let mut b = request("GET", "/v1/users/alice");
    b = b
        .header("authorization", "Bearer opaque-alice-1")
        .header("x-auth-subject", "admin");
    let mut c = H1Connection::open(gw.addr).await;
    let r = c.send(b.body(TestBody::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = up.last();
    let subjects: Vec<_> = seen.headers.get_all("x-auth-subject").iter().collect();
    assert_eq!(subjects, vec!["alice"]);
    assert_eq!(seen.header("x-auth-scopes").as_deref(), Some("users:read"));
    assert_eq!(
        seen.header("x-auth-method").as_deref(),
        Some("introspection")
    );
    assert_eq!(seen.header("x-auth-tenant").as_deref(), Some("acme"));
    assert_eq!(idp.calls(), 1);

    // Cache hits: no further call, whatever the request.
    for _ in 0..5 {
        assert_eq!(
            get(&gw, "/v1/users/alice", Some("opaque-alice-1"))
                .await
                .status,
            200
        );
    }
    let r = get(&gw, "/v1/users/bob", Some("opaque-alice-1")).await;
    assert_eq!(r.assert_problem(403)["rule"], "auth.bola", "BOLA on sub");
    assert_eq!(idp.calls(), 1, "answers are cached");

    // Missing scope: 403 insufficient_scope.
    let r = get(&gw, "/v1/users/nobody", Some("opaque-nobody-2")).await;
    assert_eq!(r.assert_problem(403)["rule"], "auth.scope");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );
    // Any authenticated caller for the document-level requirement.
    assert_eq!(
        get(&gw, "/v1/ping", Some("opaque-nobody-2")).await.status,
        200
    );

    // Unknown (inactive) token: 401 invalid_token; the refusal is cached too.
    let calls = idp.calls();
    for _ in 0..3 {
        let r = get(&gw, "/v1/ping", Some("never-issued-token")).await;
        assert_eq!(r.assert_problem(401)["rule"], "auth.introspection.inactive");
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("invalid_token")
        );
    }
    assert_eq!(idp.calls(), calls + 1, "negative answers are cached");
    // No token at all: no call.
    let r = get(&gw, "/v1/ping", None).await;
    assert_eq!(r.assert_problem(401)["rule"], "auth.missing");
    assert_eq!(idp.calls(), calls + 1);

    // Tokens never reach the logs (fingerprints do).
    let audit = std::fs::read_to_string(gw.path("audit.log")).unwrap();
    for secret in ["never-issued-token", "opaque-alice-1", CLIENT_SECRET] {
        assert!(!audit.contains(secret), "{secret} in the audit log");
        assert!(!logs(&gw).contains(secret), "{secret} in the gateway's log");
    }
}

#[tokio::test]
async fn revoked_tokens_stop_working_after_the_cache_ttl_and_exp_bounds_it() {
    let idp = Idp::start().await;
    let extra = "        cache_ttl: 1s\n        negative_cache_ttl: 1s";
    let (gw, _up) = start(&idp, extra, CLIENT_SECRET).await;
    idp.issue("opaque-rev", "alice", "users:read", now() + 600);
    assert_eq!(
        get(&gw, "/v1/users/alice", Some("opaque-rev")).await.status,
        200
    );
    idp.revoke("opaque-rev");
    // Within the cache TTL the cached answer stands (documented)...
    assert_eq!(
        get(&gw, "/v1/users/alice", Some("opaque-rev")).await.status,
        200
    );
    assert_eq!(idp.calls(), 1);
    // ...past it, the endpoint is asked again and the revocation holds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get(&gw, "/v1/users/alice", Some("opaque-rev")).await;
    assert_eq!(r.assert_problem(401)["rule"], "auth.introspection.inactive");
    assert_eq!(idp.calls(), 2);
    // A re-issued token works again once the negative TTL ran out.
    idp.issue("opaque-rev", "alice", "users:read", now() + 600);
    let r = get(&gw, "/v1/users/alice", Some("opaque-rev")).await;
    assert_eq!(r.status, 401, "refusal cached for negative_cache_ttl");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(&gw, "/v1/users/alice", Some("opaque-rev")).await.status,
        200
    );
    drop(gw);

    // exp bounds the TTL: cache_ttl is 1 h, the token expires in ~2 s.
    let extra = "        cache_ttl: 1h\n        leeway: 0s";
    let (gw, _up) = start(&idp, extra, CLIENT_SECRET).await;
    let exp = now() + 2;
    idp.issue("opaque-exp", "alice", "users:read", exp);
    let before = idp.calls();
    assert_eq!(
        get(&gw, "/v1/users/alice", Some("opaque-exp")).await.status,
        200
    );
    assert_eq!(
        get(&gw, "/v1/users/alice", Some("opaque-exp")).await.status,
        200
    );
    assert_eq!(idp.calls(), before + 1, "cached");
    while now() <= exp + 1 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The endpoint still says active, but with an `exp` in the past.
    let r = get(&gw, "/v1/users/alice", Some("opaque-exp")).await;
    assert_eq!(r.assert_problem(401)["rule"], "auth.jwt.expired");
    assert_eq!(
        idp.calls(),
        before + 2,
        "the cached answer ended at exp, not after cache_ttl"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_with_a_clear_log_line() {
    let idp = Idp::start().await;
    let extra = "        client_auth: client_secret_post";
    let (gw, _up) = start(&idp, extra, "not-the-secret").await;
    idp.issue("opaque-x", "alice", "users:read", now() + 600);
    let r = get(&gw, "/v1/users/alice", Some("opaque-x")).await;
    assert_eq!(
        r.assert_problem(503)["rule"],
        "auth.introspection.unavailable"
    );
    eventually("the log line", Duration::from_secs(3), || async {
        logs(&gw).contains("refused the gateway's client credentials")
    })
    .await;
    let log = logs(&gw);
    assert!(!log.contains("not-the-secret"), "secret logged: {log}");
    assert!(!log.contains("opaque-x"), "token logged: {log}");
    drop(gw);

    // The right secret in the body (client_secret_post) works.
    let (gw, _up) = start(&idp, extra, CLIENT_SECRET).await;
    assert_eq!(
        get(&gw, "/v1/users/alice", Some("opaque-x")).await.status,
        200
    );
}

#[tokio::test]
async fn concurrent_requests_with_one_uncached_token_share_one_call() {
    let idp = Idp::start().await;
    let (gw, _up) = start(&idp, "", CLIENT_SECRET).await;
    idp.issue("opaque-burst", "alice", "users:read", now() + 600);
    idp.delay_ms.store(300, Ordering::SeqCst);
    let gw = Arc::new(gw);
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let gw = gw.clone();
            tokio::spawn(async move { get(&gw, "/v1/users/alice", Some("opaque-burst")).await })
        })
        .collect();
    for r in requests {
        assert_eq!(r.await.unwrap().status, 200);
    }
    assert_eq!(idp.calls(), 1, "one introspection call for 20 requests");
}

#[tokio::test]
async fn an_endpoint_outage_opens_the_circuit_then_a_probe_closes_it() {
    let idp = Idp::start().await;
    let extra = "        timeout: 300ms\n        failure_threshold: 3\n        cool_down: 1s\n        on_unavailable: 401";
    let (gw, _up) = start(&idp, extra, CLIENT_SECRET).await;
    for i in 0..20 {
        idp.issue(&format!("opaque-{i}"), "alice", "users:read", now() + 600);
    }
    idp.down.store(true, Ordering::SeqCst);
    // Three timeouts, each waiting for the endpoint.
    for i in 0..3 {
        let started = Instant::now();
        let r = get(&gw, "/v1/users/alice", Some(&format!("opaque-{i}"))).await;
        assert_eq!(
            r.assert_problem(401)["rule"],
            "auth.introspection.unavailable"
        );
        assert!(started.elapsed() >= Duration::from_millis(250));
    }
    assert_eq!(idp.calls(), 3);
    // Open: refused at once, without a call.
    for i in 3..8 {
        let started = Instant::now();
        let r = get(&gw, "/v1/users/alice", Some(&format!("opaque-{i}"))).await;
        assert_eq!(
            r.assert_problem(401)["rule"],
            "auth.introspection.unavailable"
        );
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "fail fast: {:?}",
            started.elapsed()
        );
    }
    assert_eq!(idp.calls(), 3, "no calls while the circuit is open");
    assert!(logs(&gw).contains("introspection circuit breaker open"));

    // Back up: after the cool-down one probe closes the circuit.
    idp.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get(&gw, "/v1/users/alice", Some("opaque-10")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        get(&gw, "/v1/users/alice", Some("opaque-11")).await.status,
        200
    );
    assert_eq!(idp.calls(), 5);
    eventually("the recovery log line", Duration::from_secs(3), || async {
        logs(&gw).contains("circuit breaker closed")
    })
    .await;
}

#[tokio::test]
async fn a_reload_keeps_the_cached_answers() {
    let idp = Idp::start().await;
    let (gw, up) = start(&idp, "", CLIENT_SECRET).await;
    idp.issue("opaque-keep", "alice", "users:read", now() + 600);
    assert_eq!(
        get(&gw, "/v1/users/alice", Some("opaque-keep"))
            .await
            .status,
        200
    );
    assert_eq!(idp.calls(), 1);
    // A change elsewhere in the identity block (another claim header); the
    // file watcher reloads it.
    let template = config(&up, &idp, "").replace("x-auth-tenant: tenant", "x-auth-org: tenant");
    gw.write_config(&template);
    eventually("the reloaded config", Duration::from_secs(10), || async {
        get(&gw, "/v1/users/alice", Some("opaque-keep"))
            .await
            .status
            == 200
            && up.last().header("x-auth-org").as_deref() == Some("acme")
    })
    .await;
    assert_eq!(idp.calls(), 1, "the reloaded policy used the cached answer");
}

#[tokio::test]
async fn concurrent_calls_are_capped() {
    let idp = Idp::start().await;
    let (gw, _up) = start(&idp, "        max_concurrent_calls: 2", CLIENT_SECRET).await;
    for i in 0..5 {
        idp.issue(
            &format!("opaque-cap-{i}"),
            "alice",
            "users:read",
            now() + 600,
        );
    }
    idp.delay_ms.store(500, Ordering::SeqCst);
    let gw = Arc::new(gw);
    let requests: Vec<_> = (0..5)
        .map(|i| {
            let gw = gw.clone();
            tokio::spawn(async move {
                get(&gw, "/v1/users/alice", Some(&format!("opaque-cap-{i}"))).await
            })
        })
        .collect();
    let mut passed = 0;
    for r in requests {
        let r = r.await.unwrap();
        if r.status == 200 {
            passed += 1;
        } else {
            assert_eq!(
                r.assert_problem(503)["rule"],
                "auth.introspection.unavailable"
            );
        }
    }
    assert_eq!(idp.calls(), 2, "two calls at once, no more");
    assert_eq!(passed, 2);
}
