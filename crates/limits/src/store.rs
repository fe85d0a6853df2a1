//! The [`Store`] trait: where limit state lives. The gateway holds concrete
//! stores (no `dyn`); the trait says what every store must do, so a new one
//! (Redis Cluster, a database) is checked against the same contract.

use std::future::Future;

use crate::Micros;
use crate::algorithm::{Decision, Limit};

/// Why a store could not decide. The caller applies the limit's fail mode.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered something this code does not understand.
    #[error("unexpected store reply: {0}")]
    Protocol(String),
}

/// Keeps the state of limits, keyed by a caller-built key, and decides.
pub trait Store: Send + Sync {
    /// Decides one request of `cost` against `limit` for `key` and records
    /// it when allowed, atomically. `now` is the caller's clock; stores with
    /// their own shared clock (Redis) may use theirs instead.
    fn acquire(
        &self,
        key: &[u8],
        limit: &Limit,
        cost: u64,
        now: Micros,
    ) -> impl Future<Output = Result<Decision, StoreError>> + Send;
}

/// A keyed 64-bit hash of a limit key. Keys are stored by this hash: fixed
/// size entries, no allocation per key. It is XXH3 with a seed drawn at
/// random per store (from the process's `RandomState`), about 6x cheaper
/// per key than SipHash-1-3 on the short keys limits use; clients never see
/// a hash or the seed, so they cannot aim keys at one another. XXH3 is not a
/// keyed PRF like SipHash: the trade is accepted because the worst a found
/// collision does is make two keys share one limit (the maps are bounded,
/// so it is no flooding risk). Two distinct keys collide by chance with
/// probability ~n²/2⁶⁵ for n live keys.
#[derive(Clone, Copy, Debug)]
pub struct KeyHasher {
    seed: u64,
}

impl KeyHasher {
    /// A hasher with a fresh random seed.
    pub fn random() -> KeyHasher {
        use std::hash::BuildHasher;
        KeyHasher {
            seed: std::hash::RandomState::new().hash_one(0x9e37_79b9_7f4a_7c15_u64),
        }
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        xxhash_rust::xxh3::xxh3_64_with_seed(key, self.seed)
    }
}

/// A flag: a small value under a key until it expires — a ban, a lockout,
/// a progressive delay. Shared like limits (Redis) or per process (memory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    pub key: Vec<u8>,
    pub value: u64,
    /// Time left before it expires.
    pub ttl: std::time::Duration,
}
