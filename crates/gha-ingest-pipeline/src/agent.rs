//! The long-lived pipeline task, in two lanes that share the credentials' schedulers.
//!
//! The fresh lane runs every poll interval (or when triggered): one cycle over each repository
//! this replica owns that is due (see `cadence`), a bounded number at a time. The catch-up lane
//! runs beside it: repositories with history to read, or whose sweep is due, a few at a time at
//! the lowest priority. Each repository is read with the client of the credential that can see it
//! (a token, or the App installation `GithubAccess` routes it to).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use gha_ingest_core::{error_chain, Clock, RepoName, Throttle};
use gha_ingest_github::{followable_repositories, GithubAccess, GithubClient, Priority};
use gha_ingest_store::{RepoCursor, StateStore};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::cadence::Cadence;
use crate::events::EventEncoder;
use crate::failures::FailureBook;
use crate::observer::RunObserver;
use crate::options::PipelineOptions;
use crate::poller::{CycleSummary, RepoPoller};
use crate::status::AgentStatus;

/// ETags of paths not asked for in this many days are dropped: every path still polled (a sweep
/// window, an open run) is asked for at least daily.
const ETAG_IDLE_DAYS: u32 = 3;
/// Due repositories left for the next cycle (the budget could not poll them all within the
/// interval) are said at most this often.
const OVERRUN_WARNING_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct PipelineAgent {
    clock: Clock,
    access: GithubAccess,
    store: StateStore,
    options: PipelineOptions,
    organizations: Vec<String>,
    status: Arc<AgentStatus>,
    published: Arc<Notify>,
    trigger: Arc<Notify>,
    /// Wakes the catch-up lane: a fresh cycle ended, or found something.
    catchup_wanted: Arc<Notify>,
}

/// What both lanes load before working on a repository.
struct RepoContext {
    now: DateTime<Utc>,
    cursor: RepoCursor,
    tracked_since: DateTime<Utc>,
    encoder: EventEncoder,
    failures: FailureBook,
}

impl PipelineAgent {
    /// `published` is notified whenever new events are in the outbox (the publisher waits on it).
    pub fn new(
        access: GithubAccess,
        store: StateStore,
        options: PipelineOptions,
        status: Arc<AgentStatus>,
        published: Arc<Notify>,
    ) -> Self {
        PipelineAgent {
            clock: Clock::wall(),
            access,
            store,
            options,
            organizations: Vec::new(),
            status,
            published,
            trigger: Arc::new(Notify::new()),
            catchup_wanted: Arc::new(Notify::new()),
        }
    }

    /// Organisations whose repositories are all polled (listed again every cycle's refresh).
    pub fn with_organizations(mut self, organizations: Vec<String>) -> Self {
        self.organizations = organizations;
        self
    }

    /// Takes "now" from `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Notify this to start a cycle now instead of at the next interval.
    pub fn trigger(&self) -> Arc<Notify> {
        self.trigger.clone()
    }

    pub fn status(&self) -> Arc<AgentStatus> {
        self.status.clone()
    }

    /// Cycles until `shutdown`, both lanes. A cycle in progress is abandoned at shutdown:
    /// everything it committed is whole, and what it had not committed is read again at the
    /// next start.
    pub async fn run(self, shutdown: CancellationToken) {
        self.status.set_running(true);
        tokio::join!(self.fresh_lane(&shutdown), self.catchup_lane(&shutdown));
        self.status.set_running(false);
        tracing::info!("pipeline agent stopped");
    }

    async fn fresh_lane(&self, shutdown: &CancellationToken) {
        let mut last_discovery: Option<DateTime<Utc>> = None;
        let mut last_prune: Option<DateTime<Utc>> = None;
        let mut forced = false;
        let overrun_warning = Throttle::new(OVERRUN_WARNING_EVERY);
        let org_refresh_interval =
            Duration::from_std(self.options.org_refresh_interval).unwrap_or(Duration::hours(1));
        loop {
            let now = self.clock.now();
            let discovery_due =
                last_discovery.is_none_or(|last| now - last >= org_refresh_interval);
            let prune_due = last_prune.is_none_or(|last| now - last >= Duration::days(1));
            let cycle_started = std::time::Instant::now();
            let mut deferred = 0;
            let cycle = async {
                if discovery_due {
                    self.discover_repositories().await;
                    last_discovery = Some(now);
                }
                if prune_due {
                    self.prune().await;
                    last_prune = Some(now);
                }
                if self.outbox_has_room().await {
                    deferred = self.poll_due(forced).await;
                }
                self.catchup_wanted.notify_one();
            };
            tokio::select! {
                _ = cycle => {}
                _ = shutdown.cancelled() => break,
            }
            let interval = self.options.poll_interval;
            if deferred > 0 && overrun_warning.ready() {
                tracing::warn!(
                    deferred,
                    poll_interval_secs = interval.as_secs(),
                    "the request budget could not poll every due repository within the poll interval; the quietest wait for the next cycle (see gha_ingest_github_budget_longest_wait_seconds; if it lasts, raise github.points_per_minute, authenticate as a GitHub App, or raise pipeline.poll_interval_secs)"
                );
            }
            // The interval runs from the cycle's start, so a long cycle does not stretch it; a
            // tenth of it is always left for the catch-up lane and the queue.
            let pause = interval
                .saturating_sub(cycle_started.elapsed())
                .max(interval / 10);
            forced = tokio::select! {
                _ = tokio::time::sleep(pause) => false,
                _ = self.trigger.notified() => { tracing::info!("collection triggered"); true }
                _ = shutdown.cancelled() => break,
            };
        }
    }

