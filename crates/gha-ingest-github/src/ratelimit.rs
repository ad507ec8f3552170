//! The primary rate-limit budget as GitHub last reported it, shared by every request.
//!
//! Each response carries `x-ratelimit-remaining` and `x-ratelimit-reset`; when the budget is spent
//! every request waits for the reset instead of being refused (and risking a ban).

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

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
        }
    }

    pub(crate) fn snapshot(&self) -> RateLimitSnapshot {
        *self.last.lock().expect("rate budget lock poisoned")
    }

    /// How long to wait before the next request may be sent: until the reset when spent.
    pub(crate) fn wait_before_request(&self) -> Option<Duration> {
        let snapshot = self.snapshot();
        if snapshot.remaining != Some(0) {
            return None;
        }
        let reset = snapshot.reset_epoch_secs?;
        let until_reset = Duration::from_secs(reset).checked_sub(now_since_epoch())?;
        // One second of slack: GitHub's reset is rounded down to the second.
        Some(until_reset + Duration::from_secs(1))
    }
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
