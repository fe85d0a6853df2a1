//! The failure-ratio spike detector of `brute_force.failure_ratio`: the
//! pure part (compiled settings and the decision from four counts), so it
//! is unit-tested without a store. `abuse.rs` keeps the counts in the
//! rate-limit store (shared through Redis) and acts on the decision.
//!
//! A spike is: at least `min_attempts` attempts in `window`, of which more
//! than `max_ratio` failed, and that ratio is more than `baseline_factor`
//! times the ratio of the rest of `baseline_window` (the long window minus
//! the short one, so the spike does not raise its own baseline). With too
//! little history (fewer than `min_attempts` baseline attempts) only
//! `max_ratio` applies: a gateway that starts under attack still detects it.

use std::time::Duration;

use portcullis_limits::{Limit, SlidingWindow};
use portcullis_policy::config::abuse::{FailureRatioConfig, SpikeAction};

/// Counting windows use a limit too large to refuse.
const UNLIMITED: u64 = u64::MAX / 4;

/// The compiled `failure_ratio` block.
pub struct FailureRatio {
    pub window: Limit,
    pub baseline: Limit,
    pub min_attempts: u64,
    pub max_ratio: f64,
    pub baseline_factor: f64,
    pub cool_down: Duration,
    pub action: SpikeAction,
    pub delay: Duration,
    pub remember_success: Duration,
}

/// Attempts and failures counted in the short and the long window (the
/// long one includes the short one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub attempts: u64,
    pub failures: u64,
    pub baseline_attempts: u64,
    pub baseline_failures: u64,
}

impl FailureRatio {
    /// Compiles the block; `Err((field, message))` names the bad field.
    pub fn compile(c: &FailureRatioConfig) -> Result<FailureRatio, (&'static str, String)> {
        if c.window.0.is_zero() {
            return Err(("window", "must be greater than 0".into()));
        }
        if c.baseline_window.0 <= c.window.0 {
            return Err(("baseline_window", "must be longer than `window`".into()));
        }
        if c.min_attempts == 0 {
            return Err(("min_attempts", "must be at least 1".into()));
        }
        if !(c.max_ratio > 0.0 && c.max_ratio < 1.0) {
            return Err(("max_ratio", "must be between 0 and 1 (exclusive)".into()));
        }
        if !(c.baseline_factor.is_finite() && c.baseline_factor >= 1.0) {
            return Err(("baseline_factor", "must be at least 1".into()));
        }
        for (field, d) in [
            ("cool_down", c.cool_down.0),
            ("delay", c.delay.0),
            ("remember_success", c.remember_success.0),
        ] {
            if d.is_zero() {
                return Err((field, "must be greater than 0".into()));
            }
        }
        let window = |period: Duration, field: &'static str| {
            SlidingWindow::new(UNLIMITED, period)
                .map(Limit::Window)
                .map_err(|e| (field, e.to_string()))
        };
        Ok(FailureRatio {
            window: window(c.window.0, "window")?,
            baseline: window(c.baseline_window.0, "baseline_window")?,
            min_attempts: c.min_attempts,
            max_ratio: c.max_ratio,
            baseline_factor: c.baseline_factor,
            cool_down: c.cool_down.0,
            action: c.action,
            delay: c.delay.0,
            remember_success: c.remember_success.0,
        })
    }

    /// Whether the counts are a spike (see the module docs).
    pub fn is_spike(&self, c: Counts) -> bool {
        if c.attempts < self.min_attempts || c.attempts == 0 {
            return false;
        }
        let ratio = c.failures.min(c.attempts) as f64 / c.attempts as f64;
        if ratio <= self.max_ratio {
            return false;
        }
        let before_attempts = c.baseline_attempts.saturating_sub(c.attempts);
        if before_attempts < self.min_attempts {
            return true;
        }
        let before_failures = c
            .baseline_failures
            .saturating_sub(c.failures)
            .min(before_attempts);
        let baseline = before_failures as f64 / before_attempts as f64;
        ratio > self.baseline_factor * baseline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratio(yaml: &str) -> Result<FailureRatio, (&'static str, String)> {
        let c: FailureRatioConfig = serde_saphyr::from_str(yaml).unwrap();
        FailureRatio::compile(&c)
    }

    fn counts(a: u64, f: u64, ba: u64, bf: u64) -> Counts {
        Counts {
            attempts: a,
            failures: f,
            baseline_attempts: ba,
            baseline_failures: bf,
        }
    }

    #[test]
    fn a_spike_needs_volume_a_high_ratio_and_a_rise_over_the_baseline() {
        let r = ratio("min_attempts: 10\nmax_ratio: 0.5\nbaseline_factor: 2\n").unwrap();
        // Too few attempts, whatever the ratio.
        assert!(!r.is_spike(counts(9, 9, 9, 9)));
        // No history: the ratio alone decides (strictly above max_ratio).
        assert!(r.is_spike(counts(10, 6, 10, 6)));
        assert!(!r.is_spike(counts(10, 5, 10, 5)));
        // A normal 10% failure rate before: 60% now is a spike.
        assert!(r.is_spike(counts(10, 6, 1010, 106)));
        // 40% failing before: 60% now is not twice that.
        assert!(!r.is_spike(counts(10, 6, 1010, 406)));
        // 81% is more than twice 40%.
        assert!(r.is_spike(counts(100, 81, 1100, 481)));
        // Counts from approximate windows never divide by zero or exceed 1.
        assert!(!r.is_spike(counts(0, 0, 0, 0)));
        assert!(r.is_spike(counts(10, 50, 5, 0)));
    }

    #[test]
    fn bad_settings_name_their_field() {
        assert_eq!(ratio("max_ratio: 1.0\n").err().unwrap().0, "max_ratio");
        assert_eq!(ratio("max_ratio: 0\n").err().unwrap().0, "max_ratio");
        assert_eq!(
            ratio("baseline_factor: 0.5\n").err().unwrap().0,
            "baseline_factor"
        );
        assert_eq!(ratio("min_attempts: 0\n").err().unwrap().0, "min_attempts");
        assert_eq!(
            ratio("window: 2h\n").err().unwrap().0,
            "baseline_window",
            "the baseline must be longer than the window"
        );
        assert_eq!(ratio("cool_down: 0s\n").err().unwrap().0, "cool_down");
        let r = ratio("{}").unwrap();
        assert_eq!(r.min_attempts, 20);
        assert_eq!(r.cool_down, Duration::from_secs(300));
        assert_eq!(r.action, SpikeAction::Delay);
    }
}
