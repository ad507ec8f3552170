//! Turning one observed run into state and events: its jobs, its commit metrics, and any
//! attempt that came and went between two polls.
//!
//! Every read of one entity goes through the failure book (`failures`): an entity that cannot be
//! read is recorded and skipped, never allowed to fail the cycle, so the rest of the repository
//! flows on. What is known of the run from the list is still published.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gha_ingest_core::facts::{CommitFacts, JobFacts, RunFacts};
use gha_ingest_core::github::{MalformedItem, WorkflowJob, WorkflowRun};
use gha_ingest_core::webhook::{EVENT_WORKFLOW_JOB, EVENT_WORKFLOW_RUN};
use gha_ingest_core::{RepoName, Source};
use gha_ingest_github::{
    attempt_jobs_path, latest_jobs_path, run_path, ErrorClass, Fetched, GithubClient, GithubError,
    Priority,
};
use gha_ingest_store::{
    ChangeSet, Destination, EntityFailure, EntityKind, RunUpdate, StateStore, StoredRun,
};

use crate::events::EventEncoder;
use crate::failures::{Entity, FailureBook, Readiness};
use crate::metrics::{EventMeasure, PipelineMetrics, QueueWait};
use crate::PollError;

/// Changes gathered for one transaction, with the commits fetched for it so far.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub changes: ChangeSet,
    /// What to measure of `changes.events[position]` if the store queues it.
    pub measures: Vec<(usize, EventMeasure)>,
    fresh_commits: HashMap<String, CommitFacts>,
    /// What the store held of commits read for this batch's runs (`None`: not stored), so each
    /// is read once per page rather than once per run.
    stored_commits: HashMap<String, Option<CommitFacts>>,
}

/// Observes the runs of one repository.
#[derive(Debug)]
pub(crate) struct RunObserver<'a> {
    pub client: &'a GithubClient,
    pub store: &'a StateStore,
    pub encoder: &'a EventEncoder,
    pub repo: &'a RepoName,
    /// History before this instant is not ingested; activity after it is.
    pub tracked_since: DateTime<Utc>,
    pub failures: &'a FailureBook,
}

/// The jobs of one attempt, as far as they could be read.
enum JobsRead {
    Fresh(Vec<JobFacts>),
    /// GitHub answered 304: as last stored.
    Unchanged,
    /// Not readable now (recorded in the failure book).
    Unavailable,
}

