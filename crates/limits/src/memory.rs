//! The in-memory store: one process's limit state, in 64 shards each behind
//! its own mutex (held only for one map operation, never across an await).
//! Memory is bounded: each shard holds at most `max_keys / 64` entries of a
//! fixed size (keys are stored as keyed 64-bit hashes); expired entries are
//! dropped when a shard fills, and if none have expired a batch of arbitrary
//! entries is evicted (those keys start again from a full limit: under a
//! flood of distinct keys the store forgets rather than grows).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use crate::Micros;
use crate::algorithm::{Decision, Limit, WindowState};
use crate::store::{KeyHasher, Store, StoreError};

const SHARDS: usize = 64;

/// The key is already a keyed hash: the map uses it as is.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Clone, Copy)]
enum State {
    Tat(Micros),
    Window(WindowState),
}

#[derive(Clone, Copy)]
struct Entry {
    state: State,
    expires_at: Micros,
}

type Shard = HashMap<u64, Entry, BuildHasherDefault<IdentityHasher>>;

pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    hasher: KeyHasher,
    /// Flags keep their key (they are listed), bounded like the limits.
    flags: Mutex<HashMap<Vec<u8>, (u64, Micros)>>,
    max_flags: usize,
}

impl MemoryStore {
    /// A store keeping at most about `max_keys` keys (at least 64).
    pub fn new(max_keys: usize) -> MemoryStore {
        let per_shard = max_keys.div_ceil(SHARDS).max(1);
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Shard::default()))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        MemoryStore {
            shards,
            per_shard,
            hasher: KeyHasher::random(),
            flags: Mutex::new(HashMap::new()),
            max_flags: max_keys.max(64),
        }
    }

    /// Keys currently held (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides synchronously (the memory store never waits).
    pub fn decide(&self, key: &[u8], limit: &Limit, cost: u64, now: Micros) -> Decision {
        let hash = self.hasher.hash(key);
        // The high bits pick the shard, the map uses all of them.
        let shard = &self.shards[(hash >> 58) as usize % SHARDS];
        let mut map = match shard.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let stored = map
            .get(&hash)
            .filter(|e| e.expires_at > now)
            .map(|e| e.state);
        let (decision, next) = match limit {
            Limit::Gcra(g) => {
                let tat = match stored {
                    Some(State::Tat(t)) => Some(t),
                    _ => None,
                };
                let (d, t) = g.decide(tat, now, cost);
                (d, State::Tat(t))
            }
            Limit::Window(w) => {
                let s = match stored {
                    Some(State::Window(s)) => Some(s),
                    _ => None,
                };
                let (d, s) = w.decide(s, now, cost);
                (d, State::Window(s))
            }
        };
        if decision.allowed {
            let ttl = limit.state_ttl().as_micros() as u64;
            let entry = Entry {
                state: next,
                expires_at: now.saturating_add(ttl.max(1)),
            };
            if map.len() >= self.per_shard && !map.contains_key(&hash) {
                make_room(&mut map, self.per_shard, now);
            }
            map.insert(hash, entry);
        }
        decision
    }

    /// Forgets a key's state for a limit (the key is as given to `decide`).
    pub fn reset(&self, key: &[u8]) {
        let hash = self.hasher.hash(key);
        if let Ok(mut map) = self.shards[(hash >> 58) as usize % SHARDS].lock() {
            map.remove(&hash);
        }
    }
}

