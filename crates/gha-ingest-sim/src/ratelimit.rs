//! The primary (`core`) rate limit: an hourly window, one point per API request, none for
//! `304 Not Modified` or `GET /rate_limit`.
//!
//! The window runs on the simulator's clock (every call passes "now"), so on the manual clock a
//! test decides when it resets by advancing time, and `x-ratelimit-reset` agrees with the
//! `Date` header the API sends (also simulated time).

use crate::clock::Millis;

const WINDOW_SECS: i64 = 3_600;

#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: u32,
    used: u32,
    reset_epoch_secs: i64,
}

/// The values of the `x-ratelimit-*` headers, and the instant they were read (the `Date`
/// header sent with them, so a client measures the time to the reset on the simulator's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimitSnapshot {
    pub taken_ms: Millis,
    pub limit: u32,
    pub used: u32,
    pub remaining: u32,
    pub reset_epoch_secs: i64,
}

fn epoch_secs(now_ms: Millis) -> i64 {
    now_ms.div_euclid(1_000)
}

impl RateLimiter {
    pub(crate) fn new(limit: u32, now_ms: Millis) -> Self {
        Self {
            limit,
            used: 0,
            reset_epoch_secs: epoch_secs(now_ms) + WINDOW_SECS,
        }
    }

    fn roll_window(&mut self, now_ms: Millis) {
        let now_secs = epoch_secs(now_ms);
        if now_secs >= self.reset_epoch_secs {
            self.used = 0;
            self.reset_epoch_secs = now_secs + WINDOW_SECS;
        }
    }

    pub(crate) fn snapshot(&mut self, now_ms: Millis) -> RateLimitSnapshot {
        self.roll_window(now_ms);
        RateLimitSnapshot {
            taken_ms: now_ms,
            limit: self.limit,
            used: self.used,
            remaining: self.limit.saturating_sub(self.used),
            reset_epoch_secs: self.reset_epoch_secs,
        }
    }

    pub(crate) fn is_exhausted(&mut self, now_ms: Millis) -> bool {
        self.snapshot(now_ms).remaining == 0
    }

    /// Spends one point (callers check `is_exhausted` first).
    pub(crate) fn consume(&mut self, now_ms: Millis) {
        self.roll_window(now_ms);
        self.used = self.used.saturating_add(1).min(self.limit);
    }

    /// Makes `remaining` what the caller says, within this window.
    pub(crate) fn set_remaining(&mut self, remaining: u32, now_ms: Millis) {
        self.roll_window(now_ms);
        self.used = self.limit.saturating_sub(remaining);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START_MS: Millis = 1_780_272_000_000;

    #[test]
    fn points_run_out_and_can_be_set() {
        let mut limiter = RateLimiter::new(2, START_MS);
        limiter.consume(START_MS);
        assert_eq!(limiter.snapshot(START_MS).remaining, 1);
        limiter.consume(START_MS);
        assert!(limiter.is_exhausted(START_MS));
        limiter.set_remaining(2, START_MS);
        assert_eq!(limiter.snapshot(START_MS).used, 0);
    }

    #[test]
    fn the_window_resets_on_the_given_clock_only() {
        let mut limiter = RateLimiter::new(5, START_MS);
        limiter.set_remaining(0, START_MS);
        let almost_an_hour_ms = START_MS + 3_599_999;
        assert!(limiter.is_exhausted(almost_an_hour_ms));
        assert_eq!(
            limiter.snapshot(almost_an_hour_ms).reset_epoch_secs,
            START_MS / 1_000 + 3_600
        );
        let an_hour_ms = START_MS + 3_600_000;
        let snapshot = limiter.snapshot(an_hour_ms);
        assert_eq!((snapshot.remaining, snapshot.used), (5, 0));
        assert_eq!(snapshot.reset_epoch_secs, an_hour_ms / 1_000 + 3_600);
    }
}
