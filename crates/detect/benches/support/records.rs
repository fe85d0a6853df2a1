//! The JSON bodies the detector's benchmark and profiling example inspect
//! (included by both with `#[path]`): a realistic 1 KB customer record,
//! arrays of them, and every key and value of a document as the gateway's
//! check hands them over.

use serde_json::Value;

/// A realistic 1 KB customer record: names with apostrophes, addresses,
/// e-mail, phone, prices, dates, a free-text note with punctuation.
pub fn benign_record(i: usize) -> Value {
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
pub fn distinct(doc: Value, i: usize) -> Value {
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

pub fn body_of(doc: &Value) -> (usize, Vec<(String, bool)>) {
    let mut out = Vec::new();
    values(doc, &mut out);
    (serde_json::to_vec(doc).unwrap().len(), out)
}
