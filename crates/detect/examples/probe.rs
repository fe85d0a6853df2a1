//! Prints, for each line of stdin, the normalized lower-cased value and the
//! rules that fire on it as a query value (a debugging aid for rule work).
//!
//! ```sh
//! echo '../etc/passwd' | cargo run --release -p portcullis-detect --example probe [paranoia]
//! ```

use std::io::BufRead;

use portcullis_detect::{Detector, DetectorSettings, ValueKind};

fn main() {
    let paranoia: u8 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    let detector = Detector::new(&DetectorSettings {
        paranoia_level: paranoia,
        ..DetectorSettings::default()
    });
    let mut out = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("utf-8 line");
        let (_, lower) = portcullis_detect::fuzzing::normalize(&line);
        out.clear();
        detector.inspect(&line, ValueKind::QueryValue, &mut out);
        let rules: Vec<&str> = out.iter().map(|d| d.rule.id).collect();
        println!("{line:?}\n    -> {lower:?} {rules:?}");
    }
}