impl RunObserver<'_> {
    /// Records what changed about each of `runs` (a page of a list) since it was last stored.
    /// What the store holds of them and of their commits is read in two statements for the
    /// page, not two per run. Returns how many changed.
    pub(crate) async fn observe_all(
        &self,
        runs: &[&WorkflowRun],
        source: Source,
        batch: &mut Batch,
    ) -> Result<u64, PollError> {
        let ids: Vec<u64> = runs.iter().map(|run| run.id).collect();
        let mut stored = self.store.stored_runs(&ids).await?;
        // Only the commits of runs that will be read further: an unchanged page costs no more.
        let to_read = runs
            .iter()
            .filter(|run| self.worth_reading(run, stored.get(&run.id)));
        self.read_stored_commits(to_read.map(|run| run.head_sha.as_str()), batch)
            .await?;
        let mut changed = 0;
        for run in runs {
            if self
                .observe_against(run, stored.remove(&run.id), source, batch)
                .await?
            {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Records what changed about `run` since it was last stored. Returns whether anything did.
    pub(crate) async fn observe(
        &self,
        run: &WorkflowRun,
        source: Source,
        batch: &mut Batch,
    ) -> Result<bool, PollError> {
        let stored = self.store.stored_run(run.id).await?;
        self.observe_against(run, stored, source, batch).await
    }

    /// Whether `run` as listed is worth more than its list entry: it changed since it was stored
    /// (or was never stored, and is not history from before tracking began), or it is still open.
    fn worth_reading(&self, run: &WorkflowRun, stored: Option<&StoredRun>) -> bool {
        match stored {
            None => run.updated_at >= self.tracked_since,
            Some(stored) => stored.is_open || differs(stored, run),
        }
    }

    /// [`observe`](Self::observe) with what the store held of `run`.
    async fn observe_against(
        &self,
        run: &WorkflowRun,
        stored: Option<StoredRun>,
        source: Source,
        batch: &mut Batch,
    ) -> Result<bool, PollError> {
        if !self.worth_reading(run, stored.as_ref()) {
            return Ok(false);
        }
        let changed = stored.as_ref().is_none_or(|stored| differs(stored, run));
        self.note_read(&Entity::run(run.id, run.run_attempt), batch);
        self.observe_missed_attempts(run, stored.as_ref(), source, batch)
            .await?;

        let same_attempt = stored
            .as_ref()
            .is_some_and(|stored| stored.run_attempt == run.run_attempt);
        let (jobs, jobs_unavailable) = match self
            .fetch_jobs(run.id, run.run_attempt, same_attempt, batch)
            .await?
        {
            JobsRead::Fresh(jobs) => (jobs, false),
            JobsRead::Unchanged if !changed => return Ok(false),
            JobsRead::Unchanged => (
                self.store.attempt_jobs(run.id, run.run_attempt).await?,
                false,
            ),
            JobsRead::Unavailable => (
                self.store.attempt_jobs(run.id, run.run_attempt).await?,
                true,
            ),
        };
        let code_metrics = self.commit_metrics(&run.head_sha, source, batch).await?;
        let mut facts = RunFacts::from_run(&self.repo.to_string(), run, jobs, code_metrics);
        facts.jobs_unavailable = jobs_unavailable;
        self.record(facts, source, batch);
        Ok(true)
    }

    /// Follows a run still open in the store that no list showed this cycle.
    pub(crate) async fn refresh_open_run(
        &self,
        stored: &StoredRun,
        batch: &mut Batch,
    ) -> Result<bool, PollError> {
        let entity = Entity::run(stored.run_id, stored.run_attempt);
        if self.failures.readiness(&entity) != Readiness::Read {
            return Ok(false);
        }
        let path = run_path(self.repo, stored.run_id);
        let etag = self.store.etag(&path).await?;
        match self
            .client
            .get_run(self.repo, stored.run_id, etag.as_deref())
            .await
        {
            Ok(Fetched::Modified {
                value: run, etag, ..
            }) => {
                let changed = self.observe(&run, Source::Poll, batch).await?;
                if let Some(etag) = etag {
                    batch.changes.etags.push((path, etag));
                }
                Ok(changed)
            }
            Ok(Fetched::NotModified) => {
                self.note_read(&entity, batch);
                self.refresh_jobs_only(stored, batch).await
            }
            Err(error) => {
                self.note_failure(&entity, error, batch)?;
                Ok(false)
            }
        }
    }

    /// The run itself is unchanged (304), but its jobs may have moved.
    async fn refresh_jobs_only(
        &self,
        stored: &StoredRun,
        batch: &mut Batch,
    ) -> Result<bool, PollError> {
        let JobsRead::Fresh(jobs) = self
            .fetch_jobs(stored.run_id, stored.run_attempt, true, batch)
            .await?
        else {
            return Ok(false);
        };
        let Some(facts) = self.store.run_facts(stored.run_id).await? else {
            return Ok(false);
        };
        self.record(facts.with_jobs(jobs), Source::Poll, batch);
        Ok(true)
    }

    /// Tries again an entity that failed in an earlier cycle and whose retry is due.
    pub(crate) async fn retry(
        &self,
        failure: &EntityFailure,
        batch: &mut Batch,
    ) -> Result<bool, PollError> {
        let entity = Entity::from_failure(failure);
        match (failure.kind, failure.run_id, failure.run_attempt) {
            (EntityKind::Commit, _, _) => {
                let sha = failure.sha.as_deref().unwrap_or_default();
                Ok(self
                    .commit_metrics(sha, Source::Poll, batch)
                    .await?
                    .is_some())
            }
            (EntityKind::Run, Some(run_id), attempt) => {
                let stored = StoredRun {
                    run_id,
                    run_attempt: attempt.unwrap_or(1),
                    status: String::new(),
                    conclusion: None,
                    updated_at: failure.first_failed_at,
                    is_open: true,
                };
                self.refresh_open_run(&stored, batch).await
            }
            (EntityKind::Attempt, Some(run_id), Some(attempt)) => {
                self.observe_past_attempt(run_id, attempt, Source::Poll, batch)
                    .await?;
                Ok(true)
            }
            (EntityKind::Jobs, Some(run_id), Some(attempt)) => {
                let JobsRead::Fresh(jobs) = self.fetch_jobs(run_id, attempt, false, batch).await?
                else {
                    return Ok(false);
                };
                match self.store.run_facts(run_id).await? {
                    Some(facts) if facts.run_attempt == attempt => {
                        self.record(facts.with_jobs(jobs), Source::Poll, batch);
                    }
                    // An older attempt, or a run whose facts were pruned: its jobs' own events.
                    _ => self.queue_job_events(&jobs, Source::Poll, batch),
                }
                Ok(true)
            }
            _ => {
                tracing::warn!(repo = %self.repo, entity = %entity.key(), "stored failure names no entity; forgetting it");
                self.note_read(&entity, batch);
                Ok(false)
            }
        }
    }

    /// An attempt that started (and perhaps finished) between two polls still gets its events.
    async fn observe_missed_attempts(
        &self,
        run: &WorkflowRun,
        stored: Option<&StoredRun>,
        source: Source,
        batch: &mut Batch,
    ) -> Result<(), PollError> {
        for attempt in first_unseen_attempt(stored)..run.run_attempt {
            self.observe_past_attempt(run.id, attempt, source, batch)
                .await?;
        }
        Ok(())
    }

    /// One earlier attempt of a run, with its jobs; recorded as failed if it cannot be read.
    async fn observe_past_attempt(
        &self,
        run_id: u64,
        attempt: u32,
        source: Source,
        batch: &mut Batch,
    ) -> Result<(), PollError> {
        let entity = Entity::attempt(run_id, attempt);
        if self.failures.readiness(&entity) != Readiness::Read {
            return Ok(());
        }
        let read = async {
            let past = self
                .client
                .get_run_attempt(self.repo, run_id, attempt)
                .await?;
            let jobs = match self
                .client
                .list_attempt_jobs(self.repo, run_id, attempt, None)
                .await?
            {
                Fetched::Modified { value, .. } => value,
                Fetched::NotModified => Vec::new(),
            };
            Ok::<_, GithubError>((past, jobs))
        };
        let (past, jobs) = match read.await {
            Ok(read) => read,
            Err(error) => return self.note_failure(&entity, error, batch),
        };
        self.note_read(&entity, batch);
        let jobs = self.job_facts(attempt, &jobs);
        let code_metrics = self.commit_metrics(&past.head_sha, source, batch).await?;
        let facts = RunFacts::from_run(&self.repo.to_string(), &past, jobs, code_metrics);
        self.queue_events(&facts, source, batch);
        Ok(())
    }

    /// The jobs of one attempt: fresh, unchanged (304), or unavailable for now. A server without
    /// the per-attempt endpoint (older GitHub Enterprise Server) is asked for the run's latest
    /// jobs instead.
    async fn fetch_jobs(
        &self,
        run_id: u64,
        attempt: u32,
        conditional: bool,
        batch: &mut Batch,
    ) -> Result<JobsRead, PollError> {
        let entity = Entity::jobs(run_id, attempt);
        if self.failures.readiness(&entity) != Readiness::Read {
            return Ok(JobsRead::Unavailable);
        }
        let path = attempt_jobs_path(self.repo, run_id, attempt);
        let etag = match conditional {
            true => self.store.etag(&path).await?,
            false => None,
        };
        let answer = match self
            .client
            .list_attempt_jobs(self.repo, run_id, attempt, etag.as_deref())
            .await
        {
            Err(error) if error.class() == ErrorClass::NotFound => {
                self.latest_jobs_instead(run_id, attempt, error).await
            }
            answer => answer.map(|fetched| (path, fetched)),
        };
        match answer {
            Ok((_, Fetched::NotModified)) => {
                self.note_read(&entity, batch);
                Ok(JobsRead::Unchanged)
            }
            Ok((path, Fetched::Modified { value, etag, .. })) => {
                self.note_read(&entity, batch);
                if let Some(etag) = etag {
                    batch.changes.etags.push((path, etag));
                }
                Ok(JobsRead::Fresh(self.job_facts(attempt, &value)))
            }
            Err(error) => {
                self.note_failure(&entity, error, batch)?;
                Ok(JobsRead::Unavailable)
            }
        }
    }

    /// After a 404 on `/attempts/{n}/jobs`: the run's latest jobs, if they are of attempt `n`.
    async fn latest_jobs_instead(
        &self,
        run_id: u64,
        attempt: u32,
        not_found: GithubError,
    ) -> Result<(String, Fetched<Vec<WorkflowJob>>), GithubError> {
        let path = latest_jobs_path(self.repo, run_id);
        match self.client.list_latest_jobs(self.repo, run_id, None).await {
            Ok(Fetched::Modified { value, etag, .. })
                if value
                    .iter()
                    .all(|job| job.run_attempt.unwrap_or(attempt) == attempt) =>
            {
                Ok((
                    path,
                    Fetched::Modified {
                        value,
                        etag,
                        next_page: None,
                    },
                ))
            }
            // The run moved on to a later attempt, or is gone too: the first answer stands.
            Ok(_) | Err(_) => Err(not_found),
        }
    }

    /// Commit metrics, fetched once per SHA: from this batch, the store, or GitHub. `None` when
    /// the commit cannot be read (now or ever): the run's events go out without them.
    async fn commit_metrics(
        &self,
        sha: &str,
        source: Source,
        batch: &mut Batch,
    ) -> Result<Option<CommitFacts>, PollError> {
        if sha.is_empty() {
            return Ok(None);
        }
        if let Some(facts) = batch.fresh_commits.get(sha) {
            return Ok(Some(facts.clone()));
        }
        let stored = match batch.stored_commits.get(sha) {
            Some(stored) => stored.clone(),
            None => self.store.commit_facts(self.repo, sha).await?,
        };
        if let Some(facts) = stored {
            return Ok(Some(facts));
        }
        let entity = Entity::commit(sha);
        if self.failures.readiness(&entity) != Readiness::Read {
            return Ok(None);
        }
        // Commit facts come after the runs' and jobs' own, and no sooner than the lane's work.
        let client = self
            .client
            .at(self.client.priority().max(Priority::Commits));
        let fetched = match client.get_commit_with_pulls(self.repo, sha).await {
            Ok(fetched) => fetched,
            Err(error) => {
                self.note_failure(&entity, error, batch)?;
                return Ok(None);
            }
        };
        self.note_read(&entity, batch);
        let facts = CommitFacts::from_commit(
            &self.repo.to_string(),
            &fetched.commit,
            fetched.files_changed_count,
            &fetched.pulls,
        );
        batch
            .changes
            .events
            .extend(self.encoder.commit_event(&facts, source));
        batch.changes.commits.push(facts.clone());
        batch.fresh_commits.insert(sha.to_string(), facts.clone());
        Ok(Some(facts))
    }

    /// Records that `entity` could not be read. Only an error that concerns everything (the
    /// credential, the configuration) comes back as `Err`, stopping the cycle.
    fn note_failure(
        &self,
        entity: &Entity,
        error: GithubError,
        batch: &mut Batch,
    ) -> Result<(), PollError> {
        if !error.concerns_one_entity() {
            return Err(error.into());
        }
        let Some(recorded) = self.failures.failed(entity, &error) else {
            return Ok(());
        };
        let failure = &recorded.failure;
        match &recorded.unavailable {
            None => {
                tracing::warn!(repo = %self.repo, entity = %entity.key(), attempts = failure.attempts,
                retry_at = %failure.next_retry_at, cause = %error, "cannot read this entity; the rest of the repository goes on, it is retried later")
            }
            Some(facts) => {
                tracing::error!(repo = %self.repo, entity = %entity.key(), attempts = failure.attempts,
                    reason = %facts.reason, cause = %error, "giving up on this entity; announcing it as unavailable");
                batch
                    .changes
                    .events
                    .extend(self.encoder.unavailable_event(entity.kind, facts));
                if let (EntityKind::Run, Some(run_id)) = (entity.kind, entity.run_id) {
                    batch.changes.stop_following.push(run_id);
                }
            }
        }
        batch.changes.failures.push(recorded.failure);
        Ok(())
    }

    /// Items of a list page at `path` that GitHub sent malformed: each one with an id is a run
    /// that could not be read (retried by its own URL, then announced); the rest of the page is
    /// used as usual.
    pub(crate) fn note_malformed_runs(
        &self,
        path: &str,
        malformed: &[MalformedItem],
        batch: &mut Batch,
    ) -> Result<(), PollError> {
        for item in malformed {
            let error = GithubError::Malformed {
                path: path.to_string(),
                detail: item.error.clone(),
            };
            match item.id {
                Some(run_id) => self.note_failure(&Entity::run(run_id, 1), error, batch)?,
                None => {
                    tracing::warn!(repo = %self.repo, cause = %error, "a run without a readable id in a list; skipped")
                }
            }
        }
        Ok(())
    }

    /// Clears an earlier failure of `entity`, now that it was read.
    /// Reads from the store, in one statement, the commits of `shas` this batch has not read or
    /// fetched yet.
    async fn read_stored_commits(
        &self,
        shas: impl Iterator<Item = &str>,
        batch: &mut Batch,
    ) -> Result<(), PollError> {
        let mut unread: Vec<&str> = shas
            .filter(|sha| {
                !sha.is_empty()
                    && !batch.fresh_commits.contains_key(*sha)
                    && !batch.stored_commits.contains_key(*sha)
            })
            .collect();
        unread.sort_unstable();
        unread.dedup();
        if unread.is_empty() {
            return Ok(());
        }
        let mut stored = self.store.commits_facts(self.repo, &unread).await?;
        for sha in unread {
            batch
                .stored_commits
                .insert(sha.to_owned(), stored.remove(sha));
        }
        Ok(())
    }

    fn note_read(&self, entity: &Entity, batch: &mut Batch) {
        if let Some(key) = self.failures.read(entity) {
            tracing::info!(repo = %self.repo, entity = %key, "entity readable again");
            batch.changes.resolved_failures.push(key);
        }
    }

    fn job_facts(&self, attempt: u32, jobs: &[WorkflowJob]) -> Vec<JobFacts> {
        let repo = self.repo.to_string();
        jobs.iter()
            .map(|job| JobFacts::from_job(&repo, attempt, job))
            .collect()
    }

    /// Stores the run's latest state and queues its events.
    fn record(&self, facts: RunFacts, source: Source, batch: &mut Batch) {
        self.queue_events(&facts, source, batch);
        batch.changes.runs.push(RunUpdate { facts });
    }

    fn queue_events(&self, facts: &RunFacts, source: Source, batch: &mut Batch) {
        batch.queue_run_events(self.encoder, facts, source);
    }

    fn queue_job_events(&self, jobs: &[JobFacts], source: Source, batch: &mut Batch) {
        batch.queue_job_events(self.encoder, jobs, source);
    }
}

impl Batch {
    /// Counts the events the store queued (`queued`: positions in `changes.events`) for the
    /// metrics queue and observes what is measured of them, queued at `now`.
    pub(crate) fn measure_queued(
        &self,
        metrics: &PipelineMetrics,
        queued: &[usize],
        now: DateTime<Utc>,
    ) {
        for &position in queued {
            let event = &self.changes.events[position];
            if event.destination == Destination::Metrics {
                metrics.event_queued(&event.event_type);
            }
        }
        for (position, measure) in &self.measures {
            if queued.binary_search(position).is_ok() {
                metrics.observe_queued(measure, now);
            }
        }
    }

    /// Job events first, then the run's, so a consumer sees a run complete after its jobs.
    pub(crate) fn queue_run_events(
        &mut self,
        encoder: &EventEncoder,
        facts: &RunFacts,
        source: Source,
    ) {
        self.queue_job_events(encoder, &facts.jobs, source);
        let measure = EventMeasure {
            changed_at: measures_freshness(source).then_some(facts.updated_at),
            queue_wait: None,
            polled_first: (source == Source::Poll).then_some(EVENT_WORKFLOW_RUN),
        };
        self.measures.push((self.changes.events.len(), measure));
        self.changes.events.extend(encoder.run_event(facts, source));
    }

    pub(crate) fn queue_job_events(
        &mut self,
        encoder: &EventEncoder,
        jobs: &[JobFacts],
        source: Source,
    ) {
        for job in jobs {
            let changed_at = job.completed_at.or(job.started_at).or(job.created_at);
            let measure = EventMeasure {
                changed_at: changed_at.filter(|_| measures_freshness(source)),
                queue_wait: QueueWait::of(job),
                polled_first: (source == Source::Poll).then_some(EVENT_WORKFLOW_JOB),
            };
            self.measures.push((self.changes.events.len(), measure));
            self.changes.events.extend(encoder.job_event(job, source));
        }
    }
}

/// The first attempt of a run that polling has not read to its end: the attempt after a
/// completed one, the attempt still open, or the first of a run never seen.
pub(crate) fn first_unseen_attempt(stored: Option<&StoredRun>) -> u32 {
    match stored {
        Some(stored) if stored.status == gha_ingest_core::github::STATUS_COMPLETED => {
            stored.run_attempt + 1
        }
        Some(stored) => stored.run_attempt,
        None => 1,
    }
}

/// Freshness is measured on live facts, not on history read back.
fn measures_freshness(source: Source) -> bool {
    matches!(source, Source::Poll | Source::Webhook)
}

/// Whether GitHub's view of a run differs from the stored one in anything we publish.
fn differs(stored: &StoredRun, run: &WorkflowRun) -> bool {
    stored.run_attempt != run.run_attempt
        || stored.status != run.status()
        || stored.conclusion != run.conclusion
        || stored.updated_at != run.updated_at
}
