//! A small map shared by every instance through Redis: one hash whose
//! `_version` field counts edits and whose `_epoch` field names the hash's
//! life (a random value set on the first write), so an instance polls one
//! small command (`HMGET key _epoch _version`) and reads the whole hash only
//! when either changed. Edits are atomic Lua scripts that bump the version
//! in the same step, and a put refuses past a caller-given entry count.
//!
//! Used for the admin-edited access lists; it never runs on the request
//! path (callers keep a local copy and refresh it on an interval). Field
//! names starting with `_` are reserved for the bookkeeping fields.

use redis::Script;

use crate::redis_store::{Connection, RedisConfig};
use crate::store::StoreError;

/// Puts ARGV[1] = ARGV[2] unless that would add an entry past ARGV[3];
/// ARGV[4] is the epoch to set if the hash has none. Returns the new
/// version, or -1 when full.
const PUT_LUA: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  local n = redis.call('HLEN', KEYS[1])
  if redis.call('HEXISTS', KEYS[1], '_version') == 1 then n = n - 1 end
  if redis.call('HEXISTS', KEYS[1], '_epoch') == 1 then n = n - 1 end
  if n >= tonumber(ARGV[3]) then return -1 end
end
redis.call('HSETNX', KEYS[1], '_epoch', ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HINCRBY', KEYS[1], '_version', 1)
"#;

/// Removes ARGV[1]; returns the new version, or 0 when it was absent.
const REMOVE_LUA: &str = r#"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], '_version', 1)
"#;

/// Which state of the map a copy was read from. Two reads with equal
/// versions saw the same entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapVersion {
    /// Empty while the hash does not exist.
    pub epoch: String,
    pub version: u64,
}

/// What a put did.
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Stored(MapVersion),
    /// The map already holds `max_entries` entries and this one is new.
    Full,
}

/// A versioned Redis hash (see the module docs).
#[derive(Clone)]
pub struct SharedMap {
    conn: Connection,
    key: String,
    put: Script,
    remove: Script,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A random epoch: the process's `RandomState` seeds differ per process.
fn new_epoch() -> String {
    use std::hash::BuildHasher;
    let n = std::hash::RandomState::new().hash_one(crate::now_micros());
    format!("{n:016x}")
}

impl SharedMap {
    /// Connects lazily to the Redis (standalone or Cluster: the map is one
    /// hash, so one slot) of `config`; the hash is `key`. `config.timeout`
    /// bounds the connect and each command.
    pub fn new(config: &RedisConfig, key: String) -> Result<SharedMap, StoreError> {
        Ok(SharedMap {
            conn: Connection::lazy(config)?,
            key,
            put: Script::new(PUT_LUA),
            remove: Script::new(REMOVE_LUA),
        })
    }

    /// The current version (one command).
    pub async fn version(&self) -> Result<MapVersion, StoreError> {
        let mut conn = self.conn.clone();
        let (epoch, version): (Option<String>, Option<u64>) = redis::cmd("HMGET")
            .arg(&self.key)
            .arg("_epoch")
            .arg("_version")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(MapVersion {
            epoch: epoch.unwrap_or_default(),
            version: version.unwrap_or(0),
        })
    }

    /// Every entry and the version they belong to (one command, atomic).
    pub async fn load(&self) -> Result<(MapVersion, Vec<(String, String)>), StoreError> {
        let mut conn = self.conn.clone();
        let all: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(&self.key)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut version = MapVersion::default();
        let mut entries = Vec::with_capacity(all.len());
        for (field, value) in all {
            match field.as_str() {
                "_epoch" => version.epoch = value,
                "_version" => {
                    version.version = value
                        .parse()
                        .map_err(|_| StoreError::Protocol(format!("_version {value:?}")))?
                }
                f if f.starts_with('_') => {}
                _ => entries.push((field, value)),
            }
        }
        Ok((version, entries))
    }

    /// Sets `field` to `value`; a new field is refused when the map holds
    /// `max_entries` already.
    pub async fn put(
        &self,
        field: &str,
        value: &str,
        max_entries: usize,
    ) -> Result<PutOutcome, StoreError> {
        if field.starts_with('_') {
            return Err(StoreError::Protocol(format!("reserved field {field:?}")));
        }
        let mut conn = self.conn.clone();
        let reply: i64 = self
            .put
            .key(&self.key)
            .arg(field)
            .arg(value)
            .arg(max_entries)
            .arg(new_epoch())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if reply < 0 {
            return Ok(PutOutcome::Full);
        }
        // The epoch is read back: another instance may have set it first.
        let version = self.version().await?;
        Ok(PutOutcome::Stored(version))
    }

    /// Removes `field`; `false` when it was not there.
    pub async fn remove(&self, field: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let reply: i64 = self
            .remove
            .key(&self.key)
            .arg(field)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(reply > 0)
    }
}
