//! Entities that could not be read: recorded, retried with backoff, and finally given up on.
//!
//! A run whose jobs answer 404 (deleted between list and jobs), an attempt a server cannot show,
//! a commit that keeps failing: none of them may stop the rest of the repository. The pipeline
//! records each as an [`EntityFailure`] in the same transaction as everything else it learned,
//! retries it when `next_retry_at` comes, and once it gives up writes the `*_unavailable` event
//! and `given_up_at` together, so the giving up is announced exactly once.

use chrono::{DateTime, Utc};
use gha_ingest_core::RepoName;
use sqlx::Row;

use crate::database::StateStore;
use crate::error::{QueryContext, StoreError};
use crate::time::{from_text, optional_from_text, to_text};

/// What could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    /// The run itself (`GET /actions/runs/{id}`).
    Run,
    /// An earlier attempt of a run (`/attempts/{n}` and its jobs).
    Attempt,
    /// The jobs of one attempt.
    Jobs,
    /// A head commit's metrics.
    Commit,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Run => "run",
            EntityKind::Attempt => "attempt",
            EntityKind::Jobs => "jobs",
            EntityKind::Commit => "commit",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "run" => Ok(EntityKind::Run),
            "attempt" => Ok(EntityKind::Attempt),
            "jobs" => Ok(EntityKind::Jobs),
            "commit" => Ok(EntityKind::Commit),
            other => Err(StoreError::Corrupt {
                operation: "read entity failure",
                detail: format!("unknown entity kind {other:?}"),
            }),
        }
    }
}

/// One entity that failed, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityFailure {
    pub repo: String,
    pub kind: EntityKind,
    pub run_id: Option<u64>,
    pub run_attempt: Option<u32>,
    pub sha: Option<String>,
    /// How many cycles it failed in, this one included.
    pub attempts: u32,
    /// A short stable word (`not_found`, `server_error`, `malformed`, ...).
    pub reason: String,
    pub last_error: String,
    pub first_failed_at: DateTime<Utc>,
    pub next_retry_at: DateTime<Utc>,
    pub given_up_at: Option<DateTime<Utc>>,
}

impl EntityFailure {
    /// The key it is stored under: one row per entity.
    pub fn key(&self) -> String {
        entity_key(
            self.kind,
            self.run_id,
            self.run_attempt,
            self.sha.as_deref(),
        )
    }
}

/// `run:<id>`, `attempt:<id>:<n>`, `jobs:<id>:<n>` or `commit:<sha>`.
pub fn entity_key(
    kind: EntityKind,
    run_id: Option<u64>,
    run_attempt: Option<u32>,
    sha: Option<&str>,
) -> String {
    match kind {
        EntityKind::Run => format!("run:{}", run_id.unwrap_or_default()),
        EntityKind::Attempt | EntityKind::Jobs => format!(
            "{}:{}:{}",
            kind.as_str(),
            run_id.unwrap_or_default(),
            run_attempt.unwrap_or_default()
        ),
        EntityKind::Commit => format!("commit:{}", sha.unwrap_or_default()),
    }
}

impl StateStore {
    pub async fn entity_failure(&self, key: &str) -> Result<Option<EntityFailure>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_FAILURE} WHERE entity_key = ?1"))
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .during("read entity failure")?;
        row.as_ref().map(failure_from_row).transpose()
    }

    /// Every failure recorded for `repo`: being retried, or given up on (until pruned).
    pub async fn repo_failures(&self, repo: &RepoName) -> Result<Vec<EntityFailure>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_FAILURE} WHERE repo = ?1 ORDER BY entity_key"
        ))
        .bind(repo.to_string())
        .fetch_all(&self.pool)
        .await
        .during("read entity failures")?;
        rows.iter().map(failure_from_row).collect()
    }

    /// The most recent failures across repositories, for the dashboard, newest first.
    pub async fn recent_failures(&self, limit: u32) -> Result<Vec<EntityFailure>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_FAILURE} ORDER BY COALESCE(given_up_at, next_retry_at) DESC LIMIT ?1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .during("read recent entity failures")?;
        rows.iter().map(failure_from_row).collect()
    }

    /// How many entities are being retried and how many were given up on.
    pub async fn failure_counts(&self) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(given_up_at IS NULL), 0) AS retrying, COALESCE(SUM(given_up_at IS NOT NULL), 0) AS given_up FROM entity_failures",
        )
        .fetch_one(&self.pool)
        .await
        .during("count entity failures")?;
        let retrying: i64 = row.get("retrying");
        let given_up: i64 = row.get("given_up");
        Ok((retrying as u64, given_up as u64))
    }
}

const SELECT_FAILURE: &str = "SELECT repo, kind, run_id, run_attempt, sha, attempts, reason, last_error, first_failed_at, next_retry_at, given_up_at FROM entity_failures";

fn failure_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<EntityFailure, StoreError> {
    const OPERATION: &str = "read entity failure";
    let kind: String = row.get("kind");
    let run_id: Option<i64> = row.get("run_id");
    let run_attempt: Option<i64> = row.get("run_attempt");
    let attempts: i64 = row.get("attempts");
    let first_failed_at: String = row.get("first_failed_at");
    let next_retry_at: String = row.get("next_retry_at");
    Ok(EntityFailure {
        repo: row.get("repo"),
        kind: EntityKind::parse(&kind)?,
        run_id: run_id.map(|id| id as u64),
        run_attempt: run_attempt.map(|attempt| attempt as u32),
        sha: row.get("sha"),
        attempts: attempts as u32,
        reason: row.get("reason"),
        last_error: row.get("last_error"),
        first_failed_at: from_text(&first_failed_at, OPERATION)?,
        next_retry_at: from_text(&next_retry_at, OPERATION)?,
        given_up_at: optional_from_text(row.get("given_up_at"), OPERATION)?,
    })
}

/// Writes one failure in the change set's transaction.
pub(crate) async fn upsert_failure(
    transaction: &mut sqlx::SqliteConnection,
    failure: &EntityFailure,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO entity_failures (entity_key, repo, kind, run_id, run_attempt, sha, attempts, reason, last_error, first_failed_at, next_retry_at, given_up_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (entity_key) DO UPDATE SET attempts = excluded.attempts, reason = excluded.reason,
           last_error = excluded.last_error, next_retry_at = excluded.next_retry_at, given_up_at = excluded.given_up_at",
    )
    .bind(failure.key())
    .bind(&failure.repo)
    .bind(failure.kind.as_str())
    .bind(failure.run_id.map(|id| id as i64))
    .bind(failure.run_attempt.map(i64::from))
    .bind(&failure.sha)
    .bind(i64::from(failure.attempts))
    .bind(&failure.reason)
    .bind(&failure.last_error)
    .bind(to_text(failure.first_failed_at))
    .bind(to_text(failure.next_retry_at))
    .bind(failure.given_up_at.map(to_text))
    .execute(&mut *transaction)
    .await
    .during("record entity failure")
    .map(|_| ())
}

/// Forgets a failure whose entity was read after all.
pub(crate) async fn resolve_failure(
    transaction: &mut sqlx::SqliteConnection,
    key: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM entity_failures WHERE entity_key = ?1")
        .bind(key)
        .execute(&mut *transaction)
        .await
        .during("resolve entity failure")
        .map(|_| ())
}
