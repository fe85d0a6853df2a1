//! The runtime access lists: allow and deny lists of networks that the
//! admin API edits (`/access-lists`, `admin_access_lists.rs`), kept in the
//! `rate_limit_store` — this process only with the memory backend, one
//! versioned Redis hash ([`SharedMap`]) with the Redis backend, so every
//! instance picks up an edit within `access_lists.refresh`.
//!
//! The request path reads only the local copy ([`AccessLists::check`]: one
//! atomic pointer load and a binary search per list; no Redis, no lock, no
//! allocation). A background task polls the hash's version every `refresh`
//! and reads the whole hash only when it changed; while Redis is unreachable
//! the last copy keeps applying.
//!
//! Semantics: a deny entry refuses the client (403, rule `access_list.deny`)
//! even when an allow entry also covers it; an allow entry exempts the
//! client from the abuse checks (bans, honeypots, brute force, rate limits,
//! bot scores) but never from the route's security checks (static
//! `ip_access`, identity, OpenAPI, threat detection). The lists live in the
//! [`Gateway`](crate::state::Gateway), so a reload keeps them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use portcullis_limits::{MapVersion, PutOutcome, SharedMap};
use portcullis_policy::checks::IpSet;
use portcullis_policy::config::rate_limits::StoreBackend;
use portcullis_policy::units::Cidr;
use portcullis_policy::{ConfigError, Mode, Policy};

/// Which list an entry is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    Allow,
    Deny,
}

impl List {
    pub fn name(self) -> &'static str {
        match self {
            List::Allow => "allow",
            List::Deny => "deny",
        }
    }

    pub fn parse(name: &str) -> Option<List> {
        match name {
            "allow" => Some(List::Allow),
            "deny" => Some(List::Deny),
            _ => None,
        }
    }
}

/// What the lists say about a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// On neither list.
    Unlisted,
    /// On the allow list only: the abuse checks are skipped.
    Allowed,
    /// On the deny list (whatever the allow list says).
    Denied,
}

/// One generation's `access_lists` settings and its handle on the store.
pub struct AccessListSettings {
    pub mode: Mode,
    pub refresh: Duration,
    pub max_entries: usize,
    /// The Redis hash, when the store is Redis.
    shared: Option<SharedMap>,
}

fn located(policy: &Policy, field: &str, message: String) -> ConfigError {
    ConfigError::at_field(&policy.source_path, &policy.source_text, field, message)
}

/// Checks the `access_lists` block (no sockets, no runtime).
pub fn validate(policy: &Policy) -> Result<(), ConfigError> {
    let Some(c) = &policy.config.access_lists else {
        return Ok(());
    };
    if c.refresh.0 < Duration::from_millis(10) {
        return Err(located(
            policy,
            "access_lists.refresh",
            "must be at least 10ms".into(),
        ));
    }
    if c.max_entries == 0 || c.max_entries > 1_000_000 {
        return Err(located(
            policy,
            "access_lists.max_entries",
            "must be between 1 and 1000000".into(),
        ));
    }
    Ok(())
}

impl AccessListSettings {
    /// The settings of a config, `None` without an `access_lists` block;
    /// inside the runtime (Redis connects lazily).
    pub fn build(policy: &Policy) -> Result<Option<AccessListSettings>, ConfigError> {
        validate(policy)?;
        let Some(c) = &policy.config.access_lists else {
            return Ok(None);
        };
        let store = &policy.config.rate_limit_store;
        let shared = match (&store.redis, store.backend) {
            (Some(r), StoreBackend::Redis) => Some(
                SharedMap::new(
                    &crate::rate_limits::redis_config(r),
                    format!("{}access_lists", r.key_prefix),
                )
                .map_err(|e| located(policy, "rate_limit_store.redis", e.to_string()))?,
            ),
            _ => None,
        };
        Ok(Some(AccessListSettings {
            mode: c.mode,
            refresh: c.refresh.0,
            max_entries: c.max_entries,
            shared,
        }))
    }

    pub fn backend(&self) -> &'static str {
        if self.shared.is_some() {
            "redis"
        } else {
            "memory"
        }
    }
}

