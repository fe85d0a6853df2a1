//! Request ids: accept a well-formed incoming id (when configured) or make a
//! new one. Generated ids are 128-bit random hex from a per-thread generator
//! seeded once from the OS clock, pid and thread; no syscall per request.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

/// An incoming id is kept only if it is 1–128 characters of `[A-Za-z0-9._:-]`,
/// so it cannot inject into logs or headers.
pub fn is_acceptable_incoming(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

pub fn is_valid_header_name(name: &str) -> bool {
    http::HeaderName::from_bytes(name.as_bytes()).is_ok()
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // RandomState is seeded from the OS per thread/process; mixing in time adds no harm.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish() | 1
}

fn next_u64() -> u64 {
    STATE.with(|s| {
        // splitmix64
        let mut z = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// A new 32-character lower-case hex id.
pub fn generate() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    let random = (u128::from(next_u64()) << 64) | u128::from(next_u64());
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = HEX[((random >> (124 - 4 * i)) & 0xf) as usize];
    }
    // Hex digits are ASCII, so this never fails.
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique_hex() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(is_acceptable_incoming(a.as_bytes()));
    }

    #[test]
    fn hostile_incoming_ids_are_refused() {
        assert!(is_acceptable_incoming(b"abc-123_x.y:z"));
        assert!(!is_acceptable_incoming(b""));
        assert!(!is_acceptable_incoming(b"a b"));
        assert!(!is_acceptable_incoming(b"a\"}"));
        assert!(!is_acceptable_incoming(&[b'a'; 129]));
    }
}
