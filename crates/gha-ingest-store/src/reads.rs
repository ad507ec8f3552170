//! What the pipeline agent reads back: cursors, ETags, known runs and jobs, cached commits.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gha_ingest_core::facts::{CommitFacts, JobFacts, RunFacts};
use gha_ingest_core::RepoName;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::changes::CatchupRange;
use crate::database::StateStore;
use crate::error::{QueryContext, StoreError};
use crate::time::{day_text, from_text, optional_from_text, to_text};

/// Ids bound per statement when many entities are read at once: far below SQLite's 32,766
/// parameters a statement.
const IDS_PER_STATEMENT: usize = 500;

/// A repository's position and poll health.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepoCursor {
    /// History created before this instant is not ingested; activity after it is.
    pub tracked_since: Option<DateTime<Utc>>,
    /// Every run created at or before this instant has been discovered.
    pub discovered_through: Option<DateTime<Utc>>,
    pub last_sweep_at: Option<DateTime<Utc>>,
    pub last_poll_at: Option<DateTime<Utc>>,
    pub last_poll_ok_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_errors: i64,
    /// The repository is not polled again before this instant (after failed cycles, or while
    /// it is quiet).
    pub next_poll_at: Option<DateTime<Utc>>,
    /// History still to read.
    pub catchup: Option<CatchupRange>,
    /// Polls in a row that found nothing open and nothing changed.
    pub quiet_polls: u32,
}

/// The comparable part of a run's last observed state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub run_id: u64,
    pub run_attempt: u32,
    pub status: String,
    pub conclusion: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub is_open: bool,
}

/// A repository to poll, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryEntry {
    pub repo: RepoName,
    pub origin: String,
}

impl StateStore {
    pub async fn cursor(&self, repo: &RepoName) -> Result<RepoCursor, StoreError> {
        const OPERATION: &str = "read cursor";
        let row = sqlx::query(
            "SELECT tracked_since, discovered_through, last_sweep_at, last_poll_at, last_poll_ok_at, last_error, consecutive_errors, next_poll_at,
               catchup_from, catchup_to, catchup_backfill, quiet_polls
             FROM repo_cursors WHERE repo = ?1",
        )
        .bind(repo.to_string())
        .fetch_optional(&self.pool)
        .await
        .during(OPERATION)?;
        let Some(row) = row else {
            return Ok(RepoCursor::default());
        };
        Ok(RepoCursor {
            tracked_since: optional_from_text(row.get("tracked_since"), OPERATION)?,
            discovered_through: optional_from_text(row.get("discovered_through"), OPERATION)?,
            last_sweep_at: optional_from_text(row.get("last_sweep_at"), OPERATION)?,
            last_poll_at: optional_from_text(row.get("last_poll_at"), OPERATION)?,
            last_poll_ok_at: optional_from_text(row.get("last_poll_ok_at"), OPERATION)?,
            last_error: row.get("last_error"),
            consecutive_errors: row.get("consecutive_errors"),
            next_poll_at: optional_from_text(row.get("next_poll_at"), OPERATION)?,
            catchup: match (
                optional_from_text(row.get("catchup_from"), OPERATION)?,
                optional_from_text(row.get("catchup_to"), OPERATION)?,
            ) {
                (Some(from), Some(to)) => Some(CatchupRange {
                    from,
                    to,
                    backfill: row.get("catchup_backfill"),
                }),
                _ => None,
            },
            quiet_polls: u32::try_from(row.get::<i64, _>("quiet_polls")).unwrap_or(u32::MAX),
        })
    }

