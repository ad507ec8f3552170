//! The request budget of one credential: every GitHub request of the process is admitted here
//! first, so the whole daemon (pipeline, log agent, dashboard) shares one plan per credential.
//!
//! GitHub limits a credential three ways: a primary budget of points per hour, reported on every
//! answer; secondary limits (points per minute, concurrent requests) it never reports and punishes
//! with 403/429 and, if ignored, a ban; and 304s, free against the first but not the second. A
//! client that only reacts to refusals spends its hour in seconds on a backfill and then goes dark.
//! So the scheduler plans instead of reacting:
//!
//! - a **points-per-minute ceiling** under GitHub's 900 (a sliding 60-second window of admissions,
//!   304s included) and a **concurrency limit** under its 100;
//! - **priorities**: [`Priority::Fresh`] (the state of new and open runs and their jobs, and the
//!   dashboard) and [`Priority::Commits`] (the commit facts a fresh run's events carry) before
//!   [`Priority::Logs`] before [`Priority::Catchup`] (backfill, gaps, the look-back sweep). A
//!   request waits while one of a higher rank waits, so a backlog never delays a fresh fact by
//!   more than the ceiling allows. Commit facts are counted apart but ranked with fresh work: a
//!   new run's events wait for them, so ranking them lower held every new run back while polls
//!   kept arriving (a priority inversion the org benchmark showed);
//! - a **reserve** of the primary budget that only fresh work may spend (the runs' and jobs' own
//!   state, and the commit facts a fresh run's events carry), and a **pace** for logs and
//!   catch-up: below the reserve they wait for the reset, and above it they spend what is left at
//!   the rate that lasts until the window resets (with a burst allowance), so a backfill is
//!   spread over the hour instead of spending it at once;
//! - when GitHub says the budget is spent, everything waits for the reset, measured on GitHub's
//!   clock (see `ratelimit`).
//!
//! The decision is a pure function of the state ([`Ledger::decide`]) so it is unit-tested
//! without time passing; [`RequestScheduler::admit`] only loops on it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::ratelimit::{PrimaryBudget, RateLimitSnapshot};

/// The window GitHub's points-per-minute secondary limit is counted over.
const MINUTE: Duration = Duration::from_secs(60);
/// Waiters look at the state again at least this often (a wake-up is never lost for longer).
const RECHECK: Duration = Duration::from_secs(1);

/// Which work a request serves; lower values go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// New and open runs, their jobs, looking for new runs; what the dashboard asks for.
    Fresh = 0,
    /// Job logs.
    Logs = 1,
    /// Commit and pull-request facts of a run's head commit.
    Commits = 2,
    /// History: a repository's backfill, a gap behind a full page, the look-back sweep.
    Catchup = 3,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Fresh,
        Priority::Logs,
        Priority::Commits,
        Priority::Catchup,
    ];

    /// The label value in metrics and the word on the dashboard.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Fresh => "fresh",
            Priority::Logs => "logs",
            Priority::Commits => "commits",
            Priority::Catchup => "catchup",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Scheduling rank, lower first: commit facts go with the fresh work that waits for them.
    fn rank(self) -> u8 {
        match self {
            Priority::Fresh | Priority::Commits => 0,
            Priority::Logs => 1,
            Priority::Catchup => 2,
        }
    }

    /// Fresh work, and the commit facts of a fresh run (its events carry them: holding them
    /// back would hold the run back), may spend the reserve and are not paced. Commits of
    /// history are read at [`Priority::Catchup`].
    fn may_spend_reserve(self) -> bool {
        matches!(self, Priority::Fresh | Priority::Commits)
    }
}

/// The limits one credential is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetOptions {
    /// Requests admitted in any 60 seconds, 304s included (GitHub's secondary limit is 900).
    pub points_per_minute: u32,
    /// Requests in flight at once (GitHub's secondary limit is 100).
    pub max_concurrent: usize,
    /// Share of the primary budget, in percent of its size, that only fresh work may spend.
    pub reserve_percent: u8,
    /// Share of the spendable budget (above the reserve), in percent, the other classes may
    /// spend at once before the pace applies.
    pub burst_percent: u8,
}

