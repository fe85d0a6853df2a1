//! The shared, swappable key set of a JWKS URL. The gateway fetches the
//! document (at start, every `jwks_refresh`, and on an unknown `kid` at most
//! once per `jwks_min_refetch`) and installs the parsed keys here; the
//! identity check only reads them, lock-free. Keys stay usable for
//! `jwks_grace` past a missed refresh, then requests are refused
//! (`auth.jwt.keys_unavailable`) rather than verified with keys that may
//! have been revoked. No I/O here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use portcullis_identity::KeySet;

pub struct JwksSource {
    pub url: String,
    pub refresh: Duration,
    pub grace: Duration,
    pub min_refetch: Duration,
    pub timeout: Duration,
    /// Where the tokens these keys verify are found (lower-case header
    /// name, then cookie), so the gateway can read a token's `kid` before
    /// the identity check runs.
    pub token_header: String,
    pub token_cookie: Option<String>,
    keys: ArcSwapOption<KeySet>,
    /// Unix milliseconds of the last successful fetch (0: never).
    fetched_at_ms: AtomicU64,
    /// Unix milliseconds of the last fetch started for an unknown `kid`.
    last_refetch_ms: AtomicU64,
}

impl std::fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksSource")
            .field("url", &self.url)
            .finish()
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl JwksSource {
    pub fn new(
        url: String,
        refresh: Duration,
        grace: Duration,
        min_refetch: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            url,
            refresh,
            grace,
            min_refetch,
            timeout,
            token_header: "authorization".into(),
            token_cookie: None,
            keys: ArcSwapOption::empty(),
            fetched_at_ms: AtomicU64::new(0),
            last_refetch_ms: AtomicU64::new(0),
        }
    }

    /// The keys, if fetched and not older than `refresh + grace`.
    pub fn keys(&self, now_ms: u64) -> Option<Arc<KeySet>> {
        let fetched = self.fetched_at_ms.load(Ordering::Acquire);
        let limit = (self.refresh + self.grace).as_millis() as u64;
        if fetched == 0 || now_ms.saturating_sub(fetched) > limit {
            return None;
        }
        self.keys.load_full()
    }

    /// Installs freshly fetched keys.
    pub fn install(&self, keys: KeySet, now_ms: u64) {
        self.keys.store(Some(Arc::new(keys)));
        self.fetched_at_ms.store(now_ms, Ordering::Release);
    }

    /// Copies the keys and fetch time of the same URL's source from a
    /// previous policy, so a reload does not start without keys.
    pub fn inherit(&self, previous: &JwksSource) {
        if previous.url == self.url {
            self.keys.store(previous.keys.load_full());
            self.fetched_at_ms.store(
                previous.fetched_at_ms.load(Ordering::Acquire),
                Ordering::Release,
            );
        }
    }

    /// Unix milliseconds of the last successful fetch (0: never).
    pub fn fetched_at_ms(&self) -> u64 {
        self.fetched_at_ms.load(Ordering::Acquire)
    }

    /// Whether a refetch for an unknown `kid` may start now; at most one
    /// per `min_refetch`, whoever asks (a flood of made-up kids costs one
    /// fetch per interval).
    pub fn claim_refetch(&self, now_ms: u64) -> bool {
        let last = self.last_refetch_ms.load(Ordering::Acquire);
        if last != 0 && now_ms.saturating_sub(last) < self.min_refetch.as_millis() as u64 {
            return false;
        }
        self.last_refetch_ms
            .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_expire_after_refresh_plus_grace_and_refetches_are_bounded() {
        let s = JwksSource::new(
            "http://x/jwks".into(),
            Duration::from_secs(10),
            Duration::from_secs(5),
            Duration::from_secs(30),
            Duration::from_secs(1),
        );
        assert!(s.keys(1_000).is_none(), "never fetched");
        s.install(KeySet::default(), 1_000);
        assert!(s.keys(1_000 + 15_000).is_some(), "within refresh + grace");
        assert!(s.keys(1_000 + 15_001).is_none(), "past the grace period");
        assert!(s.claim_refetch(100_000));
        assert!(!s.claim_refetch(110_000));
        assert!(s.claim_refetch(130_000));
    }
}