    /// Repositories with history to read or a sweep due, `catchup_concurrency` at a time, until
    /// none is left; then waits for the fresh lane's next cycle.
    async fn catchup_lane(&self, shutdown: &CancellationToken) {
        loop {
            let round =
                async { while self.outbox_has_room().await && self.catch_up_round().await > 0 {} };
            tokio::select! {
                _ = round => {}
                _ = shutdown.cancelled() => break,
            }
            tokio::select! {
                _ = self.catchup_wanted.notified() => {}
                _ = shutdown.cancelled() => break,
            }
        }
    }

    /// One round of the catch-up lane; how many repositories it worked on.
    async fn catch_up_round(&self) -> usize {
        let mut due = Vec::new();
        for repo in self.owned_repositories().await {
            let Some(cursor) = self.read_cursor(&repo).await else {
                continue;
            };
            if let Some(sweep_due) = self.catchup_due(&cursor) {
                due.push((repo, cursor, sweep_due));
            }
        }
        let count = due.len();
        stream::iter(due)
            .for_each_concurrent(
                self.options.catchup_concurrency.max(1),
                |(repo, cursor, sweep_due)| async move {
                    self.catch_up_repository(&repo, cursor, sweep_due).await;
                },
            )
            .await;
        count
    }

    /// Whether a repository has work for the catch-up lane: `Some(sweep_due)` when it has
    /// history to read or a sweep due (its interval stretched as its polling is).
    fn catchup_due(&self, cursor: &RepoCursor) -> Option<bool> {
        cursor.discovered_through?;
        // The sweep keeps its pace while webhooks slow polling down.
        let sweep_interval = Cadence::of(&self.options, 1)
            .sweep_interval(self.options.reconcile_interval, cursor.quiet_polls);
        let now = self.clock.now();
        let sweep_due = cursor.last_sweep_at.is_none_or(|last| {
            now - last >= Duration::from_std(sweep_interval).unwrap_or(Duration::hours(1))
        });
        (cursor.catchup.is_some() || sweep_due).then_some(sweep_due)
    }

    /// One fresh cycle as the fresh lane runs it: only the repositories whose cadence says they
    /// are due. Returns how many due repositories were left for the next cycle.
    pub async fn poll_due_once(&self) -> usize {
        self.poll_due(false).await
    }

    /// Both lanes once over every repository this replica owns, those not due included: a
    /// fresh cycle, then a catch-up round (tests and benchmarks drive the agent with this).
    pub async fn poll_all_once(&self) {
        let _ = self.poll_due(true).await;
        self.catch_up_round().await;
    }