    /// How many repositories have history still to read.
    pub async fn catchup_pending(&self) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM repo_cursors WHERE catchup_from IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .during("count catch-up")?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Records the outcome of one poll cycle (not part of any change set: it is only health).
    /// `next_poll_at` holds a failing repository back until then (`None`: poll on schedule).
    /// `quiet_polls` is the new count of quiet polls in a row (`None`: unchanged).
    pub async fn record_poll(
        &self,
        repo: &RepoName,
        error: Option<&str>,
        next_poll_at: Option<DateTime<Utc>>,
        quiet_polls: Option<u32>,
    ) -> Result<(), StoreError> {
        let now = to_text(self.clock.now());
        sqlx::query(
            "INSERT INTO repo_cursors (repo, last_poll_at, last_poll_ok_at, last_error, consecutive_errors, next_poll_at, quiet_polls)
             VALUES (?1, ?2, CASE WHEN ?3 IS NULL THEN ?2 END, ?3, CASE WHEN ?3 IS NULL THEN 0 ELSE 1 END, ?4, COALESCE(?5, 0))
             ON CONFLICT (repo) DO UPDATE SET last_poll_at = ?2,
               last_poll_ok_at = CASE WHEN ?3 IS NULL THEN ?2 ELSE repo_cursors.last_poll_ok_at END,
               last_error = ?3,
               consecutive_errors = CASE WHEN ?3 IS NULL THEN 0 ELSE repo_cursors.consecutive_errors + 1 END,
               next_poll_at = ?4,
               quiet_polls = COALESCE(?5, repo_cursors.quiet_polls)",
        )
        .bind(repo.to_string())
        .bind(now)
        .bind(error)
        .bind(next_poll_at.map(to_text))
        .bind(quiet_polls.map(i64::from))
        .execute(&self.pool)
        .await
        .during("record poll")
        .map(|_| ())
    }

    /// The ETag last stored for `request_path`. Marks it used today (a write at most once a day
    /// per path), so that ETags of paths no longer polled can be pruned.
    pub async fn etag(&self, request_path: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT etag, used_on FROM http_etags WHERE request_path = ?1")
            .bind(request_path)
            .fetch_optional(&self.pool)
            .await
            .during("read etag")?;
        let Some(row) = row else {
            return Ok(None);
        };
        let today = day_text(self.clock.now());
        let used_on: Option<String> = row.get("used_on");
        if used_on.as_deref() != Some(today.as_str()) {
            sqlx::query("UPDATE http_etags SET used_on = ?2 WHERE request_path = ?1")
                .bind(request_path)
                .bind(&today)
                .execute(&self.pool)
                .await
                .during("mark etag used")?;
        }
        Ok(Some(row.get("etag")))
    }

    pub async fn stored_run(&self, run_id: u64) -> Result<Option<StoredRun>, StoreError> {
        Ok(self.stored_runs(&[run_id]).await?.remove(&run_id))
    }

    /// [`stored_run`](Self::stored_run) for each of `run_ids` in one statement per
    /// [`IDS_PER_STATEMENT`], not one per run: a page of runs is compared to the store at once.
    pub async fn stored_runs(
        &self,
        run_ids: &[u64],
    ) -> Result<HashMap<u64, StoredRun>, StoreError> {
        let ids: Vec<i64> = run_ids.iter().map(|&run_id| run_id as i64).collect();
        let rows = self
            .rows_where_in(
                |query| {
                    query.push("SELECT run_id, run_attempt, status, conclusion, updated_at, is_open FROM runs WHERE run_id");
                },
                &ids,
                "read runs",
            )
            .await?;
        let mut stored = HashMap::with_capacity(rows.len());
        for row in &rows {
            let run = stored_run_from_row(row)?;
            stored.insert(run.run_id, run);
        }
        Ok(stored)
    }

    /// The rows of `select` (a query up to the column compared) whose column is one of `keys`:
    /// one statement per [`IDS_PER_STATEMENT`] keys.
    async fn rows_where_in<'q, K>(
        &self,
        select: impl Fn(&mut QueryBuilder<'q, Sqlite>),
        keys: &'q [K],
        during: &'static str,
    ) -> Result<Vec<SqliteRow>, StoreError>
    where
        K: sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Sync,
        &'q K: sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Send,
    {
        let mut rows = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(IDS_PER_STATEMENT) {
            let mut query = QueryBuilder::new("");
            select(&mut query);
            query.push(" IN (");
            let mut separated = query.separated(", ");
            for key in chunk {
                separated.push_bind(key);
            }
            query.push(")");
            rows.extend(query.build().fetch_all(&self.pool).await.during(during)?);
        }
        Ok(rows)
    }

