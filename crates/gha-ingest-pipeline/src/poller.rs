//! One repository's two lanes of work.
//!
//! The **fresh lane** ([`RepoPoller::poll`]) runs every cycle the repository is due: the newest
//! page of runs, the runs in an active status (where re-runs of old runs show up), the runs still
//! open, and the entities whose retry is due. It never reads history: a gap behind a full first
//! page, or a first poll's backfill, is recorded in the cursor as a range to catch up.
//!
//! The **catch-up lane** ([`RepoPoller::catch_up`]) reads that range (by created-date windows)
//! and the look-back sweep, at the scheduler's lowest priority, beside the fresh lane: a backfill
//! of hours never delays the next fresh fact. Both lanes write through the same idempotent store
//! (event ids, and run states that never move backwards), so running side by side on one
//! repository is safe.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use gha_ingest_core::github::WorkflowRun;
use gha_ingest_core::Source;
use gha_ingest_github::{Fetched, RunQuery};
use gha_ingest_store::{CatchupChange, CatchupRange, CursorUpdate, RepoCursor};
use tokio::sync::Notify;

use crate::metrics::PipelineMetrics;
use crate::observer::{Batch, RunObserver};
use crate::windows::ScanMode;
use crate::PollError;

/// Statuses of runs that may be re-runs of old runs: listed every cycle so a re-run of a run of
/// any age is seen while it runs. (`waiting`/`pending`/`requested` re-runs are caught by the sweep.)
const ACTIVE_STATUSES: [&str; 2] = ["queued", "in_progress"];

/// What one cycle did, for the logs and the repository's cadence.
#[derive(Debug, Default, Clone, Copy)]
pub struct CycleSummary {
    pub changed_runs: u64,
    pub events_queued: u64,
    /// Runs open in the store when the cycle began.
    pub open_runs: u64,
    pub swept: bool,
    /// History caught up (a range read).
    pub caught_up: bool,
    /// The repository's first poll, and the newest run it listed (`None`: it has none): the
    /// cadence starts a repository dormant for long at its slowest.
    pub first_poll: bool,
    pub newest_run_at: Option<DateTime<Utc>>,
}

impl CycleSummary {
    /// Nothing open and nothing new: the repository may be polled less often.
    pub fn is_quiet(&self) -> bool {
        self.changed_runs == 0 && self.open_runs == 0
    }
}

/// The state of one cycle: runs already looked at, and the batch not yet committed.
#[derive(Debug, Default)]
pub(crate) struct Cycle {
    pub seen: HashSet<u64>,
    pub batch: Batch,
    pub changed_runs: u64,
    pub events_queued: u64,
}

#[derive(Debug)]
pub(crate) struct RepoPoller<'a> {
    pub observer: RunObserver<'a>,
    pub reconcile_lookback_days: u32,
    pub published: &'a Arc<Notify>,
    pub metrics: &'a PipelineMetrics,
}

