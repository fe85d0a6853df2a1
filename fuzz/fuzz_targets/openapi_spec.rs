//! Spec loading and compiling from arbitrary text (YAML when the first byte
//! is even, JSON otherwise), with a second document it may reference: a
//! broken spec must be an error naming a pointer, never a panic, a hang or
//! unbounded recursion. A spec that compiles is also audited.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_openapi::{CompileOptions, Spec, audit_spec};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let (main, other) = text.split_once('\u{0}').unwrap_or((&text, "{}"));
    let name = if selector % 2 == 0 { "spec.yaml" } else { "spec.json" };
    match Spec::from_texts(&[(name, main), ("other.yaml", other)], &CompileOptions::default()) {
        Ok(spec) => {
            let _ = audit_spec(&spec);
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
});
