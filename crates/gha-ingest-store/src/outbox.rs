//! The outbox: events recorded with the state they follow from, removed once the queue has them.

use sqlx::Row;

use crate::database::StateStore;
use crate::error::{QueryContext, StoreError};
use crate::time::to_text;

/// Which queue an outbox row is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    /// Run, job, step and commit events for downstream agents.
    Metrics,
    /// Work for the log agent: a copy of each job-completed event.
    LogRequests,
}

impl Destination {
    pub const ALL: [Destination; 2] = [Destination::Metrics, Destination::LogRequests];

    pub fn as_str(self) -> &'static str {
        match self {
            Destination::Metrics => "metrics",
            Destination::LogRequests => "log_requests",
        }
    }
}

/// An event waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub repo: String,
    pub body: String,
    pub attempts: i64,
}

impl StateStore {
    /// The oldest `limit` messages for `destination`, in the order they were recorded.
    pub async fn outbox_batch(
        &self,
        destination: Destination,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, event_id, event_type, repo, body, attempts FROM outbox
             WHERE destination = ?1 AND parked_at IS NULL ORDER BY seq LIMIT ?2",
        )
        .bind(destination.as_str())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .during("read outbox")?;
        Ok(rows
            .into_iter()
            .map(|row| OutboxMessage {
                seq: row.get("seq"),
                event_id: row.get("event_id"),
                event_type: row.get("event_type"),
                repo: row.get("repo"),
                body: row.get("body"),
                attempts: row.get("attempts"),
            })
            .collect())
    }

    /// Removes messages the queue has confirmed.
    pub async fn mark_published(&self, seqs: &[i64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut transaction = self.pool.begin().await.during("begin outbox delete")?;
        for seq in seqs {
            sqlx::query("DELETE FROM outbox WHERE seq = ?1")
                .bind(seq)
                .execute(&mut *transaction)
                .await
                .during("delete published outbox row")?;
        }
        transaction.commit().await.during("commit outbox delete")
    }

    /// Records a failed publish attempt; the message stays in the outbox.
    pub async fn mark_publish_failed(&self, seq: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE seq = ?1")
            .bind(seq)
            .bind(error)
            .execute(&self.pool)
            .await
            .during("record publish failure")
            .map(|_| ())
    }

    /// Keeps a message the queue refused for good out of the way of the others, for an operator
    /// to inspect; it is never deleted silently.
    pub async fn park(&self, seq: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ?2, parked_at = ?3 WHERE seq = ?1")
            .bind(seq)
            .bind(error)
            .bind(to_text(self.clock.now()))
            .execute(&self.pool)
            .await
            .during("park outbox row")
            .map(|_| ())
    }

    /// Messages refused for good, kept for inspection.
    pub async fn parked_count(&self) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE parked_at IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .during("count parked")?;
        Ok(count as u64)
    }

    /// Messages not yet confirmed, per destination (parked ones excluded).
    pub async fn outbox_depth(&self, destination: Destination) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE destination = ?1 AND parked_at IS NULL",
        )
        .bind(destination.as_str())
        .fetch_one(&self.pool)
        .await
        .during("count outbox")?;
        Ok(count as u64)
    }

    /// Messages waiting for any queue (parked ones excluded): what back-pressure is measured on.
    pub async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE parked_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .during("count outbox backlog")?;
        Ok(count as u64)
    }

    /// Bounds the data kept for the dashboard: the facts and job rows of completed runs beyond the
    /// newest `keep_runs` or created more than `max_age_days` ago are dropped. The run's state
    /// (attempt, status, updated_at) stays, so the poller still knows it and does not fetch it
    /// again. Returns how many runs lost their facts.
    pub async fn prune_viewer_history(
        &self,
        keep_runs: u32,
        max_age_days: u32,
    ) -> Result<u64, StoreError> {
        let cutoff = to_text(self.clock.now() - chrono::Duration::days(i64::from(max_age_days)));
        let mut transaction = self.pool.begin().await.during("begin viewer prune")?;
        let pruned = sqlx::query(
            "UPDATE runs SET facts = 'null' WHERE is_open = 0 AND facts != 'null' AND (created_at < ?1 OR run_id NOT IN
               (SELECT run_id FROM runs ORDER BY created_at DESC, run_id DESC LIMIT ?2))",
        )
        .bind(cutoff)
        .bind(i64::from(keep_runs))
        .execute(&mut *transaction)
        .await
        .during("prune run facts")?
        .rows_affected();
        sqlx::query(
            "DELETE FROM jobs WHERE run_id IN (SELECT run_id FROM runs WHERE facts = 'null')",
        )
        .execute(&mut *transaction)
        .await
        .during("prune job facts")?;
        transaction.commit().await.during("commit viewer prune")?;
        Ok(pruned)
    }

    /// Forgets idempotency keys older than `days`, bounding the table. Facts that old are not
    /// re-observed: the reconciliation sweep looks back less far than this.
    pub async fn prune_emitted_events(&self, days: u32) -> Result<u64, StoreError> {
        let cutoff = to_text(self.clock.now() - chrono::Duration::days(i64::from(days)));
        let result = sqlx::query("DELETE FROM emitted_events WHERE emitted_at < ?1")
            .bind(cutoff)
            .execute(&self.pool)
            .await
            .during("prune emitted events")?;
        Ok(result.rows_affected())
    }
}
