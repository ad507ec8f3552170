//! The single write path of the pipeline agent: one `ChangeSet`, one transaction, whether the
//! changes were polled or delivered by a webhook (then with the delivery's id, in the same
//! transaction, so a delivery is taken in once).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use gha_ingest_core::facts::{CommitFacts, JobFacts, RunFacts};
use gha_ingest_core::github::{JOB_PROGRESS, JOB_PROGRESS_OTHER};
use gha_ingest_core::RepoName;
use sqlx::query_builder::Separated;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::database::StateStore;
use crate::error::{QueryContext, StoreError};
use crate::failures::{resolve_failure, upsert_failure, EntityFailure};
use crate::outbox::Destination;
use crate::time::{day_text, to_text};

/// Everything learned from one batch of GitHub answers for one repository.
#[derive(Debug, Default)]
pub struct ChangeSet {
    pub runs: Vec<RunUpdate>,
    pub commits: Vec<CommitFacts>,
    /// `(request path, etag)` of resources now processed in full.
    pub etags: Vec<(String, String)>,
    pub cursor: Option<CursorUpdate>,
    pub events: Vec<PendingEvent>,
    /// Entities that failed in this batch (new, retried or given up on).
    pub failures: Vec<EntityFailure>,
    /// Keys of entities that failed before and were read now.
    pub resolved_failures: Vec<String>,
    /// Open runs given up on (unreadable): no longer followed.
    pub stop_following: Vec<u64>,
    /// Jobs seen on their own (a `workflow_job` webhook), stored only under a run already
    /// stored; a job's state never moves backwards.
    pub jobs: Vec<JobFacts>,
    /// Runs learned from a webhook: followed (read by the next poll, completed or not) until a
    /// poll has read their jobs and commit, which a webhook does not carry.
    pub confirm_by_polling: Vec<u64>,
    /// A webhook saw the repository change: its quiet count is cleared and it is polled no
    /// later than this instant (unless it backs off after failures), so a poll soon reads what
    /// the webhook did not carry.
    pub activity: Option<DateTime<Utc>>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
            && self.commits.is_empty()
            && self.etags.is_empty()
            && self.cursor.is_none()
            && self.events.is_empty()
            && self.failures.is_empty()
            && self.resolved_failures.is_empty()
            && self.stop_following.is_empty()
            && self.jobs.is_empty()
            && self.confirm_by_polling.is_empty()
            && self.activity.is_none()
    }
}

/// The latest observed state of a run, with the jobs of its current attempt.
#[derive(Debug, Clone)]
pub struct RunUpdate {
    pub facts: RunFacts,
}

/// Moves a repository's cursor forward. `None` fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct CursorUpdate {
    /// Set once, on a repository's first poll.
    pub tracked_since: Option<DateTime<Utc>>,
    pub discovered_through: Option<DateTime<Utc>>,
    pub last_sweep_at: Option<DateTime<Utc>>,
    pub catchup: Option<CatchupChange>,
}

/// History not read yet, by creation time: `[from, to]`, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchupRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The repository's first history (events say `backfill`) rather than runs a poll missed.
    pub backfill: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchupChange {
    /// A range to read; merged with one already pending into the range covering both.
    Pending(CatchupRange),
    /// This range was read; cleared unless a poll widened it meanwhile (then it is read again).
    Done(CatchupRange),
}

/// An encoded event for one destination.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub destination: Destination,
    pub event_id: String,
    pub event_type: String,
    pub body: String,
}

impl StateStore {
    /// Applies `changes` for `repo` atomically. Returns how many events were new (not emitted
    /// before to the same destination) and so were queued for publishing.
    pub async fn apply_changes(
        &self,
        repo: &RepoName,
        changes: &ChangeSet,
    ) -> Result<u64, StoreError> {
        let queued = self.apply_changes_queued(repo, changes).await?;
        Ok(queued.len() as u64)
    }

    /// [`apply_changes`](Self::apply_changes), returning the positions in `changes.events` of the
    /// events that were new and queued (in increasing order), for what is measured of them.
    pub async fn apply_changes_queued(
        &self,
        repo: &RepoName,
        changes: &ChangeSet,
    ) -> Result<Vec<usize>, StoreError> {
        let mut transaction = self.pool.begin().await.during("begin change set")?;
        let queued = self.write_changes(&mut transaction, repo, changes).await?;
        transaction.commit().await.during("commit change set")?;
        Ok(queued)
    }

