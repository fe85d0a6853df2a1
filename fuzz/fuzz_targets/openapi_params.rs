//! OpenAPI parameter parsing and validation: arbitrary bytes become a path
//! (under a templated operation with every path style), a query string (every
//! query style), header values and cookies, validated against a spec whose
//! parameters cover each style. Must never panic; a valid-looking request is
//! not required.
#![no_main]
use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use portcullis_openapi::{CompileOptions, RequestParts, RequestReport, Spec};
use std::sync::OnceLock;

const SPEC: &str = r#"
openapi: 3.1.0
info: {title: fuzz, version: "1"}
paths:
  /s/{simple}/l/{label}/m/{matrix}/{name}.{ext}:
    get:
      parameters:
        - {name: simple, in: path, required: true, schema: {type: array, items: {type: integer}}}
        - {name: label, in: path, required: true, style: label, explode: true, schema: {type: object, additionalProperties: {type: string}}}
        - {name: matrix, in: path, required: true, style: matrix, schema: {type: array, items: {type: string}}}
        - {name: name, in: path, required: true, schema: {type: string, format: uuid}}
        - {name: ext, in: path, required: true, schema: {type: string, enum: [json, csv]}}
        - {name: f, in: query, schema: {type: array, items: {type: number}}}
        - {name: fx, in: query, explode: false, schema: {type: object, properties: {a: {type: boolean}}}}
        - {name: sp, in: query, style: spaceDelimited, schema: {type: array, items: {type: string, format: date}}}
        - {name: pp, in: query, style: pipeDelimited, schema: {type: array, items: {type: integer, format: int32}}}
        - {name: d, in: query, style: deepObject, schema: {type: object, properties: {x: {type: integer}}}}
        - {name: o, in: query, schema: {type: object, properties: {p: {type: string, pattern: "^[a-z]+$"}, q: {type: integer}}}}
        - {name: j, in: query, content: {application/json: {schema: {type: object}}}}
        - {name: X-H, in: header, schema: {type: array, items: {type: string, format: ipv4}}}
        - {name: c, in: cookie, schema: {type: array, items: {type: string, format: email}}}
      responses: {"200": {description: ok}}
"#;

fn spec() -> &'static Spec {
    static SPEC_CELL: OnceLock<Spec> = OnceLock::new();
    SPEC_CELL.get_or_init(|| Spec::from_texts(&[("fuzz.yaml", SPEC)], &CompileOptions::default()).expect("the fuzz spec compiles"))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut pieces = text.splitn(5, '\u{0}');
    let segments: Vec<&str> = (0..4).map(|_| pieces.next().unwrap_or("x")).collect();
    let query = pieces.next();
    let path = format!("/s/{}/l/{}/m/{}/{}", segments[0], segments[1], segments[2], segments[3]);
    let spec = spec();
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(segments[1]) {
        headers.insert("x-h", v);
    }
    let cookies = [("c", segments[2]), ("other", segments[0])];
    if let Ok(matched) = spec.route(&Method::GET, &path) {
        let parts = RequestParts { method: &Method::GET, path: &path, query, headers: &headers, cookies: &cookies };
        let mut report = RequestReport::default();
        spec.validate_parameters(&matched, &parts, &[], &mut report);
        for v in &report.violations {
            assert!(!v.reason.is_empty());
        }
    }
});