/// Which state of the lists a copy was built from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    Memory(u64),
    Redis(MapVersion),
}

/// The local copy the request path reads.
struct Snapshot {
    allow: IpSet,
    deny: IpSet,
    source: Source,
}

/// One list entry as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub list: List,
    /// Normalized (`10.0.0.0/8`, `192.0.2.7/32`).
    pub cidr: String,
    /// As stored: `{"comment": …, "added_at": unix seconds}`.
    pub meta: serde_json::Value,
}

/// The store field of an entry: `deny|10.0.0.0/8`.
fn field(list: List, cidr: &str) -> String {
    format!("{}|{cidr}", list.name())
}

fn parse_field(field: &str) -> Option<(List, Cidr)> {
    let (list, cidr) = field.split_once('|')?;
    Some((List::parse(list)?, cidr.parse().ok()?))
}

/// Normalizes an address or network (`10.1.2.3/8` → `10.0.0.0/8`).
pub fn normalize(cidr: &str) -> Result<String, String> {
    cidr.parse::<Cidr>().map(|Cidr(net)| net.to_string())
}

/// What an admin edit did.
#[derive(Debug, PartialEq, Eq)]
pub enum Edit {
    Added,
    Replaced,
    Removed,
    NotFound,
    Full,
}

/// The lists: the local copy, and the entries themselves for the memory backend.
pub struct AccessLists {
    current: ArcSwap<Snapshot>,
    local: Mutex<BTreeMap<String, String>>,
    local_version: AtomicU64,
    /// Set while Redis cannot be read (logged once per outage).
    failing: AtomicBool,
}

impl Default for AccessLists {
    fn default() -> Self {
        AccessLists {
            current: ArcSwap::from_pointee(Snapshot {
                allow: IpSet::default(),
                deny: IpSet::default(),
                source: Source::Memory(0),
            }),
            local: Mutex::new(BTreeMap::new()),
            local_version: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        }
    }
}

/// Builds a copy from store entries; deny entries first, so that past
/// `max_entries` it is allow entries that are dropped.
fn snapshot<'a>(
    entries: impl Iterator<Item = &'a str>,
    max_entries: usize,
    source: Source,
) -> Snapshot {
    let mut deny = Vec::new();
    let mut allow = Vec::new();
    let mut bad = 0usize;
    for f in entries {
        match parse_field(f) {
            Some((List::Deny, c)) => deny.push(c),
            Some((List::Allow, c)) => allow.push(c),
            None => bad += 1,
        }
    }
    if bad > 0 {
        tracing::warn!(
            entries = bad,
            "access lists: entries that are not `allow|CIDR` or `deny|CIDR` ignored"
        );
    }
    if deny.len() + allow.len() > max_entries {
        tracing::warn!(
            entries = deny.len() + allow.len(),
            max_entries,
            "access lists hold more entries than access_lists.max_entries: the rest are ignored"
        );
        deny.truncate(max_entries);
        allow.truncate(max_entries - deny.len());
    }
    Snapshot {
        allow: IpSet::new(&allow),
        deny: IpSet::new(&deny),
        source,
    }
}

fn to_entries(pairs: impl Iterator<Item = (String, String)>) -> Vec<Entry> {
    pairs
        .filter_map(|(f, v)| {
            let (list, Cidr(net)) = parse_field(&f)?;
            Some(Entry {
                list,
                cidr: net.to_string(),
                meta: serde_json::from_str(&v).unwrap_or(serde_json::Value::Null),
            })
        })
        .collect()
}

impl AccessLists {
    /// The request path: what the local copy says about `ip`.
    #[inline]
    pub fn check(&self, ip: IpAddr) -> Access {
        let current = self.current.load();
        if current.deny.contains(ip) {
            Access::Denied
        } else if !current.allow.is_empty() && current.allow.contains(ip) {
            Access::Allowed
        } else {
            Access::Unlisted
        }
    }

