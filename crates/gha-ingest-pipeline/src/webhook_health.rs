//! Whether webhooks can be trusted to bring changes first, so that polling may slow down.
//!
//! GitHub sends nothing while nothing happens, and nothing says a webhook is configured: the only
//! evidence is what arrives and what polling finds without it. So webhooks count as healthy once a
//! signed delivery has been taken in since the daemon started (the URL and secret work) and, over
//! the last [`WINDOW`], polls found first no more than one state change in [`MISSED_TOLERANCE`]
//! of those seen. A quiet night keeps them healthy (nothing happened, nothing was missed); a
//! webhook removed, a secret rotated on one side only, or deliveries lost in numbers make the next
//! changes reach the outbox by polling first, and polling returns to its own cadence at once.
//! Tolerance is not zero because a poll and a delivery of the same change race: the poll wins
//! now and then even when nothing is lost.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// How far back deliveries and missed deliveries are weighed.
pub(crate) const WINDOW: Duration = Duration::minutes(10);
/// Missed deliveries tolerated: one in this many state changes seen in the window.
pub(crate) const MISSED_TOLERANCE: u32 = 10;
/// Minutes are counted in buckets of this width.
const BUCKET_SECS: i64 = 60;
const BUCKETS: usize = (WINDOW.num_seconds() / BUCKET_SECS) as usize;

/// The evidence, shared by the receiver (deliveries) and the agent (changes polled first).
#[derive(Debug, Default)]
pub struct WebhookHealth {
    inner: Mutex<Evidence>,
}

#[derive(Debug, Default)]
struct Evidence {
    expected: bool,
    /// How many times slower polling is while webhooks are healthy.
    slowdown: u32,
    any_delivery: bool,
    /// `(minute, by webhook, by poll first)`, one per minute of the window, oldest overwritten.
    buckets: [(i64, u32, u32); BUCKETS],
}

impl Evidence {
    fn bucket(&mut self, now: DateTime<Utc>) -> &mut (i64, u32, u32) {
        let minute = now.timestamp().div_euclid(BUCKET_SECS);
        let bucket = &mut self.buckets[minute.rem_euclid(BUCKETS as i64) as usize];
        if bucket.0 != minute {
            *bucket = (minute, 0, 0);
        }
        bucket
    }

    fn totals(&self, now: DateTime<Utc>) -> (u32, u32) {
        let minute = now.timestamp().div_euclid(BUCKET_SECS);
        self.buckets
            .iter()
            .filter(|(at, _, _)| minute - at < BUCKETS as i64 && *at <= minute)
            .fold((0, 0), |(webhook, polled), (_, by_webhook, by_poll)| {
                (webhook + by_webhook, polled + by_poll)
            })
    }
}

impl WebhookHealth {
    /// A receiver runs: from now on, changes a poll finds first are missed deliveries, and
    /// polling is `slowdown` times slower while webhooks are healthy.
    pub(crate) fn expect(&self, slowdown: u32) {
        let mut evidence = self.lock();
        evidence.expected = true;
        evidence.slowdown = slowdown.max(1);
    }

    pub(crate) fn is_expected(&self) -> bool {
        self.lock().expected
    }

    /// A signed delivery was taken in; `changes` of the state changes it carried were new.
    pub(crate) fn delivered(&self, changes: u32, now: DateTime<Utc>) {
        let mut evidence = self.lock();
        evidence.any_delivery = true;
        evidence.bucket(now).1 += changes;
    }

    /// A poll found a state change before any delivery brought it.
    pub(crate) fn missed(&self, now: DateTime<Utc>) {
        self.lock().bucket(now).2 += 1;
    }

    /// Whether polling may slow down `now` (see the module's documentation).
    pub fn is_healthy(&self, now: DateTime<Utc>) -> bool {
        let evidence = self.lock();
        let (by_webhook, polled_first) = evidence.totals(now);
        evidence.expected
            && evidence.any_delivery
            && polled_first.saturating_mul(MISSED_TOLERANCE) <= by_webhook + polled_first
    }

    /// How many times slower than configured polling is `now`: 1 unless webhooks are healthy.
    pub(crate) fn slowdown(&self, now: DateTime<Utc>) -> u32 {
        match self.is_healthy(now) {
            true => self.lock().slowdown,
            false => 1,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Evidence> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn healthy_only_once_a_delivery_arrived_and_while_polls_rarely_find_changes_first() {
        let health = WebhookHealth::default();
        assert!(!health.is_healthy(at(0)), "not even expected");
        health.expect(4);
        assert!(!health.is_healthy(at(0)), "no delivery yet");
        health.delivered(0, at(0));
        assert!(health.is_healthy(at(0)), "a ping proves the path");
        assert_eq!(health.slowdown(at(0)), 4);
        // Nine changes by webhook, one by a poll first: within the tolerance.
        health.delivered(9, at(10));
        health.missed(at(20));
        assert!(health.is_healthy(at(30)));
        health.missed(at(40));
        assert!(!health.is_healthy(at(50)), "two in eleven missed");
        assert_eq!(health.slowdown(at(50)), 1);
        // The misses age out of the window; the quiet night that follows stays healthy.
        assert!(!health.is_healthy(at(40 + WINDOW.num_seconds() - 60)));
        assert!(health.is_healthy(at(40 + WINDOW.num_seconds() + 60)));
        assert!(health.is_healthy(at(86_400)));
    }

    #[test]
    fn with_no_delivery_in_the_window_one_change_polled_first_is_enough() {
        let health = WebhookHealth::default();
        health.expect(4);
        health.delivered(5, at(0));
        health.missed(at(3_600));
        assert!(!health.is_healthy(at(3_601)));
    }
}