impl MemoryStore {
    fn flags(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, (u64, Micros)>> {
        self.flags.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets a flag until `now + ttl`. When the flag table is full, expired
    /// flags are dropped first, then the flags closest to expiry.
    pub fn set_flag(&self, key: &[u8], value: u64, ttl: std::time::Duration, now: Micros) {
        let expires = now.saturating_add(ttl.as_micros() as u64);
        let mut flags = self.flags();
        if flags.len() >= self.max_flags && !flags.contains_key(key) {
            flags.retain(|_, (_, e)| *e > now);
            if flags.len() >= self.max_flags {
                let mut by_expiry: Vec<(Micros, Vec<u8>)> =
                    flags.iter().map(|(k, (_, e))| (*e, k.clone())).collect();
                by_expiry.sort_unstable();
                for (_, k) in by_expiry.into_iter().take((self.max_flags / 8).max(1)) {
                    flags.remove(&k);
                }
            }
        }
        flags.insert(key.to_vec(), (value, expires));
    }

    /// The flag's value and time left, if it is set and not expired.
    pub fn get_flag(&self, key: &[u8], now: Micros) -> Option<(u64, std::time::Duration)> {
        let flags = self.flags();
        let (value, expires) = flags.get(key)?;
        (*expires > now).then(|| (*value, std::time::Duration::from_micros(expires - now)))
    }

    /// Removes a flag; returns whether it was set.
    pub fn remove_flag(&self, key: &[u8], now: Micros) -> bool {
        self.flags().remove(key).is_some_and(|(_, e)| e > now)
    }

    /// Every live flag whose key starts with `prefix`.
    pub fn list_flags(&self, prefix: &[u8], now: Micros) -> Vec<crate::Flag> {
        let mut out: Vec<crate::Flag> = self
            .flags()
            .iter()
            .filter(|(k, (_, e))| k.starts_with(prefix) && *e > now)
            .map(|(k, (v, e))| crate::Flag {
                key: k.clone(),
                value: *v,
                ttl: std::time::Duration::from_micros(e - now),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

/// Drops expired entries; when too few expired, evicts an eighth of the
/// shard so the next sweeps are amortized over many inserts.
fn make_room(map: &mut Shard, capacity: usize, now: Micros) {
    map.retain(|_, e| e.expires_at > now);
    if map.len() + capacity / 8 >= capacity {
        let evict: Vec<u64> = map.keys().take((capacity / 8).max(1)).copied().collect();
        for k in evict {
            map.remove(&k);
        }
    }
}

impl Store for MemoryStore {
    fn acquire(
        &self,
        key: &[u8],
        limit: &Limit,
        cost: u64,
        now: Micros,
    ) -> impl std::future::Future<Output = Result<Decision, StoreError>> + Send {
        std::future::ready(Ok(self.decide(key, limit, cost, now)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::algorithm::{Gcra, SlidingWindow};

    const S: u64 = 1_000_000;

    #[test]
    fn keys_are_independent_and_state_persists() {
        let store = MemoryStore::new(1_000);
        let limit = Limit::Gcra(Gcra::new(1, Duration::from_secs(1), 2).unwrap());
        let now = 10 * S;
        assert!(store.decide(b"a", &limit, 1, now).allowed);
        assert!(store.decide(b"a", &limit, 1, now).allowed);
        assert!(!store.decide(b"a", &limit, 1, now).allowed);
        assert!(store.decide(b"b", &limit, 1, now).allowed);
        store.reset(b"a");
        assert!(store.decide(b"a", &limit, 1, now).allowed);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let store = MemoryStore::new(6_400);
        let limit = Limit::Window(SlidingWindow::new(5, Duration::from_secs(60)).unwrap());
        for i in 0..100_000u32 {
            store.decide(&i.to_le_bytes(), &limit, 1, 5 * S);
        }
        assert!(store.len() <= 6_400, "{} keys held", store.len());
        // Recent keys are still limited.
        let key = 99_999u32.to_le_bytes();
        for _ in 0..4 {
            assert!(store.decide(&key, &limit, 1, 5 * S).allowed);
        }
        assert!(!store.decide(&key, &limit, 1, 5 * S).allowed);
    }

    #[test]
    fn flags_expire_list_and_stay_bounded() {
        let store = MemoryStore::new(64);
        store.set_flag(b"ban|1.2.3.4", 1, Duration::from_secs(10), 100 * S);
        store.set_flag(b"ban|5.6.7.8", 2, Duration::from_secs(1), 100 * S);
        store.set_flag(b"lock|x", 3, Duration::from_secs(10), 100 * S);
        assert_eq!(
            store.get_flag(b"ban|1.2.3.4", 105 * S),
            Some((1, Duration::from_secs(5)))
        );
        assert_eq!(store.get_flag(b"ban|5.6.7.8", 105 * S), None);
        let listed = store.list_flags(b"ban|", 100 * S);
        assert_eq!(listed.len(), 2);
        assert!(store.remove_flag(b"ban|1.2.3.4", 101 * S));
        assert_eq!(store.get_flag(b"ban|1.2.3.4", 101 * S), None);
        for i in 0..1_000u32 {
            store.set_flag(&i.to_le_bytes(), 0, Duration::from_secs(60), 200 * S);
        }
        assert!(store.flags().len() <= 64);
    }

    #[test]
    fn expired_keys_are_forgotten() {
        let store = MemoryStore::new(64);
        let limit = Limit::Gcra(Gcra::new(1, Duration::from_secs(1), 1).unwrap());
        assert!(store.decide(b"k", &limit, 1, 10 * S).allowed);
        assert!(!store.decide(b"k", &limit, 1, 10 * S).allowed);
        assert!(store.decide(b"k", &limit, 1, 12 * S).allowed);
        // A full shard sweeps expired entries before evicting live ones.
        for i in 0..1_000u32 {
            store.decide(&i.to_le_bytes(), &limit, 1, 100 * S);
        }
        assert!(store.len() <= 64);
    }
}
