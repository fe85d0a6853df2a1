//! Configuration reload: on file change, on SIGHUP and on `POST /reload`; a
//! broken config is refused and the running one keeps serving; requests in
//! flight finish on the generation they started with.

mod support;

use std::time::Duration;

use support::*;

const TOKEN: &str = "reload-token-e2e";

struct Cfg<'a> {
    /// Upstream behind `/api` (prefix stripped).
    api: &'a Upstream,
    /// Upstream behind `/extra`, a route only some versions have.
    extra: Option<&'a Upstream>,
    watch: bool,
    admin: bool,
}

impl Cfg<'_> {
    fn render(&self) -> String {
        let mut s = String::from("listeners:\n  - address: $LISTEN\n");
        if !self.watch {
            s.push_str("runtime:\n  watch_config: false\n");
        }
        if self.admin {
            s.push_str(&format!("admin:\n  address: $ADMIN\n  token: {TOKEN}\n"));
        }
        s.push_str(&format!(
            "upstreams:\n  api:\n    endpoints: [\"{}\"]\n",
            self.api.url()
        ));
        if let Some(extra) = self.extra {
            s.push_str(&format!("  extra:\n    endpoints: [\"{}\"]\n", extra.url()));
        }
        s.push_str(
            "routes:\n  - name: api\n    match:\n      path_prefix: /api\n    upstream: api\n    strip_prefix: /api\n",
        );
        if self.extra.is_some() {
            s.push_str(
                "  - name: extra\n    match:\n      path_prefix: /extra\n    upstream: extra\n",
            );
        }
        s
    }
}

/// A route that names an upstream that does not exist.
const BROKEN: &str = r#"listeners:
  - address: $LISTEN
upstreams:
  api:
    endpoints: ["http://127.0.0.1:9"]
routes:
  - name: api
    match:
      path_prefix: /api
    upstream: no_such_upstream
"#;

async fn answered_by(gw: &Gateway, path: &str) -> String {
    gw.get(path).await.upstream()
}

#[tokio::test]
async fn a_changed_config_file_is_picked_up() {
    let a = Upstream::start("A").await;
    let b = Upstream::start("B").await;
    let v1 = Cfg {
        api: &a,
        extra: None,
        watch: true,
        admin: false,
    };
    let gw = Gateway::start(&v1.render()).await;
    assert_eq!(answered_by(&gw, "/api/x").await, "A");
    assert_eq!(a.last().uri, "/x", "strip_prefix removes /api");
    gw.get("/extra/x").await.assert_problem(404);

    // A new upstream for /api and a new route.
    let v2 = Cfg {
        api: &b,
        extra: Some(&b),
        ..v1
    };
    gw.write_config(&v2.render());
    eventually("/api moves to upstream B", DEADLINE, || async {
        answered_by(&gw, "/api/x").await == "B"
    })
    .await;
    let r = gw.get("/extra/y").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream(), "B");
    assert!(
        gw.stderr().contains("configuration reloaded"),
        "{}",
        gw.stderr()
    );

    // Editing in place (not replacing the file) works too.
    std::fs::write(&gw.config_path, gw.render(&v1.render())).unwrap();
    eventually("/extra disappears again", DEADLINE, || async {
        gw.get("/extra/z").await.status == 404
    })
    .await;
    assert_eq!(answered_by(&gw, "/api/x").await, "A");
}

#[tokio::test]
async fn sighup_reloads_when_file_watching_is_off() {
    let a = Upstream::start("A").await;
    let b = Upstream::start("B").await;
    let v1 = Cfg {
        api: &a,
        extra: None,
        watch: false,
        admin: false,
    };
    let gw = Gateway::start(&v1.render()).await;
    assert_eq!(answered_by(&gw, "/api/x").await, "A");

    gw.write_config(
        &Cfg {
            api: &b,
            extra: None,
            ..v1
        }
        .render(),
    );
    // watch_config: false: the change alone does nothing (the watcher would
    // have reloaded within ~200 ms).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        answered_by(&gw, "/api/x").await,
        "A",
        "reloaded without a signal"
    );

    gw.signal("HUP");
    eventually("SIGHUP applies the new config", DEADLINE, || async {
        answered_by(&gw, "/api/x").await == "B"
    })
    .await;
    assert!(gw.stderr().contains("SIGHUP"), "{}", gw.stderr());
}

#[tokio::test]
async fn a_broken_config_is_refused_and_the_old_one_keeps_serving() {
    let a = Upstream::start("A").await;
    let b = Upstream::start("B").await;
    let v1 = Cfg {
        api: &a,
        extra: None,
        watch: true,
        admin: false,
    };
    let gw = Gateway::start(&v1.render()).await;
    assert_eq!(answered_by(&gw, "/api/x").await, "A");

    gw.write_config(BROKEN);
    eventually("stderr reports the refused reload", DEADLINE, || async {
        gw.stderr().contains("reload refused")
    })
    .await;
    let stderr = gw.stderr();
    assert!(
        stderr.contains("routes[0].upstream") && stderr.contains("no_such_upstream"),
        "the error names the field: {stderr}"
    );
    for _ in 0..3 {
        let r = gw.get("/api/x").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.upstream(), "A");
    }

    // Not even YAML.
    gw.write_config("listeners: [\n  - {{{\n");
    eventually("the YAML error is reported", DEADLINE, || async {
        gw.stderr().matches("reload refused").count() >= 2
    })
    .await;
    assert_eq!(answered_by(&gw, "/api/x").await, "A");

    // Listener addresses cannot move on reload.
    let moved = v1
        .render()
        .replace("$LISTEN", &format!("127.0.0.1:{}", free_port()));
    gw.write_config(&moved);
    eventually("the listener change is refused", DEADLINE, || async {
        gw.stderr().contains("listener addresses cannot change")
    })
    .await;
    assert_eq!(answered_by(&gw, "/api/x").await, "A");

    // A good config after the failures is applied.
    gw.write_config(
        &Cfg {
            api: &b,
            extra: None,
            ..v1
        }
        .render(),
    );
    eventually("a fixed config is applied", DEADLINE, || async {
        answered_by(&gw, "/api/x").await == "B"
    })
    .await;
}

