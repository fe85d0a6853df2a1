//! Runs the JSON validation of one body against one operation's schema
//! many times, for instruction counts of the fast path alone:
//!
//! ```text
//! cargo build --release -p portcullis-openapi --example validate_cost
//! valgrind --tool=callgrind target/release/examples/validate_cost \
//!     SPEC OPERATION_ID request|response BODY_FILE ITERATIONS
//! ```
//!
//! Run it with ITERATIONS and with 0: the difference divided by ITERATIONS
//! is the cost of one validation (spec compile and file reads cancel out).
//! Prints whether the fast path vouched for the body.

use std::hint::black_box;

use portcullis_openapi::{CompileOptions, Spec, ValidationOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, spec, operation, direction, body, iterations] = &args[..] else {
        eprintln!("usage: validate_cost SPEC OPERATION_ID request|response BODY_FILE ITERATIONS");
        std::process::exit(2);
    };
    let spec = Spec::load(std::path::Path::new(spec), &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let op = spec
        .operation_by_id(operation)
        .unwrap_or_else(|| panic!("no operation {operation}"));
    let (schema, options) = match direction.as_str() {
        "request" => (
            spec.json_body_schema(op),
            portcullis_openapi::request::request_options(&op.knobs),
        ),
        _ => (
            op.responses
                .iter()
                .flat_map(|r| r.content.iter())
                .find(|m| m.json)
                .and_then(|m| m.schema),
            ValidationOptions::response(),
        ),
    };
    let body = std::fs::read(body).unwrap_or_else(|e| panic!("{e}"));
    let iterations: usize = iterations.parse().unwrap_or(0);
    let mut clean = true;
    for _ in 0..iterations {
        clean &= spec.json_is_clean(black_box(schema), black_box(&body), &options);
    }
    println!("clean={clean} iterations={iterations} bytes={}", body.len());
}
