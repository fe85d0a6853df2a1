//! The response side of the OpenAPI check, at the policy level (the gateway
//! calls the same hooks): the head checks, the body checks with each
//! exposure mode (block, strip, monitor), the buffering limit, and the
//! request rewrites a strip route records — through `offline::evaluate_exchange`.

use std::path::Path;

use portcullis_policy::offline::{
    RawResponse, evaluate_exchange, parse_raw_request, parse_raw_response,
};
use portcullis_policy::{Config, Policy};

fn policy(openapi: &str) -> Policy {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/openapi.yaml");
    let source = format!(
        "listeners:\n  - address: 127.0.0.1:8080\nupstreams:\n  demo:\n    endpoints: [\"builtin:demo\"]\npolicies:\n  api:\n    openapi:\n      spec: {}\n{openapi}routes:\n  - name: api\n    upstream: demo\n    policy: api\n",
        spec.display()
    );
    let path = Path::new("gateway.yaml");
    let config = Config::parse(path, &source).unwrap();
    Policy::compile(config, path, &source).unwrap_or_else(|e| panic!("{e}"))
}

fn answer(status: u16, content_type: &str, body: &str) -> RawResponse {
    let text = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    parse_raw_response(text.as_bytes()).unwrap()
}

fn run(
    policy: &Policy,
    request: &str,
    response: &RawResponse,
) -> portcullis_policy::offline::ResponseReport {
    let raw = parse_raw_request(request.as_bytes()).unwrap();
    let (report, response_report) =
        evaluate_exchange(policy, &raw, Some(response), "127.0.0.1".parse().unwrap());
    assert!(!report.is_block(), "{:?}", report.findings);
    response_report.unwrap()
}

const GET_USER: &str = "GET /api/users/42 HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n";
const LEAKY: &str = r#"{"id":42,"name":"User 42","password_hash":"x","email":"u@example.com"}"#;