    /// Brings the local copy up to date with the store (the refresh task,
    /// and after an edit on this instance).
    pub async fn refresh(&self, settings: &AccessListSettings) {
        match &settings.shared {
            None => {
                let version = self.local_version.load(Ordering::Acquire);
                if self.current.load().source != Source::Memory(version) {
                    self.rebuild_local(settings.max_entries);
                }
            }
            Some(map) => {
                let result = async {
                    let version = map.version().await?;
                    if self.current.load().source == Source::Redis(version) {
                        return Ok(false);
                    }
                    let (version, entries) = map.load().await?;
                    let copy = snapshot(
                        entries.iter().map(|(f, _)| f.as_str()),
                        settings.max_entries,
                        Source::Redis(version),
                    );
                    self.current.store(Arc::new(copy));
                    Ok::<bool, portcullis_limits::StoreError>(true)
                }
                .await;
                match result {
                    Ok(changed) => {
                        if self.failing.swap(false, Ordering::Relaxed) {
                            tracing::info!("access lists: the shared store answers again");
                        }
                        if changed {
                            tracing::debug!("access lists: local copy refreshed");
                        }
                    }
                    Err(error) => {
                        if !self.failing.swap(true, Ordering::Relaxed) {
                            tracing::warn!(%error, "access lists: cannot read the shared store; the last copy keeps applying");
                        }
                    }
                }
            }
        }
    }

    fn rebuild_local(&self, max_entries: usize) {
        let Ok(local) = self.local.lock() else { return };
        let version = self.local_version.load(Ordering::Acquire);
        let copy = snapshot(
            local.keys().map(String::as_str),
            max_entries,
            Source::Memory(version),
        );
        self.current.store(Arc::new(copy));
    }

    /// Every entry, from the store itself (not the local copy).
    pub async fn entries(&self, settings: &AccessListSettings) -> Result<Vec<Entry>, String> {
        match &settings.shared {
            Some(map) => {
                let (_, pairs) = map.load().await.map_err(|e| e.to_string())?;
                let mut entries = to_entries(pairs.into_iter());
                entries.sort_by(|a, b| (a.list.name(), &a.cidr).cmp(&(b.list.name(), &b.cidr)));
                Ok(entries)
            }
            None => {
                let local = self.local.lock().map_err(|_| "poisoned".to_owned())?;
                Ok(to_entries(
                    local.iter().map(|(f, v)| (f.clone(), v.clone())),
                ))
            }
        }
    }

    /// Adds (or replaces) an entry; applied on this instance at once.
    pub async fn add(
        &self,
        settings: &AccessListSettings,
        list: List,
        cidr: &str,
        meta: &serde_json::Value,
    ) -> Result<Edit, String> {
        let f = field(list, cidr);
        let value = meta.to_string();
        let edit = match &settings.shared {
            Some(map) => {
                let existed = map
                    .load()
                    .await
                    .map_err(|e| e.to_string())?
                    .1
                    .iter()
                    .any(|(k, _)| *k == f);
                match map
                    .put(&f, &value, settings.max_entries)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    PutOutcome::Full => Edit::Full,
                    PutOutcome::Stored(_) if existed => Edit::Replaced,
                    PutOutcome::Stored(_) => Edit::Added,
                }
            }
            None => {
                let mut local = self.local.lock().map_err(|_| "poisoned".to_owned())?;
                if !local.contains_key(&f) && local.len() >= settings.max_entries {
                    Edit::Full
                } else {
                    let edit = match local.insert(f, value) {
                        Some(_) => Edit::Replaced,
                        None => Edit::Added,
                    };
                    self.local_version.fetch_add(1, Ordering::AcqRel);
                    edit
                }
            }
        };
        self.refresh(settings).await;
        Ok(edit)
    }

    /// Removes an entry; applied on this instance at once.
    pub async fn remove(
        &self,
        settings: &AccessListSettings,
        list: List,
        cidr: &str,
    ) -> Result<Edit, String> {
        let f = field(list, cidr);
        let removed = match &settings.shared {
            Some(map) => map.remove(&f).await.map_err(|e| e.to_string())?,
            None => {
                let mut local = self.local.lock().map_err(|_| "poisoned".to_owned())?;
                let removed = local.remove(&f).is_some();
                if removed {
                    self.local_version.fetch_add(1, Ordering::AcqRel);
                }
                removed
            }
        };
        self.refresh(settings).await;
        Ok(if removed {
            Edit::Removed
        } else {
            Edit::NotFound
        })
    }
}