    /// One fresh cycle over the repositories this replica owns that are due: all of them when
    /// `forced` (someone asked for a collection now), but never one backing off after failures.
    ///
    /// Repositories with something going on go first, then the quiet ones, longest overdue
    /// first. Once the poll interval has passed, an unforced cycle starts no more polls: what is
    /// left is still due and goes in the next cycle, after that cycle's active repositories. So
    /// when the budget cannot poll every repository each interval, a quiet repository's poll
    /// (whose next fact may be `quiet_poll_max` late anyway) waits, never an active one's.
    /// Returns how many due repositories were left for the next cycle.
    async fn poll_due(&self, forced: bool) -> usize {
        let started = std::time::Instant::now();
        let mut due = Vec::new();
        for repo in self.owned_repositories().await {
            if let Some(cursor) = self.read_cursor(&repo).await {
                if self.is_due(&cursor, forced) {
                    due.push((repo, cursor));
                }
            }
        }
        due.sort_by_key(|(_, cursor)| (cursor.quiet_polls, cursor.next_poll_at));
        let interval = self.options.poll_interval;
        let deferred = std::sync::atomic::AtomicUsize::new(0);
        stream::iter(due)
            .for_each_concurrent(
                self.options.concurrent_repositories.max(1),
                |(repo, cursor)| {
                    let deferred = &deferred;
                    async move {
                        if forced || started.elapsed() < interval {
                            self.poll_fresh(&repo, cursor).await;
                        } else {
                            deferred.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                },
            )
            .await;
        self.status.cycle_finished(started.elapsed());
        deferred.into_inner()
    }

    /// The repositories of this replica's shard.
    async fn owned_repositories(&self) -> Vec<RepoName> {
        match self.store.repositories().await {
            Ok(entries) => entries
                .into_iter()
                .map(|entry| entry.repo)
                .filter(|repo| self.owns(repo))
                .collect(),
            Err(error) => {
                tracing::error!(cause = %error_chain(&error), "cannot list repositories");
                self.status.repo_failed(error_chain(&error).to_string());
                Vec::new()
            }
        }
    }

    /// The polling cadence now: slower while webhooks are healthy.
    fn cadence(&self) -> Cadence {
        let health = self.status.metrics().webhook_health();
        Cadence::of(&self.options, health.slowdown(self.clock.now()))
    }

    /// Back-pressure: while the queue is down the outbox fills; past `max_outbox_events` polling
    /// pauses (nothing is lost: GitHub keeps the history, the cursor waits) until it drains.
    async fn outbox_has_room(&self) -> bool {
        match self.store.outbox_backlog().await {
            Ok(backlog) if backlog >= self.options.max_outbox_events => {
                tracing::warn!(
                    backlog,
                    limit = self.options.max_outbox_events,
                    "outbox full (is the queue reachable?); polling paused until it drains"
                );
                self.status.repo_failed(format!(
                    "outbox full: {backlog} events wait for the queue; polling paused"
                ));
                false
            }
            Ok(_) => true,
            Err(error) => {
                tracing::error!(cause = %error_chain(&error), "cannot measure the outbox");
                true
            }
        }
    }

    /// Both lanes once over one repository, whatever its cadence (not while it backs off).
    pub async fn poll_repository(&self, repo: &RepoName) {
        self.poll_repository_when_due(repo, true).await;
        let Some(cursor) = self.read_cursor(repo).await else {
            return;
        };
        if let Some(sweep_due) = self.catchup_due(&cursor) {
            self.catch_up_repository(repo, cursor, sweep_due).await;
        }
    }

    /// The repository's cursor; `None` (recorded) when the store cannot say.
    async fn read_cursor(&self, repo: &RepoName) -> Option<RepoCursor> {
        match self.store.cursor(repo).await {
            Ok(cursor) => Some(cursor),
            Err(error) => {
                self.status.repo_failed(error_chain(&error).to_string());
                tracing::error!(repo = %repo, cause = %error_chain(&error), "cannot read cursor");
                None
            }
        }
    }

    /// The client that reads `repo` at `priority`; `None` (recorded) when no credential can.
    fn client_for(&self, repo: &RepoName, priority: Priority) -> Option<GithubClient> {
        let client = self.access.client_for(repo);
        if client.is_none() {
            self.status.repo_failed(format!(
                "{repo}: no installation of the GitHub App can read this repository"
            ));
        }
        client.map(|client| client.at(priority))
    }

    /// What both lanes need of a repository about to be worked on: its cursor (as read), the
    /// encoder and its failure book.
    async fn repo_context(&self, repo: &RepoName, cursor: RepoCursor) -> Option<RepoContext> {
        let now = self.clock.now();
        let known_failures = match self.store.repo_failures(repo).await {
            Ok(failures) => failures,
            Err(error) => {
                self.status.repo_failed(error_chain(&error).to_string());
                tracing::error!(repo = %repo, cause = %error_chain(&error), "cannot read entity failures");
                return None;
            }
        };
        let tracked_since = cursor
            .tracked_since
            .unwrap_or(now - Duration::days(i64::from(self.options.backfill_days)));
        Some(RepoContext {
            now,
            tracked_since,
            encoder: EventEncoder {
                max_message_bytes: self.options.max_message_bytes,
                emit_log_requests: self.options.emit_log_requests,
                clock: self.clock.clone(),
            },
            failures: FailureBook::new(
                self.options.failure_policy,
                repo.to_string(),
                now,
                known_failures,
            ),
            cursor,
        })
    }

    fn poller<'a>(
        &'a self,
        repo: &'a RepoName,
        client: &'a GithubClient,
        context: &'a RepoContext,
    ) -> RepoPoller<'a> {
        RepoPoller {
            observer: RunObserver {
                client,
                store: &self.store,
                encoder: &context.encoder,
                repo,
                tracked_since: context.tracked_since,
                failures: &context.failures,
            },
            reconcile_lookback_days: self.options.reconcile_lookback_days,
            published: &self.published,
            metrics: self.status.metrics(),
        }
    }

