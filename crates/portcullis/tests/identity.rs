//! Identity and authorization through the real binary: JWTs of every
//! algorithm against keys from files, a real JWKS endpoint in this process
//! that rotates keys and goes down, API keys, client certificates, the
//! OpenAPI `security` of each operation (scopes, AND/OR), claim rules, BOLA,
//! the principal passed upstream and spoofed copies stripped, RFC 6750
//! answers, tokens kept out of the audit log.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use portcullis_identity::signing::{SigningKey, hmac_sign};
use portcullis_identity::{Algorithm, sha256_hex};
use serde_json::{Value, json};
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: identity test, version: "1"}
servers: [{url: /v1}]
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer, bearerFormat: JWT}
    key: {type: apiKey, in: header, name: x-api-key}
    cert: {type: mutualTLS}
security:
  - bearer: []
paths:
  /users/{userId}:
    get:
      operationId: getUser
      security:
        - bearer: [users:read]
      parameters:
        - {name: userId, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
  /reports:
    get:
      operationId: getReports
      # OR: a token with reports:read, or an API key.
      security:
        - bearer: [reports:read]
        - key: []
      responses: {"200": {description: ok}}
  /admin:
    post:
      operationId: adminAction
      # AND: a token and an API key, both.
      security:
        - bearer: []
          key: []
      responses: {"200": {description: ok}}
  /tenants/{tenant}/orders:
    get:
      operationId: tenantOrders
      parameters:
        - {name: tenant, in: path, required: true, schema: {type: string}}
        - {name: X-Tenant-Id, in: header, required: false, schema: {type: string}}
      responses: {"200": {description: ok}}
  /transfers:
    post:
      operationId: createTransfer
      security:
        - bearer: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                from: {type: object, properties: {owner: {type: string}}}
                amount: {type: integer}
      responses: {"200": {description: ok}}
  /public:
    get:
      operationId: public
      security: []
      responses: {"200": {description: ok}}
"#;

const NOW_SLACK: u64 = 600;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str, scope: &str) -> Value {
    json!({"iss": "https://issuer.test", "aud": "shop", "sub": sub, "scope": scope,
           "exp": now() + NOW_SLACK, "iat": now() - 5, "role": "support", "tenant": "acme"})
}

fn get(target: &str, headers: &[(&str, &str)]) -> http::Request<TestBody> {
    let mut b = request("GET", target);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(TestBody::empty()).unwrap()
}

async fn send(gw: &Gateway, req: http::Request<TestBody>) -> Reply {
    let mut c = H1Connection::open(gw.addr).await;
    c.send(req).await.unwrap()
}

struct Keys {
    rs: SigningKey,
    es: SigningKey,
    ed: SigningKey,
    ps: SigningKey,
    hs: Vec<u8>,
}

const API_KEY: &str = "k-3f1b6a9e0c2d4e58a7b9";

fn static_config(up: &Upstream, monitor: bool) -> String {
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
      mode: {mode}
      jwt:
        issuers: [https://issuer.test]
        audiences: [shop]
        keys:
          - file: jwks.json
          - file: ps.pem
            kid: ps
          - secret_env: IDENTITY_TEST_SECRET
            kid: hs
      api_keys:
        hide_credentials: true
        keys:
          - sha256: {key_hash}
            principal: svc-reports
            scopes: [reports:read]
      upstream_headers:
        claims:
          x-auth-tenant: tenant
      operations:
        getUser:
          bola:
            - param: path.userId
              claim: sub
              unless_scopes: [users:admin]
        createTransfer:
          bola:
            - param: body./from/owner
              claim: sub
        tenantOrders:
          claims:
            - "role in [admin, support]"
            - "tenant == path.tenant"
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
        mode = if monitor { "monitor" } else { "block" },
        key_hash = sha256_hex(API_KEY.as_bytes()),
    )
}