    /// Applies the changes a webhook delivery brought, once per `delivery_id`: `None` when this
    /// delivery was taken in before (nothing is written), else the positions of the events
    /// queued, as [`apply_changes_queued`](Self::apply_changes_queued).
    pub async fn apply_delivery(
        &self,
        delivery_id: &str,
        event: &str,
        repo: &RepoName,
        changes: &ChangeSet,
    ) -> Result<Option<Vec<usize>>, StoreError> {
        let mut transaction = self.pool.begin().await.during("begin delivery")?;
        if !record_delivery(&mut transaction, delivery_id, event, self.clock.now()).await? {
            return Ok(None);
        }
        let queued = self.write_changes(&mut transaction, repo, changes).await?;
        transaction.commit().await.during("commit delivery")?;
        Ok(Some(queued))
    }

    /// Records a delivery that brings no changes (a ping, an event not used, a repository not
    /// followed), so that it too is recognised when sent again. Returns whether it was new.
    pub async fn record_delivery(
        &self,
        delivery_id: &str,
        event: &str,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await.during("begin delivery")?;
        let new = record_delivery(&mut transaction, delivery_id, event, self.clock.now()).await?;
        transaction.commit().await.during("commit delivery")?;
        Ok(new)
    }

    async fn write_changes(
        &self,
        transaction: &mut SqliteConnection,
        repo: &RepoName,
        changes: &ChangeSet,
    ) -> Result<Vec<usize>, StoreError> {
        let now = to_text(self.clock.now());
        let today = day_text(self.clock.now());
        let repo_name = repo.to_string();

        write_rows(
            transaction,
            "INSERT INTO runs (run_id, repo, run_attempt, status, conclusion, created_at, updated_at, is_open, facts, observed_at) ",
            &changes.runs,
            |mut row, update| {
                let facts = &update.facts;
                row.push_bind(facts.run_id as i64)
                    .push_bind(repo_name.as_str())
                    .push_bind(i64::from(facts.run_attempt))
                    .push_bind(facts.status.as_str())
                    .push_bind(facts.conclusion.as_deref())
                    .push_bind(to_text(facts.created_at))
                    .push_bind(to_text(facts.updated_at))
                    .push_bind(facts.status != gha_ingest_core::github::STATUS_COMPLETED)
                    .push_bind(serde_json::to_string(facts).expect("run facts always serialize"))
                    .push_bind(now.as_str());
            },
            " ON CONFLICT (run_id) DO UPDATE SET run_attempt = excluded.run_attempt, status = excluded.status,
                conclusion = excluded.conclusion, updated_at = excluded.updated_at, is_open = excluded.is_open,
                facts = excluded.facts, observed_at = excluded.observed_at
              -- A state read earlier never overwrites a newer one (two lanes, a late answer).
              WHERE excluded.run_attempt > runs.run_attempt
                OR (excluded.run_attempt = runs.run_attempt AND excluded.updated_at >= runs.updated_at)",
            "upsert runs",
        )
        .await?;
        let run_jobs: Vec<&JobFacts> = changes
            .runs
            .iter()
            .flat_map(|update| &update.facts.jobs)
            .collect();
        upsert_jobs(transaction, &run_jobs).await?;
        for job in &changes.jobs {
            let run_stored = sqlx::query("SELECT 1 FROM runs WHERE run_id = ?1")
                .bind(job.run_id as i64)
                .fetch_optional(&mut *transaction)
                .await
                .during("find a job's run")?
                .is_some();
            if run_stored {
                upsert_jobs(transaction, &[job]).await?;
            }
        }
        if let Some(poll_by) = changes.activity {
            // Instants are stored as fixed-width RFC 3339 text: they compare as text.
            sqlx::query(
                "UPDATE repo_cursors SET quiet_polls = 0,
                   next_poll_at = CASE WHEN consecutive_errors = 0 AND next_poll_at > ?2 THEN ?2
                                       ELSE next_poll_at END
                 WHERE repo = ?1",
            )
            .bind(&repo_name)
            .bind(to_text(poll_by))
            .execute(&mut *transaction)
            .await
            .during("note activity")?;
        }
        for run_id in &changes.confirm_by_polling {
            sqlx::query("UPDATE runs SET is_open = 1 WHERE run_id = ?1")
                .bind(*run_id as i64)
                .execute(&mut *transaction)
                .await
                .during("follow run until polled")?;
        }

        write_rows(
            transaction,
            "INSERT OR IGNORE INTO commits (repo, sha, facts, fetched_at) ",
            &changes.commits,
            |mut row, commit| {
                row.push_bind(repo_name.as_str())
                    .push_bind(commit.commit_sha.as_str())
                    .push_bind(
                        serde_json::to_string(commit).expect("commit facts always serialize"),
                    )
                    .push_bind(now.as_str());
            },
            "",
            "insert commits",
        )
        .await?;

        write_rows(
            transaction,
            "INSERT INTO http_etags (request_path, etag, stored_at, used_on) ",
            &changes.etags,
            |mut row, (path, etag)| {
                row.push_bind(path.as_str())
                    .push_bind(etag.as_str())
                    .push_bind(now.as_str())
                    .push_bind(today.as_str());
            },
            " ON CONFLICT (request_path) DO UPDATE SET etag = excluded.etag, stored_at = excluded.stored_at,
                used_on = excluded.used_on",
            "store etags",
        )
        .await?;

        if let Some(cursor) = &changes.cursor {
            sqlx::query(
                "INSERT INTO repo_cursors (repo, discovered_through, last_sweep_at, tracked_since) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (repo) DO UPDATE SET
                   tracked_since = COALESCE(repo_cursors.tracked_since, excluded.tracked_since),
                   discovered_through = COALESCE(excluded.discovered_through, repo_cursors.discovered_through),
                   last_sweep_at = COALESCE(excluded.last_sweep_at, repo_cursors.last_sweep_at)",
            )
            .bind(&repo_name)
            .bind(cursor.discovered_through.map(to_text))
            .bind(cursor.last_sweep_at.map(to_text))
            .bind(cursor.tracked_since.map(to_text))
            .execute(&mut *transaction)
            .await
            .during("advance cursor")?;
            match cursor.catchup {
                None => {}
                Some(CatchupChange::Pending(range)) => {
                    sqlx::query(
                        "UPDATE repo_cursors SET
                           catchup_from = CASE WHEN catchup_from IS NULL OR ?2 < catchup_from THEN ?2 ELSE catchup_from END,
                           catchup_to = CASE WHEN catchup_to IS NULL OR ?3 > catchup_to THEN ?3 ELSE catchup_to END,
                           catchup_backfill = CASE WHEN catchup_from IS NULL THEN ?4 ELSE MAX(catchup_backfill, ?4) END
                         WHERE repo = ?1",
                    )
                    .bind(&repo_name)
                    .bind(to_text(range.from))
                    .bind(to_text(range.to))
                    .bind(range.backfill)
                    .execute(&mut *transaction)
                    .await
                    .during("record catch-up")?;
                }
                Some(CatchupChange::Done(range)) => {
                    sqlx::query(
                        "UPDATE repo_cursors SET catchup_from = NULL, catchup_to = NULL, catchup_backfill = 0
                         WHERE repo = ?1 AND catchup_from = ?2 AND catchup_to = ?3",
                    )
                    .bind(&repo_name)
                    .bind(to_text(range.from))
                    .bind(to_text(range.to))
                    .execute(&mut *transaction)
                    .await
                    .during("finish catch-up")?;
                }
            }
        }

        for failure in &changes.failures {
            upsert_failure(transaction, failure).await?;
        }
        for key in &changes.resolved_failures {
            resolve_failure(transaction, key).await?;
        }
        for run_id in &changes.stop_following {
            sqlx::query("UPDATE runs SET is_open = 0 WHERE run_id = ?1")
                .bind(*run_id as i64)
                .execute(&mut *transaction)
                .await
                .during("stop following run")?;
        }

        queue_events(transaction, &repo_name, &now, &changes.events).await
    }
}