    /// One fresh cycle of one repository if it is due (see `is_due`).
    async fn poll_repository_when_due(&self, repo: &RepoName, forced: bool) {
        if let Some(cursor) = self.read_cursor(repo).await {
            if self.is_due(&cursor, forced) {
                self.poll_fresh(repo, cursor).await;
            }
        }
    }

    /// Whether a repository's fresh cycle is due: its time has come, or `forced` unless it is
    /// backing off after failures. The time planned at its last poll followed the cadence of
    /// that moment; if webhooks have stopped being healthy since, today's cadence brings it
    /// forward.
    fn is_due(&self, cursor: &RepoCursor, forced: bool) -> bool {
        let now = self.clock.now();
        let planned = cursor.next_poll_at.is_none_or(|next| next <= now);
        if cursor.consecutive_errors > 0 {
            return planned;
        }
        let by_cadence_now = || {
            let wait = self.cadence().next_poll_in(cursor.quiet_polls);
            cursor.last_poll_at.zip(wait).is_none_or(|(last, wait)| {
                now - last >= Duration::from_std(wait).unwrap_or(Duration::MAX)
            })
        };
        forced || planned || by_cadence_now()
    }

    /// One fresh cycle of one repository; failures are logged and recorded, never fatal. A
    /// repository whose cycles keep failing waits longer and longer (capped) before its next
    /// one; a quiet one waits longer too (see `cadence`).
    async fn poll_fresh(&self, repo: &RepoName, cursor: RepoCursor) {
        let started = std::time::Instant::now();
        let Some(context) = self.repo_context(repo, cursor).await else {
            return;
        };
        let Some(client) = self.client_for(repo, Priority::Fresh) else {
            return;
        };
        let (now, cursor) = (context.now, &context.cursor);
        let outcome = self.poller(repo, &client, &context).poll(now, cursor).await;
        let error_text = outcome
            .as_ref()
            .err()
            .map(|error| error_chain(error).to_string());
        let cadence = self.cadence();
        let dormant = |summary: &CycleSummary| {
            summary.first_poll
                && summary.newest_run_at.is_none_or(|newest| {
                    now - newest >= Duration::from_std(cadence.quiet_max).unwrap_or(Duration::MAX)
                })
        };
        let quiet_polls = match &outcome {
            Ok(summary) if summary.is_quiet() && dormant(summary) => Some(cadence.dormant()),
            Ok(summary) if summary.is_quiet() => Some(cursor.quiet_polls.saturating_add(1)),
            Ok(_) => Some(0),
            Err(_) => None,
        };
        let next_poll_at = match quiet_polls {
            Some(quiet) => cadence
                .next_poll_in(quiet)
                .map(|wait| now + Duration::from_std(wait).unwrap_or(Duration::minutes(10))),
            None => Some(
                now + self
                    .repo_backoff(u32::try_from(cursor.consecutive_errors + 1).unwrap_or(u32::MAX)),
            ),
        };
        if let Err(error) = self
            .store
            .record_poll(repo, error_text.as_deref(), next_poll_at, quiet_polls)
            .await
        {
            tracing::error!(repo = %repo, cause = %error_chain(&error), "cannot record poll outcome");
        }
        match (outcome, error_text) {
            (Ok(summary), _) => {
                self.status.repo_polled();
                tracing::info!(repo = %repo, changed_runs = summary.changed_runs, events_queued = summary.events_queued,
                    quiet_polls, elapsed_ms = started.elapsed().as_millis() as u64, "polled repository");
            }
            (Err(_), Some(cause)) => {
                self.status.repo_failed(format!("{repo}: {cause}"));
                tracing::warn!(repo = %repo, cause, next_poll_at = ?next_poll_at, "poll cycle failed; backing off");
            }
            (Err(_), None) => unreachable!("a failed cycle always has an error text"),
        }
    }

