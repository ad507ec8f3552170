//! The primary rate-limit budget as GitHub last reported it, shared by every request.
//!
//! Each response carries `x-ratelimit-remaining` and `x-ratelimit-reset`; when the budget is spent
//! every request waits for the reset instead of being refused (and risking a ban).
//!
//! Waits are computed on GitHub's clock, not ours: the time left until `x-ratelimit-reset` is
//! measured from the response's own `Date` header, then counted down on the local monotonic
//! clock. A local clock running ahead of GitHub's would otherwise compute a reset already passed
//! and retry every second; one running behind would sleep too long. Every wait is capped at
//! [`MAX_RATE_LIMIT_WAIT`], so a bogus header can never park the daemon for good.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// The longest any rate-limit wait lasts: GitHub's primary window is one hour, so a longer wait
/// can only come from a wrong header or clock.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(3600);

/// What GitHub last said about the budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RateLimitSnapshot {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub used: Option<u64>,
    /// Unix seconds at which the window resets.
    pub reset_epoch_secs: Option<u64>,
}

/// The primary budget as the last answer reported it, with its reset as a local instant.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PrimaryBudget {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    used: Option<u64>,
    reset_epoch_secs: Option<u64>,
    /// When the window resets, on the local monotonic clock (measured on GitHub's clock).
    reset_at: Option<Instant>,
}

impl PrimaryBudget {
    /// A budget as if an answer at `at` had reported it (for tests).
    #[cfg(test)]
    pub(crate) fn reported(limit: u64, remaining: u64, reset_in: Duration, at: Instant) -> Self {
        PrimaryBudget {
            limit: Some(limit),
            remaining: Some(remaining),
            used: Some(limit - remaining),
            reset_epoch_secs: None,
            reset_at: Some(at + reset_in),
        }
    }

    /// Takes in an answer's headers; whether they said anything (answers without `x-ratelimit-*`
    /// headers, such as the log host's, change nothing).
    pub(crate) fn record(&mut self, headers: &HeaderMap, now: Instant) -> bool {
        let Some(remaining) = header_u64(headers, "x-ratelimit-remaining") else {
            return false;
        };
        *self = PrimaryBudget {
            limit: header_u64(headers, "x-ratelimit-limit"),
            remaining: Some(remaining),
            used: header_u64(headers, "x-ratelimit-used"),
            reset_epoch_secs: header_u64(headers, "x-ratelimit-reset"),
            reset_at: Some(now + until_reset(headers)),
        };
        true
    }

    pub(crate) fn snapshot(&self) -> RateLimitSnapshot {
        RateLimitSnapshot {
            limit: self.limit,
            remaining: self.remaining,
            used: self.used,
            reset_epoch_secs: self.reset_epoch_secs,
        }
    }

    /// Points left in the current window; `None` when unknown or the window has reset since.
    pub(crate) fn current(&self, now: Instant) -> Option<u64> {
        self.reset_at.filter(|&reset| reset > now)?;
        self.remaining
    }

    /// How long until the window resets (an hour when unknown).
    pub(crate) fn until_reset(&self, now: Instant) -> Duration {
        self.reset_at.map_or(MAX_RATE_LIMIT_WAIT, |reset| {
            reset.saturating_duration_since(now)
        })
    }

    /// When GitHub reported the budget spent: how long until its reset.
    pub(crate) fn wait_for_reset(&self, now: Instant) -> Option<Duration> {
        (self.current(now)? == 0).then(|| self.until_reset(now))
    }
}

/// How long until the primary budget resets, on GitHub's clock (the response's `Date`), plus a
/// second of slack (GitHub rounds the reset down to the second), capped.
pub(crate) fn until_reset(headers: &HeaderMap) -> Duration {
    let reset = Duration::from_secs(header_u64(headers, "x-ratelimit-reset").unwrap_or(0));
    let github_now = response_date(headers).unwrap_or_else(now_since_epoch);
    (reset.saturating_sub(github_now) + Duration::from_secs(1)).min(MAX_RATE_LIMIT_WAIT)
}

/// The response's `Date` header as time since the Unix epoch.
fn response_date(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(http::header::DATE)?.to_str().ok()?;
    let date = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    u64::try_from(date.timestamp())
        .ok()
        .map(Duration::from_secs)
}

pub(crate) fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

pub(crate) fn now_since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_measured_on_github_s_clock_and_capped() {
        let mut headers = HeaderMap::new();
        // GitHub says it is 10:00:00 and the reset is at 10:05:00; our own clock does not matter.
        headers.insert("date", "Wed, 02 Dec 2026 10:00:00 GMT".parse().unwrap());
        let ten_o_clock = 1_796_205_600;
        headers.insert(
            "x-ratelimit-reset",
            (ten_o_clock + 300).to_string().parse().unwrap(),
        );
        assert_eq!(until_reset(&headers), Duration::from_secs(301));
        headers.insert(
            "x-ratelimit-reset",
            (ten_o_clock + 86_400).to_string().parse().unwrap(),
        );
        assert_eq!(until_reset(&headers), MAX_RATE_LIMIT_WAIT);
        headers.insert(
            "x-ratelimit-reset",
            (ten_o_clock - 60).to_string().parse().unwrap(),
        );
        assert_eq!(until_reset(&headers), Duration::from_secs(1));
    }

    #[test]
    fn waits_for_reset_only_when_spent_and_until_then() {
        let mut budget = PrimaryBudget::default();
        let now = Instant::now();
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "3".parse().unwrap());
        headers.insert(
            "x-ratelimit-reset",
            (now_since_epoch().as_secs() + 30)
                .to_string()
                .parse()
                .unwrap(),
        );
        assert!(budget.record(&headers, now));
        assert_eq!(budget.wait_for_reset(now), None);
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        budget.record(&headers, now);
        let wait = budget.wait_for_reset(now).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(31),
            "{wait:?}"
        );
        // Past the reset the old figure no longer holds.
        let after = now + Duration::from_secs(32);
        assert_eq!(
            (budget.wait_for_reset(after), budget.current(after)),
            (None, None)
        );
        assert!(
            !budget.record(&HeaderMap::new(), now),
            "no headers, no change"
        );
    }
}