impl RepoPoller<'_> {
    /// The fresh lane: new runs, active runs, open runs, due retries. `cursor` is the
    /// repository's as read just before.
    pub(crate) async fn poll(
        &self,
        now: DateTime<Utc>,
        cursor: &RepoCursor,
    ) -> Result<CycleSummary, PollError> {
        let repo = self.observer.repo;
        let first_poll = cursor.discovered_through.is_none();
        let mut cycle = Cycle::default();

        let newest_run_at = self
            .poll_newest(cursor.discovered_through, cursor.catchup, now, &mut cycle)
            .await?;
        // On a first poll the catch-up range covers every run an active list would show
        // (whatever its status); from the second poll on, the lists catch re-runs of runs of
        // any age. An organisation's first cycle costs one request per repository, not three.
        if !first_poll {
            for status in ACTIVE_STATUSES {
                self.poll_active(status, &mut cycle).await?;
            }
        }
        let open_runs = self.observer.store.open_runs(repo).await?;
        for stored in &open_runs {
            if cycle.seen.insert(stored.run_id)
                && self
                    .observer
                    .refresh_open_run(stored, &mut cycle.batch)
                    .await?
            {
                cycle.changed_runs += 1;
            }
        }
        self.commit(&mut cycle).await?;
        self.retry_failed_entities(&mut cycle).await?;
        Ok(CycleSummary {
            changed_runs: if first_poll { 0 } else { cycle.changed_runs },
            events_queued: cycle.events_queued,
            open_runs: open_runs.len() as u64,
            first_poll,
            newest_run_at,
            ..CycleSummary::default()
        })
    }

    /// The catch-up lane: the history range the cursor holds, then the look-back sweep if due.
    pub(crate) async fn catch_up(
        &self,
        now: DateTime<Utc>,
        cursor: &RepoCursor,
        sweep_due: bool,
    ) -> Result<CycleSummary, PollError> {
        let mut cycle = Cycle::default();
        let mut summary = CycleSummary::default();
        if let Some(range) = cursor.catchup {
            let source = match range.backfill {
                true => Source::Backfill,
                false => Source::Poll,
            };
            self.scan_window(
                range.from,
                range.to,
                ScanMode::Discovery,
                source,
                &mut cycle,
            )
            .await?;
            cycle.batch.changes.cursor = Some(CursorUpdate {
                catchup: Some(CatchupChange::Done(range)),
                ..CursorUpdate::default()
            });
            self.commit(&mut cycle).await?;
            summary.caught_up = true;
        } else if sweep_due && cursor.discovered_through.is_some() {
            self.sweep(now, &mut cycle).await?;
            summary.swept = true;
        }
        summary.changed_runs = cycle.changed_runs;
        summary.events_queued = cycle.events_queued;
        Ok(summary)
    }

    /// The newest page of runs. Runs new since the last poll are observed now. History is left
    /// to the catch-up lane: on a first poll every completed run up to the newest (only the open
    /// ones are observed now); later, the gap behind a page whose every run is new. Returns the
    /// creation time of the newest run listed (`None` when the page is unchanged or empty).
    async fn poll_newest(
        &self,
        discovered_through: Option<DateTime<Utc>>,
        pending: Option<CatchupRange>,
        now: DateTime<Utc>,
        cycle: &mut Cycle,
    ) -> Result<Option<DateTime<Utc>>, PollError> {
        let first_poll = discovered_through.is_none();
        let path = RunQuery::default().first_page_path(self.observer.repo);
        let etag = self.observer.store.etag(&path).await?;
        let (list, etag) = match self
            .observer
            .client
            .list_runs_page(&path, etag.as_deref())
            .await?
        {
            Fetched::NotModified => return Ok(None),
            Fetched::Modified { value, etag, .. } => (value, etag),
        };
        self.observer
            .note_malformed_runs(&path, &list.malformed, &mut cycle.batch)?;
        let runs = &list.workflow_runs;
        let gap_start = discovered_through.unwrap_or(self.observer.tracked_since);
        let oldest_on_page = runs.iter().map(|run| run.created_at).min();
        let newest_on_page = runs.iter().map(|run| run.created_at).max();
        let page_is_full = (runs.len() as u64) < list.total_count;
        let catchup = match (first_poll, oldest_on_page, newest_on_page) {
            (true, _, Some(newest)) if newest >= gap_start => Some(CatchupRange {
                from: gap_start,
                to: newest,
                backfill: true,
            }),
            (false, Some(oldest), _) if page_is_full && oldest > gap_start => Some(CatchupRange {
                from: gap_start,
                to: oldest,
                backfill: false,
            }),
            _ => None,
        };
        let source = match first_poll {
            true => Source::Backfill,
            false => Source::Poll,
        };
        let left_to_catch_up = |run: &WorkflowRun| {
            run.is_completed()
                && [catchup, pending]
                    .iter()
                    .flatten()
                    .any(|range| range.from <= run.created_at && run.created_at <= range.to)
        };
        self.observe_runs(
            runs.iter().filter(|run| !left_to_catch_up(run)),
            source,
            cycle,
        )
        .await?;
        let discovered_through = match (newest_on_page, discovered_through) {
            (Some(newest), Some(previous)) => Some(newest.max(previous)),
            (newest, previous) => newest.or(previous).or(Some(self.observer.tracked_since)),
        };
        cycle.batch.changes.cursor = Some(CursorUpdate {
            tracked_since: Some(self.observer.tracked_since),
            discovered_through,
            // A first poll's backfill is the first sweep: the next is due a whole interval on.
            last_sweep_at: first_poll.then_some(now),
            catchup: catchup.map(CatchupChange::Pending),
        });
        if let Some(etag) = etag {
            cycle.batch.changes.etags.push((path, etag));
        }
        self.commit(cycle).await?;
        Ok(newest_on_page)
    }

    /// The first page of runs in `status`: where a re-run of an old run shows up.
    async fn poll_active(&self, status: &str, cycle: &mut Cycle) -> Result<(), PollError> {
        let query = RunQuery {
            created: None,
            status: Some(status.to_string()),
        };
        let path = query.first_page_path(self.observer.repo);
        let etag = self.observer.store.etag(&path).await?;
        if let Fetched::Modified { value, etag, .. } = self
            .observer
            .client
            .list_runs_page(&path, etag.as_deref())
            .await?
        {
            self.observer
                .note_malformed_runs(&path, &value.malformed, &mut cycle.batch)?;
            self.observe_runs(&value.workflow_runs, Source::Poll, cycle)
                .await?;
            if let Some(etag) = etag {
                cycle.batch.changes.etags.push((path, etag));
            }
            self.commit(cycle).await?;
        }
        Ok(())
    }

    /// Entities that failed in earlier cycles and whose retry is due, and that nothing in this
    /// cycle read already: read again, or given up on.
    async fn retry_failed_entities(&self, cycle: &mut Cycle) -> Result<(), PollError> {
        for failure in self.observer.failures.due() {
            if self.observer.retry(&failure, &mut cycle.batch).await? {
                cycle.changed_runs += 1;
            }
        }
        self.commit(cycle).await
    }

    /// Day windows over the look-back period, newest first: catches re-runs that started and
    /// finished between two polls. Free when nothing changed.
    ///
    /// Every window is a whole UTC day (the oldest starts at a day boundary too, or at the
    /// fixed instant the repository was first tracked), so an unchanged history is the same set
    /// of request paths for ever and each one stays a free 304 for months.
    async fn sweep(&self, now: DateTime<Utc>, cycle: &mut Cycle) -> Result<(), PollError> {
        let day = Duration::days(1);
        let today = now
            .duration_trunc(day)
            .expect("a day divides any UTC instant");
        let horizon = (now - Duration::days(i64::from(self.reconcile_lookback_days)))
            .duration_trunc(day)
            .expect("a day divides any UTC instant");
        let horizon = horizon.max(self.observer.tracked_since);
        let mut day_start = today;
        while day_start + Duration::days(1) > horizon {
            let from = day_start.max(horizon);
            let to = day_start + Duration::days(1) - Duration::seconds(1);
            self.scan_window(from, to, ScanMode::Sweep, Source::Poll, cycle)
                .await?;
            day_start -= Duration::days(1);
        }
        cycle.batch.changes.cursor = Some(CursorUpdate {
            last_sweep_at: Some(now),
            ..CursorUpdate::default()
        });
        self.commit(cycle).await
    }

    /// Observes each of `runs` not seen yet in this cycle, a page at once.
    pub(crate) async fn observe_runs<'r>(
        &self,
        runs: impl IntoIterator<Item = &'r WorkflowRun>,
        source: Source,
        cycle: &mut Cycle,
    ) -> Result<(), PollError> {
        let unseen: Vec<&WorkflowRun> = runs
            .into_iter()
            .filter(|run| cycle.seen.insert(run.id))
            .collect();
        cycle.changed_runs += self
            .observer
            .observe_all(&unseen, source, &mut cycle.batch)
            .await?;
        Ok(())
    }

    /// Commits the batch gathered so far in one transaction and wakes the publisher.
    pub(crate) async fn commit(&self, cycle: &mut Cycle) -> Result<(), PollError> {
        let batch = std::mem::take(&mut cycle.batch);
        if batch.changes.is_empty() {
            return Ok(());
        }
        let queued = self
            .observer
            .store
            .apply_changes_queued(self.observer.repo, &batch.changes)
            .await?;
        batch.measure_queued(self.metrics, &queued, self.observer.encoder.clock.now());
        cycle.events_queued += queued.len() as u64;
        if !queued.is_empty() {
            self.published.notify_one();
        }
        Ok(())
    }
}
