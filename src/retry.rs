//! When to try again after a transient failure: exponential backoff with
//! jitter, up to a budget. Pure; the worker supplies the randomness.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub base: Duration,
    /// No delay grows beyond this.
    pub max: Duration,
    /// Transient failures tolerated before the record is flagged for admins.
    pub max_retries: u32,
    /// Each delay is scaled by a factor in `1 ± jitter`, so records that
    /// failed together do not retry together.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            max_retries: 12,
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The delay after the `failures`-th consecutive failure (1-based), given
    /// a uniform random number in `[0, 1)`; `None` once the budget is spent.
    pub fn delay(&self, failures: u32, unit_random: f64) -> Option<Duration> {
        if failures > self.max_retries {
            return None;
        }
        let exp = failures.saturating_sub(1).min(30);
        let raw = self.base.as_secs_f64() * 2f64.powi(exp as i32);
        let capped = raw.min(self.max.as_secs_f64());
        let factor = 1.0 + self.jitter * (2.0 * unit_random.clamp(0.0, 1.0) - 1.0);
        Some(Duration::from_secs_f64((capped * factor).max(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delays_double_then_cap() {
        let p = RetryPolicy {
            jitter: 0.0,
            ..Default::default()
        };
        let secs: Vec<u64> = (1..=9)
            .map(|n| p.delay(n, 0.5).unwrap().as_secs())
            .collect();
        assert_eq!(secs, vec![30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn budget_is_spent_after_max_retries() {
        let p = RetryPolicy {
            max_retries: 3,
            ..Default::default()
        };
        assert!(p.delay(3, 0.0).is_some());
        assert!(p.delay(4, 0.0).is_none());
    }

    proptest! {
        #[test]
        fn jitter_stays_within_bounds(n in 1u32..12, r in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            let d = p.delay(n, r).unwrap().as_secs_f64();
            let nominal = (30.0 * 2f64.powi(n as i32 - 1)).min(3600.0);
            prop_assert!(d >= nominal * 0.8 - 1e-9 && d <= nominal * 1.2 + 1e-9);
        }
    }
}
