//! The two algorithms, as pure functions from (stored state, now, cost) to a
//! decision and the next state. No clock, no I/O, no allocation.
//!
//! - [`Gcra`] — the generic cell rate algorithm: `rate` requests per `period`
//!   with a `burst`. The only state is the theoretical arrival time (TAT) of
//!   the next request; requests are spaced evenly, bursts up to `burst`.
//! - [`SlidingWindow`] — a quota (`limit` per `window`) counted in two fixed
//!   windows, the previous one weighted by how much of it still overlaps the
//!   sliding window. Its error against an exact log of timestamps is bounded
//!   by the assumption that the previous window's requests were spread
//!   evenly; it never admits more than `limit` in any one fixed window.

use std::time::Duration;

use crate::Micros;

/// The answer for one request against one limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The limit's size (`burst` for GCRA, `limit` for a window), for the
    /// `RateLimit-Policy` header.
    pub limit: u64,
    /// Requests still allowed right now after this one.
    pub remaining: u64,
    /// Time until the limit is back to full (GCRA) or the window ends.
    pub reset_after: Duration,
    /// When denied: how long to wait before the same request would pass.
    pub retry_after: Duration,
}

/// A rate-limit algorithm with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Gcra(Gcra),
    Window(SlidingWindow),
}

impl Limit {
    /// How long a key's state must be kept after its last update.
    pub fn state_ttl(&self) -> Duration {
        match self {
            Limit::Gcra(g) => Duration::from_micros(g.burst_us),
            Limit::Window(w) => Duration::from_micros(w.window_us * 2),
        }
    }

    pub fn size(&self) -> u64 {
        match self {
            Limit::Gcra(g) => g.burst,
            Limit::Window(w) => w.limit,
        }
    }

    /// The window the `RateLimit-Policy` header names, in seconds (at least 1).
    pub fn window_secs(&self) -> u64 {
        let us = match self {
            Limit::Gcra(g) => g.burst_us,
            Limit::Window(w) => w.window_us,
        };
        us.div_ceil(1_000_000).max(1)
    }
}

/// `rate` per `period`, bursts of `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gcra {
    /// Time between two requests at the sustained rate (µs, at least 1).
    pub emission_us: u64,
    pub burst: u64,
    /// `burst × emission`: how far ahead of now the TAT may run.
    pub burst_us: u64,
}

/// Why a limit's parameters cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the rate must be at least 1")]
    ZeroRate,
    #[error("the period or window must be at least 1 microsecond")]
    ZeroPeriod,
    #[error("the burst or limit must be at least 1")]
    ZeroBurst,
    #[error("the rate is too fast: at most one request per microsecond")]
    TooFast,
}

impl Gcra {
    pub fn new(rate: u64, period: Duration, burst: u64) -> Result<Gcra, LimitError> {
        if rate == 0 {
            return Err(LimitError::ZeroRate);
        }
        if burst == 0 {
            return Err(LimitError::ZeroBurst);
        }
        let period_us = u64::try_from(period.as_micros()).unwrap_or(u64::MAX);
        if period_us == 0 {
            return Err(LimitError::ZeroPeriod);
        }
        let emission_us = period_us / rate;
        if emission_us == 0 {
            return Err(LimitError::TooFast);
        }
        Ok(Gcra {
            emission_us,
            burst,
            burst_us: emission_us.saturating_mul(burst),
        })
    }

    /// Decides a request of `cost` at `now` given the stored TAT (`None` for
    /// a new key). Returns the decision and the TAT to store when allowed.
    pub fn decide(&self, stored_tat: Option<Micros>, now: Micros, cost: u64) -> (Decision, Micros) {
        let tat = stored_tat.map_or(now, |t| t.max(now));
        let new_tat = tat.saturating_add(cost.saturating_mul(self.emission_us));
        let allow_at = new_tat.saturating_sub(self.burst_us);
        if now < allow_at {
            let decision = Decision {
                allowed: false,
                limit: self.burst,
                remaining: self.remaining(tat, now),
                reset_after: Duration::from_micros(tat - now),
                retry_after: Duration::from_micros(allow_at - now),
            };
            return (decision, tat);
        }
        let decision = Decision {
            allowed: true,
            limit: self.burst,
            remaining: self.remaining(new_tat, now),
            reset_after: Duration::from_micros(new_tat - now),
            retry_after: Duration::ZERO,
        };
        (decision, new_tat)
    }

