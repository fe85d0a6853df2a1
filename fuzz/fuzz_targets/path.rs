//! Path normalization: never panics, and its output is a fixed point.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_policy::path::normalize_path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(normal) = normalize_path(text) {
        assert!(normal.starts_with('/'));
        assert!(!normal.split('/').any(|s| s == ".." || s == "."), "{normal:?}");
        let again = normalize_path(&normal).expect("a normalized path normalizes");
        assert_eq!(again, normal, "normalization is idempotent");
    }
});
