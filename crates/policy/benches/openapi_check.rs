//! Per-request cost of the OpenAPI check inside the policy pipeline, on the
//! quickstart's spec: a GET routed and its parameters validated (head hook
//! only), and a POST whose JSON body is parsed once by the request view and
//! validated (head and body hooks) — what a route with `openapi` adds to
//! the pipeline measured in `pipeline.rs`. Run with `cargo bench -p
//! portcullis-policy --bench openapi_check`.

use std::hint::black_box;
use std::path::Path;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, header};
use portcullis_policy::{Config, Exchange, ExchangeHead, Policy, decide};

fn policy() -> Policy {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/gateway.yaml");
    let (config, source) = Config::load(&path).expect("quickstart config loads");
    Policy::compile(config, &path, &source).expect("quickstart config compiles")
}

fn headers(json: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::HOST, HeaderValue::from_static("api.bench.local"));
    h.insert(
        header::USER_AGENT,
        HeaderValue::from_static("bench-wrk/1.0"),
    );
    h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    if json {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("58"));
    }
    h
}

fn exchange<'a>(
    method: &'a Method,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
) -> Exchange<'a> {
    Exchange::new(ExchangeHead {
        request_id: "0123456789abcdef0123456789abcdef",
        client_ip: "127.0.0.1".parse().expect("ip"),
        peer_identity: None,
        method,
        host: "api.bench.local",
        path,
        raw_query: query,
        headers,
        uri_len: path.len(),
        route_name: "api",
    })
}

fn openapi(c: &mut Criterion) {
    let policy = policy();
    let route = policy
        .route("api.bench.local", "/api/users")
        .expect("route");
    let get = Method::GET;
    let get_headers = headers(false);
    c.bench_function("openapi_check/GET head (route + parameters)", |b| {
        b.iter(|| {
            let ex = exchange(
                &get,
                "/api/users",
                Some("limit=10&fields=id,name"),
                &get_headers,
            );
            let mut findings = Vec::new();
            route.inspect_request_head(black_box(&ex), &mut findings);
            black_box(decide(&findings))
        })
    });
    let post = Method::POST;
    let post_headers = headers(true);
    let body = Bytes::from_static(br#"{"name":"Ada Lovelace","email":"ada@analytical.engine.uk"}"#);
    assert_eq!(body.len(), 58);
    c.bench_function(
        "openapi_check/POST head + JSON body (parse + validate)",
        |b| {
            b.iter(|| {
                let mut ex = exchange(&post, "/api/users", None, &post_headers);
                let mut findings = Vec::new();
                route.inspect_request_head(&ex, &mut findings);
                ex.attach_body(body.clone());
                route.inspect_request_body(black_box(&ex), &mut findings);
                assert!(findings.is_empty());
                black_box(decide(&findings))
            })
        },
    );
}

criterion_group!(benches, openapi);
criterion_main!(benches);
