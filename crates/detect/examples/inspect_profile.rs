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

#[path = "../benches/support/records.rs"]
mod records;
use records::{benign_record, body_of, distinct};

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