async fn start_static(monitor: bool) -> (Gateway, Upstream, Keys) {
    let up = Upstream::start("app").await;
    let keys = Keys {
        rs: SigningKey::generate(Algorithm::RS256),
        es: SigningKey::generate(Algorithm::ES256),
        ed: SigningKey::generate(Algorithm::EdDSA),
        ps: SigningKey::generate(Algorithm::PS256),
        hs: b"an-hmac-secret-of-at-least-32-bytes!".to_vec(),
    };
    let dir = tempdir();
    std::fs::write(dir.path().join("spec.yaml"), SPEC).unwrap();
    let jwks = json!({"keys": [keys.rs.public_jwk(Some("rs")), keys.es.public_jwk(Some("es")),
                               keys.ed.public_jwk(Some("ed"))]});
    std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
    std::fs::write(dir.path().join("ps.pem"), keys.ps.public_pem().unwrap()).unwrap();
    // SAFETY: set before the gateway process is spawned; tests only read it there.
    unsafe {
        std::env::set_var(
            "IDENTITY_TEST_SECRET",
            std::str::from_utf8(&keys.hs).unwrap(),
        )
    };
    let gw = Gateway::start_in(dir, &static_config(&up, monitor), &[]).await;
    (gw, up, keys)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn hs_token(secret: &[u8], kid: &str, alg: &str, c: &Value) -> String {
    SigningKey::Hmac(secret.to_vec()).sign(alg, &json!({"kid": kid}), c)
}

#[tokio::test]
async fn tokens_of_every_algorithm_pass_and_the_principal_goes_upstream() {
    let (gw, up, keys) = start_static(false).await;
    let c = claims("u-1", "users:read");
    let tokens = [
        ("RS256", keys.rs.sign("RS256", &json!({"kid": "rs"}), &c)),
        ("RS512", keys.rs.sign("RS512", &json!({"kid": "rs"}), &c)),
        ("PS384", keys.rs.sign("PS384", &json!({"kid": "rs"}), &c)),
        (
            "PS256 (PEM)",
            keys.ps.sign("PS256", &json!({"kid": "ps"}), &c),
        ),
        ("ES256", keys.es.sign("ES256", &json!({"kid": "es"}), &c)),
        ("EdDSA", keys.ed.sign("EdDSA", &json!({"kid": "ed"}), &c)),
        ("HS256", hs_token(&keys.hs, "hs", "HS256", &c)),
        ("HS512", hs_token(&keys.hs, "hs", "HS512", &c)),
    ];
    for (name, token) in &tokens {
        // A spoofed principal header must not survive.
        let r = send(
            &gw,
            get(
                "/v1/users/u-1",
                &[
                    ("authorization", &bearer(token)),
                    ("x-auth-subject", "admin"),
                ],
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        let seen = up.last();
        let subjects: Vec<_> = seen.headers.get_all("x-auth-subject").iter().collect();
        assert_eq!(
            subjects,
            vec!["u-1"],
            "{name}: exactly the verified subject"
        );
        assert_eq!(seen.header("x-auth-scopes").as_deref(), Some("users:read"));
        assert_eq!(seen.header("x-auth-method").as_deref(), Some("jwt"));
        assert_eq!(seen.header("x-auth-tenant").as_deref(), Some("acme"));
    }
    // Unauthenticated: the public operation passes, spoofed headers stripped.
    let r = send(
        &gw,
        get(
            "/v1/public",
            &[
                ("x-auth-subject", "admin"),
                ("x-auth-scopes", "users:admin"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = up.last();
    assert_eq!(
        seen.header("x-auth-subject"),
        None,
        "spoofed subject stripped"
    );
    assert_eq!(
        seen.header("x-auth-scopes"),
        None,
        "spoofed scopes stripped"
    );
}

#[tokio::test]
async fn refused_tokens_get_rfc6750_answers_and_never_reach_the_upstream() {
    let (gw, up, keys) = start_static(false).await;
    let good = claims("u-1", "users:read");
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    // HS256 signed with the RSA public key (PEM text) as the secret.
    let rsa_pem = keys.rs.public_pem().unwrap();
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "kid": "rs"})),
        b64(&good)
    );
    let sig = hmac_sign(Algorithm::HS256, rsa_pem.as_bytes(), input.as_bytes());
    let confused = format!("{input}.{}", {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    });
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "rs"})),
        b64(&good)
    );
    let other_rsa = SigningKey::generate(Algorithm::RS256);
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "auth.missing"),
        ("alg none", Some(none), "auth.jwt.alg_none"),
        (
            "HS256 with the RSA public key",
            Some(confused),
            "auth.jwt.key_mismatch",
        ),
        (
            "expired",
            Some(keys.es.sign(
                "ES256",
                &json!({"kid": "es"}),
                &with(json!({"exp": now() - 120})),
            )),
            "auth.jwt.expired",
        ),
        (
            "not yet valid",
            Some(keys.es.sign(
                "ES256",
                &json!({"kid": "es"}),
                &with(json!({"nbf": now() + 600})),
            )),
            "auth.jwt.not_yet_valid",
        ),
        (
            "wrong issuer",
            Some(keys.ed.sign(
                "EdDSA",
                &json!({"kid": "ed"}),
                &with(json!({"iss": "https://evil.test"})),
            )),
            "auth.jwt.issuer",
        ),
        (
            "wrong audience",
            Some(keys.ed.sign(
                "EdDSA",
                &json!({"kid": "ed"}),
                &with(json!({"aud": "other"})),
            )),
            "auth.jwt.audience",
        ),
        (
            "unknown kid",
            Some(keys.rs.sign("RS256", &json!({"kid": "nope"}), &good)),
            "auth.jwt.unknown_kid",
        ),
        (
            "forged signature",
            Some(other_rsa.sign("RS256", &json!({"kid": "rs"}), &good)),
            "auth.jwt.signature",
        ),
        (
            "crit header",
            Some(
                keys.rs
                    .sign("RS256", &json!({"kid": "rs", "crit": ["x"], "x": 1}), &good),
            ),
            "auth.jwt.crit",
        ),
    ];
    for (name, token, rule) in &cases {
        let mut headers = vec![];
        let auth;
        if let Some(t) = token {
            auth = bearer(t);
            headers.push(("authorization", auth.as_str()));
        }
        let r = send(&gw, get("/v1/users/u-1", &headers)).await;
        let problem = r.assert_problem(401);
        assert_eq!(problem["rule"], *rule, "{name}");
        let www = r.header("www-authenticate").unwrap_or_default();
        if *rule == "auth.missing" {
            assert_eq!(www, "Bearer realm=\"portcullis\"", "{name}");
        } else {
            assert!(www.contains("error=\"invalid_token\""), "{name}: {www}");
        }
    }
    assert_eq!(up.count(), 0, "no refused request reached the upstream");
    // The audit log names the rule and a fingerprint, never the token.
    let token = keys.rs.sign("RS256", &json!({"kid": "nope"}), &good);
    let _ = send(
        &gw,
        get("/v1/users/u-1", &[("authorization", &bearer(&token))]),
    )
    .await;
    let fp = portcullis_identity::fingerprint(&token);
    wait_for_json_line(&gw.path("audit.log"), "the fingerprinted refusal", |l| {
        l.to_string().contains(&fp)
    })
    .await;
    let audit = std::fs::read_to_string(gw.path("audit.log")).unwrap();
    for (_, token, _) in &cases {
        if let Some(t) = token {
            let signature = t.rsplit('.').next().unwrap();
            assert!(
                signature.len() < 8 || !audit.contains(signature),
                "a token leaked into the audit log"
            );
        }
    }
}