    /// Requests that would pass now with the TAT at `tat` (≥ now).
    pub fn remaining(&self, tat: Micros, now: Micros) -> u64 {
        let ahead = tat.saturating_sub(now);
        self.burst_us.saturating_sub(ahead) / self.emission_us
    }
}

/// `limit` requests per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlidingWindow {
    pub limit: u64,
    pub window_us: u64,
}

/// The stored counters of a sliding window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowState {
    /// Index of the fixed window `current` counts (`now / window`).
    pub index: u64,
    pub current: u64,
    pub previous: u64,
}

impl SlidingWindow {
    pub fn new(limit: u64, window: Duration) -> Result<SlidingWindow, LimitError> {
        if limit == 0 {
            return Err(LimitError::ZeroBurst);
        }
        let window_us = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        if window_us == 0 {
            return Err(LimitError::ZeroPeriod);
        }
        Ok(SlidingWindow { limit, window_us })
    }

    /// Brings stored counters to the window `now` falls in.
    pub fn roll(&self, stored: Option<WindowState>, now: Micros) -> WindowState {
        let index = now / self.window_us;
        match stored {
            Some(s) if s.index == index => s,
            Some(s) if s.index + 1 == index => WindowState {
                index,
                current: 0,
                previous: s.current,
            },
            // A timestamp behind the stored window (clock stepped back)
            // keeps the stored counts rather than forgetting them.
            Some(s) if s.index > index => s,
            _ => WindowState {
                index,
                current: 0,
                previous: 0,
            },
        }
    }

    /// Decides a request of `cost` at `now`; returns the decision and the
    /// state to store when allowed.
    pub fn decide(
        &self,
        stored: Option<WindowState>,
        now: Micros,
        cost: u64,
    ) -> (Decision, WindowState) {
        let state = self.roll(stored, now);
        let elapsed = now
            .saturating_sub(state.index * self.window_us)
            .min(self.window_us);
        let weighted = self.weighted_previous(state.previous, elapsed);
        let used = weighted + state.current;
        let reset_after = Duration::from_micros(self.window_us - elapsed);
        if used.saturating_add(cost) > self.limit {
            let decision = Decision {
                allowed: false,
                limit: self.limit,
                remaining: self.limit.saturating_sub(used),
                reset_after,
                retry_after: self.retry_after(state, elapsed, cost),
            };
            return (decision, state);
        }
        let next = WindowState {
            current: state.current + cost,
            ..state
        };
        let decision = Decision {
            allowed: true,
            limit: self.limit,
            remaining: self.limit - used - cost,
            reset_after,
            retry_after: Duration::ZERO,
        };
        (decision, next)
    }

    /// The decision reported for counters read from a shared store: `state`
    /// holds the counts after this request when `allowed`, before it otherwise.
    pub fn report(&self, state: WindowState, elapsed: u64, cost: u64, allowed: bool) -> Decision {
        let elapsed = elapsed.min(self.window_us);
        let used = self.weighted_previous(state.previous, elapsed) + state.current;
        Decision {
            allowed,
            limit: self.limit,
            remaining: self.limit.saturating_sub(used),
            reset_after: Duration::from_micros(self.window_us - elapsed),
            retry_after: if allowed {
                Duration::ZERO
            } else {
                self.retry_after(state, elapsed, cost)
            },
        }
    }

    /// The previous window's count still inside the sliding window, rounded up.
    fn weighted_previous(&self, previous: u64, elapsed: u64) -> u64 {
        let left = (self.window_us - elapsed) as u128;
        ((previous as u128 * left).div_ceil(self.window_us as u128)) as u64
    }

