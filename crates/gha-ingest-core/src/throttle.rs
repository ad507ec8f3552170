//! A warning said at most once per period, so that a condition that lasts (a budget too small
//! for the organisation) or anyone who can reach a port (deliveries with a bad signature) cannot
//! flood the log. What is throttled is the line, never the count: the metrics count every case.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets one caller through per `period`; shareable between tasks.
#[derive(Debug)]
pub struct Throttle {
    period: Duration,
    origin: Instant,
    /// Milliseconds after `origin` of the last time through; `u64::MAX`: never.
    last_ms: AtomicU64,
}

impl Throttle {
    pub fn new(period: Duration) -> Throttle {
        Throttle {
            period,
            origin: Instant::now(),
            last_ms: AtomicU64::new(u64::MAX),
        }
    }

    /// Whether the caller may say it now: the first time, then once `period` has passed since
    /// the last time through. Of callers racing, one gets through.
    pub fn ready(&self) -> bool {
        self.ready_after(self.origin.elapsed())
    }

    fn ready_after(&self, elapsed: Duration) -> bool {
        let now = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX - 1);
        let last = self.last_ms.load(Ordering::Relaxed);
        let period = u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX);
        let due = last == u64::MAX || now.saturating_sub(last) >= period;
        due && self
            .last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_then_not_again_until_the_period_has_passed() {
        let throttle = Throttle::new(Duration::from_secs(60));
        let at = |secs| throttle.ready_after(Duration::from_secs(secs));
        assert!(at(0), "the first time goes through");
        assert!(!at(0));
        assert!(!at(59));
        assert!(at(60));
        assert!(!at(61));
        assert!(!at(119));
        assert!(at(125));
    }
}
