//! Inspects values as query values and prints, for each, its normalized
//! lower-cased form and what every engine reports: a quick look at one
//! payload while writing a rule. The values come from the command line, or
//! one per line of stdin when none is given.
//!
//! ```sh
//! cargo run --release -p portcullis-detect --example inspect_value -- [-p N] VALUE...
//! echo '../etc/passwd' | cargo run --release -p portcullis-detect --example inspect_value -- [-p N]
//! ```

use std::io::BufRead;

use portcullis_detect::{Detector, DetectorSettings, ValueKind};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut paranoia = 2;
    if args.first().map(String::as_str) == Some("-p") && args.len() > 1 {
        paranoia = args[1].parse().unwrap_or(2);
        args.drain(..2);
    }
    if args.is_empty() {
        args = std::io::stdin()
            .lock()
            .lines()
            .map(|l| l.expect("utf-8 line"))
            .collect();
    }
    let detector = Detector::new(&DetectorSettings {
        paranoia_level: paranoia,
        ..DetectorSettings::default()
    });
    let mut inspector = detector.inspector();
    let mut out = Vec::new();
    for value in &args {
        out.clear();
        inspector.inspect(value, ValueKind::QueryValue, &mut out);
        let (_, lower) = portcullis_detect::fuzzing::normalize(value);
        println!("{value:?}\n    normalized: {lower:?}");
        if out.is_empty() {
            println!("    (clean at paranoia {paranoia})");
        }
        for d in &out {
            println!("    {} (PL{}) {:?}", d.rule.id, d.rule.paranoia, d.matched);
        }
    }
}
