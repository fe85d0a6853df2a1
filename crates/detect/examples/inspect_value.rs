//! Inspects the values given on the command line, each as a query value,
//! and prints what every engine reports: a quick look at one payload
//! while writing a rule.
//!
//! ```sh
//! cargo run --release -p portcullis-detect --example inspect_value -- [-p N] VALUE...
//! ```

use portcullis_detect::{Detector, DetectorSettings, ValueKind};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut paranoia = 2;
    if args.first().map(String::as_str) == Some("-p") && args.len() > 1 {
        paranoia = args[1].parse().unwrap_or(2);
        args.drain(..2);
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
        println!("{value:?}");
        if out.is_empty() {
            println!("    (clean at paranoia {paranoia})");
        }
        for d in &out {
            println!("    {} (PL{}) {:?}", d.rule.id, d.rule.paranoia, d.matched);
        }
    }
}
