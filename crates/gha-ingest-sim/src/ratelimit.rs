//! The primary (`core`) rate limit: one budget per credential (the personal access token or
//! anonymous requests, each App's JWT, each installation), a window of `rate_limit_window`
//! (GitHub's hour by default), one point per API request, none for `304 Not Modified` or
//! `GET /rate_limit`.
//!
//! The windows run on the simulator's clock (every call passes "now"), so on the manual clock a
//! test decides when they reset by advancing time, and `x-ratelimit-reset` agrees with the
//! `Date` header the API sends (also simulated time). Each budget's window starts at its first
//! use, as GitHub's do.

use std::collections::HashMap;

use crate::clock::Millis;
use crate::config::SimConfig;
use crate::credentials::Credential;

#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: u32,
    used: u32,
    window_ms: Millis,
    reset_ms: Millis,
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

impl RateLimiter {
    pub(crate) fn new(limit: u32, window_ms: Millis, now_ms: Millis) -> Self {
        let window_ms = window_ms.max(1);
        Self {
            limit,
            used: 0,
            window_ms,
            reset_ms: now_ms.saturating_add(window_ms),
        }
    }

    fn roll_window(&mut self, now_ms: Millis) {
        if now_ms >= self.reset_ms {
            self.used = 0;
            self.reset_ms = now_ms.saturating_add(self.window_ms);
        }
    }

    pub(crate) fn snapshot(&mut self, now_ms: Millis) -> RateLimitSnapshot {
        self.roll_window(now_ms);
        RateLimitSnapshot {
            taken_ms: now_ms,
            limit: self.limit,
            used: self.used,
            remaining: self.limit.saturating_sub(self.used),
            // Rounded up: a client that waits until the header's second finds the window reset.
            reset_epoch_secs: self.reset_ms.saturating_add(999).div_euclid(1_000),
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

/// Every credential's budget. The personal access token and anonymous requests share one: a
/// simulator serves one or the other (anonymous only when no token is configured).
#[derive(Debug)]
pub(crate) struct PrimaryBudgets {
    user: RateLimiter,
    apps: HashMap<u64, RateLimiter>,
    installations: HashMap<u64, RateLimiter>,
    window_ms: Millis,
    app_limit: u32,
    installation_limit: u32,
}

impl PrimaryBudgets {
    pub(crate) fn new(config: &SimConfig, now_ms: Millis) -> Self {
        let window_ms =
            Millis::try_from(config.rate_limit_window.as_millis()).unwrap_or(Millis::MAX / 4);
        Self {
            user: RateLimiter::new(config.rate_limit_per_hour, window_ms, now_ms),
            apps: HashMap::new(),
            installations: HashMap::new(),
            window_ms,
            app_limit: config.app_rate_limit_per_hour,
            installation_limit: config.installation_rate_limit_per_hour,
        }
    }

    /// The budget `credential` spends from, opened (full) at its first use.
    pub(crate) fn budget(&mut self, credential: Credential, now_ms: Millis) -> &mut RateLimiter {
        let window_ms = self.window_ms;
        match credential {
            Credential::Pat | Credential::Anonymous => &mut self.user,
            Credential::App(app_id) => {
                let limit = self.app_limit;
                self.apps
                    .entry(app_id)
                    .or_insert_with(|| RateLimiter::new(limit, window_ms, now_ms))
            }
            Credential::Installation(installation_id) => {
                let limit = self.installation_limit;
                self.installations
                    .entry(installation_id)
                    .or_insert_with(|| RateLimiter::new(limit, window_ms, now_ms))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START_MS: Millis = 1_780_272_000_000;

    const HOUR_MS: Millis = 3_600_000;

    #[test]
    fn points_run_out_and_can_be_set() {
        let mut limiter = RateLimiter::new(2, HOUR_MS, START_MS);
        limiter.consume(START_MS);
        assert_eq!(limiter.snapshot(START_MS).remaining, 1);
        limiter.consume(START_MS);
        assert!(limiter.is_exhausted(START_MS));
        limiter.set_remaining(2, START_MS);
        assert_eq!(limiter.snapshot(START_MS).used, 0);
    }

    #[test]
    fn the_window_resets_on_the_given_clock_only() {
        let mut limiter = RateLimiter::new(5, HOUR_MS, START_MS);
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

    #[test]
    fn a_compressed_window_resets_sooner_and_reports_its_reset() {
        let mut limiter = RateLimiter::new(1, 10_500, START_MS);
        limiter.consume(START_MS);
        let snapshot = limiter.snapshot(START_MS + 10_499);
        assert_eq!(snapshot.remaining, 0);
        assert_eq!(
            snapshot.reset_epoch_secs,
            START_MS / 1_000 + 11,
            "rounded up"
        );
        assert_eq!(limiter.snapshot(START_MS + 10_500).remaining, 1);
    }

    #[test]
    fn each_installation_and_app_has_its_own_budget() {
        let config = SimConfig {
            rate_limit_per_hour: 3,
            installation_rate_limit_per_hour: 2,
            app_rate_limit_per_hour: 1,
            ..SimConfig::default()
        };
        let mut budgets = PrimaryBudgets::new(&config, START_MS);
        budgets
            .budget(Credential::Installation(1), START_MS)
            .set_remaining(0, START_MS);
        assert!(budgets
            .budget(Credential::Installation(1), START_MS)
            .is_exhausted(START_MS));
        let other = budgets
            .budget(Credential::Installation(2), START_MS)
            .snapshot(START_MS);
        assert_eq!((other.limit, other.remaining), (2, 2));
        budgets.budget(Credential::Pat, START_MS).consume(START_MS);
        assert_eq!(
            budgets
                .budget(Credential::Anonymous, START_MS)
                .snapshot(START_MS)
                .remaining,
            2,
            "the token and anonymous requests share one budget"
        );
        assert_eq!(
            budgets
                .budget(Credential::App(9), START_MS)
                .snapshot(START_MS)
                .limit,
            1
        );
    }
}
