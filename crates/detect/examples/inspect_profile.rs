//! A fixed workload for instruction-count profiling of the detector
//! (`valgrind --tool=callgrind`), repeatable where wall-clock benches on a
//! shared machine are not: the criterion bench's 1 KB benign JSON record
//! (or its 62-record 64 KB array) inspected N times.
//!
//! ```sh
//! cargo build --release -p portcullis-detect --example inspect_profile
//! valgrind --tool=callgrind target/release/examples/inspect_profile 1k 1000
//! ```

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

fn main() {
    let mut args = std::env::args().skip(1);
    let size = args.next().unwrap_or_else(|| "1k".to_owned());
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let doc = if size == "64k" {
        Value::Array((0..62).map(benign_record).collect())
    } else if size == "64k-no-repeats" {
        Value::Array((0..60).map(|i| distinct(benign_record(i), i)).collect())
    } else {
        benign_record(1)
    };
    let (_, mut vals) = body_of(&doc);
    if let Ok(only) = std::env::var("ONLY") {
        vals.retain(|(v, _)| v.contains(&only));
    }
    let detector = Detector::new(&DetectorSettings::default());
    let mut out = Vec::new();
    let mut found = 0;
    if std::env::var_os("PER_VALUE").is_some() {
        for (v, is_key) in &vals {
            let kind = if *is_key {
                ValueKind::JsonKey { parent: "" }
            } else {
                ValueKind::JsonValue
            };
            let t = std::time::Instant::now();
            for _ in 0..rounds {
                out.clear();
                detector.inspector().inspect(v, kind, &mut out);
            }
            let ns = t.elapsed().as_nanos() as f64 / rounds as f64;
            println!("{ns:8.0} ns  {v:?}");
        }
        return;
    }
    for _ in 0..rounds {
        // One inspector per body, as the gateway keeps one per request.
        let mut inspector = detector.inspector();
        out.clear();
        for (v, is_key) in &vals {
            let kind = if *is_key {
                ValueKind::JsonKey { parent: "" }
            } else {
                ValueKind::JsonValue
            };
            inspector.inspect(v, kind, &mut out);
        }
        found += out.len();
    }
    println!(
        "{} values x {rounds} rounds, {found} detections",
        vals.len()
    );
}