    /// Runs of `repo` not yet completed: followed until they are.
    pub async fn open_runs(&self, repo: &RepoName) -> Result<Vec<StoredRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT run_id, run_attempt, status, conclusion, updated_at, is_open FROM runs
             WHERE repo = ?1 AND is_open = 1 ORDER BY run_id",
        )
        .bind(repo.to_string())
        .fetch_all(&self.pool)
        .await
        .during("read open runs")?;
        rows.iter().map(stored_run_from_row).collect()
    }

    /// The facts last stored for a run (its latest attempt).
    pub async fn run_facts(&self, run_id: u64) -> Result<Option<RunFacts>, StoreError> {
        let json: Option<String> = sqlx::query_scalar("SELECT facts FROM runs WHERE run_id = ?1")
            .bind(run_id as i64)
            .fetch_optional(&self.pool)
            .await
            .during("read run facts")?;
        // Facts dropped by the viewer's retention are stored as JSON `null`.
        Ok(json
            .map(|json| decode::<Option<RunFacts>>(&json, "read run facts"))
            .transpose()?
            .flatten())
    }

    /// Whether the webhook delivery `delivery_id` (its `X-GitHub-Delivery`) was taken in.
    pub async fn delivery_taken(&self, delivery_id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM webhook_deliveries WHERE delivery_id = ?1")
                .bind(delivery_id)
                .fetch_optional(&self.pool)
                .await
                .during("find delivery")?;
        Ok(found.is_some())
    }

    /// The status last stored for a job.
    pub async fn job_status(&self, job_id: u64) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT status FROM jobs WHERE job_id = ?1")
            .bind(job_id as i64)
            .fetch_optional(&self.pool)
            .await
            .during("read job status")
    }

    /// The jobs last observed for one attempt of a run, ordered by id.
    pub async fn attempt_jobs(
        &self,
        run_id: u64,
        run_attempt: u32,
    ) -> Result<Vec<JobFacts>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT facts FROM jobs WHERE run_id = ?1 AND run_attempt = ?2 ORDER BY job_id",
        )
        .bind(run_id as i64)
        .bind(i64::from(run_attempt))
        .fetch_all(&self.pool)
        .await
        .during("read jobs")?;
        rows.iter().map(|json| decode(json, "read jobs")).collect()
    }

    pub async fn commit_facts(
        &self,
        repo: &RepoName,
        sha: &str,
    ) -> Result<Option<CommitFacts>, StoreError> {
        Ok(self.commits_facts(repo, &[sha]).await?.remove(sha))
    }

    /// [`commit_facts`](Self::commit_facts) for each of `shas`, by SHA, in one statement per
    /// [`IDS_PER_STATEMENT`]; a SHA not stored is absent from the map.
    pub async fn commits_facts(
        &self,
        repo: &RepoName,
        shas: &[&str],
    ) -> Result<HashMap<String, CommitFacts>, StoreError> {
        let repo = repo.to_string();
        let rows = self
            .rows_where_in(
                |query| {
                    query
                        .push("SELECT sha, facts FROM commits WHERE repo = ")
                        .push_bind(repo.clone())
                        .push(" AND sha");
                },
                shas,
                "read commits",
            )
            .await?;
        let mut stored = HashMap::with_capacity(rows.len());
        for row in &rows {
            let json: String = row.get("facts");
            stored.insert(row.get("sha"), decode(&json, "read commits")?);
        }
        Ok(stored)
    }

    /// The most recently created runs across all repositories, newest first.
    pub async fn recent_runs(&self, limit: u32) -> Result<Vec<RunFacts>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT facts FROM runs WHERE facts != 'null' ORDER BY created_at DESC, run_id DESC LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .during("read recent runs")?;
        rows.iter()
            .map(|json| decode(json, "read recent runs"))
            .collect()
    }

    pub async fn count_runs(&self, repo: &RepoName) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE repo = ?1")
            .bind(repo.to_string())
            .fetch_one(&self.pool)
            .await
            .during("count runs")?;
        Ok(count as u64)
    }

    pub async fn add_repository(&self, repo: &RepoName, origin: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT OR IGNORE INTO repositories (full_name, origin, added_at) VALUES (?1, ?2, ?3)",
        )
        .bind(repo.to_string())
        .bind(origin)
        .bind(to_text(self.clock.now()))
        .execute(&self.pool)
        .await
        .during("add repository")?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn remove_repository(&self, repo: &RepoName) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM repositories WHERE full_name = ?1")
            .bind(repo.to_string())
            .execute(&self.pool)
            .await
            .during("remove repository")?;
        Ok(result.rows_affected() == 1)
    }

    /// The followed repository (configured, discovered or added) that `repo` names, spelt as it
    /// is followed: GitHub's names ignore case, and events carry the followed spelling.
    pub async fn followed_repository(
        &self,
        repo: &RepoName,
    ) -> Result<Option<RepoName>, StoreError> {
        let name: Option<String> = sqlx::query_scalar(
            "SELECT full_name FROM repositories WHERE full_name = ?1 COLLATE NOCASE
             ORDER BY full_name = ?1 DESC LIMIT 1",
        )
        .bind(repo.to_string())
        .fetch_optional(&self.pool)
        .await
        .during("find repository")?;
        name.map(|name| {
            name.parse().map_err(|err| StoreError::Corrupt {
                operation: "find repository",
                detail: format!("{err}"),
            })
        })
        .transpose()
    }

    pub async fn repositories(&self) -> Result<Vec<RepositoryEntry>, StoreError> {
        let rows = sqlx::query("SELECT full_name, origin FROM repositories ORDER BY full_name")
            .fetch_all(&self.pool)
            .await
            .during("list repositories")?;
        rows.iter()
            .map(|row| {
                let name: String = row.get("full_name");
                let repo = name.parse().map_err(|err| StoreError::Corrupt {
                    operation: "list repositories",
                    detail: format!("{err}"),
                })?;
                Ok(RepositoryEntry {
                    repo,
                    origin: row.get("origin"),
                })
            })
            .collect()
    }
}