#[tokio::test]
async fn scopes_and_or_claim_rules_and_bola() {
    let (gw, up, keys) = start_static(false).await;
    let token = |sub: &str, scope: &str| {
        keys.es
            .sign("ES256", &json!({"kid": "es"}), &claims(sub, scope))
    };
    let auth = |t: &str| bearer(t);
    // Scope missing → 403 insufficient_scope.
    let t = token("u-1", "orders:read");
    let r = send(&gw, get("/v1/users/u-1", &[("authorization", &auth(&t))])).await;
    assert_eq!(r.assert_problem(403)["rule"], "auth.scope");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );
    // BOLA: own object allowed, another user's refused, admin scope overrides.
    let t = token("u-1", "users:read");
    let r = send(&gw, get("/v1/users/u-1", &[("authorization", &auth(&t))])).await;
    assert_eq!(r.status, 200);
    let r = send(&gw, get("/v1/users/u-2", &[("authorization", &auth(&t))])).await;
    assert_eq!(r.assert_problem(403)["rule"], "auth.bola");
    let admin = token("u-9", "users:read users:admin");
    let r = send(
        &gw,
        get("/v1/users/u-2", &[("authorization", &auth(&admin))]),
    )
    .await;
    assert_eq!(r.status, 200, "users:admin may read any user");
    // OR: reports with a token carrying reports:read, or with the API key.
    let reports = token("u-1", "reports:read");
    let r = send(
        &gw,
        get("/v1/reports", &[("authorization", &auth(&reports))]),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = send(&gw, get("/v1/reports", &[("x-api-key", API_KEY)])).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        up.last().header("x-auth-subject").as_deref(),
        Some("svc-reports")
    );
    assert_eq!(
        up.last().header("x-auth-method").as_deref(),
        Some("api_key")
    );
    assert_eq!(
        up.last().header("x-api-key"),
        None,
        "hide_credentials: the accepted key is not forwarded"
    );
    let r = send(&gw, get("/v1/reports", &[("x-api-key", "wrong-key")])).await;
    assert_eq!(r.assert_problem(401)["rule"], "auth.api_key");
    // AND: the admin action needs both a token and the key.
    let post = |headers: &[(&str, &str)]| {
        let mut b = request("POST", "/v1/admin");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(TestBody::empty()).unwrap()
    };
    let r = send(&gw, post(&[("authorization", &auth(&t))])).await;
    assert_eq!(r.assert_problem(401)["rule"], "auth.missing");
    let r = send(&gw, post(&[("x-api-key", API_KEY)])).await;
    assert_eq!(r.assert_problem(401)["rule"], "auth.missing");
    let r = send(
        &gw,
        post(&[("authorization", &auth(&t)), ("x-api-key", API_KEY)]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Claim rules: role in [admin, support] and tenant == path.tenant.
    let r = send(
        &gw,
        get("/v1/tenants/acme/orders", &[("authorization", &auth(&t))]),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = send(
        &gw,
        get("/v1/tenants/globex/orders", &[("authorization", &auth(&t))]),
    )
    .await;
    assert_eq!(r.assert_problem(403)["rule"], "auth.claim");
    let mut guest = claims("u-1", "");
    guest["role"] = json!("guest");
    let g = keys.es.sign("ES256", &json!({"kid": "es"}), &guest);
    let r = send(
        &gw,
        get("/v1/tenants/acme/orders", &[("authorization", &auth(&g))]),
    )
    .await;
    assert_eq!(r.assert_problem(403)["rule"], "auth.claim");
}

#[tokio::test]
async fn monitor_mode_forwards_and_audits() {
    let (gw, up, keys) = start_static(true).await;
    let other = keys
        .es
        .sign("ES256", &json!({"kid": "es"}), &claims("u-1", "users:read"));
    let r = send(
        &gw,
        get("/v1/users/u-2", &[("authorization", &bearer(&other))]),
    )
    .await;
    assert_eq!(r.status, 200, "monitor mode forwards a BOLA");
    let r = send(&gw, get("/v1/users/u-2", &[])).await;
    assert_eq!(
        r.status, 200,
        "monitor mode forwards an unauthenticated request"
    );
    assert_eq!(up.count(), 2);
    let line = wait_for_json_line(&gw.path("audit.log"), "the monitored BOLA", |l| {
        l["action"] == "monitor" && l.to_string().contains("auth.bola")
    })
    .await;
    assert_eq!(line["operation"], "getUser");
}

#[tokio::test]
async fn body_bola_binds_a_json_body_value_to_the_callers_subject() {
    let (gw, up, keys) = start_static(false).await;
    let token = keys
        .es
        .sign("ES256", &json!({"kid": "es"}), &claims("u-1", ""));
    let transfer = |owner: &str| {
        request("POST", "/v1/transfers")
            .header("authorization", bearer(&token))
            .header("content-type", "application/json")
            .body(TestBody::full(
                json!({"from": {"owner": owner}, "amount": 5}).to_string(),
            ))
            .unwrap()
    };
    let r = send(&gw, transfer("u-1")).await;
    assert_eq!(r.status, 200, "own account: {}", r.text());
    assert_eq!(up.last().header("x-auth-subject").as_deref(), Some("u-1"));
    let before = up.count();
    let r = send(&gw, transfer("u-2")).await;
    assert_eq!(r.assert_problem(403)["rule"], "auth.bola");
    assert_eq!(
        up.count(),
        before,
        "a refused transfer never reaches the upstream"
    );
    eventually("the BOLA audit line", Duration::from_secs(3), || async {
        let audit = std::fs::read_to_string(gw.path("audit.log")).unwrap_or_default();
        audit.contains("auth.bola") && audit.contains("subject u-1")
    })
    .await;
}

// ───────────────────────────── JWKS endpoint ─────────────────────────────

/// A JWKS endpoint on a loopback port: serves `doc`, counts fetches, and
/// answers 503 while `down` is set.
struct JwksServer {
    url: String,
    doc: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    /// Answers this many milliseconds late.
    delay_ms: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    async fn start(doc: String) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let doc = Arc::new(Mutex::new(doc));
        let fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicUsize::new(0));
        let (d, f, o, l) = (doc.clone(), fetches.clone(), down.clone(), delay_ms.clone());
        let task = serve_http1(listener, move |_req| {
            let (d, f, o, l) = (d.clone(), f.clone(), o.clone(), l.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                let delay = l.load(Ordering::SeqCst) as u64;
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
                let mut resp = if o.load(Ordering::SeqCst) {
                    let mut r = http::Response::new(Full::new(Bytes::from("down")));
                    *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                    r
                } else {
                    http::Response::new(Full::new(Bytes::from(d.lock().unwrap().clone())))
                };
                resp.headers_mut()
                    .insert("content-type", "application/json".parse().unwrap());
                resp
            }
        });
        JwksServer {
            url: format!("http://{addr}/.well-known/jwks.json"),
            doc,
            fetches,
            down,
            delay_ms,
            task,
        }
    }

    fn serve(&self, keys: &[(&SigningKey, &str)]) {
        let doc = json!({"keys": keys.iter().map(|(k, kid)| k.public_jwk(Some(kid))).collect::<Vec<_>>()});
        *self.doc.lock().unwrap() = doc.to_string();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn jwks_config(up: &Upstream, jwks: &JwksServer) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  app:
    endpoints: ["{up}"]
policies:
  api:
    identity:
      require: [jwt]
      jwt:
        jwks_url: {url}
        jwks_refresh: 1s
        jwks_grace: 2s
        jwks_min_refetch: 1s
        jwks_timeout: 1s
routes:
  - name: api
    match:
      path_prefix: /
    upstream: app
    policy: api
"#,
        up = up.url(),
        url = jwks.url
    )
}

