//! The Redis store: limit state shared by every gateway instance. Each
//! decision is one atomic Lua script (`EVALSHA`; the script is loaded on
//! first use) on one key, so it works unchanged on Redis Cluster (one key
//! per call, no cross-slot access). The scripts read Redis' own clock
//! (`TIME`), so instances with skewed clocks share one timeline.
//!
//! **Local token leases** (`lease > 1`) trade accuracy for round trips: when
//! a key has no lease, the script grants up to `lease` tokens at once (never
//! more than the limit has room for) and this instance spends them locally
//! until they run out or `lease_ttl` passes. The limit is still never
//! exceeded across instances (tokens are taken from Redis before they are
//! spent), but tokens leased and not spent are lost: each instance may
//! under-admit by up to `lease − 1` requests per key per `lease_ttl`, and a
//! GCRA lease lets one instance spend its lease as a burst. With `lease: 1`
//! (the default) every decision is exact and costs one command.
//!
//! On a standalone Redis over TCP, decisions go out on the store's own
//! pipelined connection ([`crate::pipelined`]: commands written straight
//! into one buffer, replies parsed by [`crate::resp`], concurrent requests
//! sharing writes and reads); script loading, flags and the admin listings
//! keep the redis crate's connection manager.
//!
//! A denial is remembered locally until its `Retry-After`: nothing can make
//! the key pass sooner, so a client hammering a limit it has hit costs no
//! round trips (exact, whatever the lease).
//!
//! When Redis fails (refused, timeout), the store is marked down for
//! `retry_interval`: calls fail at once without touching the network (the
//! caller applies the limit's fail mode), then one call tries again; the
//! connection manager reconnects in the background.
//!
//! **Redis Cluster** (`cluster` seed nodes instead of `url`): the redis
//! crate's cluster client follows MOVED/ASK, refreshes the slot map and
//! reconnects after a failover. Keys of one request hash to different slots,
//! so what is one pipeline on a standalone Redis is one command per key on
//! Cluster, all sent at once (a request waits one round trip, to the slowest
//! node, not one per key). Flag reads are one single-key script each, sent
//! at once too. The health, fail-fast and recovery rules are the same.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, RedisFuture, RedisResult, Script, Value};

use crate::Micros;
use crate::algorithm::{Decision, Limit, WindowState};
use crate::pipelined::{Pipelined, Target};
use crate::resp::{self, Reply};
use crate::store::{KeyHasher, Store, StoreError};

/// GCRA: KEYS[1] holds the TAT (µs). ARGV: emission µs, burst µs, tokens
/// needed, tokens wanted (the lease). Returns {granted, tat − now, retry µs}.
const GCRA_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local B = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local room = math.floor((now + B - tat) / T)
if room < need then
  return {0, tat - now, tat + need * T - B - now}
end
local k = math.min(room, want)
local new_tat = tat + k * T
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {k, new_tat - now, 0}
"#;

/// Sliding window: KEYS[1] is a hash {w: window index, c: current count,
/// p: previous count}. ARGV: window µs, limit, needed, wanted. Returns
/// {granted, current, previous, µs elapsed in the window}.
const WINDOW_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local W = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local idx = math.floor(now / W)
local v = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w = tonumber(v[1])
local c = tonumber(v[2]) or 0
local p = tonumber(v[3]) or 0
if w == nil then c = 0; p = 0; w = idx
elseif w == idx - 1 then p = c; c = 0; w = idx
elseif w < idx - 1 then p = 0; c = 0; w = idx end
local elapsed = now - w * W
if elapsed < 0 then elapsed = 0 end
if elapsed > W then elapsed = W end
local used = math.ceil(p * (W - elapsed) / W) + c
local room = L - used
if room < need then
  return {0, c, p, elapsed}
end
local k = math.min(room, want)
c = c + k
redis.call('HSET', KEYS[1], 'w', string.format('%.0f', w), 'c', c, 'p', p)
redis.call('PEXPIRE', KEYS[1], math.ceil(2 * W / 1000) + 1)
return {k, c, p, elapsed}
"#;