/// What `/metrics` shows of polling, read in two queries whatever the number of repositories.
#[derive(Debug, Clone, PartialEq)]
pub struct PollOverview {
    /// Runs not yet completed, over all repositories.
    pub open_runs: u64,
    /// Every followed repository with its last successful poll (`None`: never polled).
    pub last_successful_polls: Vec<(String, Option<DateTime<Utc>>)>,
}

impl StateStore {
    pub async fn poll_overview(&self) -> Result<PollOverview, StoreError> {
        let open_runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE is_open = 1")
            .fetch_one(&self.pool)
            .await
            .during("count open runs")?;
        let rows = sqlx::query(
            "SELECT r.full_name, c.last_poll_ok_at FROM repositories r
             LEFT JOIN repo_cursors c ON c.repo = r.full_name ORDER BY r.full_name",
        )
        .fetch_all(&self.pool)
        .await
        .during("read poll times")?;
        let last_successful_polls = rows
            .iter()
            .map(|row| {
                let polled: Option<String> = row.get("last_poll_ok_at");
                Ok((
                    row.get::<String, _>("full_name"),
                    optional_from_text(polled, "read poll times")?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(PollOverview {
            open_runs: open_runs as u64,
            last_successful_polls,
        })
    }
}

fn stored_run_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredRun, StoreError> {
    let run_id: i64 = row.get("run_id");
    let run_attempt: i64 = row.get("run_attempt");
    let updated_at: String = row.get("updated_at");
    Ok(StoredRun {
        run_id: run_id as u64,
        run_attempt: run_attempt as u32,
        status: row.get("status"),
        conclusion: row.get("conclusion"),
        updated_at: from_text(&updated_at, "read run")?,
        is_open: row.get("is_open"),
    })
}

fn decode<T: serde::de::DeserializeOwned>(
    json: &str,
    operation: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|err| StoreError::Corrupt {
        operation,
        detail: err.to_string(),
    })
}
