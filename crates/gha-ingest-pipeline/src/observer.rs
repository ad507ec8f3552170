//! Turning one observed run into state and events: its jobs, its commit metrics, and any
//! attempt that came and went between two polls.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gha_ingest_core::facts::{CommitFacts, JobFacts, RunFacts};
use gha_ingest_core::github::WorkflowRun;
use gha_ingest_core::{RepoName, Source};
use gha_ingest_github::{attempt_jobs_path, run_path, Fetched, GithubClient, GithubError};
use gha_ingest_store::{ChangeSet, RunUpdate, StateStore, StoredRun};

use crate::events::EventEncoder;
use crate::PollError;

/// Changes gathered for one transaction, with the commits fetched for it so far.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub changes: ChangeSet,
    fresh_commits: HashMap<String, CommitFacts>,
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
}

impl RunObserver<'_> {
    /// Records what changed about `run` since it was last stored. Returns whether anything did.
    pub(crate) async fn observe(
        &self,
        run: &WorkflowRun,
        source: Source,
        batch: &mut Batch,
    ) -> Result<bool, PollError> {
        let stored = self.store.stored_run(run.id).await?;
        if stored.is_none() && run.updated_at < self.tracked_since {
            return Ok(false);
        }
        let changed = stored.as_ref().is_none_or(|stored| differs(stored, run));
        if !changed && !stored.as_ref().is_some_and(|stored| stored.is_open) {
            return Ok(false);
        }
        self.observe_missed_attempts(run, stored.as_ref(), source, batch)
            .await?;

        let same_attempt = stored
            .as_ref()
            .is_some_and(|stored| stored.run_attempt == run.run_attempt);
        let jobs = match self
            .fetch_jobs(run.id, run.run_attempt, same_attempt, batch)
            .await?
        {
            Some(jobs) => jobs,
            None if !changed => return Ok(false),
            None => self.store.attempt_jobs(run.id, run.run_attempt).await?,
        };
        let code_metrics = self.commit_metrics(&run.head_sha, source, batch).await?;
        let facts = RunFacts::from_run(&self.repo.to_string(), run, jobs, code_metrics);
        self.record(facts, source, batch);
        Ok(true)
    }

    /// Follows a run still open in the store that no list showed this cycle.
    pub(crate) async fn refresh_open_run(
        &self,
        stored: &StoredRun,
        batch: &mut Batch,
    ) -> Result<bool, PollError> {
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
            Ok(Fetched::NotModified) => self.refresh_jobs_only(stored, batch).await,
            Err(GithubError::NotFound { .. } | GithubError::Gone { .. }) => {
                tracing::warn!(repo = %self.repo, run_id = stored.run_id, "open run no longer exists on github; no longer following it");
                self.store.stop_following_run(stored.run_id).await?;
                Ok(false)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The run itself is unchanged (304), but its jobs may have moved.
    async fn refresh_jobs_only(
        &self,
        stored: &StoredRun,
        batch: &mut Batch,
    ) -> Result<bool, PollError> {
        let Some(jobs) = self
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

    /// An attempt that started (and perhaps finished) between two polls still gets its events.
    async fn observe_missed_attempts(
        &self,
        run: &WorkflowRun,
        stored: Option<&StoredRun>,
        source: Source,
        batch: &mut Batch,
    ) -> Result<(), PollError> {
        let first_unfinished = match stored {
            Some(stored) if stored.status == gha_ingest_core::github::STATUS_COMPLETED => {
                stored.run_attempt + 1
            }
            Some(stored) => stored.run_attempt,
            None => 1,
        };
        for attempt in first_unfinished..run.run_attempt {
            let past = self
                .client
                .get_run_attempt(self.repo, run.id, attempt)
                .await?;
            let jobs = match self
                .client
                .list_attempt_jobs(self.repo, run.id, attempt, None)
                .await?
            {
                Fetched::Modified { value, .. } => value,
                Fetched::NotModified => Vec::new(),
            };
            let jobs = jobs
                .iter()
                .map(|job| JobFacts::from_job(&self.repo.to_string(), attempt, job))
                .collect();
            let code_metrics = self.commit_metrics(&past.head_sha, source, batch).await?;
            let facts = RunFacts::from_run(&self.repo.to_string(), &past, jobs, code_metrics);
            self.queue_events(&facts, source, batch);
        }
        Ok(())
    }

    /// The jobs of one attempt, or `None` when GitHub says they are unchanged (304).
    async fn fetch_jobs(
        &self,
        run_id: u64,
        attempt: u32,
        conditional: bool,
        batch: &mut Batch,
    ) -> Result<Option<Vec<JobFacts>>, PollError> {
        let path = attempt_jobs_path(self.repo, run_id, attempt);
        let etag = if conditional {
            self.store.etag(&path).await?
        } else {
            None
        };
        match self
            .client
            .list_attempt_jobs(self.repo, run_id, attempt, etag.as_deref())
            .await?
        {
            Fetched::NotModified => Ok(None),
            Fetched::Modified { value, etag, .. } => {
                if let Some(etag) = etag {
                    batch.changes.etags.push((path, etag));
                }
                let repo = self.repo.to_string();
                Ok(Some(
                    value
                        .iter()
                        .map(|job| JobFacts::from_job(&repo, attempt, job))
                        .collect(),
                ))
            }
        }
    }

    /// Commit metrics, fetched once per SHA: from this batch, the store, or GitHub.
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
        if let Some(facts) = self.store.commit_facts(self.repo, sha).await? {
            return Ok(Some(facts));
        }
        let fetched = match self.client.get_commit_with_pulls(self.repo, sha).await {
            Ok(fetched) => fetched,
            Err(
                GithubError::NotFound { .. }
                | GithubError::Gone { .. }
                | GithubError::Status { status: 422, .. },
            ) => {
                tracing::warn!(repo = %self.repo, sha, "commit not found on github (force-pushed away?); run events carry no code metrics");
                return Ok(None);
            }
            Err(error) => return Err(error.into()),
        };
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

    /// Stores the run's latest state and queues its events.
    fn record(&self, facts: RunFacts, source: Source, batch: &mut Batch) {
        self.queue_events(&facts, source, batch);
        batch.changes.runs.push(RunUpdate { facts });
    }

    /// Job events first, then the run's, so a consumer sees a run complete after its jobs.
    fn queue_events(&self, facts: &RunFacts, source: Source, batch: &mut Batch) {
        for job in &facts.jobs {
            batch
                .changes
                .events
                .extend(self.encoder.job_event(job, source));
        }
        batch
            .changes
            .events
            .extend(self.encoder.run_event(facts, source));
    }
}

/// Whether GitHub's view of a run differs from the stored one in anything we publish.
fn differs(stored: &StoredRun, run: &WorkflowRun) -> bool {
    stored.run_attempt != run.run_attempt
        || stored.status != run.status()
        || stored.conclusion != run.conclusion
        || stored.updated_at != run.updated_at
}
