//! The normalizer on arbitrary text: no panic, the lower-cased copy keeps
//! the text's length (engines slice both with the same offsets) and is
//! ASCII, and normalization never grows a value (decoding only shrinks it,
//! folding keeps or shrinks each character).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (normalized, lower) = portcullis_detect::fuzzing::normalize(&text);
    assert_eq!(normalized.len(), lower.len());
    assert!(lower.is_ascii());
    assert!(normalized.len() <= text.len() * 3, "{} -> {}", text.len(), normalized.len());
});