fn rules(r: &portcullis_policy::offline::ResponseReport) -> Vec<(&'static str, String)> {
    r.findings
        .iter()
        .map(|f| {
            (
                f.rule,
                serde_json::to_value(f.mode)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn documented_responses_pass_untouched() {
    let p = policy("");
    let r = run(
        &p,
        GET_USER,
        &answer(200, "application/json", r#"{"id":42,"name":"User 42"}"#),
    );
    assert_eq!(r.verdict, "allow", "{:?}", r.findings);
    assert_eq!(r.status, 200);
    assert!(r.replaced_body.is_none());
    // A request that accepts compressed answers asks the gateway to drop
    // Accept-Encoding so bodies can be read; one that does not asks nothing.
    let identity = GET_USER.replace("Accept-Encoding: gzip\r\n", "");
    let raw = parse_raw_request(identity.as_bytes()).unwrap();
    let (report, _) = evaluate_exchange(&p, &raw, None, "127.0.0.1".parse().unwrap());
    assert!(
        report.rewrites.remove_headers.is_empty(),
        "{:?}",
        report.rewrites
    );
    let raw = parse_raw_request(GET_USER.as_bytes()).unwrap();
    let (report, _) = evaluate_exchange(&p, &raw, None, "127.0.0.1".parse().unwrap());
    assert_eq!(report.rewrites.remove_headers, ["accept-encoding"]);
}

#[test]
fn exposure_blocks_strips_or_monitors() {
    let blocked = run(
        &policy(""),
        GET_USER,
        &answer(200, "application/json", LEAKY),
    );
    assert_eq!(
        (blocked.verdict, blocked.status, blocked.rule),
        ("block", 502, Some("openapi.response.exposure"))
    );
    assert_eq!(blocked.findings[0].location, "response.body:/password_hash");
    assert!(
        blocked.replaced_body.is_none(),
        "nothing of a blocked answer is sent"
    );

    let stripped = run(
        &policy("      response_exposure: strip\n"),
        GET_USER,
        &answer(200, "application/json", LEAKY),
    );
    assert_eq!(stripped.verdict, "monitor");
    assert_eq!(stripped.status, 200);
    assert_eq!(
        rules(&stripped),
        [("openapi.response.stripped", "monitor".to_owned())]
    );
    assert_eq!(
        stripped.replaced_body.as_deref(),
        Some(r#"{"id":42,"name":"User 42","email":"u@example.com"}"#)
    );

    let monitored = run(
        &policy("      response_exposure: monitor\n"),
        GET_USER,
        &answer(200, "application/json", LEAKY),
    );
    assert_eq!((monitored.verdict, monitored.status), ("monitor", 200));
    assert_eq!(
        rules(&monitored),
        [("openapi.response.exposure", "monitor".to_owned())]
    );
    assert!(monitored.replaced_body.is_none());
}

#[test]
fn a_schema_failure_is_never_stripped_into_a_pass() {
    let p = policy("      response_exposure: strip\n");
    let r = run(
        &p,
        GET_USER,
        &answer(200, "application/json", r#"{"id":"42","secret":1}"#),
    );
    assert_eq!(
        (r.verdict, r.rule),
        ("block", Some("openapi.response.schema"))
    );
    assert!(r.replaced_body.is_none());
}

#[test]
fn status_type_and_size_are_checked() {
    let p = policy("      max_response_bytes: 32\n");
    let cases = [
        (
            answer(503, "application/json", "{}"),
            "openapi.response.status",
        ),
        (
            answer(200, "text/html", "<p>hi</p>"),
            "openapi.response.content_type",
        ),
        (
            answer(
                200,
                "application/json",
                &format!(r#"{{"id":1,"name":"{}"}}"#, "n".repeat(40)),
            ),
            "openapi.response.too_large",
        ),
    ];
    for (response, rule) in cases {
        let r = run(&p, GET_USER, &response);
        assert_eq!(
            (r.verdict, r.status, r.rule),
            ("block", 502, Some(rule)),
            "{:?}",
            r.findings
        );
    }
    // Monitor mode for one operation: audited, forwarded.
    let p = policy("      operations:\n        getUser:\n          mode: monitor\n");
    let r = run(&p, GET_USER, &answer(503, "application/json", "{}"));
    assert_eq!((r.verdict, r.status), ("monitor", 503));
    // Responses can be left alone.
    let p = policy("      validate_responses: false\n");
    let r = run(&p, GET_USER, &answer(503, "text/html", "<p>"));
    assert_eq!(r.verdict, "allow");
}

/// `validate_responses: headers_only` and `sample`: the head of every
/// response is still judged; the body only when the mode (or the sample)
/// says so. A leaky body passes unchecked in `headers_only` and is refused
/// in `sample` with one response in one sampled; an undocumented status is
/// refused in both.
#[test]
fn headers_only_and_sampled_response_validation() {
    let leaky = answer(200, "application/json", LEAKY);
    let p = policy("      validate_responses: headers_only\n");
    let r = run(&p, GET_USER, &leaky);
    assert_eq!((r.verdict, r.status), ("allow", 200), "{:?}", r.findings);
    let r = run(&p, GET_USER, &answer(503, "application/json", "{}"));
    assert_eq!((r.verdict, r.status), ("block", 502));
    assert_eq!(rules(&r)[0].0, "openapi.response.status");
    let r = run(&p, GET_USER, &answer(200, "text/html", "<p>"));
    assert_eq!(rules(&r)[0].0, "openapi.response.content_type");
    // Nothing is buffered, so bodies may arrive compressed.
    let raw = parse_raw_request(GET_USER.as_bytes()).unwrap();
    let (report, _) = evaluate_exchange(&p, &raw, None, "127.0.0.1".parse().unwrap());
    assert!(report.rewrites.remove_headers.is_empty());

    // One in one sampled: every body is validated, as with `full`.
    let p = policy("      validate_responses: sample\n      response_sample_one_in: 1\n");
    let r = run(&p, GET_USER, &leaky);
    assert_eq!((r.verdict, r.status), ("block", 502), "{:?}", r.findings);
    assert_eq!(rules(&r)[0].0, "openapi.response.exposure");
    let raw = parse_raw_request(GET_USER.as_bytes()).unwrap();
    let (report, _) = evaluate_exchange(&p, &raw, None, "127.0.0.1".parse().unwrap());
    assert_eq!(report.rewrites.remove_headers, ["accept-encoding"]);

    // One in four, per operation: about a quarter of the leaky answers (each
    // request has its own id) are refused, the rest forwarded; the head of
    // every one is checked.
    let p = policy(
        "      operations:\n        getUser:\n          validate_responses: sample\n          response_sample_one_in: 4\n",
    );
    let refused = (0..400)
        .filter(|_| run(&p, GET_USER, &leaky).verdict == "block")
        .count();
    assert!((50..=150).contains(&refused), "{refused} of 400 sampled");
    for _ in 0..20 {
        let r = run(&p, GET_USER, &answer(503, "application/json", "{}"));
        assert_eq!(r.verdict, "block");
    }
}

#[test]
fn a_bad_response_validation_mode_names_the_field() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/openapi.yaml");
    for (knob, want) in [
        (
            "validate_responses: partial",
            "true, false, full, sample, headers_only or off",
        ),
        ("response_sample_one_in: 0", "response_sample_one_in"),
    ] {
        let source = format!(
            "listeners:\n  - address: 127.0.0.1:8080\nupstreams:\n  demo:\n    endpoints: [\"builtin:demo\"]\npolicies:\n  api:\n    openapi:\n      spec: {}\n      {knob}\nroutes:\n  - name: api\n    upstream: demo\n    policy: api\n",
            spec.display()
        );
        let path = Path::new("gateway.yaml");
        let message = match Config::parse(path, &source) {
            Err(e) => e.to_string(),
            Ok(config) => Policy::compile(config, path, &source)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        };
        assert!(message.contains(want), "{knob}: {message}");
        assert!(message.contains("gateway.yaml"), "{knob}: {message}");
    }
}
