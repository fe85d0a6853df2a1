//! The admin listener: health, readiness, Prometheus metrics and the running
//! config with its secrets redacted.

mod support;

use support::*;

const TOKEN: &str = "s3cret-admin-token-e2e";

fn admin_config(up: &Upstream) -> String {
    format!(
        r#"
listeners:
  - address: $LISTEN
admin:
  address: $ADMIN
  token: {TOKEN}
upstreams:
  app:
    endpoints: ["{}"]
routes:
  - name: shop
    match:
      path_prefix: /shop
    upstream: app
"#,
        up.url()
    )
}

#[tokio::test]
async fn health_and_ready() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&admin_config(&up)).await;

    let r = gw.admin_get("/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let r = gw.admin_get("/ready").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ready");

    let r = gw.admin_get("/nope").await;
    assert_eq!(r.status, 404);
    let r = post(gw.admin.unwrap(), "/health", "").await;
    assert_eq!(r.status, 405);
    // The admin API is not served on the traffic port.
    let r = gw.get("/health").await;
    assert_eq!(r.status, 404);
}

fn metric_lines(text: &str, name: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .map(str::to_owned)
        .collect()
}

fn sample_value(line: &str) -> f64 {
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&admin_config(&up)).await;

    let before = gw.admin_get("/metrics").await;
    assert_eq!(before.status, 200);
    assert!(
        before
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        before.header("content-type")
    );
    assert!(
        !metric_lines(&before.text(), "portcullis_requests_total")
            .iter()
            .any(|l| l.contains("route=\"shop\"")),
        "no traffic yet"
    );

    for i in 0..3 {
        assert_eq!(gw.get(&format!("/shop/{i}")).await.status, 200);
    }
    gw.get("/elsewhere").await.assert_problem(404);

    let text = gw.admin_get("/metrics").await.text();
    let requests = metric_lines(&text, "portcullis_requests_total");
    let shop: Vec<_> = requests
        .iter()
        .filter(|l| l.contains("route=\"shop\"") && l.contains("status=\"200\""))
        .collect();
    assert_eq!(shop.len(), 1, "{requests:#?}");
    assert!(shop[0].contains("verdict=\"allow\""), "{}", shop[0]);
    assert_eq!(sample_value(shop[0]), 3.0, "{}", shop[0]);
    let unrouted: Vec<_> = requests
        .iter()
        .filter(|l| l.contains("status=\"404\""))
        .collect();
    assert_eq!(unrouted.len(), 1, "{requests:#?}");
    assert_eq!(sample_value(unrouted[0]), 1.0);
    assert!(
        text.lines().any(|l| l.starts_with("portcullis_")
            && l.contains("route=\"shop\"")
            && l.contains("_bucket")),
        "a latency histogram for the route"
    );
}

#[tokio::test]
async fn config_is_served_with_secrets_redacted() {
    let up = Upstream::start("A").await;
    let gw = Gateway::start(&admin_config(&up)).await;

    let r = gw.admin_get("/config").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(
        !r.text().contains(TOKEN),
        "the admin token leaked: {}",
        r.text()
    );
    let json = r.json();
    assert_eq!(json["admin"]["token"], "<redacted>");
    assert_eq!(json["routes"][0]["name"], "shop");
    assert_eq!(json["routes"][0]["upstream"], "app");
    assert_eq!(json["upstreams"]["app"]["endpoints"][0], up.url());
    assert_eq!(json["listeners"][0]["address"], gw.addr.to_string());
}
