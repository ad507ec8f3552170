//! The agent's tunables, as plain values (the binary maps the configuration onto them).

use std::time::Duration;

use crate::failures::FailurePolicy;

#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub poll_interval: Duration,
    /// How often the look-back sweep runs.
    pub reconcile_interval: Duration,
    /// How far back the sweep looks for re-runs (GitHub allows re-runs up to 30 days later).
    pub reconcile_lookback_days: u32,
    /// How far back a repository's first poll ingests history.
    pub backfill_days: u32,
    /// Largest message body the queue takes; run events shrink their nested copies to fit.
    pub max_message_bytes: usize,
    /// Also put a copy of each job-completed event on the log-requests queue.
    pub emit_log_requests: bool,
    /// This replica polls the repositories whose hash modulo `shard_count` is `shard_index`.
    pub shard_index: u32,
    pub shard_count: u32,
    /// How many repositories are polled at once.
    pub concurrent_repositories: usize,
    /// How often organisations are listed again for new repositories.
    pub org_refresh_interval: Duration,
    /// The dashboard's run history keeps at most this many completed runs...
    pub viewer_runs_retained: u32,
    /// ...created at most this many days ago.
    pub viewer_max_age_days: u32,
    /// How unreadable runs, attempts, job lists and commits are retried and given up on.
    pub failure_policy: FailurePolicy,
    /// The longest a repository whose cycles keep failing waits before its next try.
    pub repo_backoff_max: Duration,
    /// Events waiting in the outbox beyond which polling pauses until the queue catches up
    /// (back-pressure while the queue is down; nothing is lost, the outbox stays bounded).
    pub max_outbox_events: u64,
    /// The longest wait between two polls of a quiet repository.
    pub quiet_poll_max: Duration,
    /// Repositories caught up at once, beside the fresh lane.
    pub catchup_concurrency: usize,
    /// While webhooks are healthy, every poll wait is this many times longer (1: never slower).
    pub webhook_poll_slowdown: u32,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            poll_interval: Duration::from_secs(30),
            reconcile_interval: Duration::from_secs(600),
            reconcile_lookback_days: 35,
            backfill_days: 7,
            max_message_bytes: 262_144,
            emit_log_requests: true,
            shard_index: 0,
            shard_count: 1,
            concurrent_repositories: 4,
            org_refresh_interval: Duration::from_secs(3600),
            viewer_runs_retained: 500,
            viewer_max_age_days: 14,
            failure_policy: FailurePolicy::default(),
            repo_backoff_max: Duration::from_secs(1800),
            max_outbox_events: 100_000,
            quiet_poll_max: Duration::from_secs(600),
            catchup_concurrency: 2,
            webhook_poll_slowdown: 4,
        }
    }
}
