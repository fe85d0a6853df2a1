//! Hot-path costs of spec enforcement: routing a request among 500
//! operations, validating a typical 1 KB JSON request (parameters and body,
//! with and without parsing the body), and compiling a spec of 1,000
//! operations (the config load / reload cost). Run with
//! `cargo bench -p portcullis-openapi`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};
use portcullis_openapi::{
    CompileOptions, Exposure, RequestBody, RequestParts, RequestReport, ResponseParts, Spec,
};
use serde_json::{Value, json};

/// A generated spec: `resources` collections, each with a list, a create, a
/// get, an update and a delete (so 5 operations per resource), every one
/// with a path parameter, a query parameter and a shared body schema.
fn generated_spec(resources: usize) -> String {
    let mut paths = serde_json::Map::new();
    for i in 0..resources {
        let op = |method: &str| {
            json!({
                "operationId": format!("{method}Resource{i}"),
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}}}
            })
        };
        let mut write = op("create");
        write["requestBody"] = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}});
        paths.insert(format!("/tenants/{{tenant}}/resource{i}"), json!({
            "parameters": [{"name": "tenant", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 32}}],
            "get": op("list"),
            "post": write,
        }));
        let mut update = op("update");
        update["requestBody"] = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}});
        paths.insert(format!("/tenants/{{tenant}}/resource{i}/{{id}}"), json!({
            "parameters": [
                {"name": "tenant", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 32}},
                {"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}
            ],
            "get": op("get"),
            "put": update,
            "delete": op("delete"),
        }));
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "generated", "version": "1"},
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {"schemas": {"Item": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "id": {"type": "integer", "readOnly": true},
                "name": {"type": "string", "maxLength": 100},
                "tags": {"type": "array", "maxItems": 20, "items": {"type": "string", "maxLength": 30}}
            }
        }}}
    })
    .to_string()
}

const SHOP: &str = include_str!("../tests/data/shop.yaml");

/// An order of about 1 KB.
fn order_body() -> String {
    let items: Vec<Value> = (0..18)
        .map(|i| json!({"sku": format!("ABC-{:04}", 1000 + i), "quantity": i % 9 + 1, "price": 12.5 + i as f64}))
        .collect();
    json!({
        "items": items,
        "shipping": {"street": "221B Baker Street", "city": "London", "postcode": "NW1 6XE", "country": "GB"},
        "note": "Leave the parcel with the concierge if nobody answers the door, please."
    })
    .to_string()
}

