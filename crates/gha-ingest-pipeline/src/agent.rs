//! The long-lived pipeline task: every poll interval (or when triggered), one cycle over each
//! repository this replica owns, a bounded number at a time.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use gha_ingest_core::RepoName;
use gha_ingest_github::GithubClient;
use gha_ingest_store::StateStore;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::events::EventEncoder;
use crate::observer::RunObserver;
use crate::options::PipelineOptions;
use crate::poller::RepoPoller;
use crate::status::AgentStatus;

/// Where the agent's "now" comes from: the wall clock in production, a simulator's clock in tests.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn wall() -> Self {
        Clock(Arc::new(Utc::now))
    }

    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Clock").field(&self.now()).finish()
    }
}

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
                    self.prune_idempotency_keys().await;
                    last_prune = Some(now);
                }
                self.poll_all_once().await;
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
                tracing::error!(cause = %error, "cannot list repositories");
                self.status.repo_failed(error.to_string());
                return;
            }
        };
        stream::iter(repositories)
            .for_each_concurrent(
                self.options.concurrent_repositories.max(1),
                |repo| async move {
                    self.poll_repository(&repo).await;
                },
            )
            .await;
    }

    /// One cycle of one repository; failures are logged and recorded, never fatal.
    pub async fn poll_repository(&self, repo: &RepoName) {
        let started = std::time::Instant::now();
        let now = self.clock.now();
        let tracked_since = match self.store.cursor(repo).await {
            Ok(cursor) => cursor
                .tracked_since
                .unwrap_or(now - Duration::days(i64::from(self.options.backfill_days))),
            Err(error) => {
                self.status.repo_failed(error.to_string());
                tracing::error!(repo = %repo, cause = %error, "cannot read cursor");
                return;
            }
        };
        let encoder = EventEncoder {
            max_message_bytes: self.options.max_message_bytes,
            emit_log_requests: self.options.emit_log_requests,
        };
        let poller = RepoPoller {
            observer: RunObserver {
                client: &self.client,
                store: &self.store,
                encoder: &encoder,
                repo,
                tracked_since,
            },
            reconcile_interval: Duration::from_std(self.options.reconcile_interval)
                .unwrap_or(Duration::minutes(10)),
            reconcile_lookback_days: self.options.reconcile_lookback_days,
            published: &self.published,
        };
        let outcome = poller.poll(now).await;
        let error_text = outcome.as_ref().err().map(|error| error.to_string());
        if let Err(error) = self.store.record_poll(repo, error_text.as_deref()).await {
            tracing::error!(repo = %repo, cause = %error, "cannot record poll outcome");
        }
        match outcome {
            Ok(summary) => {
                self.status.cycle_finished(summary.events_queued);
                tracing::info!(repo = %repo, changed_runs = summary.changed_runs, events_queued = summary.events_queued,
                    swept = summary.swept, elapsed_ms = started.elapsed().as_millis() as u64, "polled repository");
            }
            Err(error) => {
                self.status.repo_failed(format!("{repo}: {error}"));
                tracing::warn!(repo = %repo, cause = %error, "poll cycle failed; retrying next cycle");
            }
        }
    }

    /// Bounds what grows: idempotency keys older than any fact the sweep can still see, and the
    /// dashboard's run history beyond its retention.
    async fn prune_idempotency_keys(&self) {
        let keep_days = self
            .options
            .reconcile_lookback_days
            .max(self.options.backfill_days)
            + 30;
        match self.store.prune_emitted_events(keep_days).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, keep_days, "pruned old idempotency keys"),
            Err(error) => tracing::warn!(cause = %error, "cannot prune idempotency keys"),
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
