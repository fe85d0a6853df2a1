//! Abuse protection end to end: honeypots and the shared ban list (two
//! gateway processes on one real `redis-server`, lifted through the admin
//! API), brute-force lockout and release, progressive delay, and
//! credential-stuffing detection.

mod support;

use std::time::{Duration, Instant};

use support::*;

const TOKEN: &str = "abuse-admin-token";

fn config(up: &Upstream, store: &str, policy: &str) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
admin:
  address: $ADMIN
  token: {TOKEN}
audit_log:
  output: $DIR/audit.log
upstreams:
  app:
    endpoints: ["{}"]
{store}
policies:
  guarded:
{policy}
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

async fn login(gw: &Gateway, user: &str) -> Reply {
    h1(
        gw.addr,
        request("POST", "/login")
            .header("content-type", "application/json")
            .body(TestBody::full(format!(
                r#"{{"username":"{user}","password":"guess"}}"#
            )))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_honeypot_ban_is_shared_by_two_instances_and_lifted_through_the_admin_api() {
    let redis = RedisServer::start_on(free_port());
    let up = Upstream::start("A").await;
    let store = redis_store_block(redis.port);
    let policy = r#"
    honeypot:
      paths: [/.env, /api/internal/debug]
      body_fields: [/is_admin]
      ban: 1h
"#;
    let template = config(&up, &store, policy);
    let a = Gateway::start(&template).await;
    let b = Gateway::start(&template).await;
    assert_eq!(a.get("/").await.status, 200);
    assert_eq!(b.get("/").await.status, 200);

    let r = a.get("/.env").await;
    let json = r.assert_problem(404);
    assert!(
        json.get("rule").is_none(),
        "a decoy's 404 names no rule: {json}"
    );
    let audit = wait_for_json_line(&a.path("audit.log"), "the honeypot hit", |l| {
        l["findings"][0]["rule"] == "abuse.honeypot"
    })
    .await;
    assert_eq!(audit["findings"][0]["location"], "path:/.env");
    assert_eq!(up.count(), 2, "the decoy never reaches the upstream");
    // The other instance refuses the client too: the ban is in Redis.
    eventually("instance B sees the ban", DEADLINE, || async {
        b.get("/").await.status == 403
    })
    .await;
    let r = b.get("/anything").await;
    assert_eq!(r.assert_problem(403)["rule"], "abuse.banned");

    assert_eq!(b.admin_call("GET", "/bans", None).await.status, 401);
    let listed = b.admin_call("GET", "/bans", Some(TOKEN)).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let bans = listed.json()["bans"].as_array().unwrap().clone();
    assert_eq!(bans.len(), 1, "{bans:?}");
    assert_eq!(bans[0]["key"], "ban|127.0.0.1");
    assert_eq!(bans[0]["kind"], "ban (honeypot)");
    assert!(bans[0]["ttl_seconds"].as_u64().unwrap() > 3500);

    assert_eq!(
        b.admin_call("DELETE", "/bans?ip=127.0.0.1", Some("wrong"))
            .await
            .status,
        401
    );
    let lifted = b
        .admin_call("DELETE", "/bans?ip=127.0.0.1", Some(TOKEN))
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.text());
    assert_eq!(
        b.get("/").await.status,
        200,
        "lifted at once on the instance that lifted it"
    );
    eventually("instance A sees the ban lifted", DEADLINE, || async {
        a.get("/").await.status == 200
    })
    .await;
    assert_eq!(
        b.admin_call("DELETE", "/bans?ip=127.0.0.1", Some(TOKEN))
            .await
            .status,
        404
    );

    // A decoy body field bans too; an admin ban works the same way.
    let r = h1(
        a.addr,
        request("POST", "/profile")
            .header("content-type", "application/json")
            .body(TestBody::full(r#"{"name":"x","is_admin":true}"#))
            .unwrap(),
    )
    .await;
    r.assert_problem(404);
    eventually(
        "instance B sees the new ban (within 500 ms)",
        DEADLINE,
        || async { b.get("/").await.status == 403 },
    )
    .await;
    assert_eq!(
        a.admin_call("DELETE", "/bans?key=ban%7C127.0.0.1", Some(TOKEN))
            .await
            .status,
        200
    );
    let banned = a
        .admin_call("POST", "/bans?ip=192.0.2.9&ttl=60", Some(TOKEN))
        .await;
    assert_eq!(banned.status, 200, "{}", banned.text());
    let listed = b.admin_call("GET", "/bans", Some(TOKEN)).await.json();
    assert_eq!(listed["bans"][0]["key"], "ban|192.0.2.9");
    assert_eq!(listed["bans"][0]["kind"], "ban (admin)");
}

#[tokio::test]
async fn failed_logins_lock_out_then_release() {
    let up = Upstream::start("A").await;
    up.set_status(401);
    let policy = r#"
    brute_force:
      paths: [/login]
      per_ip_username: 3/1m
      lockout_time: 1s
"#;
    let gw = Gateway::start(&config(&up, "", policy)).await;
    for i in 0..3 {
        assert_eq!(
            login(&gw, "alice").await.status,
            401,
            "failure {i} reaches the upstream"
        );
    }
    let r = login(&gw, "alice").await;
    assert_eq!(r.assert_problem(429)["rule"], "abuse.brute_force");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(retry, 1);
    assert_eq!(
        up.count(),
        3,
        "a locked-out attempt never reaches the upstream"
    );
    // Other usernames from the same IP are not locked by the pair limit.
    assert_eq!(login(&gw, "bob").await.status, 401);
    // Other paths are not login attempts.
    assert_eq!(gw.get("/").await.status, 401);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    up.set_status(0);
    let r = login(&gw, "alice").await;
    assert_eq!(r.status, 200, "released after lockout_time: {}", r.text());
    let audit = wait_for_json_line(&gw.path("audit.log"), "the lockout", |l| {
        l["findings"][0]["rule"] == "abuse.brute_force"
    })
    .await;
    assert_eq!(audit["findings"][0]["location"], "login.ip_username");
}

#[tokio::test]
async fn one_ip_trying_many_usernames_is_flagged_as_credential_stuffing() {
    let up = Upstream::start("A").await;
    up.set_status(401);
    let policy = r#"
    brute_force:
      paths: [/login]
      usernames_per_ip: 5/10m
      lockout_time: 1m
"#;
    let gw = Gateway::start(&config(&up, "", policy)).await;
    // The same username failing again is not a new username.
    for _ in 0..3 {
        assert_eq!(login(&gw, "user0").await.status, 401);
    }
    for i in 1..5 {
        assert_eq!(login(&gw, &format!("user{i}")).await.status, 401);
    }
    let r = login(&gw, "user99").await;
    assert_eq!(r.assert_problem(429)["rule"], "abuse.credential_stuffing");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() > 50);
    let listed = gw.admin_call("GET", "/bans", Some(TOKEN)).await.json();
    assert_eq!(listed["bans"][0]["key"], "stuff|ip|127.0.0.1", "{listed}");
    assert_eq!(listed["bans"][0]["kind"], "credential stuffing");
    let lifted = gw
        .admin_call("DELETE", "/bans?key=stuff%7Cip%7C127.0.0.1", Some(TOKEN))
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.text());
    assert_eq!(login(&gw, "user100").await.status, 401, "lifted");
}

#[tokio::test]
async fn progressive_delay_slows_further_attempts() {
    let up = Upstream::start("A").await;
    up.set_status(401);
    let policy = r#"
    brute_force:
      paths: [/login]
      per_username: 2/1m
      action: delay
      delay: 200ms
      max_delay: 1s
"#;
    let gw = Gateway::start(&config(&up, "", policy)).await;
    let quick = Instant::now();
    assert_eq!(login(&gw, "carol").await.status, 401);
    assert_eq!(login(&gw, "carol").await.status, 401);
    assert!(
        quick.elapsed() < Duration::from_millis(400),
        "{:?}",
        quick.elapsed()
    );
    // The second failure reached the threshold: the next attempt waits 200 ms,
    // the one after 400 ms (doubling), and they still reach the upstream.
    let t = Instant::now();
    assert_eq!(login(&gw, "carol").await.status, 401);
    let first = t.elapsed();
    let t = Instant::now();
    assert_eq!(login(&gw, "carol").await.status, 401);
    let second = t.elapsed();
    assert!(first >= Duration::from_millis(200), "{first:?}");
    assert!(second >= Duration::from_millis(400), "{second:?}");
    let t = Instant::now();
    assert_eq!(login(&gw, "dave").await.status, 401);
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "other usernames are not delayed"
    );
}