impl Default for BudgetOptions {
    fn default() -> Self {
        BudgetOptions {
            points_per_minute: 600,
            max_concurrent: 8,
            reserve_percent: 20,
            burst_percent: 50,
        }
    }
}

/// What the scheduler did and does, for `/metrics` and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct BudgetSnapshot {
    pub points_per_minute_ceiling: u32,
    pub max_concurrent: usize,
    /// Requests admitted in the last 60 seconds.
    pub points_last_minute: u32,
    /// Points of the primary budget only fresh work may spend.
    pub reserve_points: Option<u64>,
    /// Requests admitted since start, by class (in [`Priority::ALL`] order).
    pub admitted: [u64; 4],
    /// Requests waiting for admission now, by class.
    pub waiting: [u32; 4],
    /// The longest any request of each class waited for admission since start, in seconds
    /// (other requests may have gone meanwhile: see `longest_dark_secs` for darkness).
    pub longest_wait_secs: [f64; 4],
    /// The longest stretch since start in which fresh work waited and no request at all was
    /// let through, in seconds: the daemon dark on its budget. The ceiling's own spacing of
    /// requests (a tenth of a second at 600 a minute) is the floor while it binds.
    pub longest_dark_secs: f64,
    /// The primary budget as GitHub last reported it.
    pub primary: RateLimitSnapshot,
}

/// Why a request may not go yet, and for how long at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Go,
    /// A request of a higher rank is waiting: it goes first.
    Yield,
    /// The points-per-minute ceiling is reached until the oldest admission leaves the window.
    Ceiling(Duration),
    /// The primary budget is spent, or down to the reserve for this class, until the reset.
    Primary(Duration),
    /// The pace of non-fresh work: the next token in this long.
    Pace(Duration),
}

/// The state the decisions are made on. Times are passed in, never read, so tests pin them.
#[derive(Debug)]
pub(crate) struct Ledger {
    options: BudgetOptions,
    /// Admission instants within the last minute, oldest first.
    minute: VecDeque<Instant>,
    /// The ceiling's own pace: a bucket of a tenth of the ceiling refilled at nine tenths of it
    /// a minute, so no minute can exceed the ceiling and the window never has to stop everything
    /// for the rest of a minute after a burst.
    smooth_tokens: f64,
    smooth_refilled_at: Option<Instant>,
    /// Tokens of non-fresh work, and when they were last refilled.
    tokens: f64,
    refilled_at: Option<Instant>,
    waiting: [u32; 4],
    admitted: [u64; 4],
    longest_wait: [Duration; 4],
    last_admission: Option<Instant>,
    /// Since when at least one fresh request has been waiting (none now: `None`).
    fresh_waiting_since: Option<Instant>,
    longest_dark: Duration,
}

impl Ledger {
    pub(crate) fn new(options: BudgetOptions) -> Self {
        Ledger {
            options,
            minute: VecDeque::new(),
            smooth_tokens: 0.0,
            smooth_refilled_at: None,
            tokens: f64::NAN,
            refilled_at: None,
            waiting: [0; 4],
            admitted: [0; 4],
            longest_wait: [Duration::ZERO; 4],
            last_admission: None,
            fresh_waiting_since: None,
            longest_dark: Duration::ZERO,
        }
    }

    fn reserve(&self, primary: &PrimaryBudget) -> Option<u64> {
        let limit = primary.limit?;
        Some(limit * u64::from(self.options.reserve_percent.min(100)) / 100)
    }

    /// Whether a request of `priority` may go at `now`, given the primary budget.
    pub(crate) fn decide(
        &mut self,
        priority: Priority,
        now: Instant,
        primary: &PrimaryBudget,
    ) -> Decision {
        let higher_waits = Priority::ALL
            .iter()
            .any(|other| other.rank() < priority.rank() && self.waiting[other.index()] > 0);
        if higher_waits {
            return Decision::Yield;
        }
        while self
            .minute
            .front()
            .is_some_and(|&at| now.duration_since(at) >= MINUTE)
        {
            self.minute.pop_front();
        }
        if self.minute.len() >= self.options.points_per_minute.max(1) as usize {
            let oldest = *self.minute.front().expect("a full window is not empty");
            return Decision::Ceiling(MINUTE.saturating_sub(now.duration_since(oldest)));
        }
        if let Some(wait) = self.smooth(now) {
            return Decision::Ceiling(wait);
        }
        if let Some(wait) = primary.wait_for_reset(now) {
            return Decision::Primary(wait);
        }
        if priority.may_spend_reserve() {
            return Decision::Go;
        }
        let (Some(remaining), Some(reserve)) = (primary.current(now), self.reserve(primary)) else {
            // Nothing reported yet, or the window has reset since: the next answers will say.
            return Decision::Go;
        };
        let until_reset = primary.until_reset(now).max(Duration::from_secs(1));
        if remaining <= reserve {
            return Decision::Primary(until_reset);
        }
        self.pace(now, (remaining - reserve) as f64, until_reset)
    }