    /// The catch-up lane's work on one repository: its history range, or its sweep.
    async fn catch_up_repository(&self, repo: &RepoName, cursor: RepoCursor, sweep_due: bool) {
        let started = std::time::Instant::now();
        let Some(context) = self.repo_context(repo, cursor).await else {
            return;
        };
        let Some(client) = self.client_for(repo, Priority::Catchup) else {
            return;
        };
        match self
            .poller(repo, &client, &context)
            .catch_up(context.now, &context.cursor, sweep_due)
            .await
        {
            Ok(summary) => {
                tracing::info!(repo = %repo, caught_up = summary.caught_up, swept = summary.swept,
                changed_runs = summary.changed_runs, events_queued = summary.events_queued,
                elapsed_ms = started.elapsed().as_millis() as u64, "caught up")
            }
            Err(error) => {
                // Left as it was: the range stays pending, the sweep due; a later round retries.
                self.status
                    .repo_failed(format!("{repo}: catching up: {}", error_chain(&error)));
                tracing::warn!(repo = %repo, cause = %error_chain(&error), "catching up failed; trying again later");
                tokio::time::sleep(self.options.poll_interval).await;
            }
        }
    }

    /// The wait after `failures` failed cycles in a row: the poll interval doubled each time,
    /// capped at `repo_backoff_max`.
    fn repo_backoff(&self, failures: u32) -> Duration {
        let wait = self
            .options
            .poll_interval
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)))
            .min(self.options.repo_backoff_max);
        Duration::from_std(wait).unwrap_or(Duration::minutes(30))
    }

    /// Bounds what grows: idempotency keys and state older than any fact the sweep can still
    /// see, ETags of paths no longer polled, and the dashboard's run history beyond its retention.
    pub async fn prune(&self) {
        let keep_days = self
            .options
            .reconcile_lookback_days
            .max(self.options.backfill_days)
            + 30;
        match self.store.prune_emitted_events(keep_days).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, keep_days, "pruned old idempotency keys"),
            Err(error) => {
                tracing::warn!(cause = %error_chain(&error), "cannot prune idempotency keys")
            }
        }
        let horizon = self.clock.now() - Duration::days(i64::from(keep_days));
        match self.store.prune_state(horizon, ETAG_IDLE_DAYS).await {
            Ok(report) if report.total() == 0 => {}
            Ok(report) => {
                if report.parked > 0 {
                    tracing::warn!(
                        dropped = report.parked,
                        "dropped messages the queue refused for good, parked longer than the retention"
                    );
                }
                tracing::info!(
                    ?report,
                    keep_days,
                    "pruned state past the look-back horizon"
                );
            }
            Err(error) => tracing::warn!(cause = %error_chain(&error), "cannot prune state"),
        }
        let (keep_runs, max_age_days) = (
            self.options.viewer_runs_retained,
            self.options.viewer_max_age_days,
        );
        match self
            .store
            .prune_viewer_history(keep_runs, max_age_days)
            .await
        {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(
                pruned,
                keep_runs,
                max_age_days,
                "pruned the dashboard's old run history"
            ),
            Err(error) => {
                tracing::warn!(cause = %error, "cannot prune the dashboard's run history")
            }
        }
    }

    /// Repositories found rather than listed: every repository of the configured organisations,
    /// and with a GitHub App, every repository of its installations.
    pub async fn discover_repositories(&self) {
        match self.access.discover().await {
            Ok(found) => {
                for discovered in found {
                    self.follow(&discovered.repo, &discovered.credential).await;
                }
            }
            Err(error) => {
                self.status
                    .repo_failed(format!("GitHub App: {}", error_chain(&error)));
                tracing::error!(cause = %error_chain(&error), "cannot list the GitHub App's installations");
            }
        }
        if self.organizations.is_empty() {
            return;
        }
        let Some(client) = self.access.any_client() else {
            return;
        };
        for org in &self.organizations {
            match client.list_org_repos(org).await {
                Ok(repositories) => {
                    let origin = format!("org:{org}");
                    for repo in followable_repositories(&repositories, &origin) {
                        self.follow(&repo, &origin).await;
                    }
                }
                Err(error) => {
                    self.status.repo_failed(format!("org {org}: {error}"));
                    tracing::warn!(org, cause = %error, "cannot list organisation repositories");
                }
            }
        }
    }

    async fn follow(&self, repo: &RepoName, origin: &str) {
        if let Err(error) = self.store.add_repository(repo, origin).await {
            tracing::error!(repo = %repo, origin, cause = %error, "cannot record a discovered repository");
        }
    }

    /// Replicas split repositories by a hash of the name that every build computes alike.
    fn owns(&self, repo: &RepoName) -> bool {
        self.options.shard_count <= 1
            || stable_hash(&repo.to_string().to_ascii_lowercase())
                % u64::from(self.options.shard_count)
                == u64::from(self.options.shard_index)
    }
}

/// FNV-1a: fixed by its definition, unlike std's hasher, so replicas built apart still agree.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::stable_hash;

    #[test]
    fn shard_hash_is_fixed() {
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
