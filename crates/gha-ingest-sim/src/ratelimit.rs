//! The primary (`core`) rate limit: an hourly window on the real wall clock, one point per API
//! request, none for `304 Not Modified` or `GET /rate_limit`.

use chrono::Utc;

const WINDOW_SECS: i64 = 3_600;

#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: u32,
    used: u32,
    reset_epoch_secs: i64,
}

/// The values of the `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimitSnapshot {
    pub limit: u32,
    pub used: u32,
    pub remaining: u32,
    pub reset_epoch_secs: i64,
}

impl RateLimiter {
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            limit,
            used: 0,
            reset_epoch_secs: Utc::now().timestamp() + WINDOW_SECS,
        }
    }

    fn roll_window(&mut self) {
        let now = Utc::now().timestamp();
        if now >= self.reset_epoch_secs {
            self.used = 0;
            self.reset_epoch_secs = now + WINDOW_SECS;
        }
    }

    pub(crate) fn snapshot(&mut self) -> RateLimitSnapshot {
        self.roll_window();
        RateLimitSnapshot {
            limit: self.limit,
            used: self.used,
            remaining: self.limit.saturating_sub(self.used),
            reset_epoch_secs: self.reset_epoch_secs,
        }
    }

    pub(crate) fn is_exhausted(&mut self) -> bool {
        self.snapshot().remaining == 0
    }

    /// Spends one point (callers check `is_exhausted` first).
    pub(crate) fn consume(&mut self) {
        self.roll_window();
        self.used = self.used.saturating_add(1).min(self.limit);
    }

    /// Makes `remaining` what the caller says, within this window.
    pub(crate) fn set_remaining(&mut self, remaining: u32) {
        self.roll_window();
        self.used = self.limit.saturating_sub(remaining);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_run_out_and_can_be_set() {
        let mut limiter = RateLimiter::new(2);
        limiter.consume();
        assert_eq!(limiter.snapshot().remaining, 1);
        limiter.consume();
        assert!(limiter.is_exhausted());
        limiter.set_remaining(2);
        assert_eq!(limiter.snapshot().used, 0);
    }
}