#[tokio::test]
async fn jwks_rotation_refetch_rate_and_outage_grace() {
    let up = Upstream::start("app").await;
    let k1 = SigningKey::generate(Algorithm::ES256);
    let k2 = SigningKey::generate(Algorithm::RS256);
    let server = JwksServer::start(String::new()).await;
    server.serve(&[(&k1, "k1")]);
    let gw = Gateway::start(&jwks_config(&up, &server)).await;
    let c = claims("u-1", "");
    let t1 = k1.sign("ES256", &json!({"kid": "k1"}), &c);
    let t2 = k2.sign("RS256", &json!({"kid": "k2"}), &c);
    eventually("the first JWKS fetch", Duration::from_secs(5), || async {
        send(&gw, get("/x", &[("authorization", &bearer(&t1))]))
            .await
            .status
            == 200
    })
    .await;

    // Rotation: k2 appears at the endpoint; the first token naming it makes
    // the gateway refetch at once (no wait for the refresh).
    server.serve(&[(&k1, "k1"), (&k2, "k2")]);
    tokio::time::sleep(Duration::from_millis(1100)).await; // past min_refetch
    let r = send(&gw, get("/x", &[("authorization", &bearer(&t2))])).await;
    assert_eq!(
        r.status,
        200,
        "a rotated-in key is fetched on first use: {}",
        r.text()
    );

    // A flood of made-up kids costs at most one fetch per min_refetch.
    let before = server.fetches();
    for i in 0..20 {
        let t = k2.sign("RS256", &json!({"kid": format!("made-up-{i}")}), &c);
        let r = send(&gw, get("/x", &[("authorization", &bearer(&t))])).await;
        assert_eq!(r.assert_problem(401)["rule"], "auth.jwt.unknown_kid");
    }
    let extra = server.fetches() - before;
    assert!(
        extra <= 3,
        "{extra} fetches for 20 unknown kids (refresh 1s + min_refetch 1s)"
    );

    // Outage: within refresh + grace (3 s) the last keys still verify...
    server.down.store(true, Ordering::SeqCst);
    let down_at = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = send(&gw, get("/x", &[("authorization", &bearer(&t2))])).await;
    assert_eq!(r.status, 200, "stale keys serve within the grace period");
    // ...past it, requests are refused rather than verified with old keys.
    eventually(
        "keys unavailable past the grace period",
        Duration::from_secs(6),
        || async {
            let r = send(&gw, get("/x", &[("authorization", &bearer(&t1))])).await;
            r.status == 401 && r.json()["rule"] == "auth.jwt.keys_unavailable"
        },
    )
    .await;
    assert!(
        down_at.elapsed() >= Duration::from_secs(2),
        "not refused before the grace period"
    );

    // Recovery: the endpoint is back, the next refresh installs keys again.
    server.down.store(false, Ordering::SeqCst);
    eventually(
        "keys back after the outage",
        Duration::from_secs(8),
        || async {
            send(&gw, get("/x", &[("authorization", &bearer(&t1))]))
                .await
                .status
                == 200
        },
    )
    .await;
}