    /// Refills the ceiling's bucket; how long until the next token when it is empty.
    fn smooth(&mut self, now: Instant) -> Option<Duration> {
        let ceiling = f64::from(self.options.points_per_minute.max(1));
        let capacity = (ceiling / 10.0).max(1.0);
        let rate = ceiling * 0.9 / 60.0;
        self.smooth_tokens = match self.smooth_refilled_at {
            None => capacity,
            Some(at) => {
                (self.smooth_tokens + now.duration_since(at).as_secs_f64() * rate).min(capacity)
            }
        };
        self.smooth_refilled_at = Some(now);
        (self.smooth_tokens < 1.0)
            .then(|| Duration::from_secs_f64((1.0 - self.smooth_tokens) / rate))
    }

    /// A token bucket for non-fresh work: it refills at the rate that spends what is above the
    /// reserve by the reset, and holds at most `burst_percent` of that.
    fn pace(&mut self, now: Instant, spendable: f64, until_reset: Duration) -> Decision {
        let capacity =
            (spendable * f64::from(self.options.burst_percent.min(100)) / 100.0).max(1.0);
        let rate = spendable / until_reset.as_secs_f64();
        self.tokens = match self.refilled_at {
            None => capacity,
            Some(at) => {
                let refill = now.duration_since(at).as_secs_f64() * rate;
                (self.tokens.min(capacity) + refill).min(capacity)
            }
        };
        self.refilled_at = Some(now);
        if self.tokens >= 1.0 {
            Decision::Go
        } else {
            Decision::Pace(Duration::from_secs_f64((1.0 - self.tokens) / rate).min(until_reset))
        }
    }

    /// Books an admission decided `Go` (a point against the secondary limit, 304 or not) of a
    /// request that asked at `asked`.
    pub(crate) fn admit(&mut self, priority: Priority, asked: Instant, now: Instant) {
        self.minute.push_back(now);
        self.smooth_tokens -= 1.0;
        self.admitted[priority.index()] += 1;
        let longest = &mut self.longest_wait[priority.index()];
        *longest = (*longest).max(now.duration_since(asked));
        if let Some(since) = self.fresh_waiting_since {
            let dark_from = self.last_admission.map_or(since, |last| last.max(since));
            self.longest_dark = self.longest_dark.max(now.duration_since(dark_from));
        }
        self.last_admission = Some(now);
    }

    /// Counts a request of `priority` as waiting from `now`.
    fn start_waiting(&mut self, priority: Priority, now: Instant) {
        if priority == Priority::Fresh && self.waiting[priority.index()] == 0 {
            self.fresh_waiting_since = Some(now);
        }
        self.waiting[priority.index()] += 1;
    }

    /// Counts a request of `priority` as no longer waiting (admitted, or given up).
    fn stop_waiting(&mut self, priority: Priority) {
        self.waiting[priority.index()] -= 1;
        if priority == Priority::Fresh && self.waiting[priority.index()] == 0 {
            self.fresh_waiting_since = None;
        }
    }

    /// Books a primary point spent by an answer to a request of `priority` (not a 304): the
    /// pace counts what the hourly budget pays, so a sweep answered 304 costs it nothing.
    pub(crate) fn charge(&mut self, priority: Priority) {
        if !priority.may_spend_reserve() && self.refilled_at.is_some() {
            self.tokens -= 1.0;
        }
    }
}

