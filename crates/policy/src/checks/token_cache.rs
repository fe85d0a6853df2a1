//! Verified-token cache: a JWT that verified once is not verified again (an
//! RS256 verification costs about 300 000 instructions, more than ten times
//! the rest of a request) until the earliest of its `exp`, a fixed TTL, or a
//! change of the key set it was verified with. Only successes are cached.
//! Sharded by the token's last byte (signature bits, so uniform), each shard a
//! short-held mutex that never spans an `.await` (checks are synchronous);
//! a full shard is emptied rather than tracked per entry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use portcullis_identity::Principal;

const SHARDS: usize = 16;
const MAX_PER_SHARD: usize = 4096;
/// Longest time a cached verification stands, so a key removed from a JWKS
/// (or a revoked static key after reload) stops working within it.
pub const MAX_TTL_MS: u64 = 60_000;

struct Cached {
    principal: Arc<Principal>,
    until_ms: u64,
    /// The key set's version when verified (0 for static keys).
    keys_epoch: u64,
}

pub struct TokenCache {
    shards: Vec<Mutex<HashMap<Box<str>, Cached>>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl TokenCache {
    fn shard(&self, token: &str) -> &Mutex<HashMap<Box<str>, Cached>> {
        let last = token.as_bytes().last().copied().unwrap_or(0) as usize;
        &self.shards[last % SHARDS]
    }

    pub fn get(&self, token: &str, now_ms: u64, keys_epoch: u64) -> Option<Arc<Principal>> {
        let shard = self.shard(token).lock().ok()?;
        let hit = shard.get(token)?;
        (hit.until_ms > now_ms && hit.keys_epoch == keys_epoch).then(|| hit.principal.clone())
    }

    pub fn put(&self, token: &str, principal: Arc<Principal>, now_ms: u64, keys_epoch: u64) {
        let exp_ms = principal
            .claims
            .get("exp")
            .and_then(serde_json::Value::as_u64)
            .map_or(u64::MAX, |e| e.saturating_mul(1000));
        let until_ms = exp_ms.min(now_ms + MAX_TTL_MS);
        let Ok(mut shard) = self.shard(token).lock() else {
            return;
        };
        if shard.len() >= MAX_PER_SHARD {
            shard.clear();
        }
        shard.insert(
            token.into(),
            Cached {
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
        assert!(cache.get("a.b.c", 60_000, 7).is_some());
        assert!(cache.get("a.b.c", 60_000, 8).is_none(), "another key set");
        assert!(cache.get("a.b.c", 100_000, 7).is_none(), "past exp");
        assert!(cache.get("a.b.d", 60_000, 7).is_none());
        let p = Arc::new(Principal::named("x", &[], PrincipalSource::Jwt));
        cache.put("x.y.z", p, 0, 0);
        assert!(cache.get("x.y.z", MAX_TTL_MS - 1, 0).is_some());
        assert!(cache.get("x.y.z", MAX_TTL_MS, 0).is_none(), "past the TTL");
    }
}