#[tokio::test]
async fn requests_during_an_unknown_kid_refetch_wait_for_it() {
    let up = Upstream::start("app").await;
    let k1 = SigningKey::generate(Algorithm::ES256);
    let k2 = SigningKey::generate(Algorithm::ES256);
    let server = JwksServer::start(String::new()).await;
    server.serve(&[(&k1, "k1")]);
    let gw = Arc::new(Gateway::start(&jwks_config(&up, &server)).await);
    let c = claims("u-1", "");
    let t1 = k1.sign("ES256", &json!({"kid": "k1"}), &c);
    eventually("the first JWKS fetch", Duration::from_secs(5), || async {
        send(&gw, get("/x", &[("authorization", &bearer(&t1))]))
            .await
            .status
            == 200
    })
    .await;
    // k2 rotates in, served slowly: the first request naming it starts the
    // refetch, the others arrive while it runs and wait instead of failing.
    tokio::time::sleep(Duration::from_millis(1100)).await; // past min_refetch
    server.serve(&[(&k1, "k1"), (&k2, "k2")]);
    server.delay_ms.store(400, Ordering::SeqCst);
    let t2 = Arc::new(k2.sign("ES256", &json!({"kid": "k2"}), &c));
    let mut requests = Vec::new();
    for i in 0..6 {
        let (gw, t2) = (gw.clone(), t2.clone());
        requests.push(tokio::spawn(async move {
            // The first one starts the fetch; the others come during it.
            tokio::time::sleep(Duration::from_millis(if i == 0 { 0 } else { 100 })).await;
            send(&gw, get("/x", &[("authorization", &bearer(&t2))]))
                .await
                .status
        }));
    }
    for r in requests {
        assert_eq!(
            r.await.unwrap(),
            200,
            "a request during the refetch waited for it"
        );
    }
}

