//! Request and response validation against a realistic spec (users,
//! orders, file upload, login, reports), table-driven: each request is
//! written as it arrives and the violations expected (kind and location).

// Table rows are tuples, spelled out where they are declared.
#![allow(clippy::type_complexity)]

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use portcullis_openapi::response::ResponseParts;
use portcullis_openapi::{
    CompileOptions, Exposure, KnobOverrides, Knobs, PartView, RequestBody, RequestParts,
    RequestReport, RouteError, Spec, UnknownParams, ViolationKind,
};
use serde_json::Value;

const SHOP: &str = include_str!("data/shop.yaml");

fn shop(options: &CompileOptions) -> Spec {
    Spec::from_texts(&[("shop.yaml", SHOP)], options).unwrap_or_else(|e| panic!("{e}"))
}

enum Body<'a> {
    None,
    Json(&'a str),
    Form(&'a str),
    Multipart(Vec<PartView<'a>>),
    Text(&'a str),
    Binary(usize),
}

/// Runs one request through routing, parameters and body.
fn request(
    spec: &Spec,
    method: Method,
    target: &str,
    headers: &[(&str, &str)],
    body: Body<'_>,
) -> RequestReport {
    let (path, query) = target
        .split_once('?')
        .map_or((target, None), |(p, q)| (p, Some(q)));
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let cookie_text: String = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .map(|(_, v)| *v)
        .collect::<Vec<_>>()
        .join("; ");
    let cookies: Vec<(&str, &str)> = cookie_text
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .collect();
    let mut report = RequestReport::default();
    let matched = spec.route(&method, path).expect("the cases route");
    let parts = RequestParts {
        method: &method,
        path,
        query,
        headers: &map,
        cookies: &cookies,
    };
    spec.validate_parameters(&matched, &parts, &[], &mut report);
    let op = &spec.operations[matched.operation];
    let content_type = map.get("content-type").and_then(|v| v.to_str().ok());
    let json;
    let pairs: Vec<(String, String)>;
    let bytes;
    let body = match &body {
        Body::None => RequestBody::Empty,
        Body::Json(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) => {
                json = v;
                RequestBody::Json(&json)
            }
            Err(_) => RequestBody::Malformed("invalid JSON"),
        },
        Body::Form(text) => {
            pairs = form_urlencoded::parse(text.as_bytes())
                .into_owned()
                .collect();
            RequestBody::Form(&pairs)
        }
        Body::Multipart(parts) => RequestBody::Multipart(parts),
        Body::Text(t) => RequestBody::Text(t),
        Body::Binary(n) => {
            bytes = vec![0u8; *n];
            RequestBody::Binary(&bytes)
        }
    };
    spec.validate_body(op, content_type, body, &mut report);
    report
}

fn kinds(report: &RequestReport) -> Vec<(ViolationKind, String)> {
    report
        .violations
        .iter()
        .map(|v| (v.kind, v.location.clone()))
        .collect()
}

const JSON: (&str, &str) = ("content-type", "application/json");
const KEY: (&str, &str) = ("idempotency-key", "0b5c7c4e-7d8f-4a5b-9c1e-2f3a4b5c6d7e");

#[test]
fn valid_requests_pass() {
    let spec = shop(&CompileOptions::default());
    let order = r#"{"items":[{"sku":"ABC-1234","quantity":2,"price":9.5}],"shipping":{"street":"1 Main St","city":"Paris","country":"FR"},"note":null}"#;
    let png = PartView {
        name: "file",
        filename: Some("a.png"),
        content_type: Some("image/png"),
        data: &[0x89, b'P', b'N', b'G'],
    };
    let desc = PartView {
        name: "description",
        filename: None,
        content_type: None,
        data: b"holiday",
    };
    let tag = PartView {
        name: "tags",
        filename: None,
        content_type: None,
        data: b"beach",
    };
    let cases: Vec<(Method, &str, Vec<(&str, &str)>, Body)> = vec![
        (Method::GET, "/v1/users", vec![], Body::None),
        (
            Method::GET,
            "/v1/users?limit=10&sort=-name&fields=id,name&tag=a&tag=b&filter[role]=admin&filter%5Bactive%5D=true",
            vec![
                ("x-trace-id", "0b5c7c4e-7d8f-4a5b-9c1e-2f3a4b5c6d7e"),
                ("user-agent", "curl/8"),
            ],
            Body::None,
        ),
        (Method::GET, "/v1/users/me", vec![], Body::None),
        (Method::GET, "/v1/users/42", vec![], Body::None),
        (Method::DELETE, "/v1/users/42", vec![], Body::None),
        (
            Method::GET,
            "/v1/users/42/orders?status=new|paid",
            vec![],
            Body::None,
        ),
        (
            Method::POST,
            "/v1/users",
            vec![JSON],
            Body::Json(r#"{"name":"Ada","email":"ada@example.com","password":"correct horse"}"#),
        ),
        (
            Method::POST,
            "/v1/orders",
            vec![("content-type", "application/json; charset=utf-8"), KEY],
            Body::Json(order),
        ),
        (
            Method::GET,
            "/v1/orders/0b5c7c4e-7d8f-4a5b-9c1e-2f3a4b5c6d7e",
            vec![],
            Body::None,
        ),
        (
            Method::POST,
            "/v1/files",
            vec![("content-type", "multipart/form-data; boundary=x")],
            Body::Multipart(vec![png, desc, tag]),
        ),
        (
            Method::POST,
            "/v1/login",
            vec![JSON],
            Body::Json(r#"{"username":"ada","password":"12345678"}"#),
        ),
        (
            Method::POST,
            "/v1/login",
            vec![("content-type", "application/x-www-form-urlencoded")],
            Body::Form("username=ada&password=12345678"),
        ),
        (
            Method::GET,
            "/v1/reports/2024.csv",
            vec![("cookie", "session=abc")],
            Body::None,
        ),
        (
            Method::GET,
            "/v1/users",
            vec![("x-api-key", "k")],
            Body::None,
        ),
    ];
    for (method, target, headers, body) in cases {
        let report = request(&spec, method.clone(), target, &headers, body);
        assert_eq!(kinds(&report), [], "{method} {target}");
        assert!(report.strip.is_empty());
    }
}

#[test]
fn violations_are_found_where_they_are() {
    use ViolationKind::*;
    let spec = shop(&CompileOptions::default());
    let png = |ct| PartView {
        name: "file",
        filename: Some("a.exe"),
        content_type: Some(ct),
        data: b"MZ",
    };
    let cases: Vec<(
        Method,
        &str,
        Vec<(&str, &str)>,
        Body,
        Vec<(ViolationKind, &str)>,
    )> = vec![
        (
            Method::GET,
            "/v1/users/0",
            vec![],
            Body::None,
            vec![(PathParameter, "path.userId")],
        ),
        (
            Method::GET,
            "/v1/users/abc/orders",
            vec![],
            Body::None,
            vec![(PathParameter, "path.userId")],
        ),
        (
            Method::GET,
            "/v1/users?limit=1000",
            vec![],
            Body::None,
            vec![(QueryParameter, "query.limit")],
        ),
        (
            Method::GET,
            "/v1/users?limit=ten",
            vec![],
            Body::None,
            vec![(QueryParameter, "query.limit")],
        ),
        (
            Method::GET,
            "/v1/users?limit=1&limit=2",
            vec![],
            Body::None,
            vec![(QueryParameter, "query.limit")],
        ),
        (
            Method::GET,
            "/v1/users?fields=id,password",
            vec![],
            Body::None,
            vec![(QueryParameter, "query.fields/1")],
        ),
        (
            Method::GET,
            "/v1/users?filter[role]=root",
            vec![],
            Body::None,
            vec![(QueryParameter, "query.filter/role")],
        ),
        (
            Method::GET,
            "/v1/users?filter[owner]=1",
            vec![],
            Body::None,
            vec![(QueryParameter, "query.filter/owner")],
        ),
        (
            Method::GET,
            "/v1/users?debug=1",
            vec![],
            Body::None,
            vec![(UnknownQuery, "query.debug")],
        ),
        (
            Method::GET,
            "/v1/users?cursor=a(b)",
            vec![],
            Body::None,
            vec![(QueryParameter, "query.cursor")],
        ),
        (
            Method::GET,
            "/v1/users/42/orders?status=new|lost",
            vec![],
            Body::None,
            vec![(QueryParameter, "query.status/1")],
        ),
        (
            Method::GET,
            "/v1/users",
            vec![("x-trace-id", "nope")],
            Body::None,
            vec![(HeaderParameter, "header.x-trace-id")],
        ),
        (
            Method::GET,
            "/v1/reports/2024.csv",
            vec![],
            Body::None,
            vec![(MissingParameter, "cookie.session")],
        ),
        (
            Method::GET,
            "/v1/reports/1999.doc",
            vec![("cookie", "session=a")],
            Body::None,
            vec![(PathParameter, "path.year"), (PathParameter, "path.format")],
        ),
        (
            Method::POST,
            "/v1/orders",
            vec![JSON],
            Body::Json(r#"{"items":[{"sku":"ABC-1234","quantity":1,"price":1}]}"#),
            vec![(MissingParameter, "header.idempotency-key")],
        ),
        (
            Method::POST,
            "/v1/orders",
            vec![JSON, KEY],
            Body::Json(
                r#"{"items":[{"sku":"ABC-1234","quantity":1,"price":1},{"sku":"x","quantity":0,"price":-1}]}"#,
            ),
            vec![
                (BodySchema, "body:/items/1/price"),
                (BodySchema, "body:/items/1/quantity"),
                (BodySchema, "body:/items/1/sku"),
            ],
        ),
        (
            Method::POST,
            "/v1/orders",
            vec![JSON, KEY],
            Body::Json(r#"{"items":[]}"#),
            vec![(BodySchema, "body:/items")],
        ),
        (
            Method::POST,
            "/v1/orders",
            vec![JSON, KEY],
            Body::Json(r#"{"items":[{"sku":"ABC-1234","quantity":1,"price":1}],"status":"paid"}"#),
            vec![(BodyReadOnly, "body:/status")],
        ),
        (
            Method::POST,
            "/v1/users",
            vec![JSON],
            Body::Json(r#"{"name":"Ada","email":"ada@example.com","is_admin":true}"#),
            vec![(BodyUndeclared, "body:/is_admin")],
        ),
        (
            Method::POST,
            "/v1/users",
            vec![JSON],
            Body::Json(r#"{"id":1,"name":"Ada","email":"ada@example.com"}"#),
            vec![(BodyReadOnly, "body:/id")],
        ),
        (
            Method::POST,
            "/v1/users",
            vec![JSON],
            Body::Json(r#"{"name":"Ada","email":"not-an-email"}"#),
            vec![(BodySchema, "body:/email")],
        ),
        (
            Method::POST,
            "/v1/users",
            vec![JSON],
            Body::Json(r#"["not","an","object"]"#),
            vec![(BodySchema, "body:/")],
        ),
        (
            Method::POST,
            "/v1/users",
            vec![JSON],
            Body::Json("{"),
            vec![(BodyMalformed, "body")],
        ),
        (
            Method::POST,
            "/v1/users",
            vec![JSON],
            Body::None,
            vec![(BodyMissing, "body")],
        ),
        (
            Method::POST,
            "/v1/users",
            vec![("content-type", "text/plain")],
            Body::Text("hi"),
            vec![(ContentType, "header.content-type")],
        ),
        (
            Method::POST,
            "/v1/users",
            vec![],
            Body::Binary(3),
            vec![(ContentType, "header.content-type")],
        ),
        (
            Method::DELETE,
            "/v1/users/1",
            vec![("content-type", "text/plain")],
            Body::Text("x"),
            vec![(BodyUnexpected, "body")],
        ),
        (
            Method::POST,
            "/v1/login",
            vec![("content-type", "application/x-www-form-urlencoded")],
            Body::Form("username=ada"),
            vec![(BodySchema, "form")],
        ),
        (
            Method::POST,
            "/v1/login",
            vec![("content-type", "application/x-www-form-urlencoded")],
            Body::Form("username=ada&password=12345678&role=admin"),
            vec![(BodyUndeclared, "form.role")],
        ),
        (
            Method::POST,
            "/v1/files",
            vec![("content-type", "multipart/form-data; boundary=x")],
            Body::Multipart(vec![png("application/x-msdownload")]),
            vec![(ContentType, "multipart.file")],
        ),
        (
            Method::POST,
            "/v1/files",
            vec![("content-type", "multipart/form-data; boundary=x")],
            Body::Multipart(vec![PartView {
                name: "description",
                filename: None,
                content_type: None,
                data: b"no file",
            }]),
            vec![(BodySchema, "multipart")],
        ),
        (
            Method::POST,
            "/v1/files",
            vec![("content-type", "multipart/form-data; boundary=x")],
            Body::Multipart(vec![
                png("image/png"),
                PartView {
                    name: "owner",
                    filename: None,
                    content_type: None,
                    data: b"1",
                },
            ]),
            vec![(BodyUndeclared, "multipart.owner")],
        ),
    ];
    for (method, target, headers, body, want) in cases {
        let report = request(&spec, method.clone(), target, &headers, body);
        let want: Vec<(ViolationKind, String)> =
            want.into_iter().map(|(k, l)| (k, l.to_owned())).collect();
        assert_eq!(kinds(&report), want, "{method} {target}");
        for v in &report.violations {
            assert!(!v.reason.is_empty());
            for secret in ["root", "is_admin", "not-an-email", "lost"] {
                assert!(
                    !v.reason.contains(secret),
                    "{method} {target}: reason echoes input: {}",
                    v.reason
                );
            }
        }
    }
}

#[test]
fn large_uploads_and_caps() {
    let spec = shop(&CompileOptions::default());
    let big = vec![0u8; 65_537];
    let part = PartView {
        name: "file",
        filename: Some("a.png"),
        content_type: Some("image/png"),
        data: &big,
    };
    let report = request(
        &spec,
        Method::POST,
        "/v1/files",
        &[("content-type", "multipart/form-data; boundary=x")],
        Body::Multipart(vec![part]),
    );
    assert_eq!(
        kinds(&report),
        [(ViolationKind::BodyTooLarge, "multipart.file".to_owned())]
    );
    let deep = format!(
        "{{\"name\":\"a\",\"email\":\"a@b.co\",\"x\":{}{}}}",
        "[".repeat(40),
        "]".repeat(40)
    );
    let lax = shop(&CompileOptions {
        knobs: Knobs {
            strict_objects: false,
            ..Knobs::default()
        },
        ..CompileOptions::default()
    });
    let report = request(&lax, Method::POST, "/v1/users", &[JSON], Body::Json(&deep));
    assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
    assert_eq!(report.violations[0].kind, ViolationKind::BodyLimit);
}

#[test]
fn routing_unknown_paths_and_methods() {
    let spec = shop(&CompileOptions::default());
    assert_eq!(
        spec.route(&Method::GET, "/v1/admin"),
        Err(RouteError::UnknownPath)
    );
    assert_eq!(
        spec.route(&Method::GET, "/users"),
        Err(RouteError::UnknownPath),
        "server base path is required"
    );
    assert_eq!(
        spec.route(&Method::PUT, "/v1/users/1"),
        Err(RouteError::UnknownMethod {
            allowed: vec![Method::GET, Method::DELETE]
        })
    );
    let rebased = shop(&CompileOptions {
        base_path: Some("/api".into()),
        ..CompileOptions::default()
    });
    assert!(rebased.route(&Method::GET, "/api/users").is_ok());
}

#[test]
fn unknown_names_can_be_stripped_or_allowed_per_operation() {
    let mut overrides = std::collections::HashMap::new();
    overrides.insert(
        "listUsers".to_owned(),
        KnobOverrides {
            unknown_query: Some(UnknownParams::Strip),
            unknown_headers: Some(UnknownParams::Strip),
            unknown_cookies: Some(UnknownParams::Strip),
            ..KnobOverrides::default()
        },
    );
    let spec = shop(&CompileOptions {
        knobs: Knobs {
            unknown_headers: UnknownParams::Block,
            ..Knobs::default()
        },
        overrides,
        ..CompileOptions::default()
    });
    let report = request(
        &spec,
        Method::GET,
        "/v1/users?debug=1&limit=5&debug=2&utm_source=x",
        &[
            ("x-debug", "1"),
            ("user-agent", "curl"),
            ("x-api-key", "k"),
            ("cookie", "tracker=1; other=2"),
        ],
        Body::None,
    );
    assert_eq!(kinds(&report), []);
    assert_eq!(report.strip.query, ["debug", "utm_source"]);
    assert_eq!(report.strip.headers, [HeaderName::from_static("x-debug")]);
    assert_eq!(report.strip.cookies, ["tracker", "other"]);
    // Other operations keep the policy's knobs: unknown headers block there.
    let report = request(
        &spec,
        Method::GET,
        "/v1/users/me",
        &[("x-debug", "1")],
        Body::None,
    );
    assert_eq!(
        kinds(&report),
        [(ViolationKind::UnknownHeader, "header.x-debug".to_owned())]
    );
}

fn respond(
    spec: &Spec,
    op: &str,
    status: u16,
    content_type: Option<&str>,
    body: &str,
    exposure: Exposure,
) -> portcullis_openapi::ResponseReport {
    let op = spec.operation_by_id(op).unwrap();
    spec.validate_response(
        op,
        &ResponseParts {
            status,
            content_type,
            content_encoding: None,
        },
        body.as_bytes(),
        exposure,
    )
}

#[test]
fn responses_status_type_schema_and_exposure() {
    use ViolationKind::*;
    let spec = shop(&CompileOptions::default());
    let user =
        r#"{"id":1,"name":"Ada","email":"ada@example.com","created_at":"2024-01-31T12:00:00Z"}"#;
    let ok = respond(
        &spec,
        "getUser",
        200,
        Some("application/json"),
        user,
        Exposure::Block,
    );
    assert!(
        ok.violations.is_empty() && ok.exposures.is_empty(),
        "{ok:?}"
    );
    let cases: Vec<(&str, u16, Option<&str>, &str, Vec<(ViolationKind, &str)>)> = vec![
        (
            "getUser",
            500,
            Some("application/json"),
            "{}",
            vec![(ResponseStatus, "response.status")],
        ),
        (
            "getUser",
            200,
            Some("text/html"),
            "<h1>",
            vec![(ResponseContentType, "response.header.content-type")],
        ),
        (
            "getUser",
            200,
            None,
            user,
            vec![(ResponseContentType, "response.header.content-type")],
        ),
        (
            "getUser",
            200,
            Some("application/json"),
            r#"{"id":"1","name":"Ada","email":"ada@example.com"}"#,
            vec![(ResponseSchema, "response.body:/id")],
        ),
        (
            "getUser",
            200,
            Some("application/json"),
            "not json",
            vec![(ResponseSchema, "response.body")],
        ),
        (
            "deleteUser",
            204,
            Some("application/json"),
            "{}",
            vec![(ResponseContentType, "response.body")],
        ),
        (
            "createUser",
            422,
            Some("application/problem+json"),
            r#"{"title":"bad"}"#,
            vec![],
        ),
        (
            "createOrder",
            503,
            Some("application/problem+json"),
            r#"{"status":503}"#,
            vec![],
        ),
    ];
    for (op, status, ct, body, want) in cases {
        let r = respond(&spec, op, status, ct, body, Exposure::Block);
        let got: Vec<(ViolationKind, String)> = r
            .violations
            .iter()
            .map(|v| (v.kind, v.location.clone()))
            .collect();
        let want: Vec<(ViolationKind, String)> =
            want.into_iter().map(|(k, l)| (k, l.to_owned())).collect();
        assert_eq!(got, want, "{op} {status} {body}");
    }
    let leaky = r#"{"id":1,"password":"hunter22","name":"Ada","email":"ada@example.com","ssn":"078-05-1120","role":"admin"}"#;
    let blocked = respond(
        &spec,
        "getUser",
        200,
        Some("application/json"),
        leaky,
        Exposure::Block,
    );
    let exposed: Vec<&str> = blocked
        .exposures
        .iter()
        .map(|v| v.location.as_str())
        .collect();
    assert_eq!(exposed, ["response.body:/password", "response.body:/ssn"]);
    assert!(blocked.stripped.is_none());
    let stripped = respond(
        &spec,
        "getUser",
        200,
        Some("application/json"),
        leaky,
        Exposure::Strip,
    );
    assert_eq!(
        String::from_utf8(stripped.stripped.unwrap()).unwrap(),
        r#"{"id":1,"name":"Ada","email":"ada@example.com","role":"admin"}"#,
        "exposed fields removed, the rest in the upstream's order"
    );
    let list = r#"[{"id":1,"name":"A","email":"a@example.com","token":"t"},{"id":2,"name":"B","email":"b@example.com"}]"#;
    let r = respond(
        &spec,
        "listUsers",
        200,
        Some("application/json"),
        list,
        Exposure::Strip,
    );
    assert_eq!(
        String::from_utf8(r.stripped.unwrap()).unwrap(),
        r#"[{"id":1,"name":"A","email":"a@example.com"},{"id":2,"name":"B","email":"b@example.com"}]"#
    );
}

/// A `Cookie` header of Latin-1 bytes has no pairs the gateway can read: an
/// operation that declares cookies (or refuses unknown ones) refuses it
/// rather than letting the header through unvalidated; one that checks no
/// cookies lets it pass.
#[test]
fn a_cookie_header_that_is_not_utf8_is_refused_where_cookies_are_checked() {
    let run = |spec: &Spec, target: &str| {
        let mut map = HeaderMap::new();
        map.append(
            http::header::COOKIE,
            HeaderValue::from_bytes(b"session=caf\xe9").unwrap(),
        );
        map.append("x-api-key", HeaderValue::from_static("k"));
        let matched = spec.route(&Method::GET, target).expect("routes");
        let mut report = RequestReport::default();
        let parts = RequestParts {
            method: &Method::GET,
            path: target,
            query: None,
            headers: &map,
            // What the gateway reads from a header that is not UTF-8.
            cookies: &[],
        };
        spec.validate_parameters(&matched, &parts, &[], &mut report);
        kinds(&report)
    };
    let refused = [(ViolationKind::CookieParameter, "header.cookie".to_owned())];
    let lenient = shop(&CompileOptions::default());
    assert_eq!(
        run(&lenient, "/v1/reports/2024.csv"),
        refused,
        "a declared cookie parameter"
    );
    assert_eq!(run(&lenient, "/v1/users"), [], "no cookie is checked here");
    let strict = shop(&CompileOptions {
        knobs: Knobs {
            unknown_cookies: UnknownParams::Block,
            ..Knobs::default()
        },
        ..CompileOptions::default()
    });
    assert_eq!(
        run(&strict, "/v1/users"),
        refused,
        "unknown cookies refused"
    );
}
