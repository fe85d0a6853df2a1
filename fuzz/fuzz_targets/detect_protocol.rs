//! The protocol checks of `portcullis-detect` on arbitrary bytes: the
//! one-pass encoding checker of raw query strings and form bodies, and the
//! request-head checks with the text as every header value they read. No
//! panic, and every excerpt lies inside the text it was taken from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_detect::{Detector, DetectorSettings};

fuzz_target!(|data: &[u8]| {
    static DETECTOR: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
    let detector = DETECTOR.get_or_init(|| {
        Detector::new(&DetectorSettings {
            paranoia_level: 4,
            ..DetectorSettings::default()
        })
    });
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    detector.inspect_urlencoded(&text, &mut out);
    for d in &out {
        assert!(d.span.start <= d.span.end && d.span.end <= text.len());
    }
    let names = [
        "content-type",
        "content-encoding",
        "accept",
        "range",
        "connection",
        "cookie",
        "x-http-method-override",
    ];
    let mut head = Vec::new();
    detector.inspect_head(
        &text,
        &text,
        !data.is_empty(),
        names.iter().map(|n| (*n, data)),
        &mut head,
    );
});