/// One credential's scheduler, shared by every client of that credential.
#[derive(Debug)]
pub struct RequestScheduler {
    ledger: Mutex<Ledger>,
    primary: Mutex<PrimaryBudget>,
    permits: Arc<Semaphore>,
    changed: Notify,
}

/// A request's right to be sent: holds one of the concurrency slots until dropped.
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
}

/// Counts a request as waiting in its class while it exists (also when its future is dropped).
struct Waiting<'a> {
    scheduler: &'a RequestScheduler,
    priority: Priority,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut ledger = self.scheduler.lock_ledger();
        ledger.stop_waiting(self.priority);
        drop(ledger);
        self.scheduler.changed.notify_waiters();
    }
}

impl RequestScheduler {
    pub fn new(options: BudgetOptions) -> Self {
        RequestScheduler {
            ledger: Mutex::new(Ledger::new(options)),
            primary: Mutex::new(PrimaryBudget::default()),
            permits: Arc::new(Semaphore::new(options.max_concurrent.max(1))),
            changed: Notify::new(),
        }
    }

    fn lock_ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().expect("scheduler lock poisoned")
    }

    fn primary(&self) -> PrimaryBudget {
        *self.primary.lock().expect("scheduler lock poisoned")
    }

    /// Waits until a request of `priority` may be sent, then holds a concurrency slot for it.
    /// Returns the admission and what held it back longest, for the caller's metrics.
    pub async fn admit(&self, priority: Priority) -> (Admission, Option<Decision>) {
        let mut held_back = None;
        let mut waiting: Option<Waiting<'_>> = None;
        let asked = Instant::now();
        loop {
            // Registered before the decision, so a change made meanwhile still wakes us.
            let changed = self.changed.notified();
            let decision = {
                let primary = self.primary();
                let mut ledger = self.lock_ledger();
                let now = Instant::now();
                let decision = ledger.decide(priority, now, &primary);
                if decision == Decision::Go {
                    ledger.admit(priority, asked, now);
                } else if waiting.is_none() {
                    ledger.start_waiting(priority, now);
                    waiting = Some(Waiting {
                        scheduler: self,
                        priority,
                    });
                }
                decision
            };
            let wait = match decision {
                Decision::Go => break,
                Decision::Yield => RECHECK,
                Decision::Ceiling(wait) | Decision::Primary(wait) | Decision::Pace(wait) => {
                    if !matches!(held_back, Some(Decision::Primary(_))) {
                        held_back = Some(decision);
                    }
                    wait
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait.min(RECHECK)) => {}
                () = changed => {}
            }
        }
        drop(waiting);
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the request semaphore is never closed");
        (Admission { _permit: permit }, held_back)
    }

    /// Takes in an answer to a request of `priority`: whether it cost a primary point (not a
    /// 304), and what its `x-ratelimit-*` headers say of the primary budget.
    pub(crate) fn record(
        &self,
        priority: Priority,
        status: http::StatusCode,
        headers: &http::HeaderMap,
    ) {
        if status != http::StatusCode::NOT_MODIFIED {
            self.lock_ledger().charge(priority);
        }
        let changed = self
            .primary
            .lock()
            .expect("scheduler lock poisoned")
            .record(headers, Instant::now());
        if changed {
            self.changed.notify_waiters();
        }
    }

    pub fn snapshot(&self) -> BudgetSnapshot {
        let primary = self.primary();
        let ledger = self.lock_ledger();
        let now = Instant::now();
        let points_last_minute = ledger
            .minute
            .iter()
            .filter(|&&at| now.duration_since(at) < MINUTE)
            .count();
        BudgetSnapshot {
            points_per_minute_ceiling: ledger.options.points_per_minute,
            max_concurrent: ledger.options.max_concurrent,
            points_last_minute: u32::try_from(points_last_minute).unwrap_or(u32::MAX),
            reserve_points: ledger.reserve(&primary),
            admitted: ledger.admitted,
            waiting: ledger.waiting,
            longest_wait_secs: ledger.longest_wait.map(|wait| wait.as_secs_f64()),
            longest_dark_secs: ledger.longest_dark.as_secs_f64(),
            primary: primary.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(points_per_minute: u32) -> BudgetOptions {
        BudgetOptions {
            points_per_minute,
            ..BudgetOptions::default()
        }
    }

    fn primary(limit: u64, remaining: u64, reset_in: Duration, at: Instant) -> PrimaryBudget {
        PrimaryBudget::reported(limit, remaining, reset_in, at)
    }

    #[test]
    fn the_ceiling_is_never_exceeded_in_any_minute_and_never_stops_everything() {
        let mut ledger = Ledger::new(options(600));
        let start = Instant::now();
        let unknown = PrimaryBudget::default();
        let mut admitted = Vec::new();
        let mut now = start;
        // Ask as fast as allowed for three minutes, 10 ms apart.
        while now < start + Duration::from_secs(180) {
            if ledger.decide(Priority::Fresh, now, &unknown) == Decision::Go {
                ledger.admit(Priority::Fresh, now, now);
                admitted.push(now);
            }
            now += Duration::from_millis(10);
        }
        for (index, &at) in admitted.iter().enumerate() {
            let in_minute = admitted[index..]
                .iter()
                .take_while(|&&later| later.duration_since(at) < MINUTE)
                .count();
            assert!(in_minute <= 600, "{in_minute} in the minute from {index}");
        }
        let longest_gap = admitted
            .windows(2)
            .map(|pair| pair[1].duration_since(pair[0]))
            .max()
            .unwrap();
        assert!(longest_gap <= Duration::from_millis(200), "{longest_gap:?}");
        assert!(admitted.len() > 3 * 540, "{}", admitted.len());
    }

    #[test]
    fn the_longest_wait_for_admission_is_kept_per_class() {
        let mut ledger = Ledger::new(options(1));
        let start = Instant::now();
        let unknown = PrimaryBudget::default();
        assert_eq!(
            ledger.decide(Priority::Catchup, start, &unknown),
            Decision::Go
        );
        ledger.admit(Priority::Catchup, start, start);
        // A fresh request asks at once and may only go once the minute has passed: nothing
        // went meanwhile, so the daemon was dark all along.
        let mut now = start;
        ledger.start_waiting(Priority::Fresh, start);
        while ledger.decide(Priority::Fresh, now, &unknown) != Decision::Go {
            now += Duration::from_secs(1);
        }
        ledger.admit(Priority::Fresh, start, now);
        ledger.stop_waiting(Priority::Fresh);
        assert_eq!(ledger.longest_dark, now.duration_since(start));
        assert!(now.duration_since(start) >= MINUTE);
        assert_eq!(
            ledger.longest_wait[Priority::Fresh.index()],
            now.duration_since(start)
        );
        assert_eq!(
            ledger.longest_wait[Priority::Catchup.index()],
            Duration::ZERO
        );
    }

    #[test]
    fn a_fresh_wait_is_dark_only_while_nothing_goes() {
        let mut ledger = Ledger::new(options(600));
        let start = Instant::now();
        let second = Duration::from_secs(1);
        // A fresh request waits 3 s, but another goes after 1 s: dark for 2 s at most.
        ledger.start_waiting(Priority::Fresh, start);
        ledger.admit(Priority::Catchup, start + second, start + second);
        ledger.admit(Priority::Fresh, start, start + 3 * second);
        ledger.stop_waiting(Priority::Fresh);
        assert_eq!(ledger.longest_dark, 2 * second);
        assert_eq!(ledger.longest_wait[Priority::Fresh.index()], 3 * second);
        // Nothing fresh waits: a long pause between admissions is no darkness.
        ledger.admit(Priority::Catchup, start + 60 * second, start + 60 * second);
        assert_eq!(ledger.longest_dark, 2 * second);
    }

    #[test]
    fn a_lower_rank_yields_to_a_waiting_higher_one_only() {
        let mut ledger = Ledger::new(options(100));
        let now = Instant::now();
        let unknown = PrimaryBudget::default();
        ledger.waiting[Priority::Logs.index()] = 1;
        assert_eq!(
            ledger.decide(Priority::Catchup, now, &unknown),
            Decision::Yield
        );
        assert_eq!(ledger.decide(Priority::Logs, now, &unknown), Decision::Go);
        assert_eq!(
            ledger.decide(Priority::Commits, now, &unknown),
            Decision::Go
        );
        assert_eq!(ledger.decide(Priority::Fresh, now, &unknown), Decision::Go);
        // Fresh work waiting holds logs and history back, never the commit facts a fresh run's
        // events wait for.
        ledger.waiting[Priority::Logs.index()] = 0;
        ledger.waiting[Priority::Fresh.index()] = 3;
        assert_eq!(
            ledger.decide(Priority::Commits, now, &unknown),
            Decision::Go
        );
        assert_eq!(
            ledger.decide(Priority::Logs, now, &unknown),
            Decision::Yield
        );
        assert_eq!(
            ledger.decide(Priority::Catchup, now, &unknown),
            Decision::Yield
        );
    }

    #[test]
    fn only_fresh_work_spends_the_reserve() {
        let mut ledger = Ledger::new(options(1_000));
        let now = Instant::now();
        // 5,000 an hour, 20 % reserved: 1,000 points.
        let low = primary(5_000, 1_000, Duration::from_secs(1_800), now);
        assert_eq!(ledger.decide(Priority::Fresh, now, &low), Decision::Go);
        assert_eq!(ledger.decide(Priority::Commits, now, &low), Decision::Go);
        assert!(matches!(
            ledger.decide(Priority::Logs, now, &low),
            Decision::Primary(_)
        ));
        assert!(matches!(
            ledger.decide(Priority::Catchup, now, &low),
            Decision::Primary(wait) if wait >= Duration::from_secs(1_799)
        ));
        let spent = primary(5_000, 0, Duration::from_secs(600), now);
        assert!(matches!(
            ledger.decide(Priority::Fresh, now, &spent),
            Decision::Primary(_)
        ));
    }

    #[test]
    fn catch_up_bursts_then_keeps_a_pace_that_lasts_until_the_reset() {
        let mut ledger = Ledger::new(options(1_000_000));
        let start = Instant::now();
        // 3,600 points above the reserve for an hour: a burst of half, then one a second.
        let budget = primary(5_000, 4_600, Duration::from_secs(3_600), start);
        let mut burst = 0;
        while ledger.decide(Priority::Catchup, start, &budget) == Decision::Go {
            ledger.admit(Priority::Catchup, start, start);
            ledger.charge(Priority::Catchup);
            burst += 1;
        }
        assert_eq!(burst, 1_800);
        assert!(matches!(
            ledger.decide(Priority::Catchup, start, &budget),
            Decision::Pace(wait) if wait <= Duration::from_secs(1)
        ));
        // Ten seconds later about ten more may go; fresh work never waits for the pace.
        let later = start + Duration::from_secs(10);
        let budget = primary(5_000, 2_800, Duration::from_secs(3_590), later);
        let mut paced = 0;
        while ledger.decide(Priority::Catchup, later, &budget) == Decision::Go {
            ledger.admit(Priority::Catchup, later, later);
            ledger.charge(Priority::Catchup);
            paced += 1;
        }
        // Answers that cost no point (304s) do not slow the pace.
        let tokens = ledger.tokens;
        ledger.admit(Priority::Catchup, later, later);
        assert_eq!(ledger.tokens, tokens);
        assert!((4..=11).contains(&paced), "{paced}");
        assert_eq!(ledger.decide(Priority::Fresh, later, &budget), Decision::Go);
    }

    #[tokio::test]
    async fn admission_order_follows_priority_when_the_ceiling_binds() {
        let scheduler = Arc::new(RequestScheduler::new(BudgetOptions {
            points_per_minute: 1,
            ..BudgetOptions::default()
        }));
        // Spend the one point of this minute.
        drop(scheduler.admit(Priority::Fresh).await);
        let catchup = tokio::spawn({
            let scheduler = scheduler.clone();
            async move { scheduler.admit(Priority::Catchup).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let fresh = tokio::spawn({
            let scheduler = scheduler.clone();
            async move { scheduler.admit(Priority::Fresh).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiting = scheduler.snapshot().waiting;
        assert_eq!(waiting[Priority::Fresh.index()], 1);
        assert_eq!(waiting[Priority::Catchup.index()], 1);
        catchup.abort();
        fresh.abort();
        let _ = catchup.await;
        let _ = fresh.await;
        assert_eq!(
            scheduler.snapshot().waiting,
            [0; 4],
            "dropped waiters are uncounted"
        );
    }
}