/// Keeps every instance's copy fresh: reads the current generation's
/// settings each round, so a reload changes the interval or the store.
/// Ends when the gateway is dropped.
pub fn spawn_refresh(gateway: Weak<crate::state::Gateway>) {
    tokio::spawn(async move {
        loop {
            let interval = {
                let Some(gw) = gateway.upgrade() else { return };
                gw.generation
                    .load()
                    .access_lists
                    .as_ref()
                    .map_or(Duration::from_secs(1), |s| s.refresh)
            };
            tokio::time::sleep(interval).await;
            let Some(gw) = gateway.upgrade() else { return };
            let generation = gw.generation.load_full();
            if let Some(settings) = &generation.access_lists {
                gw.access_lists.refresh(settings).await;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn lists(entries: &[&str], max: usize) -> AccessLists {
        let lists = AccessLists::default();
        lists.current.store(Arc::new(snapshot(
            entries.iter().copied(),
            max,
            Source::Memory(1),
        )));
        lists
    }

    #[test]
    fn deny_wins_over_allow_and_unlisted_is_neither() {
        let l = lists(
            &[
                "allow|10.0.0.0/8",
                "deny|10.1.2.3/32",
                "deny|2001:db8::/32",
                "bogus",
                "deny|not-an-ip",
            ],
            100,
        );
        assert_eq!(l.check(ip("10.1.2.3")), Access::Denied);
        assert_eq!(l.check(ip("::ffff:10.1.2.3")), Access::Denied);
        assert_eq!(l.check(ip("10.1.2.4")), Access::Allowed);
        assert_eq!(l.check(ip("2001:db8::7")), Access::Denied);
        assert_eq!(l.check(ip("192.0.2.1")), Access::Unlisted);
        assert_eq!(
            AccessLists::default().check(ip("10.1.2.3")),
            Access::Unlisted
        );
    }

    #[test]
    fn past_max_entries_allow_entries_go_first() {
        let l = lists(&["allow|10.0.0.1/32", "deny|10.0.0.2/32"], 1);
        assert_eq!(l.check(ip("10.0.0.2")), Access::Denied);
        assert_eq!(l.check(ip("10.0.0.1")), Access::Unlisted);
    }

    #[test]
    fn addresses_normalize_to_networks() {
        assert_eq!(normalize("192.0.2.7").unwrap(), "192.0.2.7/32");
        assert_eq!(normalize("10.1.2.3/8").unwrap(), "10.0.0.0/8");
        assert_eq!(normalize("2001:db8::1/32").unwrap(), "2001:db8::/32");
        assert!(normalize("10.0.0.0/33").is_err());
        assert!(normalize("").is_err());
    }

    #[tokio::test]
    async fn memory_edits_apply_at_once_and_respect_the_bound() {
        let settings = AccessListSettings {
            mode: Mode::Block,
            refresh: Duration::from_secs(1),
            max_entries: 2,
            shared: None,
        };
        let l = AccessLists::default();
        let meta = serde_json::json!({"comment": "x"});
        let add = |list, cidr: &'static str| l.add(&settings, list, cidr, &meta);
        assert_eq!(add(List::Deny, "192.0.2.0/24").await, Ok(Edit::Added));
        assert_eq!(l.check(ip("192.0.2.9")), Access::Denied);
        assert_eq!(add(List::Deny, "192.0.2.0/24").await, Ok(Edit::Replaced));
        assert_eq!(add(List::Allow, "10.0.0.0/8").await, Ok(Edit::Added));
        assert_eq!(add(List::Allow, "11.0.0.0/8").await, Ok(Edit::Full));
        assert_eq!(l.check(ip("10.9.9.9")), Access::Allowed);
        assert_eq!(l.entries(&settings).await.unwrap().len(), 2);
        assert_eq!(
            l.remove(&settings, List::Deny, "192.0.2.0/24").await,
            Ok(Edit::Removed)
        );
        assert_eq!(l.check(ip("192.0.2.9")), Access::Unlisted);
        assert_eq!(
            l.remove(&settings, List::Deny, "192.0.2.0/24").await,
            Ok(Edit::NotFound)
        );
    }
}
