//! The failed-login ratio spike detector end to end
//! (`brute_force.failure_ratio`): two gateway processes on one real
//! `redis-server` share the ratio and the cool-down; unknown addresses are
//! refused (or delayed) while under attack, addresses with a successful
//! login are not; a normal failure rate is no spike. Clients are told apart
//! by `X-Forwarded-For` from a trusted 127.0.0.1; the upstream's status
//! plays the login result (401: wrong password).

mod support;

use std::time::{Duration, Instant};

use support::*;

fn config(up: &Upstream, store: &str, ratio: &str) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
admin:
  address: $ADMIN
trusted_proxies: ["127.0.0.1/32"]
audit_log:
  output: $DIR/audit.log
upstreams:
  app:
    endpoints: ["{}"]
{store}
policies:
  guarded:
    brute_force:
      paths: [/login]
      failure_ratio:
{ratio}
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

async fn login(gw: &Gateway, ip: &str) -> Reply {
    h1(
        gw.addr,
        request("POST", "/login")
            .header("x-forwarded-for", ip)
            .header("content-type", "application/json")
            .body(TestBody::full(r#"{"username":"u","password":"p"}"#))
            .unwrap(),
    )
    .await
}

fn spikes(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_login_failure_spikes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no spike counter in:\n{metrics}"))
}

#[tokio::test]
async fn a_spike_seen_across_two_instances_blocks_unknown_addresses_until_the_cool_down_ends() {
    let redis = RedisServer::start_on(free_port());
    let up = Upstream::start("A").await;
    let store = redis_store_block(redis.port);
    let ratio = "        window: 30s\n        min_attempts: 6\n        max_ratio: 0.5\n        cool_down: 2s\n        action: block\n";
    let template = config(&up, &store, ratio);
    let a = Gateway::start(&template).await;
    let b = Gateway::start(&template).await;

    // A user who logs in successfully is remembered as known good.
    assert_eq!(login(&a, "198.51.100.1").await.status, 200);
    up.set_status(401);
    // Four failures from four addresses on both instances: 4 of 5 attempts
    // failed, but a spike needs 6 attempts. The fifth failure makes it
    // (5/6 > 0.5), after its own answer.
    for i in 1..=4 {
        let gw = if i % 2 == 0 { &a } else { &b };
        assert_eq!(login(gw, &format!("203.0.113.{i}")).await.status, 401);
    }
    assert_eq!(login(&a, "203.0.113.99").await.status, 401);
    let detected = Instant::now();
    // Both instances now refuse unknown addresses: the flag is in Redis
    // (an instance trusts a flag it read for up to 500 ms).
    for gw in [&a, &b] {
        eventually("the instance applies the spike", DEADLINE, || async {
            login(gw, "192.0.2.44").await.status == 429
        })
        .await;
        let r = login(gw, "192.0.2.44").await;
        let problem = r.assert_problem(429);
        assert_eq!(problem["rule"], "abuse.failure_ratio_spike");
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=2).contains(&retry), "Retry-After {retry}");
    }
    // The known-good address still reaches the login (and fails normally).
    assert_eq!(login(&b, "198.51.100.1").await.status, 401);
    let audit = wait_for_json_line(&b.path("audit.log"), "the spike refusal", |l| {
        l["findings"][0]["rule"] == "abuse.failure_ratio_spike"
    })
    .await;
    assert_eq!(audit["client_ip"], "192.0.2.44");
    assert_eq!(audit["status"], 429);
    let total = spikes(&a.admin_get("/metrics").await.text())
        + spikes(&b.admin_get("/metrics").await.text());
    // Each instance counts a spike at most once per cool-down (the one
    // that did not start it may, before its cached flag read expires).
    assert!((1..=2).contains(&total), "spikes counted: {total}");
    assert!(
        a.stderr().contains("login failure-ratio spike")
            || b.stderr().contains("login failure-ratio spike"),
        "the spike is logged"
    );

    let forwarded = up.count();
    // After the cool-down an unknown address reaches the login again.
    eventually("the cool-down ends", DEADLINE, || async {
        login(&a, "192.0.2.45").await.status == 401
    })
    .await;
    let released = detected.elapsed();
    assert!(
        released >= Duration::from_millis(1500),
        "released only after the 2 s cool-down: {released:?}"
    );
    assert_eq!(
        up.count(),
        forwarded + 1,
        "refused attempts never reached the upstream"
    );
}

#[tokio::test]
async fn a_normal_failure_rate_is_no_spike_and_delay_only_holds_unknown_addresses() {
    let up = Upstream::start("A").await;
    let ratio = "        window: 30s\n        min_attempts: 6\n        max_ratio: 0.5\n        cool_down: 30s\n        action: delay\n        delay: 400ms\n";
    let gw = Gateway::start(&config(&up, "", ratio)).await;
    // 8 successes and 3 failures: 27% failing is normal.
    for i in 0..8 {
        assert_eq!(login(&gw, &format!("198.51.100.{i}")).await.status, 200);
    }
    up.set_status(401);
    for i in 0..3 {
        assert_eq!(login(&gw, &format!("203.0.113.{i}")).await.status, 401);
    }
    let started = Instant::now();
    assert_eq!(login(&gw, "192.0.2.1").await.status, 401);
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "not delayed"
    );
    assert_eq!(spikes(&gw.admin_get("/metrics").await.text()), 0);

    // 9 more failures: the ratio passes 0.5 (11 of 19) → under attack.
    for i in 10..19 {
        login(&gw, &format!("203.0.113.{i}")).await;
    }
    assert_eq!(spikes(&gw.admin_get("/metrics").await.text()), 1);
    let started = Instant::now();
    assert_eq!(
        login(&gw, "192.0.2.2").await.status,
        401,
        "delayed, then forwarded"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "an unknown address waits the delay: {:?}",
        started.elapsed()
    );
    wait_for_json_line(&gw.path("audit.log"), "the monitored spike finding", |l| {
        l["client_ip"] == "192.0.2.2"
            && l["findings"][0]["rule"] == "abuse.failure_ratio_spike"
            && l["findings"][0]["mode"] == "monitor"
    })
    .await;
    let started = Instant::now();
    assert_eq!(login(&gw, "198.51.100.3").await.status, 401);
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "a known-good address is not delayed"
    );
}
