//! Upstream failures and load balancing: 502 / 504 problem answers, retries
//! on another endpoint, round robin, least requests, active health checks and
//! passive ejection.

mod support;

use std::time::{Duration, Instant};

use support::*;

fn one_upstream(endpoints: &[String], extra: &str) -> String {
    let endpoints = endpoints
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  app:
    endpoints: [{endpoints}]
{extra}
routes:
  - name: app
    match:
      path_prefix: /
    upstream: app
"#
    )
}

#[tokio::test]
async fn upstream_down_is_a_502_problem() {
    let (_hold, dead) = dead_endpoint();
    let gw = Gateway::start(&one_upstream(&[format!("http://{dead}")], "")).await;

    let r = gw.get("/anything").await;
    let json = r.assert_problem(502);
    assert!(is_generated_request_id(
        json["request_id"].as_str().unwrap()
    ));
    assert!(
        !r.text().contains(&dead.port().to_string()),
        "the problem must not leak the endpoint: {}",
        r.text()
    );
    // Also over HTTP/2.
    let r = h2c(
        gw.addr,
        request("GET", "/h2").body(TestBody::empty()).unwrap(),
    )
    .await;
    r.assert_problem(502);
}

#[tokio::test]
async fn slow_upstream_is_a_504_problem_after_response_timeout() {
    let up = Upstream::start("slow").await;
    let gw = Gateway::start(&one_upstream(
        &[up.url()],
        "    response_timeout: 300ms\n    retries: 0",
    ))
    .await;

    let started = Instant::now();
    let r = gw.get("/slow?ms=5000").await;
    let elapsed = started.elapsed();
    r.assert_problem(504);
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(3),
        "504 after {elapsed:?}, expected about 300ms"
    );
    assert_eq!(up.started(), 1);

    // A fast answer on the same upstream is unaffected.
    let r = gw.get("/slow?ms=10").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn retries_move_idempotent_requests_off_a_dead_endpoint() {
    let (_hold, dead) = dead_endpoint();
    let live = Upstream::start("live").await;
    let config = format!(
        r#"
listeners:
  - address: $LISTEN
upstreams:
  retrying:
    endpoints: ["http://{dead}", "{live}"]
    retries: 1
    passive_ejection:
      enabled: false
  single_shot:
    endpoints: ["http://{dead}", "{live}"]
    retries: 0
    passive_ejection:
      enabled: false
routes:
  - name: retrying
    match:
      path_prefix: /retrying
    upstream: retrying
  - name: single_shot
    match:
      path_prefix: /single
    upstream: single_shot
"#,
        live = live.url()
    );
    let gw = Gateway::start(&config).await;

    for i in 0..8 {
        let r = gw.get(&format!("/retrying/{i}")).await;
        assert_eq!(r.status, 200, "GET {i} with retries: 1: {}", r.text());
        assert_eq!(r.upstream(), "live");
    }

    // Without retries, round robin sends every other request to the dead endpoint.
    let mut failures = 0;
    for i in 0..6 {
        let r = gw.get(&format!("/single/{i}")).await;
        match r.status.as_u16() {
            200 => {}
            502 => failures += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(failures, 3, "retries: 0 must not retry");

    // A POST (not idempotent) is not retried either.
    let mut post_failures = 0;
    for i in 0..4 {
        let r = post(gw.addr, &format!("/retrying/post{i}"), "body").await;
        if r.status == 502 {
            post_failures += 1;
        }
    }
    assert_eq!(post_failures, 2, "POSTs are not retried");
}

#[tokio::test]
async fn round_robin_alternates_between_live_endpoints() {
    let a = Upstream::start("A").await;
    let b = Upstream::start("B").await;
    let gw = Gateway::start(&one_upstream(&[a.url(), b.url()], "")).await;

    let mut order = Vec::new();
    for i in 0..8 {
        let r = gw.get(&format!("/rr/{i}")).await;
        assert_eq!(r.status, 200);
        order.push(r.upstream());
    }
    for pair in order.windows(2) {
        assert_ne!(pair[0], pair[1], "not alternating: {order:?}");
    }
    assert_eq!(a.count(), 4);
    assert_eq!(b.count(), 4);
}

#[tokio::test]
async fn least_requests_avoids_the_busy_endpoint() {
    let a = Upstream::start("A").await;
    let b = Upstream::start("B").await;
    let gw = Gateway::start(&one_upstream(
        &[a.url(), b.url()],
        "    balance: least_requests",
    ))
    .await;

    let addr = gw.addr;
    let slow = tokio::spawn(async move { get(addr, "/slow?ms=1500").await });
    eventually("the slow request reaches an upstream", DEADLINE, || async {
        a.started() + b.started() == 1
    })
    .await;
    let busy = if a.started() == 1 { "A" } else { "B" };
    for i in 0..5 {
        let r = gw.get(&format!("/quick/{i}")).await;
        assert_eq!(r.status, 200);
        assert_ne!(r.upstream(), busy, "request {i} went to the busy endpoint");
    }
    let r = slow.await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream(), busy);
}

#[tokio::test]
async fn active_health_checks_take_an_endpoint_out_and_bring_it_back() {
    let a = Upstream::start("A").await;
    let b = Upstream::start("B").await;
    let gw = Gateway::start(
        &(one_upstream(
            &[a.url(), b.url()],
            r#"    health_check:
      path: /healthz
      interval: 100ms
      timeout: 500ms
      healthy_threshold: 2
      unhealthy_threshold: 2
    passive_ejection:
      enabled: false"#,
        ) + "admin:\n  address: $ADMIN\n"),
    )
    .await;

    eventually("both endpoints are probed", DEADLINE, || async {
        a.health_probes() >= 1 && b.health_probes() >= 1
    })
    .await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4 {
        seen.insert(gw.get("/before").await.upstream());
    }
    assert_eq!(seen.len(), 2, "both endpoints serve while healthy");

    // A fails its health checks: all traffic goes to B.
    a.set_healthy(false);
    let marked_down = Instant::now();
    eventually("A is taken out of rotation", DEADLINE, || async {
        let mut all_b = true;
        for _ in 0..4 {
            all_b &= gw.get("/probe").await.upstream() == "B";
        }
        all_b
    })
    .await;
    assert!(
        marked_down.elapsed() < Duration::from_secs(3),
        "took {:?}",
        marked_down.elapsed()
    );
    let metrics = gw.admin_get("/metrics").await.text();
    let gauge = |endpoint: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("portcullis_upstream_endpoint_healthy{")
                    && l.contains(&format!("endpoint=\"{endpoint}\""))
            })
            .unwrap_or_else(|| panic!("no health gauge for {endpoint}:\n{metrics}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(gauge(&a.url()), "0");
    assert_eq!(gauge(&b.url()), "1");
    let a_before = a.count();
    for i in 0..10 {
        let r = gw.get(&format!("/down/{i}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.upstream(), "B");
    }
    assert_eq!(a.count(), a_before, "an unhealthy endpoint gets no traffic");

    // Both unhealthy: 503 problem.
    b.set_healthy(false);
    eventually("no endpoint left gives 503", DEADLINE, || async {
        gw.get("/none").await.status == 503
    })
    .await;
    gw.get("/none").await.assert_problem(503);

    // Healthy again: traffic comes back to both.
    a.set_healthy(true);
    b.set_healthy(true);
    eventually("A gets traffic again", DEADLINE, || async {
        gw.get("/after").await.upstream() == "A"
    })
    .await;
    eventually("B gets traffic again", DEADLINE, || async {
        gw.get("/after").await.upstream() == "B"
    })
    .await;
}

#[tokio::test]
async fn passive_ejection_takes_out_a_failing_endpoint_for_ejection_time() {
    let a = Upstream::start("A").await;
    let b = Upstream::start("B").await;
    let gw = Gateway::start(&one_upstream(
        &[a.url(), b.url()],
        r#"    retries: 0
    passive_ejection:
      consecutive_failures: 2
      ejection_time: 1s"#,
    ))
    .await;

    a.set_status(500);
    let mut requests = 0;
    while a.count() < 2 {
        let r = gw.get("/eject").await;
        match r.upstream().as_str() {
            "A" => assert_eq!(r.status, 500, "the upstream's 500 is passed on"),
            "B" => assert_eq!(r.status, 200),
            other => panic!("answered by {other:?}: {}", r.text()),
        }
        requests += 1;
        assert!(requests <= 6, "A got fewer than 2 of {requests} requests");
    }
    let ejected_at = Instant::now();

    // Ejected: everything goes to B, even though A would now answer fine.
    a.set_status(0);
    for i in 0..10 {
        let r = gw.get(&format!("/ejected/{i}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.upstream(),
            "B",
            "request {i} reached the ejected endpoint"
        );
    }
    assert_eq!(a.count(), 2);

    // After ejection_time, A is back.
    eventually("A is back after ejection_time", DEADLINE, || async {
        gw.get("/back").await.upstream() == "A"
    })
    .await;
    let ejected_for = ejected_at.elapsed();
    assert!(
        ejected_for >= Duration::from_millis(900),
        "A came back after {ejected_for:?}, before ejection_time (1s)"
    );
}
