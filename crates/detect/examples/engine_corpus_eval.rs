//! Offline detection-quality loop over the shared corpus, engine only:
//! each payload of `payloads.jsonl` and `benign.jsonl` is inspected as a
//! query value, a JSON string value and a header value (what the gateway
//! does for `run.py`'s default locations) at a paranoia level, and the
//! per-category rates, the misses and the false positives are printed.
//!
//! ```sh
//! cargo run --release -p portcullis-detect --example engine_corpus_eval -- /work/shared/corpus [paranoia] [misses-per-category]
//! ```
//! (The policy crate's `corpus_eval` example replays whole requests,
//! including the CRS ones, through the real check.)

use std::collections::BTreeMap;

use portcullis_detect::{Detector, DetectorSettings, ValueKind};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| "/work/shared/corpus".to_owned());
    let paranoia: u8 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let show: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let detector = Detector::new(&DetectorSettings {
        paranoia_level: paranoia,
        ..DetectorSettings::default()
    });
    let mut inspector = detector.inspector();
    let mut out = Vec::new();
    let mut stats: BTreeMap<String, (usize, usize, Vec<String>)> = BTreeMap::new();
    let mut rules_hit: BTreeMap<&'static str, usize> = BTreeMap::new();
    for file in ["payloads.jsonl", "benign.jsonl"] {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).expect("corpus file");
        for line in text.lines() {
            let item: serde_json::Value = serde_json::from_str(line).expect("json line");
            let expected = item["expected"].as_str().unwrap_or("");
            if expected == "context" {
                continue;
            }
            let payload = item["payload"].as_str().unwrap_or("");
            let category = item["category"].as_str().unwrap_or("?").to_owned();
            let locations: Vec<ValueKind<'_>> = if file == "benign.jsonl" {
                match item["location"].as_str() {
                    Some("header") => vec![ValueKind::HeaderValue {
                        name: header_for(item["field"].as_str().unwrap_or("")),
                    }],
                    Some("path") => vec![ValueKind::PathSegment],
                    Some("form") => vec![ValueKind::FormValue],
                    Some("query") => vec![ValueKind::QueryValue],
                    _ => vec![ValueKind::JsonValue],
                }
            } else {
                let mut v = vec![ValueKind::QueryValue, ValueKind::JsonValue];
                if !payload.contains(['\r', '\n']) {
                    v.push(ValueKind::HeaderValue { name: "x-payload" });
                }
                v
            };
            for kind in locations {
                out.clear();
                if let ValueKind::HeaderValue { name: "cookie" } = kind {
                    for pair in payload.split(';') {
                        let (n, v) = pair.trim().split_once('=').unwrap_or(("", pair.trim()));
                        inspector.inspect(n, ValueKind::CookieName, &mut out);
                        inspector.inspect(v, ValueKind::CookieValue, &mut out);
                    }
                } else {
                    inspector.inspect(payload, kind, &mut out);
                }
                let flagged = !out.is_empty();
                for d in &out {
                    *rules_hit.entry(d.rule.id).or_default() += 1;
                }
                let entry = stats.entry(format!("{expected:5} {category}")).or_default();
                entry.0 += 1;
                let correct = flagged == (expected == "block");
                if correct {
                    entry.1 += 1;
                } else if entry.2.len() < show {
                    let rules: Vec<&str> = out.iter().map(|d| d.rule.id).collect();
                    entry.2.push(format!("{kind:?} {payload:?} {rules:?}"));
                }
            }
        }
    }
    let (mut block_n, mut block_ok, mut pass_n, mut pass_ok) = (0, 0, 0, 0);
    for (key, (n, ok, misses)) in &stats {
        println!(
            "{key:30} {ok:6}/{n:<6} {:6.2}%",
            100.0 * *ok as f64 / *n as f64
        );
        for m in misses {
            println!("      miss: {}", m.chars().take(220).collect::<String>());
        }
        if key.starts_with("block") {
            block_n += n;
            block_ok += ok;
        } else {
            pass_n += n;
            pass_ok += ok;
        }
    }
    println!(
        "attacks_blocked={:.2}% benign_passed={:.2}% n={}",
        100.0 * block_ok as f64 / block_n.max(1) as f64,
        100.0 * pass_ok as f64 / pass_n.max(1) as f64,
        block_n + pass_n
    );
    if std::env::var_os("RULES").is_some() {
        for (rule, n) in rules_hit {
            println!("{rule:32} {n}");
        }
    }
}

fn header_for(field: &str) -> &'static str {
    match field.to_ascii_lowercase().as_str() {
        "authorization" => "authorization",
        "cookie" => "cookie",
        "user-agent" => "user-agent",
        "accept-language" => "accept-language",
        "x-api-key" => "x-api-key",
        "x-request-id" => "x-request-id",
        _ => "x-payload",
    }
}
