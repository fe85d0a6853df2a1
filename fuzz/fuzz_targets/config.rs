//! Config files: parsing and compiling arbitrary YAML never panics (errors
//! are located instead).
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_policy::{Config, Policy};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("fuzz.yaml");
    if let Ok(config) = Config::parse(path, text) {
        let _ = Policy::compile(config, path, text);
    }
});
