//! Bounding what the state database keeps: nothing in it grows without limit.
//!
//! Each table is bounded by the time horizon beyond which the pipeline never looks again (the
//! look-back of the sweep, or the backfill, whichever reaches further, plus a margin):
//! completed runs and their jobs, cached commits, given-up failures. ETags are pruned by use, not
//! age: an unchanged window keeps its ETag for months, but a path nobody asked for in
//! `etag_idle_days` (a sweep window that slid past the look-back, a run long completed) is dead.
//! Parked outbox rows (messages a queue refused for good) are kept for the same 14 days SQS
//! keeps a message at most, then dropped with a warning. `emitted_events` is pruned apart
//! (`prune_emitted_events`).

use chrono::{DateTime, Duration, Utc};

use crate::database::StateStore;
use crate::error::{QueryContext, StoreError};
use crate::time::{day_text, to_text};

/// How long a message the queue refused for good stays in the outbox for an operator to see.
pub const PARKED_RETENTION_DAYS: i64 = 14;
/// How long a webhook delivery's id is remembered: past the longest window in which GitHub
/// redelivers (3 days on github.com, 7 on GitHub Enterprise Server).
pub const DELIVERY_RETENTION_DAYS: i64 = 8;

/// What one pruning pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub runs: u64,
    pub jobs: u64,
    pub commits: u64,
    pub etags: u64,
    pub failures: u64,
    pub parked: u64,
    pub deliveries: u64,
}

impl PruneReport {
    pub fn total(&self) -> u64 {
        self.runs
            + self.jobs
            + self.commits
            + self.etags
            + self.failures
            + self.parked
            + self.deliveries
    }
}

impl StateStore {
    /// Removes state older than `horizon` (completed runs last updated before it, commits
    /// fetched before it, failures given up on before it), ETags not used for `etag_idle_days`,
    /// parked messages older than [`PARKED_RETENTION_DAYS`] and webhook delivery ids older than
    /// [`DELIVERY_RETENTION_DAYS`].
    pub async fn prune_state(
        &self,
        horizon: DateTime<Utc>,
        etag_idle_days: u32,
    ) -> Result<PruneReport, StoreError> {
        let now = self.clock.now();
        let horizon_text = to_text(horizon);
        let mut transaction = self.pool.begin().await.during("begin state prune")?;
        let jobs = sqlx::query(
            "DELETE FROM jobs WHERE run_id IN (SELECT run_id FROM runs WHERE is_open = 0 AND updated_at < ?1)",
        )
        .bind(&horizon_text)
        .execute(&mut *transaction)
        .await
        .during("prune old jobs")?
        .rows_affected();
        let runs = sqlx::query("DELETE FROM runs WHERE is_open = 0 AND updated_at < ?1")
            .bind(&horizon_text)
            .execute(&mut *transaction)
            .await
            .during("prune old runs")?
            .rows_affected();
        let commits = sqlx::query("DELETE FROM commits WHERE fetched_at < ?1")
            .bind(&horizon_text)
            .execute(&mut *transaction)
            .await
            .during("prune old commits")?
            .rows_affected();
        let failures = sqlx::query(
            "DELETE FROM entity_failures WHERE given_up_at IS NOT NULL AND given_up_at < ?1",
        )
        .bind(&horizon_text)
        .execute(&mut *transaction)
        .await
        .during("prune given-up failures")?
        .rows_affected();
        let etags = sqlx::query("DELETE FROM http_etags WHERE used_on IS NULL OR used_on < ?1")
            .bind(day_text(now - Duration::days(i64::from(etag_idle_days))))
            .execute(&mut *transaction)
            .await
            .during("prune unused etags")?
            .rows_affected();
        let parked =
            sqlx::query("DELETE FROM outbox WHERE parked_at IS NOT NULL AND parked_at < ?1")
                .bind(to_text(now - Duration::days(PARKED_RETENTION_DAYS)))
                .execute(&mut *transaction)
                .await
                .during("prune parked messages")?
                .rows_affected();
        let deliveries = sqlx::query("DELETE FROM webhook_deliveries WHERE received_at < ?1")
            .bind(to_text(now - Duration::days(DELIVERY_RETENTION_DAYS)))
            .execute(&mut *transaction)
            .await
            .during("prune webhook deliveries")?
            .rows_affected();
        transaction.commit().await.during("commit state prune")?;
        Ok(PruneReport {
            runs,
            jobs,
            commits,
            etags,
            failures,
            parked,
            deliveries,
        })
    }

    /// How many ETags are stored: flat for an idle daemon, whatever its uptime.
    pub async fn etag_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM http_etags")
            .fetch_one(&self.pool)
            .await
            .during("count etags")?;
        Ok(count as u64)
    }
}