/// Rows written per statement: each statement is a round trip to SQLite's worker thread, and a
/// page of a backfill brings hundreds of rows a table. At most ten parameters a row stay far
/// below SQLite's 32,766 a statement.
const ROWS_PER_STATEMENT: usize = 500;

/// Queues each of `events` not emitted to its destination before, in their order; returns the
/// positions of those queued. Two statements per [`ROWS_PER_STATEMENT`] events, not two per
/// event: each statement is a round trip to SQLite's worker thread, and a backfill's change set
/// carries hundreds of events.
async fn queue_events(
    transaction: &mut SqliteConnection,
    repo_name: &str,
    now: &str,
    events: &[PendingEvent],
) -> Result<Vec<usize>, StoreError> {
    let mut queued = Vec::new();
    for (chunk_index, chunk) in events.chunks(ROWS_PER_STATEMENT).enumerate() {
        // The ids never emitted to their destination are the rows SQLite inserts (an id already
        // there, or twice in the chunk, is ignored and not returned).
        let mut record = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO emitted_events (event_id, destination, emitted_at) ",
        );
        record.push_values(chunk, |mut row, event| {
            row.push_bind(&event.event_id)
                .push_bind(event.destination.as_str())
                .push_bind(now);
        });
        record.push(" RETURNING event_id, destination");
        let mut first_time: HashSet<(String, String)> = record
            .build()
            .fetch_all(&mut *transaction)
            .await
            .during("record event ids")?
            .iter()
            .map(|row| (row.get("event_id"), row.get("destination")))
            .collect();
        let new: Vec<usize> = (0..chunk.len())
            .filter(|&index| {
                let event = &chunk[index];
                let key = (
                    event.event_id.clone(),
                    event.destination.as_str().to_owned(),
                );
                first_time.remove(&key)
            })
            .collect();
        let new_events: Vec<&PendingEvent> = new.iter().map(|&index| &chunk[index]).collect();
        write_rows(
            transaction,
            "INSERT INTO outbox (destination, event_id, event_type, repo, body, created_at) ",
            &new_events,
            |mut row, event| {
                row.push_bind(event.destination.as_str())
                    .push_bind(event.event_id.as_str())
                    .push_bind(event.event_type.as_str())
                    .push_bind(repo_name)
                    .push_bind(event.body.as_str())
                    .push_bind(now);
            },
            "",
            "queue events",
        )
        .await?;
        let offset = chunk_index * ROWS_PER_STATEMENT;
        queued.extend(new.into_iter().map(|index| offset + index));
    }
    Ok(queued)
}

