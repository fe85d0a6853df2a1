//! The [`Store`] trait: where limit state lives. The gateway holds concrete
//! stores (no `dyn`); the trait says what every store must do, so a new one
//! (Redis Cluster, a database) is checked against the same contract.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};

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
/// size entries, no allocation per key; the SipHash key is random per
/// process, so clients cannot craft colliding keys. Two distinct keys
/// colliding share one limit (probability ~n²/2⁶⁵ for n live keys).
pub fn key_hash(state: &std::hash::RandomState, key: &[u8]) -> u64 {
    let mut h = state.build_hasher();
    h.write(key);
    h.finish()
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
