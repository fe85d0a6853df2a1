//! Per-request cost of the bot score alone: classifying the user agent and
//! every signal for a browser's head, curl's, and a forged browser's; and one
//! arrival in the cadence table. Run with
//! `cargo bench -p portcullis-policy --bench bots`.

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Version};
use portcullis_policy::bots::{BotRequest, CadenceSettings, CadenceTable, compile_routes};
use portcullis_policy::{Config, Policy};

const CONFIG: &str = r#"
listeners:
  - address: 127.0.0.1:8080
upstreams:
  api:
    endpoints: ["http://127.0.0.1:18080"]
policies:
  web:
    bots:
      browser_facing: true
      deny_ja4: [t13i311000_e8f1e7e78f70_d41ae481755e]
routes:
  - name: web
    upstream: api
    policy: web
"#;

fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in fields {
        map.append(*n, HeaderValue::from_static(v));
    }
    map
}

const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn bench(c: &mut Criterion) {
    let config: Config = serde_saphyr::from_str(CONFIG).expect("bench config");
    let policy = Policy::compile(config, Path::new("bench.yaml"), CONFIG).expect("compiles");
    let rules = compile_routes(&policy).expect("bots compile")[0]
        .clone()
        .expect("bots on the route");
    let browser = headers(&[
        ("host", "shop.example"),
        (
            "sec-ch-ua",
            "\"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"",
        ),
        ("user-agent", CHROME_UA),
        ("accept", "text/html,*/*;q=0.8"),
        ("sec-fetch-site", "none"),
        ("sec-fetch-mode", "navigate"),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-US,en;q=0.9"),
    ]);
    let curl = headers(&[
        ("host", "x"),
        ("user-agent", "curl/8.5.0"),
        ("accept", "*/*"),
    ]);
    let forged = headers(&[
        ("host", "x"),
        ("user-agent", CHROME_UA),
        ("accept-encoding", "gzip, deflate"),
        ("accept", "*/*"),
    ]);
    for (name, h) in [
        ("browser", &browser),
        ("curl", &curl),
        ("forged_browser", &forged),
    ] {
        c.bench_function(&format!("bots/score/{name}"), |b| {
            b.iter(|| {
                let s = rules.score(black_box(&BotRequest {
                    path: "/",
                    headers: h,
                    version: Version::HTTP_11,
                    tls: true,
                    ja4: Some("t13d1516h2_8daaf6152771_e5627efa2ab1"),
                    regular_cadence: false,
                    honeypot: false,
                }));
                black_box(s.score)
            })
        });
    }
    let table = CadenceTable::new(CadenceSettings {
        samples: 8,
        max_variation: 0.1,
        max_clients: 65_536,
    });
    let ip: IpAddr = "203.0.113.9".parse().expect("an address");
    let mut now = 1_000_000_000u64;
    c.bench_function("bots/cadence_observe", |b| {
        b.iter(|| {
            now += 100_000;
            black_box(table.observe(black_box(ip), now))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
