//! Removing exposed fields from an upstream's JSON text: for any text the
//! JSON parser accepts, removing a selection of its object members must give
//! JSON equal to the parsed value without those members (and never panic).
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_openapi::strip::splice_out;
use serde_json::Value;

/// Pointers of object members, every `step`-th one, depth first.
fn members(v: &Value, pointer: &str, step: usize, n: &mut usize, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                *n += 1;
                if *n % step == 0 {
                    out.push(p);
                } else {
                    members(child, &p, step, n, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                members(child, &format!("{pointer}/{i}"), step, n, out);
            }
        }
        _ => {}
    }
}

fn remove(v: &mut Value, pointer: &str) {
    let Some((parent, token)) = pointer.rsplit_once('/') else { return };
    let key = token.replace("~1", "/").replace("~0", "~");
    if let Some(Value::Object(map)) = v.pointer_mut(parent) {
        map.remove(&key);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else { return };
    let Ok(mut value) = serde_json::from_slice::<Value>(text) else { return };
    let mut pointers = Vec::new();
    members(&value, "", usize::from(selector % 4) + 1, &mut 0, &mut pointers);
    let stripped = splice_out(text, &pointers).expect("parsed JSON splices");
    for p in &pointers {
        remove(&mut value, p);
    }
    let again: Value = serde_json::from_slice(&stripped).expect("the result is JSON");
    assert_eq!(again, value);
});
