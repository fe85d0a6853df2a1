//! The sql engine of `portcullis-detect` on arbitrary text: it must never
//! panic, and every match must lie inside the inspected text (checked by
//! `portcullis_detect::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = portcullis_detect::fuzzing::sql(&text);
});
