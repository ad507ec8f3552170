//! The long-lived pipeline task: every poll interval (or when triggered), one cycle over each
//! repository this replica owns, a bounded number at a time.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use gha_ingest_core::{error_chain, Clock, RepoName};
use gha_ingest_github::GithubClient;
use gha_ingest_store::StateStore;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::events::EventEncoder;
use crate::failures::FailureBook;
use crate::observer::RunObserver;
use crate::options::PipelineOptions;
use crate::poller::RepoPoller;
use crate::status::AgentStatus;

/// ETags of paths not asked for in this many days are dropped: every path still polled (a sweep
/// window, an open run) is asked for at least daily.
const ETAG_IDLE_DAYS: u32 = 3;

#[derive(Debug, Clone)]
pub struct PipelineAgent {
    clock: Clock,
    client: GithubClient,
    store: StateStore,
    options: PipelineOptions,
    organizations: Vec<String>,
    status: Arc<AgentStatus>,
    published: Arc<Notify>,
    trigger: Arc<Notify>,
}

impl PipelineAgent {
    /// `published` is notified whenever new events are in the outbox (the publisher waits on it).
    pub fn new(
        client: GithubClient,
        store: StateStore,
        options: PipelineOptions,
        status: Arc<AgentStatus>,
        published: Arc<Notify>,
    ) -> Self {
        PipelineAgent {
            clock: Clock::wall(),
            client,
            store,
            options,
            organizations: Vec::new(),
            status,
            published,
            trigger: Arc::new(Notify::new()),
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

    /// Cycles until `shutdown`. A cycle in progress is abandoned at shutdown: everything it
    /// committed is whole, and what it had not committed is polled again at the next start.
    pub async fn run(self, shutdown: CancellationToken) {
        self.status.set_running(true);
        let mut last_org_refresh: Option<DateTime<Utc>> = None;
        let mut last_prune: Option<DateTime<Utc>> = None;
        let org_refresh_interval =
            Duration::from_std(self.options.org_refresh_interval).unwrap_or(Duration::hours(1));
        loop {
            let now = self.clock.now();
            let org_refresh_due =
                last_org_refresh.is_none_or(|last| now - last >= org_refresh_interval);
            let prune_due = last_prune.is_none_or(|last| now - last >= Duration::days(1));
            let cycle = async {
                if org_refresh_due && !self.organizations.is_empty() {
                    self.refresh_organizations().await;
                    last_org_refresh = Some(now);
                }
                if prune_due {
                    self.prune().await;
                    last_prune = Some(now);
                }
                if self.outbox_has_room().await {
                    self.poll_all_once().await;
                }
            };
            tokio::select! {
                _ = cycle => {}
                _ = shutdown.cancelled() => break,
            }
            tokio::select! {
                _ = tokio::time::sleep(self.options.poll_interval) => {}
                _ = self.trigger.notified() => tracing::info!("collection triggered"),
                _ = shutdown.cancelled() => break,
            }
        }
        self.status.set_running(false);
        tracing::info!("pipeline agent stopped");
    }

    /// One cycle over every repository this replica owns.
    pub async fn poll_all_once(&self) {
        let repositories = match self.store.repositories().await {
            Ok(entries) => entries
                .into_iter()
                .map(|entry| entry.repo)
                .filter(|repo| self.owns(repo))
                .collect::<Vec<_>>(),
            Err(error) => {
                tracing::error!(cause = %error_chain(&error), "cannot list repositories");
                self.status.repo_failed(error_chain(&error).to_string());
                return;
            }
        };
        let started = std::time::Instant::now();
        stream::iter(repositories)
            .for_each_concurrent(
                self.options.concurrent_repositories.max(1),
                |repo| async move {
                    self.poll_repository(&repo).await;
                },
            )
            .await;
        self.status.cycle_finished(started.elapsed());
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

    /// One cycle of one repository; failures are logged and recorded, never fatal. A repository
    /// whose cycles keep failing waits longer and longer (capped) before its next one.
    pub async fn poll_repository(&self, repo: &RepoName) {
        let started = std::time::Instant::now();
        let now = self.clock.now();
        let cursor = match self.store.cursor(repo).await {
            Ok(cursor) => cursor,
            Err(error) => {
                self.status.repo_failed(error_chain(&error).to_string());
                tracing::error!(repo = %repo, cause = %error_chain(&error), "cannot read cursor");
                return;
            }
        };
        if cursor.next_poll_at.is_some_and(|next| next > now) {
            return;
        }
        let known_failures = match self.store.repo_failures(repo).await {
            Ok(failures) => failures,
            Err(error) => {
                self.status.repo_failed(error_chain(&error).to_string());
                tracing::error!(repo = %repo, cause = %error_chain(&error), "cannot read entity failures");
                return;
            }
        };
        let tracked_since = cursor
            .tracked_since
            .unwrap_or(now - Duration::days(i64::from(self.options.backfill_days)));
        let encoder = EventEncoder {
            max_message_bytes: self.options.max_message_bytes,
            emit_log_requests: self.options.emit_log_requests,
            clock: self.clock.clone(),
        };
        let failures = FailureBook::new(
            self.options.failure_policy,
            repo.to_string(),
            now,
            known_failures,
        );
        let poller = RepoPoller {
            observer: RunObserver {
                client: &self.client,
                store: &self.store,
                encoder: &encoder,
                repo,
                tracked_since,
                failures: &failures,
            },
            reconcile_interval: Duration::from_std(self.options.reconcile_interval)
                .unwrap_or(Duration::minutes(10)),
            reconcile_lookback_days: self.options.reconcile_lookback_days,
            published: &self.published,
            metrics: self.status.metrics(),
        };
        let outcome = poller.poll(now).await;
        let error_text = outcome
            .as_ref()
            .err()
            .map(|error| error_chain(error).to_string());
        let next_poll_at = outcome.is_err().then(|| {
            now + self
                .repo_backoff(u32::try_from(cursor.consecutive_errors + 1).unwrap_or(u32::MAX))
        });
        if let Err(error) = self
            .store
            .record_poll(repo, error_text.as_deref(), next_poll_at)
            .await
        {
            tracing::error!(repo = %repo, cause = %error_chain(&error), "cannot record poll outcome");
        }
        match (outcome, error_text, next_poll_at) {
            (Ok(summary), _, _) => {
                self.status.repo_polled();
                tracing::info!(repo = %repo, changed_runs = summary.changed_runs, events_queued = summary.events_queued,
                    swept = summary.swept, elapsed_ms = started.elapsed().as_millis() as u64, "polled repository");
            }
            (Err(_), Some(cause), next_poll_at) => {
                self.status.repo_failed(format!("{repo}: {cause}"));
                tracing::warn!(repo = %repo, cause, next_poll_at = ?next_poll_at, "poll cycle failed; backing off");
            }
            (Err(_), None, _) => unreachable!("a failed cycle always has an error text"),
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

    async fn refresh_organizations(&self) {
        for org in &self.organizations {
            match self.client.list_org_repos(org).await {
                Ok(repositories) => {
                    for listed in repositories
                        .iter()
                        .filter(|listed| !listed.archived && !listed.disabled)
                    {
                        match listed.full_name.parse::<RepoName>() {
                            Ok(repo) => {
                                if let Err(error) = self
                                    .store
                                    .add_repository(&repo, &format!("org:{org}"))
                                    .await
                                {
                                    tracing::error!(org, cause = %error, "cannot record organisation repository");
                                }
                            }
                            Err(error) => {
                                tracing::warn!(org, cause = %error, "skipping unexpected repository name")
                            }
                        }
                    }
                }
                Err(error) => {
                    self.status.repo_failed(format!("org {org}: {error}"));
                    tracing::warn!(org, cause = %error, "cannot list organisation repositories");
                }
            }
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