/// `core::github::job_progress` as SQL over `column`: a job's state is stored only over one that
/// came no further, so a late answer or an older webhook delivery never moves it backwards.
fn job_progress_sql(column: &str) -> String {
    let cases: String = JOB_PROGRESS
        .iter()
        .map(|(status, progress)| format!(" WHEN '{status}' THEN {progress}"))
        .collect();
    format!("CASE {column}{cases} ELSE {JOB_PROGRESS_OTHER} END")
}

async fn upsert_jobs(
    transaction: &mut SqliteConnection,
    jobs: &[&JobFacts],
) -> Result<(), StoreError> {
    let conflict = format!(
        " ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, facts = excluded.facts
         WHERE {} >= {}",
        job_progress_sql("excluded.status"),
        job_progress_sql("jobs.status"),
    );
    write_rows(
        transaction,
        "INSERT INTO jobs (job_id, run_id, run_attempt, status, facts) ",
        jobs,
        |mut row, job| {
            row.push_bind(job.job_id as i64)
                .push_bind(job.run_id as i64)
                .push_bind(i64::from(job.run_attempt))
                .push_bind(job.status.as_str())
                .push_bind(serde_json::to_string(job).expect("job facts always serialize"));
        },
        &conflict,
        "upsert jobs",
    )
    .await
}

/// Writes `rows`, one statement per [`ROWS_PER_STATEMENT`] of them: `insert` up to its
/// `VALUES`, one tuple a row from `bind`, then `tail` (an `ON CONFLICT` clause, or nothing).
/// A multi-row statement does what the same statements row by row would, in their order: a row
/// repeated meets the one before it as a conflict.
async fn write_rows<'args, T>(
    transaction: &mut SqliteConnection,
    insert: &str,
    rows: &'args [T],
    mut bind: impl FnMut(Separated<'_, 'args, Sqlite, &'static str>, &'args T),
    tail: &str,
    during: &'static str,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut statement = QueryBuilder::<Sqlite>::new(insert);
        statement.push_values(chunk, &mut bind);
        statement.push(tail);
        statement
            .build()
            .execute(&mut *transaction)
            .await
            .during(during)?;
    }
    Ok(())
}

/// Inserts the delivery's id; `false` when it was there already.
async fn record_delivery(
    transaction: &mut SqliteConnection,
    delivery_id: &str,
    event: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT OR IGNORE INTO webhook_deliveries (delivery_id, event, received_at) VALUES (?1, ?2, ?3)",
    )
    .bind(delivery_id)
    .bind(event)
    .bind(to_text(now))
    .execute(&mut *transaction)
    .await
    .during("record delivery")?
    .rows_affected();
    Ok(inserted == 1)
}
