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

use std::sync::Mutex;
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

#[derive(Debug, Default)]
pub(crate) struct RateBudget {
    last: Mutex<RateLimitSnapshot>,
    /// When the budget was reported spent: how long until its reset, and since when.
    spent: Mutex<Option<(Duration, Instant)>>,
}

impl RateBudget {
    pub(crate) fn record(&self, headers: &HeaderMap) {
        let snapshot = RateLimitSnapshot {
            limit: header_u64(headers, "x-ratelimit-limit"),
            remaining: header_u64(headers, "x-ratelimit-remaining"),
            used: header_u64(headers, "x-ratelimit-used"),
            reset_epoch_secs: header_u64(headers, "x-ratelimit-reset"),
        };
        if snapshot.remaining.is_some() {
            *self.last.lock().expect("rate budget lock poisoned") = snapshot;
            *self.spent.lock().expect("rate budget lock poisoned") =
                (snapshot.remaining == Some(0)).then(|| (until_reset(headers), Instant::now()));
        }
    }

    pub(crate) fn snapshot(&self) -> RateLimitSnapshot {
        *self.last.lock().expect("rate budget lock poisoned")
    }

    /// How long to wait before the next request may be sent: until the reset when spent.
    pub(crate) fn wait_before_request(&self) -> Option<Duration> {
        let (until_reset, since) = (*self.spent.lock().expect("rate budget lock poisoned"))?;
        until_reset
            .checked_sub(since.elapsed())
            .filter(|wait| !wait.is_zero())
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
    fn waits_for_reset_only_when_spent() {
        let budget = RateBudget::default();
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "3".parse().unwrap());
        headers.insert(
            "x-ratelimit-reset",
            (now_since_epoch().as_secs() + 30)
                .to_string()
                .parse()
                .unwrap(),
        );
        budget.record(&headers);
        assert_eq!(budget.wait_before_request(), None);
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        budget.record(&headers);
        let wait = budget.wait_before_request().unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(31),
            "{wait:?}"
        );
    }
}
