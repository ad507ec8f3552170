//! GitHub's secondary rate limits, per credential: points over a sliding minute and requests
//! being answered at once. GitHub documents "more than 100 concurrent requests" and "more than
//! 900 points per minute per REST endpoint" (GET/HEAD 1 point, POST/PATCH/PUT/DELETE 5).
//!
//! Two deliberate choices:
//! - **Points are summed over every endpoint**, not kept per endpoint as GitHub words it: a
//!   total is the conservative bound (a client under 900 in total is under 900 on each
//!   endpoint), and GitHub adds undisclosed limits on top anyway. 304s count: they are free
//!   against the primary limit only.
//! - **The window is real (tokio, monotonic) time**, not simulated time: secondary limits guard
//!   GitHub's servers against bursts, so they follow the wall clock even when a test jumps the
//!   simulated clock by hours. Under a paused tokio clock they follow the paused clock.
//!
//! A refused request adds no points and holds no slot. Usage is measured even when a limit is
//! off, so `SimStats` can report the highest rates a client reached.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use tokio::time::Instant;

use crate::clock::lock;
use crate::config::SecondaryLimits;
use crate::credentials::Credential;

/// The sliding window.
const WINDOW: Duration = Duration::from_secs(60);
/// Requests this close together share one entry of the window, which bounds its length to
/// 60,000 entries per credential whatever the request rate.
const COALESCE: Duration = Duration::from_millis(1);

/// What `retry-after` says on a refusal: GitHub's usual value.
pub(crate) const RETRY_AFTER_SECS: u64 = 60;

/// The points a request costs.
pub(crate) fn points_of(method: &Method) -> u32 {
    if [Method::POST, Method::PATCH, Method::PUT, Method::DELETE].contains(method) {
        5
    } else {
        1
    }
}

#[derive(Debug, Default)]
struct Usage {
    /// `(when, points)` of admitted requests within the window, oldest first.
    spent: VecDeque<(Instant, u32)>,
    points_in_window: u32,
    in_flight: u32,
}

impl Usage {
    fn forget_before(&mut self, now: Instant) {
        while let Some(&(when, points)) = self.spent.front() {
            if now.saturating_duration_since(when) < WINDOW {
                break;
            }
            self.spent.pop_front();
            self.points_in_window -= points;
        }
    }

    fn spend(&mut self, points: u32, now: Instant) {
        self.points_in_window += points;
        match self.spent.back_mut() {
            Some((when, spent)) if now.saturating_duration_since(*when) < COALESCE => {
                *spent += points;
            }
            _ => self.spent.push_back((now, points)),
        }
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecondaryLimit {
    PointsPerMinute,
    Concurrency,
}

/// An admitted request: it holds one concurrency slot of its credential until dropped, so a
/// request whose connection is dropped mid-answer releases its slot too.
#[derive(Debug)]
pub(crate) struct InFlight {
    limiter: Arc<SecondaryLimiter>,
    credential: Credential,
    /// Points spent by the credential over the last minute, this request included.
    pub points_in_window: u32,
    /// Requests of the credential being answered, this one included.
    pub concurrent: u32,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut usage = lock(&self.limiter.usage);
        if let Some(usage) = usage.get_mut(&self.credential) {
            usage.in_flight = usage.in_flight.saturating_sub(1);
        }
    }
}

#[derive(Debug)]
pub(crate) struct SecondaryLimiter {
    /// Changeable while serving (`SimHandle::set_secondary_limits`).
    limits: Mutex<SecondaryLimits>,
    usage: Mutex<HashMap<Credential, Usage>>,
}

impl SecondaryLimiter {
    pub(crate) fn new(limits: SecondaryLimits) -> Arc<Self> {
        Arc::new(Self {
            limits: Mutex::new(limits),
            usage: Mutex::new(HashMap::new()),
        })
    }

    /// From the next request on, these limits apply, counted from then: what was spent before
    /// (under other limits) is forgotten.
    pub(crate) fn set_limits(&self, limits: SecondaryLimits) {
        *lock(&self.limits) = limits;
        lock(&self.usage).clear();
    }

    /// Admits a request of `points` for `credential` at `now`, or names the limit it exceeds.
    pub(crate) fn admit(
        self: &Arc<Self>,
        credential: Credential,
        points: u32,
        now: Instant,
    ) -> Result<InFlight, SecondaryLimit> {
        let limits = *lock(&self.limits);
        let mut all_usage = lock(&self.usage);
        let usage = all_usage.entry(credential).or_default();
        usage.forget_before(now);
        if limits
            .max_concurrent
            .is_some_and(|max| usage.in_flight >= max)
        {
            return Err(SecondaryLimit::Concurrency);
        }
        if limits
            .points_per_minute
            .is_some_and(|max| usage.points_in_window.saturating_add(points) > max)
        {
            return Err(SecondaryLimit::PointsPerMinute);
        }
        usage.spend(points, now);
        usage.in_flight += 1;
        Ok(InFlight {
            limiter: Arc::clone(self),
            credential,
            points_in_window: usage.points_in_window,
            concurrent: usage.in_flight,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAT: Credential = Credential::Pat;

    fn limiter(
        points_per_minute: Option<u32>,
        max_concurrent: Option<u32>,
    ) -> Arc<SecondaryLimiter> {
        SecondaryLimiter::new(SecondaryLimits {
            points_per_minute,
            max_concurrent,
        })
    }

    #[test]
    fn points_slide_out_of_the_minute() {
        let limiter = limiter(Some(10), None);
        let start = Instant::now();
        let first = limiter
            .admit(PAT, 5, start)
            .map(|in_flight| in_flight.points_in_window);
        assert_eq!(first, Ok(5));
        let later = start + Duration::from_secs(30);
        assert_eq!(
            limiter
                .admit(PAT, 5, later)
                .map(|in_flight| in_flight.points_in_window),
            Ok(10)
        );
        assert_eq!(
            limiter.admit(PAT, 1, later).err(),
            Some(SecondaryLimit::PointsPerMinute)
        );
        assert!(
            limiter.admit(Credential::Installation(1), 1, later).is_ok(),
            "another credential has its own minute"
        );
        let first_gone = start + Duration::from_secs(60);
        assert_eq!(
            limiter
                .admit(PAT, 5, first_gone)
                .map(|in_flight| in_flight.points_in_window),
            Ok(10)
        );
    }

    #[test]
    fn a_slot_is_held_until_the_request_is_dropped() {
        let limiter = limiter(None, Some(2));
        let now = Instant::now();
        let first = limiter.admit(PAT, 1, now).expect("first");
        let second = limiter.admit(PAT, 1, now).expect("second");
        assert_eq!(second.concurrent, 2);
        assert_eq!(
            limiter.admit(PAT, 1, now).err(),
            Some(SecondaryLimit::Concurrency)
        );
        drop(first);
        assert!(limiter.admit(PAT, 1, now).is_ok());
    }

    #[test]
    fn usage_is_measured_with_the_limits_off() {
        let limiter = limiter(None, None);
        let now = Instant::now();
        let held: Vec<InFlight> = (0..1_000)
            .map(|_| limiter.admit(PAT, 1, now).expect("no limit"))
            .collect();
        assert_eq!(
            held.last().map(|in_flight| in_flight.points_in_window),
            Some(1_000)
        );
        assert_eq!(
            held.last().map(|in_flight| in_flight.concurrent),
            Some(1_000)
        );
        assert_eq!(points_of(&Method::POST), 5);
        assert_eq!(points_of(&Method::HEAD), 1);
    }
}
