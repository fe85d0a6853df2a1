//! Portcullis limits: the rate-limit algorithms (GCRA for smooth rates, a
//! sliding window for quotas), the [`Store`] trait that keeps their state,
//! and two stores: [`MemoryStore`] (one process: sharded, bounded, expiring)
//! and [`RedisStore`] (shared by every instance: atomic Lua scripts, optional
//! local token leases), plus [`SharedMap`] (a versioned Redis hash for
//! admin-edited lists). The algorithms are pure functions of the stored state
//! and the current time, so the memory store and the Redis scripts compute the
//! same decisions and both are unit-tested against the same expectations.
//!
//! Time is microseconds since the Unix epoch ([`Micros`]): the Redis scripts
//! read the server's clock (so instances with skewed clocks still share one
//! timeline) and Lua numbers are doubles, exact only up to 2^53.

pub mod algorithm;
pub mod memory;
mod pipelined;
pub mod redis_store;
pub mod resp;
pub mod shared_map;
mod store;

pub use algorithm::{Decision, Gcra, Limit, SlidingWindow};
pub use memory::MemoryStore;
pub use redis_store::{RedisConfig, RedisStore};
pub use shared_map::{MapVersion, PutOutcome, SharedMap};
pub use store::{Flag, KeyHasher, Store, StoreError};

/// Microseconds since the Unix epoch.
pub type Micros = u64;

/// The current time in [`Micros`] (the system clock; limits tolerate it
/// stepping backwards: a timestamp never moves a limit's state back).
pub fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
