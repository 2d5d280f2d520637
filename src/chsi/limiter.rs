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
    next_slot: Mutex<Instant>,
}

impl RateLimiter {
    /// `per_second <= 0` means unlimited (for local sandboxes and benchmarks).
    pub fn new(per_second: f64) -> Self {
        let interval = if per_second > 0.0 {
            Duration::from_secs_f64(1.0 / per_second)
        } else {
            Duration::ZERO
        };
        Self {
            interval,
            next_slot: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this caller's slot. Slots are handed out in call order, so
    /// concurrent callers are spaced `interval` apart.
    pub async fn acquire(&self) {
        let wait = {
            let mut next = self.next_slot.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every later request back for at least `pause`.
    pub fn back_off(&self, pause: Duration) {
        let mut next = self.next_slot.lock().unwrap_or_else(|p| p.into_inner());
        *next = (*next).max(Instant::now() + pause);
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
        let start = Instant::now();
        limiter.acquire().await;
        assert!(Instant::now() - start >= Duration::from_secs(30));
    }
}
