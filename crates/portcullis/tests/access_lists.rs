//! The runtime access lists end to end: two gateway processes on one real
//! `redis-server`, entries added and removed through one instance's admin
//! API and applied by the other within `access_lists.refresh`; deny wins
//! over allow; an allow entry skips the rate limits; the memory backend
//! applies edits at once and keeps them across a reload.
//! Clients are told apart by `X-Forwarded-For` from a trusted 127.0.0.1.

mod support;

use std::time::{Duration, Instant};

use support::*;

const TOKEN: &str = "access-lists-admin-token";

fn config(up: &Upstream, store: &str) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
admin:
  address: $ADMIN
  token: {TOKEN}
trusted_proxies: ["127.0.0.1/32"]
audit_log:
  output: $DIR/audit.log
upstreams:
  app:
    endpoints: ["{}"]
{store}
access_lists:
  refresh: 200ms
  max_entries: 3
policies:
  guarded:
    rate_limits:
      limits:
        - name: per_ip
          key: [client_ip]
          quota: 2/1h
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

async fn get_from(gw: &Gateway, ip: &str) -> Reply {
    h1(
        gw.addr,
        request("GET", "/thing")
            .header("x-forwarded-for", ip)
            .body(TestBody::empty())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_deny_entry_added_on_one_instance_blocks_on_the_other_and_lifts() {
    let redis = RedisServer::start_on(free_port());
    let up = Upstream::start("A").await;
    let store = redis_store_block(redis.port);
    let template = config(&up, &store);
    let a = Gateway::start(&template).await;
    let b = Gateway::start(&template).await;
    assert_eq!(get_from(&b, "203.0.113.5").await.status, 200);

    assert_eq!(
        a.admin_call("POST", "/access-lists/deny?cidr=203.0.113.0/24", None)
            .await
            .status,
        401
    );
    let added = a
        .admin_call(
            "POST",
            "/access-lists/deny?cidr=203.0.113.77/24&comment=stuffing+source",
            Some(TOKEN),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text());
    assert_eq!(added.json()["cidr"], "203.0.113.0/24", "normalized");
    let added_at = Instant::now();
    assert_eq!(
        get_from(&a, "203.0.113.5").await.assert_problem(403)["rule"],
        "access_list.deny",
        "applied at once on the instance that added it"
    );
    eventually("instance B applies the deny entry", DEADLINE, || async {
        get_from(&b, "203.0.113.5").await.status == 403
    })
    .await;
    let propagated = added_at.elapsed();
    assert!(
        propagated < Duration::from_millis(1500),
        "within refresh (200ms) plus slack: {propagated:?}"
    );
    let r = get_from(&b, "203.0.113.9").await;
    let problem = r.assert_problem(403);
    assert_eq!(problem["rule"], "access_list.deny");
    let audit = wait_for_json_line(&b.path("audit.log"), "the deny-list hit", |l| {
        l["findings"][0]["rule"] == "access_list.deny"
    })
    .await;
    assert_eq!(audit["client_ip"], "203.0.113.5");
    assert_eq!(audit["findings"][0]["location"], "client.ip");
    assert_eq!(
        get_from(&b, "198.51.100.1").await.status,
        200,
        "others pass"
    );

    let listed = b.admin_call("GET", "/access-lists", Some(TOKEN)).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let listed = listed.json();
    assert_eq!(listed["backend"], "redis");
    assert_eq!(listed["deny"][0]["cidr"], "203.0.113.0/24");
    assert_eq!(listed["deny"][0]["comment"], "stuffing source");
    assert!(listed["deny"][0]["added_at"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(listed["allow"].as_array().unwrap().len(), 0);

    // An allow entry skips the rate limit (2 per hour per IP) ...
    let allowed = b
        .admin_call("POST", "/access-lists/allow?cidr=192.0.2.0/28", Some(TOKEN))
        .await;
    assert_eq!(allowed.status, 201, "{}", allowed.text());
    eventually("instance A applies the allow entry", DEADLINE, || async {
        let listed = a
            .admin_call("GET", "/access-lists/allow", Some(TOKEN))
            .await
            .json();
        listed["allow"][0]["cidr"] == "192.0.2.0/28"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..4 {
        assert_eq!(get_from(&a, "192.0.2.3").await.status, 200);
    }
    let statuses: Vec<u16> = {
        let mut s = Vec::new();
        for _ in 0..3 {
            s.push(get_from(&a, "192.0.2.200").await.status.as_u16());
        }
        s
    };
    assert_eq!(
        statuses,
        [200, 200, 429],
        "an unlisted neighbour is limited"
    );
    // ... but never a deny entry: deny wins.
    let both = a
        .admin_call("POST", "/access-lists/deny?cidr=192.0.2.3", Some(TOKEN))
        .await;
    assert_eq!(both.status, 201, "{}", both.text());
    assert_eq!(
        get_from(&a, "192.0.2.3").await.assert_problem(403)["rule"],
        "access_list.deny"
    );
    assert_eq!(get_from(&a, "192.0.2.4").await.status, 200);

    // max_entries: 3 for both lists together.
    let full = a
        .admin_call("POST", "/access-lists/deny?cidr=10.9.9.9", Some(TOKEN))
        .await;
    assert_eq!(full.status, 409, "{}", full.text());
    let bad = a
        .admin_call("POST", "/access-lists/deny?cidr=10.0.0.0/40", Some(TOKEN))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(
        a.admin_call("POST", "/access-lists/grey?cidr=10.0.0.1", Some(TOKEN))
            .await
            .status,
        404
    );

    // Removed on B: A lets the network through again within refresh.
    let removed = b
        .admin_call(
            "DELETE",
            "/access-lists/deny?cidr=203.0.113.0/24",
            Some(TOKEN),
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    // (A fresh address: the rate limit counted .5 while B had no copy yet.)
    assert_eq!(get_from(&b, "203.0.113.50").await.status, 200);
    eventually("instance A lifts the deny entry", DEADLINE, || async {
        get_from(&a, "203.0.113.6").await.status == 200
    })
    .await;
    assert_eq!(
        b.admin_call(
            "DELETE",
            "/access-lists/deny?cidr=203.0.113.0/24",
            Some(TOKEN)
        )
        .await
        .status,
        404
    );

    // A third instance started now reads the lists before it listens.
    let c = Gateway::start(&template).await;
    assert_eq!(
        get_from(&c, "192.0.2.3").await.assert_problem(403)["rule"],
        "access_list.deny"
    );
}

#[tokio::test]
async fn memory_lists_apply_at_once_and_survive_a_reload() {
    let up = Upstream::start("A").await;
    let template = config(&up, "");
    let gw = Gateway::start(&template).await;
    let added = gw
        .admin_call("POST", "/access-lists/deny?cidr=2001:db8::/32", Some(TOKEN))
        .await;
    assert_eq!(added.status, 201, "{}", added.text());
    assert_eq!(
        get_from(&gw, "2001:db8::1").await.assert_problem(403)["rule"],
        "access_list.deny"
    );
    assert_eq!(
        gw.admin_call(
            "POST",
            "/access-lists/deny?cidr=2001:db8::1/32",
            Some(TOKEN)
        )
        .await
        .status,
        200,
        "the same network again replaces the entry"
    );
    let reloaded = gw.admin_call("POST", "/reload", Some(TOKEN)).await;
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());
    assert_eq!(
        get_from(&gw, "2001:db8::2").await.status,
        403,
        "kept across a reload"
    );
    assert_eq!(
        gw.admin_call("GET", "/access-lists", Some(TOKEN))
            .await
            .json()["backend"],
        "memory"
    );

    // Monitor mode: logged, forwarded.
    gw.write_config(&template.replace("  refresh: 200ms", "  refresh: 200ms\n  mode: monitor"));
    assert_eq!(
        gw.admin_call("POST", "/reload", Some(TOKEN)).await.status,
        200
    );
    assert_eq!(get_from(&gw, "2001:db8::3").await.status, 200);
    wait_for_json_line(&gw.path("audit.log"), "the monitored hit", |l| {
        l["client_ip"] == "2001:db8::3" && l["findings"][0]["rule"] == "access_list.deny"
    })
    .await;

    // Without the block, the lists are off and the API says so.
    gw.write_config(&template.replace("access_lists:\n  refresh: 200ms\n  max_entries: 3\n", ""));
    assert_eq!(
        gw.admin_call("POST", "/reload", Some(TOKEN)).await.status,
        200
    );
    assert_eq!(get_from(&gw, "2001:db8::4").await.status, 200);
    assert_eq!(
        gw.admin_call("GET", "/access-lists", Some(TOKEN))
            .await
            .status,
        404
    );
}