// ───────────────────────────── client certificates ─────────────────────────────

#[tokio::test]
async fn routes_can_require_a_client_certificate() {
    let up = Upstream::start("app").await;
    let dir = tempdir();
    let pki = Pki::generate(dir.path());
    let config = format!(
        r#"
listeners:
  - address: $LISTEN
    tls:
      cert: {cert}
      key: {key}
      client_auth:
        mode: optional
        ca: {ca}
upstreams:
  app:
    endpoints: ["{up}"]
policies:
  internal:
    identity:
      require: [mtls]
      mtls:
        principal: spiffe
routes:
  - name: internal
    match:
      path_prefix: /
    upstream: app
    policy: internal
"#,
        cert = pki.server_cert.display(),
        key = pki.server_key.display(),
        ca = pki.ca.display(),
        up = up.url()
    );
    let gw = Gateway::start_in(dir, &config, &[]).await;
    let anonymous = tls_client_config(&pki.ca, None, &["http/1.1"]);
    let r = try_tls_request(
        gw.addr,
        anonymous,
        get("/internal", &[("x-auth-subject", "admin")]),
    )
    .await
    .unwrap();
    assert_eq!(r.assert_problem(401)["rule"], "auth.mtls");
    assert_eq!(up.count(), 0);
    for alpn in ["http/1.1", "h2"] {
        let trusted =
            tls_client_config(&pki.ca, Some((&pki.client_cert, &pki.client_key)), &[alpn]);
        let r = try_tls_request(
            gw.addr,
            trusted,
            get("/internal", &[("x-auth-subject", "admin")]),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{alpn}: {}", r.text());
        let seen = up.last();
        // The certificate has no SPIFFE ID: its first SAN names it.
        assert_eq!(
            seen.header("x-auth-subject").as_deref(),
            Some("client.test")
        );
        assert_eq!(seen.header("x-auth-method").as_deref(), Some("mtls"));
    }
}