    /// How long until `cost` more fits, assuming no other request arrives.
    fn retry_after(&self, state: WindowState, elapsed: u64, cost: u64) -> Duration {
        let w = self.window_us as u128;
        let room = self.limit.saturating_sub(cost) as u128;
        let cur = state.current as u128;
        let prev = state.previous as u128;
        let wait = if cur <= room && prev > 0 {
            // Within this window, once enough of the previous one has slid out:
            // prev × (w − e − d) / w ≤ room − cur.
            let keep = (room - cur) * w / prev;
            (w - elapsed as u128).saturating_sub(keep)
        } else {
            // After this window ends, when enough of it has slid out.
            let rest = w - elapsed as u128;
            let keep = (room * w).checked_div(cur).map_or(w, |k| k.min(w));
            rest + (w - keep)
        };
        Duration::from_micros(wait.max(1) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    #[test]
    fn gcra_allows_the_burst_then_the_rate() {
        // 10/s, burst 5.
        let g = Gcra::new(10, Duration::from_secs(1), 5).unwrap();
        let mut tat = None;
        let now = 1_000 * S;
        for i in 0..5 {
            let (d, t) = g.decide(tat, now, 1);
            assert!(d.allowed, "request {i} of the burst");
            assert_eq!(d.remaining, 4 - i);
            tat = Some(t);
        }
        let (d, _) = g.decide(tat, now, 1);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Duration::from_millis(100));
        // One emission interval later, exactly one more.
        let later = now + S / 10;
        let (d, t) = g.decide(tat, later, 1);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        let (d, _) = g.decide(Some(t), later, 1);
        assert!(!d.allowed);
        // After a long pause the full burst is back.
        let (d, _) = g.decide(Some(t), later + 10 * S, 1);
        assert_eq!(d.remaining, 4);
    }

    #[test]
    fn gcra_denial_does_not_consume_and_cost_counts() {
        let g = Gcra::new(1, Duration::from_secs(1), 3).unwrap();
        let now = 50 * S;
        let (d, t) = g.decide(None, now, 3);
        assert!(d.allowed && d.remaining == 0);
        let (d, t2) = g.decide(Some(t), now, 1);
        assert!(!d.allowed);
        assert_eq!(t2, t, "a denied request leaves the state as it was");
        let (d, _) = g.decide(None, now, 4);
        assert!(!d.allowed, "a cost above the burst never passes");
    }

    #[test]
    fn gcra_rejects_bad_parameters() {
        assert_eq!(
            Gcra::new(0, Duration::from_secs(1), 1),
            Err(LimitError::ZeroRate)
        );
        assert_eq!(Gcra::new(1, Duration::ZERO, 1), Err(LimitError::ZeroPeriod));
        assert_eq!(
            Gcra::new(1, Duration::from_secs(1), 0),
            Err(LimitError::ZeroBurst)
        );
        assert_eq!(
            Gcra::new(2_000_000, Duration::from_secs(1), 1),
            Err(LimitError::TooFast)
        );
    }

    #[test]
    fn gcra_survives_a_clock_stepping_back() {
        let g = Gcra::new(1, Duration::from_secs(1), 1).unwrap();
        let (_, t) = g.decide(None, 100 * S, 1);
        let (d, _) = g.decide(Some(t), 90 * S, 1);
        assert!(!d.allowed);
    }

    #[test]
    fn window_counts_a_quota_and_slides() {
        let w = SlidingWindow::new(10, Duration::from_secs(10)).unwrap();
        let start = 100 * 10 * S; // a window boundary
        let mut state = None;
        for i in 0..10 {
            let (d, s) = w.decide(state, start + i * S / 2, 1);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 9 - i);
            state = Some(s);
        }
        let (d, _) = w.decide(state, start + 5 * S, 1);
        assert!(!d.allowed);
        assert_eq!(d.reset_after, Duration::from_secs(5));
        // Next window, 20% in: 80% of the 10 previous still count → 2 left.
        let t = start + 12 * S;
        let (d, s) = w.decide(state, t, 1);
        assert!(d.allowed);
        assert_eq!(d.remaining, 1);
        let (d, s) = w.decide(Some(s), t, 1);
        assert!(d.allowed && d.remaining == 0);
        let (d, _) = w.decide(Some(s), t, 1);
        assert!(!d.allowed);
        // Retrying after `retry_after` passes (one more request's room).
        let (d2, _) = w.decide(Some(s), t + d.retry_after.as_micros() as u64, 1);
        assert!(d2.allowed, "retry_after {:?} was too short", d.retry_after);
        // Two windows later everything is forgotten.
        let (d, _) = w.decide(Some(s), start + 30 * S, 1);
        assert_eq!(d.remaining, 9);
    }

    #[test]
    fn window_retry_after_a_full_current_window() {
        let w = SlidingWindow::new(4, Duration::from_secs(4)).unwrap();
        let start = 1_000 * 4 * S;
        let (_, s) = w.decide(None, start, 4);
        let (d, _) = w.decide(Some(s), start + S, 1);
        assert!(!d.allowed);
        let wait = d.retry_after.as_micros() as u64;
        let (early, _) = w.decide(Some(s), start + S + wait - S / 10, 1);
        assert!(!early.allowed, "retry_after is not longer than needed");
        let (on_time, _) = w.decide(Some(s), start + S + wait, 1);
        assert!(on_time.allowed);
    }
}
