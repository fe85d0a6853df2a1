//! Raw HTTP/1.1 request files (`portcullis check`): parse, then evaluate
//! against a small policy. Must never panic, whatever the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_policy::{Config, Policy, offline};
use std::path::Path;
use std::sync::OnceLock;

const CONFIG: &str = "listeners:\n  - address: 127.0.0.1:8080\nupstreams:\n  a:\n    endpoints: [\"http://127.0.0.1:1\"]\npolicies:\n  p:\n    ip_access:\n      deny: [\"10.0.0.0/8\"]\n    request_limits:\n      methods: [GET, POST]\n      max_body_bytes: 1KiB\n      max_query_params: 5\nroutes:\n  - name: r\n    upstream: a\n    policy: p\n";

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let path = Path::new("fuzz.yaml");
        let config = Config::parse(path, CONFIG).expect("fuzz config parses");
        Policy::compile(config, path, CONFIG).expect("fuzz config compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = offline::parse_raw_request(data) {
        let _ = offline::evaluate(policy(), &raw, "127.0.0.1".parse().unwrap());
    }
});