/// Reads flags: KEYS are flag keys; returns {value, pttl} per key ({-1, -2}
/// for an absent one).
const FLAGS_LUA: &str = r#"
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v then
    out[#out + 1] = tonumber(v) or 0
    out[#out + 1] = redis.call('PTTL', k)
  else
    out[#out + 1] = -1
    out[#out + 1] = -2
  end
end
return out
"#;

/// How long a flag read from Redis is trusted locally: a ban set or lifted
/// on another instance reaches this one within this time.
pub const FLAG_CACHE: Duration = Duration::from_millis(500);

/// A flag read: (value and expiry when set, trusted until).
type CachedFlag = (Option<(u64, Micros)>, Micros);

/// How the store reaches Redis and how much accuracy it trades.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `redis://host:port/db` (or `rediss://` for TLS); unused with `cluster`.
    pub url: String,
    /// Redis Cluster seed nodes (`redis://host:port`); empty for a
    /// standalone Redis at `url`.
    pub cluster: Vec<String>,
    /// Prepended to every key (`portcullis:`).
    pub key_prefix: String,
    /// Connect and response timeout of one command.
    pub timeout: Duration,
    /// Tokens taken per round trip (1 = exact).
    pub lease: u64,
    /// Longest a local lease is spent before it is dropped.
    pub lease_ttl: Duration,
    /// After a failure, how long calls fail fast before Redis is tried again.
    pub retry_interval: Duration,
}

/// Most keys with a local lease or denial kept; past it, expired ones are
/// dropped (and all of them if that is not enough).
const MAX_LOCAL_KEYS: usize = 65_536;

/// What this instance remembers of a key between round trips.
#[derive(Clone, Copy)]
enum Local {
    Lease(Lease),
    /// Denied until `until`: no request passes sooner whatever the other
    /// instances do (they can only push it later), so asking Redis again
    /// before then is wasted. Exact; cuts round trips under attack.
    Denied {
        until: Micros,
        decision: Decision,
    },
}

#[derive(Clone, Copy)]
struct Lease {
    tokens: u64,
    expires_at: Micros,
    /// What the grant reported, kept for the headers of local decisions.
    limit: u64,
    remote_remaining: u64,
    reset_at: Micros,
}

/// A standalone Redis or a Redis Cluster, behind one interface.
#[derive(Clone)]
pub(crate) enum Connection {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    /// Connects lazily to the standalone Redis at `url`, or to the cluster
    /// of the `cluster` seeds: nothing is sent before the first command.
    pub(crate) fn lazy(config: &RedisConfig) -> Result<Connection, StoreError> {
        Ok(if config.cluster.is_empty() {
            let client = redis::Client::open(config.url.as_str())
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let manager_config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(config.timeout))
                .set_response_timeout(Some(config.timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(200));
            Connection::Standalone(
                ConnectionManager::new_lazy_with_config(client, manager_config)
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?,
            )
        } else {
            // One retry (after a MOVED, or a reconnect after a failover);
            // past it the caller's fail mode applies, as on standalone.
            let client = ClusterClientBuilder::new(config.cluster.iter().map(String::as_str))
                .retries(1)
                .max_retry_wait(200)
                .overall_response_timeout(Some(config.timeout * 2))
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let cluster_config = ClusterConfig::new()
                .set_connection_timeout(config.timeout)
                .set_response_timeout(config.timeout);
            Connection::Cluster(client.get_pending_async_connection_with_config(cluster_config))
        })
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Standalone(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Standalone(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

pub struct RedisStore {
    conn: Connection,
    /// The decisions' own connection, on a standalone Redis over TCP.
    pipelined: Option<Pipelined>,
    /// The encoded start of a GCRA and of a window decision ([`decision_args`]).
    eval_heads: [Vec<u8>; 2],
    prefix: String,
    gcra: Script,
    window: Script,
    lease: u64,
    lease_ttl_us: u64,
    local: Mutex<HashMap<u64, Local>>,
    hasher: KeyHasher,
    retry_interval_us: u64,
    down_until: AtomicU64,
    down: AtomicBool,
    commands: AtomicU64,
    flags: Script,
    /// Flag reads cached for [`FLAG_CACHE`]: key → (value and expiry, cached until).
    flag_cache: Mutex<HashMap<Vec<u8>, CachedFlag>>,
}

/// What a caller learns about the store's health from one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unchanged,
    /// This call found Redis failing after it was up.
    WentDown,
    /// This call succeeded after Redis had been down.
    Recovered,
}

impl RedisStore {
    /// Connects lazily: the gateway starts (and falls back) while Redis is down.
    /// Must be called inside a Tokio runtime.
    pub fn new(config: &RedisConfig) -> Result<RedisStore, StoreError> {
        let conn = Connection::lazy(config)?;
        let (gcra, window) = (Script::new(GCRA_LUA), Script::new(WINDOW_LUA));
        Ok(RedisStore {
            pipelined: pipelined_target(config)?.map(Pipelined::spawn),
            eval_heads: [&gcra, &window].map(|script| {
                // `EVALSHA <sha> 1`, the part of every decision that does not
                // change: 8 arguments in all (key and 4 numbers follow).
                let mut head = Vec::new();
                resp::command(&mut head, 8);
                resp::bulk(&mut head, b"EVALSHA");
                resp::bulk(&mut head, script.get_hash().as_bytes());
                resp::bulk(&mut head, b"1");
                head
            }),
            conn,
            prefix: config.key_prefix.clone(),
            gcra,
            window,
            lease: config.lease.max(1),
            lease_ttl_us: config.lease_ttl.as_micros() as u64,
            local: Mutex::new(HashMap::new()),
            hasher: KeyHasher::random(),
            retry_interval_us: config.retry_interval.as_micros() as u64,
            down_until: AtomicU64::new(0),
            down: AtomicBool::new(false),
            commands: AtomicU64::new(0),
            flags: Script::new(FLAGS_LUA),
            flag_cache: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the last call to Redis failed.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Decisions and flag commands sent to Redis so far (a pipeline of n
    /// decisions counts n; loading the scripts after a restart is not counted).
    pub fn commands_sent(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }

    /// Like [`Store::acquire`], also telling whether Redis' health changed.
    pub async fn acquire_reporting(
        &self,
        key: &[u8],
        limit: &Limit,
        cost: u64,
        now: Micros,
    ) -> (Result<Decision, StoreError>, Health) {
        let (mut results, health) = self.acquire_many(&[(key, limit)], cost, now).await;
        let result = results
            .pop()
            .unwrap_or_else(|| Err(StoreError::Protocol("no decision".into())));
        (result, health)
    }

    /// Decides several keys (a route's limits) at once: what local leases
    /// and denials can answer is answered here, the rest goes to Redis as
    /// one pipeline (one round trip; one `EVALSHA` per key, each on one key,
    /// so Cluster can route them). Every key sent is charged, whatever the
    /// others answer. Results are in the order of `items`.
    pub async fn acquire_many(
        &self,
        items: &[(&[u8], &Limit)],
        cost: u64,
        now: Micros,
    ) -> (Vec<Result<Decision, StoreError>>, Health) {
        if now < self.down_until.load(Ordering::Relaxed) {
            let down = || {
                Err(StoreError::Unavailable(
                    "marked down after a failure".into(),
                ))
            };
            return (items.iter().map(|_| down()).collect(), Health::Unchanged);
        }
        let mut out: Vec<Option<Result<Decision, StoreError>>> = Vec::with_capacity(items.len());
        let mut remote: Vec<(usize, u64)> = Vec::new();
        for (i, (key, _)) in items.iter().enumerate() {
            let hash = self.hasher.hash(key);
            match self.spend_local(hash, cost, now) {
                Some(decision) => out.push(Some(Ok(decision))),
                None => {
                    out.push(None);
                    remote.push((i, hash));
                }
            }
        }
        if remote.is_empty() {
            return (out.into_iter().flatten().collect(), Health::Unchanged);
        }
        let want = self.lease.max(cost);
        let result = match &self.pipelined {
            Some(pipelined) => {
                let batch: Vec<(&[u8], &Limit)> = remote.iter().map(|&(i, _)| items[i]).collect();
                self.send_pipelined(pipelined, &batch, cost, want).await
            }
            None => {
                let cmds: Vec<Cmd> = remote
                    .iter()
                    .map(|&(i, _)| self.eval_cmd(items[i].0, items[i].1, cost, want))
                    .collect();
                self.send(cmds).await
            }
        };
        let health = match &result {
            Ok(_) if self.down.swap(false, Ordering::Relaxed) => Health::Recovered,
            Ok(_) => Health::Unchanged,
            Err(StoreError::Unavailable(_)) => {
                self.down_until.store(
                    now.saturating_add(self.retry_interval_us),
                    Ordering::Relaxed,
                );
                if self.down.swap(true, Ordering::Relaxed) {
                    Health::Unchanged
                } else {
                    Health::WentDown
                }
            }
            Err(StoreError::Protocol(_)) => Health::Unchanged,
        };
        match result {
            Ok(replies) => {
                for (n, &(i, hash)) in remote.iter().enumerate() {
                    let reply = replies.get(n).map_or(&[][..], |r| &r[..]);
                    out[i] = Some(parse_reply(items[i].1, cost, reply).map(
                        |(decision, granted)| self.settle(hash, cost, now, decision, granted),
                    ));
                }
            }
            Err(e) => {
                for &(i, _) in &remote {
                    out[i] = Some(Err(match &e {
                        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
                        StoreError::Protocol(m) => StoreError::Protocol(m.clone()),
                    }));
                }
            }
        }
        (out.into_iter().flatten().collect(), health)
    }

    /// Sends the decisions (one pipeline, or on Cluster one command per key,
    /// all at once); when Redis lost the scripts (restarted, flushed, a
    /// replica promoted), loads them and sends those once more.
    async fn send(&self, cmds: Vec<Cmd>) -> Result<Vec<Vec<i64>>, StoreError> {
        let mut conn = self.conn.clone();
        self.commands
            .fetch_add(cmds.len() as u64, Ordering::Relaxed);
        let no_script = |e: &redis::RedisError| {
            e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
        };
        match &self.conn {
            Connection::Standalone(_) => {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                match pipe.query_async::<Vec<Vec<i64>>>(&mut conn).await {
                    Ok(replies) => Ok(replies),
                    Err(e) if no_script(&e) => {
                        self.load_scripts(&mut conn).await?;
                        pipe.query_async::<Vec<Vec<i64>>>(&mut conn)
                            .await
                            .map_err(classify)
                    }
                    Err(e) => Err(classify(e)),
                }
            }
            Connection::Cluster(_) => {
                let mut replies = join_each(&conn, &cmds).await;
                if replies.iter().any(|r| r.as_ref().is_err_and(no_script)) {
                    // Only the keys of the node that lost them are re-sent:
                    // the others were charged already.
                    self.load_scripts(&mut conn).await?;
                    let again: Vec<usize> = (0..replies.len())
                        .filter(|&n| replies[n].as_ref().is_err_and(no_script))
                        .collect();
                    let resend: Vec<Cmd> = again.iter().map(|&n| cmds[n].clone()).collect();
                    for (n, reply) in again.into_iter().zip(join_each(&conn, &resend).await) {
                        replies[n] = reply;
                    }
                }
                replies.into_iter().map(|r| r.map_err(classify)).collect()
            }
        }
    }

    /// [`RedisStore::send`] on the store's own pipelined connection (a
    /// standalone Redis over TCP): the `EVALSHA`s are written straight into
    /// one buffer. A decision that finds its script gone (`NOSCRIPT`: Redis
    /// restarted or was flushed) is sent again after the scripts are loaded;
    /// the others were charged already and are not.
    async fn send_pipelined(
        &self,
        pipelined: &Pipelined,
        batch: &[(&[u8], &Limit)],
        cost: u64,
        want: u64,
    ) -> Result<Vec<Vec<i64>>, StoreError> {
        self.commands
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut replies = pipelined
            .call(self.encode_evals(batch, cost, want), batch.len())
            .await?;
        let lost = |r: &Reply| matches!(r, Reply::Error(e) if e.starts_with("NOSCRIPT"));
        if replies.iter().any(lost) {
            self.load_scripts(&mut self.conn.clone()).await?;
            let again: Vec<usize> = (0..replies.len()).filter(|&n| lost(&replies[n])).collect();
            let resend: Vec<(&[u8], &Limit)> = again.iter().map(|&n| batch[n]).collect();
            let fresh = pipelined
                .call(self.encode_evals(&resend, cost, want), resend.len())
                .await?;
            for (n, reply) in again.into_iter().zip(fresh) {
                replies[n] = reply;
            }
        }
        replies
            .into_iter()
            .map(|reply| match reply {
                Reply::Error(e) => Err(StoreError::Protocol(e)),
                reply => reply.into_ints().ok_or_else(|| {
                    StoreError::Protocol("a decision reply that is not integers".into())
                }),
            })
            .collect()
    }

    /// The `EVALSHA` of each decision, encoded for [`Pipelined::call`].
    fn encode_evals(&self, batch: &[(&[u8], &Limit)], cost: u64, want: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(batch.len() * 160);
        for (key, limit) in batch {
            let (script, a, b) = decision_args(limit);
            out.extend_from_slice(&self.eval_heads[script]);
            resp::bulk_parts(&mut out, &[self.prefix.as_bytes(), key]);
            resp::bulk_int(&mut out, a);
            resp::bulk_int(&mut out, b);
            resp::bulk_int(&mut out, cost);
            resp::bulk_int(&mut out, want);
        }
        out
    }

    /// `SCRIPT LOAD` of the decision scripts (on Cluster, the client sends
    /// it to every node). Not counted in `commands_sent`: once per restart.
    async fn load_scripts(&self, conn: &mut Connection) -> Result<(), StoreError> {
        for script in [&self.gcra, &self.window, &self.flags] {
            script
                .prepare_invoke()
                .load_async(conn)
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    /// Reads flag keys (full keys): {value, pttl} per key. One script on
    /// standalone; one single-key script per key, all at once, on Cluster.
    async fn read_flags(&self, keys: &[&[u8]]) -> RedisResult<Vec<i64>> {
        let mut conn = self.conn.clone();
        match &self.conn {
            Connection::Standalone(_) => {
                let mut invocation = self.flags.prepare_invoke();
                for k in keys {
                    invocation.key(*k);
                }
                invocation.invoke_async(&mut conn).await
            }
            Connection::Cluster(_) => {
                let reads = keys.iter().map(|k| {
                    let mut conn = conn.clone();
                    let mut invocation = self.flags.prepare_invoke();
                    invocation.key(*k);
                    async move { invocation.invoke_async::<Vec<i64>>(&mut conn).await }
                });
                let mut out = Vec::with_capacity(2 * keys.len());
                for reply in futures_util::future::join_all(reads).await {
                    out.extend(reply?);
                }
                Ok(out)
            }
        }
    }

    /// `EVALSHA` of the limit's script on one key.
    fn eval_cmd(&self, key: &[u8], limit: &Limit, cost: u64, want: u64) -> Cmd {
        let (script, a, b) = decision_args(limit);
        let script = [&self.gcra, &self.window][script];
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash())
            .arg(1)
            .arg(self.full_key(key))
            .arg(a)
            .arg(b)
            .arg(cost)
            .arg(want);
        cmd
    }

    /// Remembers a lease or a denial from a Redis answer; the decision as
    /// the caller sees it (leased tokens count as remaining).
    fn settle(
        &self,
        hash: u64,
        cost: u64,
        now: Micros,
        decision: Decision,
        granted: u64,
    ) -> Decision {
        // Refused by Redis while a request that raced this one holds leased
        // tokens here: spend one of those (they are already charged).
        if !decision.allowed
            && let Some(local) = self.spend_local(hash, cost, now)
            && local.allowed
        {
            return local;
        }
        let remember = if granted > cost {
            Some(Local::Lease(Lease {
                tokens: granted - cost,
                expires_at: now.saturating_add(self.lease_ttl_us),
                limit: decision.limit,
                remote_remaining: decision.remaining,
                reset_at: now.saturating_add(decision.reset_after.as_micros() as u64),
            }))
        } else if !decision.allowed {
            Some(Local::Denied {
                until: now.saturating_add(decision.retry_after.as_micros() as u64),
                decision,
            })
        } else {
            None
        };
        if let Some(entry) = remember
            && let Ok(mut local) = self.local.lock()
        {
            if local.len() >= MAX_LOCAL_KEYS {
                local.retain(|_, e| match e {
                    Local::Lease(l) => l.expires_at > now,
                    Local::Denied { until, .. } => *until > now,
                });
                if local.len() >= MAX_LOCAL_KEYS {
                    local.clear();
                }
            }
            match (local.get_mut(&hash), entry) {
                // Requests that found the lease empty at the same moment each
                // take one from Redis: their tokens add up, or every lease
                // but the last would be lost and the key charged for tokens
                // nobody spends (at 32 concurrent misses, 32 × the rate).
                (Some(Local::Lease(held)), Local::Lease(fresh)) if held.expires_at > now => {
                    held.tokens += fresh.tokens;
                    held.expires_at = held.expires_at.max(fresh.expires_at);
                    held.remote_remaining = fresh.remote_remaining;
                    held.reset_at = fresh.reset_at;
                }
                (_, entry) => {
                    local.insert(hash, entry);
                }
            }
        }
        Decision {
            remaining: decision.remaining + granted.saturating_sub(cost),
            ..decision
        }
    }

    /// Answers from the local lease or denial, when one applies.
    fn spend_local(&self, hash: u64, cost: u64, now: Micros) -> Option<Decision> {
        let mut local = self.local.lock().ok()?;
        let lease = match local.get_mut(&hash)? {
            Local::Denied { until, decision } if *until > now => {
                return Some(Decision {
                    retry_after: std::time::Duration::from_micros(*until - now),
                    ..*decision
                });
            }
            Local::Lease(lease) if lease.expires_at > now && lease.tokens >= cost => lease,
            _ => {
                local.remove(&hash);
                return None;
            }
        };
        lease.tokens -= cost;
        Some(Decision {
            allowed: true,
            limit: lease.limit,
            remaining: lease.remote_remaining + lease.tokens,
            reset_after: Duration::from_micros(lease.reset_at.saturating_sub(now)),
            retry_after: Duration::ZERO,
        })
    }
}

/// Which decision script a limit runs (0: GCRA, 1: window, the order of
/// `eval_heads`) and its two parameters (ARGV[1] and ARGV[2]).
fn decision_args(limit: &Limit) -> (usize, u64, u64) {
    match limit {
        Limit::Gcra(g) => (0, g.emission_us, g.burst_us),
        Limit::Window(w) => (1, w.window_us, w.limit),
    }
}

/// A script's reply: the decision and the tokens granted (0 when denied).
fn parse_reply(limit: &Limit, cost: u64, reply: &[i64]) -> Result<(Decision, u64), StoreError> {
    let n = |i: usize| -> Result<u64, StoreError> {
        reply
            .get(i)
            .map(|v| (*v).max(0) as u64)
            .ok_or_else(|| StoreError::Protocol(format!("short reply {reply:?}")))
    };
    let granted = n(0)?;
    let decision = match limit {
        Limit::Gcra(g) => {
            let ahead = n(1)?;
            Decision {
                allowed: granted > 0,
                limit: g.burst,
                remaining: g.remaining(ahead, 0),
                reset_after: Duration::from_micros(ahead),
                retry_after: Duration::from_micros(n(2)?),
            }
        }
        Limit::Window(w) => {
            let state = WindowState {
                index: 0,
                current: n(1)?,
                previous: n(2)?,
            };
            w.report(state, n(3)?, cost, granted > 0)
        }
    };
    Ok((decision, granted))
}

impl RedisStore {
    fn full_key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + key.len());
        k.extend_from_slice(self.prefix.as_bytes());
        k.extend_from_slice(key);
        k
    }

    fn check_up(&self, now: Micros) -> Result<(), StoreError> {
        if now < self.down_until.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "marked down after a failure".into(),
            ));
        }
        Ok(())
    }

    fn failed(&self, now: Micros, e: redis::RedisError) -> StoreError {
        self.mark_failed(now, classify(e))
    }

    /// Marks the store down when `e` means Redis is unreachable.
    fn mark_failed(&self, now: Micros, e: StoreError) -> StoreError {
        if matches!(e, StoreError::Unavailable(_)) {
            self.down_until.store(
                now.saturating_add(self.retry_interval_us),
                Ordering::Relaxed,
            );
            self.down.store(true, Ordering::Relaxed);
        }
        e
    }

    fn cache_flag(&self, key: &[u8], flag: Option<(u64, Micros)>, now: Micros) {
        let until = now.saturating_add(FLAG_CACHE.as_micros() as u64);
        if let Ok(mut cache) = self.flag_cache.lock() {
            if cache.len() >= MAX_LOCAL_KEYS {
                cache.retain(|_, (_, u)| *u > now);
                if cache.len() >= MAX_LOCAL_KEYS {
                    cache.clear();
                }
            }
            cache.insert(key.to_vec(), (flag, until));
        }
    }

    /// Sets a flag in Redis (and in this instance's cache).
    pub async fn set_flag(
        &self,
        key: &[u8],
        value: u64,
        ttl: Duration,
        now: Micros,
    ) -> Result<(), StoreError> {
        self.check_up(now)?;
        let mut conn = self.conn.clone();
        self.commands.fetch_add(1, Ordering::Relaxed);
        let ms = (ttl.as_millis() as u64).max(1);
        redis::cmd("SET")
            .arg(self.full_key(key))
            .arg(value)
            .arg("PX")
            .arg(ms)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.failed(now, e))?;
        self.cache_flag(key, Some((value, now.saturating_add(ms * 1000))), now);
        Ok(())
    }

    /// Reads flags, one round trip for all keys not cached locally.
    pub async fn get_flags(
        &self,
        keys: &[&[u8]],
        now: Micros,
    ) -> Result<Vec<Option<(u64, Duration)>>, StoreError> {
        let mut out: Vec<Option<Option<(u64, Micros)>>> = vec![None; keys.len()];
        if let Ok(cache) = self.flag_cache.lock() {
            for (i, k) in keys.iter().enumerate() {
                if let Some((flag, until)) = cache.get(*k)
                    && *until > now
                {
                    out[i] = Some(*flag);
                }
            }
        }
        let missing: Vec<usize> = (0..keys.len()).filter(|i| out[*i].is_none()).collect();
        if !missing.is_empty() {
            self.check_up(now)?;
            let full: Vec<Vec<u8>> = missing.iter().map(|&i| self.full_key(keys[i])).collect();
            let full: Vec<&[u8]> = full.iter().map(Vec::as_slice).collect();
            let sent = match self.conn {
                Connection::Standalone(_) => 1,
                Connection::Cluster(_) => full.len() as u64,
            };
            self.commands.fetch_add(sent, Ordering::Relaxed);
            let reply = self
                .read_flags(&full)
                .await
                .map_err(|e| self.failed(now, e))?;
            for (n, &i) in missing.iter().enumerate() {
                let value = reply.get(2 * n).copied().unwrap_or(-1);
                let pttl = reply.get(2 * n + 1).copied().unwrap_or(-2);
                let flag = (value >= 0 && pttl > 0)
                    .then(|| (value as u64, now.saturating_add(pttl as u64 * 1000)));
                self.cache_flag(keys[i], flag, now);
                out[i] = Some(flag);
            }
        }
        Ok(out
            .into_iter()
            .map(|f| {
                f.flatten()
                    .filter(|(_, e)| *e > now)
                    .map(|(v, e)| (v, Duration::from_micros(e - now)))
            })
            .collect())
    }

    /// Removes a flag; returns whether it was set.
    pub async fn remove_flag(&self, key: &[u8], now: Micros) -> Result<bool, StoreError> {
        self.check_up(now)?;
        let mut conn = self.conn.clone();
        self.commands.fetch_add(1, Ordering::Relaxed);
        let removed: u64 = redis::cmd("DEL")
            .arg(self.full_key(key))
            .query_async(&mut conn)
            .await
            .map_err(|e| self.failed(now, e))?;
        self.cache_flag(key, None, now);
        Ok(removed > 0)
    }

    /// Every flag whose key starts with `prefix` (SCAN: for the admin API,
    /// not the request path).
    pub async fn list_flags(
        &self,
        prefix: &[u8],
        now: Micros,
    ) -> Result<Vec<crate::Flag>, StoreError> {
        self.check_up(now)?;
        let mut pattern = self.full_key(prefix);
        pattern.push(b'*');
        let keys = match &self.conn {
            Connection::Standalone(_) => scan(&mut self.conn.clone(), &pattern, None).await,
            Connection::Cluster(c) => {
                let masters = cluster_masters(c.clone())
                    .await
                    .map_err(|e| self.mark_failed(now, e))?;
                let mut keys = Vec::new();
                for node in masters {
                    match scan(&mut self.conn.clone(), &pattern, Some(node)).await {
                        Ok(batch) => keys.extend(batch),
                        Err(e) => return Err(self.failed(now, e)),
                    }
                }
                Ok(keys)
            }
        }
        .map_err(|e| self.failed(now, e))?;
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(500) {
            let chunk_keys: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            let reply = self
                .read_flags(&chunk_keys)
                .await
                .map_err(|e| self.failed(now, e))?;
            for (n, k) in chunk.iter().enumerate() {
                let value = reply.get(2 * n).copied().unwrap_or(-1);
                let pttl = reply.get(2 * n + 1).copied().unwrap_or(-2);
                if value >= 0 && pttl > 0 {
                    out.push(crate::Flag {
                        key: k[self.prefix.len()..].to_vec(),
                        value: value as u64,
                        ttl: Duration::from_millis(pttl as u64),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// Sends every command on its own, all at once (Cluster: each to its
/// key's node); replies in order.
async fn join_each(conn: &Connection, cmds: &[Cmd]) -> Vec<RedisResult<Vec<i64>>> {
    futures_util::future::join_all(cmds.iter().map(|cmd| {
        let mut conn = conn.clone();
        async move { cmd.query_async::<Vec<i64>>(&mut conn).await }
    }))
    .await
}

/// Most keys one `list_flags` collects (an admin listing, not an export).
const MAX_LISTED: usize = 100_000;

/// `SCAN MATCH pattern` to the end, on the standalone server or (`at`)
/// one Cluster node.
async fn scan(
    conn: &mut Connection,
    pattern: &[u8],
    at: Option<(String, u16)>,
) -> RedisResult<Vec<Vec<u8>>> {
    let mut cursor = "0".to_owned();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(&cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000);
        let (next, batch): (String, Vec<Vec<u8>>) = match (&at, &mut *conn) {
            (Some((host, port)), Connection::Cluster(c)) => {
                let node = SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                };
                let reply = c.route_command(cmd, RoutingInfo::SingleNode(node)).await?;
                redis::from_redis_value(reply)?
            }
            _ => cmd.query_async(&mut *conn).await?,
        };
        keys.extend(batch);
        if next == "0" || keys.len() > MAX_LISTED {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// The masters of the cluster (`CLUSTER NODES`, from any node), as
/// (host, port); failed ones are left out.
async fn cluster_masters(mut conn: ClusterConnection) -> Result<Vec<(String, u16)>, StoreError> {
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn)
        .await
        .map_err(classify)?;
    // `<id> <ip:port@cport[,hostname]> <flags> ...`
    Ok(nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let addr = fields.nth(1)?;
            let flags = fields.next()?;
            if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
                return None;
            }
            let (host, port) = addr.split(['@', ',']).next()?.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect())
}

/// Where the decisions' own connection goes: a standalone Redis over TCP
/// (`redis://`); `None` for a cluster or a Unix socket, which keep the
/// redis crate's client for everything.
fn pipelined_target(config: &RedisConfig) -> Result<Option<Target>, StoreError> {
    if !config.cluster.is_empty() {
        return Ok(None);
    }
    let client = redis::Client::open(config.url.as_str())
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let info = client.get_connection_info();
    let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
        return Ok(None);
    };
    let settings = info.redis_settings();
    Ok(Some(Target {
        host: host.clone(),
        port: *port,
        username: settings.username().map(str::to_string),
        password: settings.password().map(str::to_string),
        db: settings.db(),
        timeout: config.timeout,
    }))
}

/// Script errors are the store's bug; everything else means Redis is not
/// reachable or not answering. So is a cluster that is not serving a slot
/// right now (a master down, a failover or a resharding that outlasted the
/// client's retry) or a server still loading its data.
fn classify(e: redis::RedisError) -> StoreError {
    use redis::ServerErrorKind as K;
    match e.kind() {
        redis::ErrorKind::Server(
            K::Moved | K::Ask | K::TryAgain | K::ClusterDown | K::MasterDown | K::BusyLoading,
        ) => StoreError::Unavailable(e.to_string()),
        redis::ErrorKind::Server(_) => StoreError::Protocol(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

impl Store for RedisStore {
    async fn acquire(
        &self,
        key: &[u8],
        limit: &Limit,
        cost: u64,
        now: Micros,
    ) -> Result<Decision, StoreError> {
        self.acquire_reporting(key, limit, cost, now).await.0
    }
}
