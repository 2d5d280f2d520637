//! One request rate for every job of a process. The service is shared and
//! operated under an agreement: we go no faster than configured, and when it
//! pushes back (captcha, 429, 5xx) the whole process slows down, not just the
//! job that saw it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    /// How far behind now the next slot may lag after an idle spell: the
    /// burst beyond the first request.
    slack: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    next_slot: Instant,
    paused_until: Option<Instant>,
}

impl RateLimiter {
    /// `per_second <= 0` means unlimited (for local sandboxes and benchmarks).
    pub fn new(per_second: f64) -> Self {
        Self::with_burst(per_second, 1)
    }

    /// At most `burst` requests at once after an idle spell, `per_second`
    /// on average.
    pub fn with_burst(per_second: f64, burst: u32) -> Self {
        let interval = if per_second > 0.0 {
            Duration::from_secs_f64(1.0 / per_second)
        } else {
            Duration::ZERO
        };
        Self {
            interval,
            slack: interval * burst.max(1).saturating_sub(1),
            state: Mutex::new(State {
                next_slot: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// Waits for this caller's slot. Slots are handed out in call order, so
    /// concurrent callers are spaced `interval` apart.
    pub async fn acquire(&self) {
        let wait = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let mut slot = st.next_slot.max(now.checked_sub(self.slack).unwrap_or(now));
            if let Some(until) = st.paused_until {
                slot = slot.max(until);
            }
            st.next_slot = slot + self.interval;
            slot.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every later request back for at least `pause`.
    pub fn back_off(&self, pause: Duration) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let until = Instant::now() + pause;
        st.paused_until = Some(st.paused_until.map_or(until, |u| u.max(until)));
        st.next_slot = st.next_slot.max(until);
    }

    /// How much of a pause is left, if one is in force.
    pub fn paused_for(&self) -> Option<Duration> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.paused_until
            .map(|u| u.saturating_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_are_spaced_by_the_rate() {
        let limiter = std::sync::Arc::new(RateLimiter::new(2.0));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..5 {
            let l = limiter.clone();
            handles.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now()
            }));
        }
        let mut times: Vec<Duration> = Vec::new();
        for h in handles {
            times.push(h.await.unwrap() - start);
        }
        times.sort();
        assert_eq!(times.last().copied(), Some(Duration::from_millis(2000)));
    }

    #[tokio::test(start_paused = true)]
    async fn back_off_delays_everyone() {
        let limiter = RateLimiter::new(0.0);
        limiter.back_off(Duration::from_secs(30));
        assert!(limiter.paused_for().is_some());
        let start = Instant::now();
        limiter.acquire().await;
        assert!(Instant::now() - start >= Duration::from_secs(30));
        assert_eq!(limiter.paused_for(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_after_an_idle_spell_then_the_rate_holds() {
        let limiter = RateLimiter::with_burst(2.0, 3);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..5 {
            limiter.acquire().await;
            times.push(Instant::now() - start);
        }
        let ms: Vec<u128> = times.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![0, 0, 0, 500, 1000]);
    }
}
