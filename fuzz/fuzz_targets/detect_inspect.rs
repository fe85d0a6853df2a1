//! The whole detector (every engine, base64 decoding, head-and-tail windows)
//! on arbitrary text as every kind of value, and the XML document check on
//! arbitrary bytes: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_detect::{Detector, DetectorSettings, ValueKind};

fuzz_target!(|data: &[u8]| {
    static DETECTOR: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
    let detector = DETECTOR.get_or_init(|| {
        Detector::new(&DetectorSettings {
            paranoia_level: 4,
            max_value_bytes: 256,
            ..DetectorSettings::default()
        })
    });
    let text = String::from_utf8_lossy(data);
    let mut inspector = detector.inspector();
    let mut out = Vec::new();
    for kind in [
        ValueKind::QueryValue,
        ValueKind::JsonKey { parent: "constructor" },
        ValueKind::HeaderValue { name: "user-agent" },
        ValueKind::MultipartFilename,
        ValueKind::PathSegment,
    ] {
        inspector.inspect(&text, kind, &mut out);
    }
    detector.inspect_xml_document(data, &mut out);
});
