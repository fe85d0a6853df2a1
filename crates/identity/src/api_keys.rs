//! API keys, stored only as SHA-256 hashes (lower-case hex): a presented key
//! is hashed and looked up, so the config never holds a usable key and the
//! lookup leaks nothing useful through timing (it compares hashes).

use std::collections::HashMap;

use crate::principal::{Principal, PrincipalSource};

/// Lower-case hex SHA-256 of `bytes` (also the token fingerprint written to logs).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        out.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        out.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    out
}

/// A short, non-reversible fingerprint of a credential for logs (the first
/// 12 hex digits of its SHA-256).
pub fn fingerprint(credential: &str) -> String {
    let mut h = sha256_hex(credential.as_bytes());
    h.truncate(12);
    h
}

#[derive(Debug, Default)]
pub struct ApiKeyStore {
    by_hash: HashMap<[u8; 32], Principal>,
}

/// Why a configured key hash is unusable.
#[derive(Debug, thiserror::Error)]
#[error("sha256 must be 64 hexadecimal digits")]
pub struct BadHash;

impl ApiKeyStore {
    /// Adds a key by its hex SHA-256.
    pub fn insert(
        &mut self,
        sha256_hex: &str,
        principal: &str,
        scopes: &[String],
    ) -> Result<(), BadHash> {
        let hash = parse_hex32(sha256_hex).ok_or(BadHash)?;
        self.by_hash.insert(
            hash,
            Principal::named(principal, scopes, PrincipalSource::ApiKey),
        );
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The principal of a presented key.
    pub fn lookup(&self, presented: &str) -> Option<&Principal> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, presented.as_bytes());
        let mut hash = [0u8; 32];
        hash.copy_from_slice(digest.as_ref());
        self.by_hash.get(&hash)
    }
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let t = text.trim().as_bytes();
    if t.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in t.chunks(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_hash_only() {
        let mut store = ApiKeyStore::default();
        let hash = sha256_hex(b"demo-key-1");
        store
            .insert(&hash, "svc-billing", &["orders:read".into()])
            .unwrap();
        let p = store.lookup("demo-key-1").unwrap();
        assert_eq!(p.subject.as_deref(), Some("svc-billing"));
        assert!(p.has_scope("orders:read"));
        assert!(store.lookup("demo-key-2").is_none());
        // The hash itself is not a key.
        assert!(store.lookup(&hash).is_none());
    }

    #[test]
    fn bad_hashes_are_refused() {
        let mut store = ApiKeyStore::default();
        assert!(store.insert("abc", "x", &[]).is_err());
        assert!(store.insert(&"g".repeat(64), "x", &[]).is_err());
    }

    #[test]
    fn known_sha256_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(fingerprint("abc"), "ba7816bf8f01");
    }
}