fn benches(c: &mut Criterion) {
    let routing = Spec::from_texts(
        &[("g.json", &generated_spec(100))],
        &CompileOptions::default(),
    )
    .unwrap();
    assert_eq!(routing.operations.len(), 500);
    let mut group = c.benchmark_group("openapi");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    group.bench_function("route among 500 operations", |b| {
        b.iter(|| {
            routing
                .route(
                    black_box(&Method::PUT),
                    black_box("/api/tenants/acme/resource57/42"),
                )
                .unwrap()
        })
    });
    group.bench_function("route an unknown path among 500 operations", |b| {
        b.iter(|| {
            routing
                .route(
                    black_box(&Method::GET),
                    black_box("/api/tenants/acme/nothing/42"),
                )
                .is_err()
        })
    });

    let shop = Spec::from_texts(&[("shop.yaml", SHOP)], &CompileOptions::default()).unwrap();
    let body = order_body();
    assert!(
        (900..1200).contains(&body.len()),
        "body is {} bytes",
        body.len()
    );
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "idempotency-key",
        HeaderValue::from_static("0b5c7c4e-7d8f-4a5b-9c1e-2f3a4b5c6d7e"),
    );
    headers.insert("user-agent", HeaderValue::from_static("bench/1"));
    let validate = |value: &Value| {
        let matched = shop.route(&Method::POST, "/v1/orders").unwrap();
        let op = &shop.operations[matched.operation];
        let parts = RequestParts {
            method: &Method::POST,
            path: "/v1/orders",
            query: None,
            headers: &headers,
            cookies: &[],
        };
        let mut report = RequestReport::default();
        shop.validate_parameters(&matched, &parts, &[], &mut report);
        shop.validate_body(
            op,
            Some("application/json"),
            RequestBody::Json(value),
            &mut report,
        );
        report
    };
    let parsed: Value = serde_json::from_str(&body).unwrap();
    assert!(
        validate(&parsed).violations.is_empty(),
        "{:?}",
        validate(&parsed).violations
    );
    group.bench_function("validate a 1 KB JSON request (parsed body)", |b| {
        b.iter(|| validate(black_box(&parsed)))
    });
    group.bench_function("validate a 1 KB JSON request (parse + validate)", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(body.as_bytes())).unwrap();
            validate(&v)
        })
    });

    // Responses of the bench upstream (`bench/openapi.yaml`): a 19-byte
    // user and a 64 KB page of users, parsed and validated whole.
    let bench_spec = Spec::from_texts(
        &[("openapi.yaml", include_str!("../../../bench/openapi.yaml"))],
        &CompileOptions::default(),
    )
    .unwrap();
    let page = users_page(65536);
    let small = br#"{"id":1,"name":"x"}"#.to_vec();
    for (name, path, body) in [
        ("validate a 19-byte JSON response", "/api/users/1", &small),
        ("validate a 64 KB JSON response", "/api/big64k", &page),
    ] {
        let matched = bench_spec.route(&Method::GET, path).unwrap();
        let op = &bench_spec.operations[matched.operation];
        let parts = ResponseParts {
            status: 200,
            content_type: Some("application/json"),
            content_encoding: None,
        };
        let report = bench_spec.validate_response_body(op, &parts, body, Exposure::Block);
        assert!(
            report.violations.is_empty() && report.exposures.is_empty(),
            "{name}: {:?} {:?}",
            report.violations,
            report.exposures
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                bench_spec.validate_response_body(op, &parts, black_box(body), Exposure::Block)
            })
        });
    }
    group.finish();

    let big = generated_spec(200);
    let mut compile = c.benchmark_group("openapi compile");
    compile
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    compile.bench_function("compile a spec of 1000 operations", |b| {
        b.iter(|| {
            let spec = Spec::from_texts(&[("g.json", black_box(&big))], &CompileOptions::default())
                .unwrap();
            assert_eq!(spec.operations.len(), 1000);
            spec
        })
    });
    let yaml = serde_json::from_str::<Value>(&big)
        .map(|v| to_yaml(&v, 0))
        .unwrap();
    compile.bench_function("compile a spec of 1000 operations (YAML)", |b| {
        b.iter(|| {
            Spec::from_texts(&[("g.yaml", black_box(&yaml))], &CompileOptions::default()).unwrap()
        })
    });
    compile.finish();
}

/// A page of users like the bench upstream's `big64k.json`, about `bytes` long.
fn users_page(bytes: usize) -> Vec<u8> {
    let cities = ["Nairobi", "Lyon", "Osaka", "Quito", "Tartu"];
    let mut users = Vec::new();
    let mut len = 40;
    let mut i = 1;
    while len < bytes - 200 {
        let user = json!({"id": i, "name": format!("user {i}"), "city": cities[i % 5], "active": i % 3 != 0, "score": (i * 37) % 1000, "tags": ["member", "beta"]});
        len += user.to_string().len() + 1;
        users.push(user);
        i += 1;
    }
    serde_json::to_vec(&json!({"page": 1, "count": users.len(), "users": users})).unwrap()
}

/// A block-style YAML rendering (strings quoted as JSON, which YAML reads).
fn to_yaml(v: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| match v {
                Value::Object(m) if !m.is_empty() => format!(
                    "{pad}{}:\n{}",
                    Value::String(k.clone()),
                    to_yaml(v, indent + 2)
                ),
                Value::Array(a) if !a.is_empty() => format!(
                    "{pad}{}:\n{}",
                    Value::String(k.clone()),
                    to_yaml(v, indent + 2)
                ),
                _ => format!("{pad}{}: {}\n", Value::String(k.clone()), v),
            })
            .collect(),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::Object(m) if !m.is_empty() => {
                    let inner = to_yaml(item, indent + 2);
                    format!("{pad}- {}", inner.trim_start())
                }
                _ => format!("{pad}- {item}\n"),
            })
            .collect(),
        other => format!("{pad}{other}\n"),
    }
}

criterion_group!(openapi, benches);
criterion_main!(openapi);
