//! Verified-token cache: a JWT that verified once is not verified again (an
//! RS256 verification costs about 300 000 instructions, more than ten times
//! the rest of a request) until the earliest of its `exp`, a fixed TTL, or a
//! change of the key set it was verified with. Only successes are cached.
//! Sharded by the token's last byte (signature bits, so uniform), each shard a
//! short-held mutex that never spans an `.await` (checks are synchronous);
//! a full shard is emptied rather than tracked per entry. Entries are keyed
//! by a hash of the token's length and last 32 bytes (signature bits, with a
//! random SipHash key): hashing all ~600 bytes cost more than the rest of the
//! lookup. A hit is compared with the whole stored token; two tokens with
//! one hash just take turns (only verified tokens are stored, so nobody can
//! choose collisions).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use portcullis_identity::Principal;

const SHARDS: usize = 16;
const MAX_PER_SHARD: usize = 4096;
/// Longest time a cached verification stands, so a key removed from a JWKS
/// (or a revoked static key after reload) stops working within it.
pub const MAX_TTL_MS: u64 = 60_000;

struct Cached {
    /// The whole token: a hit must be this token, not one with the same hash.
    token: Box<str>,
    principal: Arc<Principal>,
    until_ms: u64,
    /// The key set's version when verified (0 for static keys).
    keys_epoch: u64,
}

pub struct TokenCache {
    shards: Vec<Mutex<HashMap<u64, Cached>>>,
    /// Random per cache: the tail hash is unpredictable.
    hasher: std::collections::hash_map::RandomState,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }
}

impl TokenCache {
    fn shard(&self, token: &[u8]) -> &Mutex<HashMap<u64, Cached>> {
        let last = token.last().copied().unwrap_or(0) as usize;
        &self.shards[last % SHARDS]
    }

    fn key(&self, bytes: &[u8]) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = self.hasher.build_hasher();
        h.write_usize(bytes.len());
        h.write(&bytes[bytes.len().saturating_sub(32)..]);
        h.finish()
    }

    /// Takes the token's bytes: a hit is compared byte for byte with a
    /// stored (verified, so UTF-8) token.
    pub fn get(&self, token: &[u8], now_ms: u64, keys_epoch: u64) -> Option<Arc<Principal>> {
        let key = self.key(token);
        let shard = self.shard(token).lock().ok()?;
        let hit = shard.get(&key)?;
        (hit.until_ms > now_ms && hit.keys_epoch == keys_epoch && hit.token.as_bytes() == token)
            .then(|| hit.principal.clone())
    }

    pub fn put(&self, token: &str, principal: Arc<Principal>, now_ms: u64, keys_epoch: u64) {
        let exp_ms = principal
            .claims
            .get("exp")
            .and_then(serde_json::Value::as_u64)
            .map_or(u64::MAX, |e| e.saturating_mul(1000));
        let until_ms = exp_ms.min(now_ms + MAX_TTL_MS);
        let key = self.key(token.as_bytes());
        let Ok(mut shard) = self.shard(token.as_bytes()).lock() else {
            return;
        };
        if shard.len() >= MAX_PER_SHARD {
            shard.clear();
        }
        shard.insert(
            key,
            Cached {
                token: token.into(),
                principal,
                until_ms,
                keys_epoch,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_identity::PrincipalSource;

    #[test]
    fn hits_until_exp_ttl_or_a_new_key_set() {
        let cache = TokenCache::default();
        let mut claims = serde_json::Map::new();
        claims.insert("exp".into(), 100.into());
        let p = Arc::new(Principal::from_claims(claims, PrincipalSource::Jwt));
        cache.put("a.b.c", p, 50_000, 7);
        assert!(cache.get(b"a.b.c", 60_000, 7).is_some());
        assert!(cache.get(b"a.b.c", 60_000, 8).is_none(), "another key set");
        assert!(cache.get(b"a.b.c", 100_000, 7).is_none(), "past exp");
        assert!(cache.get(b"a.b.d", 60_000, 7).is_none());
        let p = Arc::new(Principal::named("x", &[], PrincipalSource::Jwt));
        cache.put("x.y.z", p, 0, 0);
        assert!(cache.get(b"x.y.z", MAX_TTL_MS - 1, 0).is_some());
        assert!(cache.get(b"x.y.z", MAX_TTL_MS, 0).is_none(), "past the TTL");
    }

    #[test]
    fn tokens_with_the_same_tail_are_told_apart() {
        let cache = TokenCache::default();
        let tail = "s".repeat(40);
        let (a, b) = (format!("aaaa.{tail}"), format!("bbbb.{tail}"));
        let p = Arc::new(Principal::named("a", &[], PrincipalSource::Jwt));
        cache.put(&a, p, 0, 0);
        assert!(cache.get(a.as_bytes(), 1, 0).is_some());
        assert!(
            cache.get(b.as_bytes(), 1, 0).is_none(),
            "same length and tail, other token"
        );
    }
}