#[tokio::test]
async fn a_request_in_flight_during_a_reload_completes() {
    let a = Upstream::start("A").await;
    let b = Upstream::start("B").await;
    let v1 = Cfg {
        api: &a,
        extra: None,
        watch: true,
        admin: false,
    };
    let gw = Gateway::start(&v1.render()).await;

    let addr = gw.addr;
    let slow = tokio::spawn(async move { get(addr, "/api/slow?ms=2500").await });
    eventually("the slow request reaches A", DEADLINE, || async {
        a.started() == 1
    })
    .await;

    gw.write_config(
        &Cfg {
            api: &b,
            extra: None,
            ..v1
        }
        .render(),
    );
    eventually("new requests go to B", DEADLINE, || async {
        answered_by(&gw, "/api/x").await == "B"
    })
    .await;
    assert!(
        !slow.is_finished(),
        "the slow request finished before the reload: the test proves nothing"
    );

    let r = slow.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.upstream(), "A");
    assert_eq!(r.text(), "A slow done");
}

#[tokio::test]
async fn admin_reload_needs_the_bearer_token() {
    let a = Upstream::start("A").await;
    let b = Upstream::start("B").await;
    let v1 = Cfg {
        api: &a,
        extra: None,
        watch: false,
        admin: true,
    };
    let gw = Gateway::start(&v1.render()).await;
    let admin = gw.admin.unwrap();
    gw.write_config(
        &Cfg {
            api: &b,
            extra: None,
            ..v1
        }
        .render(),
    );

    let reload = |auth: Option<String>| async move {
        let mut req = request("POST", "/reload");
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        h1(admin, req.body(TestBody::empty()).unwrap()).await
    };

    let r = reload(None).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    let r = reload(Some("Bearer wrong-token".into())).await;
    assert_eq!(r.status, 401);
    let r = reload(Some(TOKEN.into())).await;
    assert_eq!(r.status, 401, "the Bearer scheme is required");
    assert_eq!(
        answered_by(&gw, "/api/x").await,
        "A",
        "refused reloads change nothing"
    );

    let r = reload(Some(format!("Bearer {TOKEN}"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "reloaded");
    assert_eq!(
        answered_by(&gw, "/api/x").await,
        "B",
        "applied when /reload answers"
    );

    // A broken file: 422 with the located error; the running config stays.
    gw.write_config(&BROKEN.replace(
        "listeners:\n  - address: $LISTEN\n",
        "listeners:\n  - address: $LISTEN\nruntime:\n  watch_config: false\nadmin:\n  address: $ADMIN\n",
    ));
    let r = reload(Some(format!("Bearer {TOKEN}"))).await;
    assert_eq!(r.status, 422, "{}", r.text());
    let error = r.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("gateway.yaml:") && error.contains("routes[0].upstream"),
        "{error}"
    );
    assert_eq!(answered_by(&gw, "/api/x").await, "B");

    let metrics = gw.admin_get("/metrics").await.text();
    let reloads: Vec<_> = metrics
        .lines()
        .filter(|l| l.starts_with("portcullis_config_reloads_total{"))
        .collect();
    assert!(
        reloads
            .iter()
            .any(|l| l.contains("result=\"success\"") && l.ends_with(" 1")),
        "{reloads:?}"
    );
    assert!(
        reloads
            .iter()
            .any(|l| l.contains("result=\"failure\"") && l.ends_with(" 1")),
        "{reloads:?}"
    );
}

#[tokio::test]
async fn admin_reload_is_refused_without_a_configured_token() {
    let a = Upstream::start("A").await;
    let config = Cfg {
        api: &a,
        extra: None,
        watch: false,
        admin: true,
    }
    .render()
    .replace(&format!("  token: {TOKEN}\n"), "");
    let gw = Gateway::start(&config).await;
    let r = h1(
        gw.admin.unwrap(),
        request("POST", "/reload")
            .header("authorization", "Bearer anything")
            .body(TestBody::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
}

/// A config written right after the gateway's port opens must not be missed:
/// the watcher should exist before traffic (and config management) starts.
#[tokio::test]
async fn a_config_change_right_after_start_up_is_not_lost() {
    let a = Upstream::start("A").await;
    let b = Upstream::start("B").await;
    let v1 = Cfg {
        api: &a,
        extra: None,
        watch: true,
        admin: false,
    };
    let gw = Gateway::start_accepting_only(&v1.render()).await;
    gw.write_config(
        &Cfg {
            api: &b,
            extra: None,
            ..v1
        }
        .render(),
    );
    eventually(
        "the change made at start-up is applied",
        Duration::from_secs(3),
        || async {
            try_h1(
                gw.addr,
                request("GET", "/api/x").body(TestBody::empty()).unwrap(),
            )
            .await
            .is_ok_and(|r| r.upstream() == "B")
        },
    )
    .await;
}
