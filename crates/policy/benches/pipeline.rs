//! Per-request cost of the pure pipeline: admission (framing and size limits,
//! path normalization, routing, client IP), building the request view, both
//! core checks, and the verdict — everything the gateway does to a request
//! besides moving bytes. Run with `cargo bench -p portcullis-policy`.

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, Uri, Version, header};
use portcullis_policy::admission::HeadInput;
use portcullis_policy::{Config, Exchange, ExchangeHead, Policy, decide};

const CONFIG: &str = r#"
listeners:
  - address: 127.0.0.1:8080
trusted_proxies: ["10.0.0.0/8"]
upstreams:
  api:
    endpoints: ["http://127.0.0.1:18080"]
policies:
  api:
    ip_access:
      deny: ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]
    request_limits:
      methods: [GET, POST, PUT, DELETE]
      max_body_bytes: 1MiB
      max_query_params: 50
routes:
  - name: static
    match: { path_prefix: /static }
    upstream: api
  - name: admin
    match: { host: admin.example.com, path_prefix: /admin }
    upstream: api
    policy: api
  - name: api
    match: { path_prefix: /api }
    upstream: api
    policy: api
"#;

fn policy() -> Policy {
    let config = Config::parse(Path::new("bench.yaml"), CONFIG).expect("bench config parses");
    Policy::compile(config, Path::new("bench.yaml"), CONFIG).expect("bench config compiles")
}

fn typical_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static("api.bench.local"));
    headers.insert(
        header::USER_AGENT,
        HeaderValue::from_static("bench-wrk/1.0"),
    );
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer abc.def.ghi"),
    );
    headers.insert(
        header::COOKIE,
        HeaderValue::from_static("session=1234; theme=dark"),
    );
    headers
}

fn pipeline(c: &mut Criterion) {
    let policy = policy();
    let headers = typical_headers();
    let uri: Uri = "/api/users/42?expand=orders&limit=10".parse().expect("uri");
    let method = Method::GET;
    let peer: IpAddr = "127.0.0.1".parse().expect("ip");

    c.bench_function("request_head/admit+checks+decide", |b| {
        b.iter(|| {
            let input = HeadInput {
                version: Version::HTTP_11,
                method: &method,
                uri: &uri,
                headers: &headers,
                peer_ip: peer,
            };
            let admitted = policy.admit(black_box(&input)).expect("admitted");
            let exchange = Exchange::new(ExchangeHead {
                request_id: "0123456789abcdef0123456789abcdef",
                client_ip: admitted.client_ip,
                peer_identity: None,
                method: &method,
                host: &admitted.host,
                path: &admitted.path,
                raw_query: uri.query(),
                headers: &headers,
                uri_len: admitted.uri_len,
                route_name: &admitted.route.name,
            });
            let mut findings = Vec::new();
            admitted
                .route
                .inspect_request_head(&exchange, &mut findings);
            black_box(decide(&findings))
        })
    });

    let dotted: Uri = "/static/../api/./users//42".parse().expect("uri");
    c.bench_function("request_head/admit_with_path_normalization", |b| {
        b.iter(|| {
            let input = HeadInput {
                version: Version::HTTP_11,
                method: &method,
                uri: &dotted,
                headers: &headers,
                peer_ip: peer,
            };
            black_box(policy.admit(black_box(&input)).map(|a| a.route.index).ok())
        })
    });

    c.bench_function("request_id/generate", |b| {
        b.iter(|| black_box(portcullis_policy::request_id::generate()))
    });
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
