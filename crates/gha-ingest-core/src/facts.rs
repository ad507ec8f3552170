//! The facts each event carries, built from GitHub's payloads.
//!
//! These structs are the stable schema of `data` (see `docs/schema/`): field names come from the
//! original requirement (`run_id`, `workflow_name`, `duration_seconds`, `jobs[].steps[]`,
//! `code_metrics`, ...) and are only ever added to. Values are GitHub's, unchanged, except that
//! times are normalised to UTC and durations are derived from them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::github::{Commit, WorkflowJob, WorkflowRun, WorkflowStep};

/// One attempt of a workflow run, as observed in one status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFacts {
    pub repo: String,
    pub run_id: u64,
    pub run_attempt: u32,
    pub run_number: Option<u64>,
    pub workflow_id: Option<u64>,
    pub workflow_name: Option<String>,
    pub workflow_path: Option<String>,
    pub display_title: Option<String>,
    pub status: String,
    pub conclusion: Option<String>,
    pub event: Option<String>,
    pub head_branch: Option<String>,
    pub head_sha: String,
    pub html_url: Option<String>,
    pub actor: Option<String>,
    pub triggering_actor: Option<String>,
    /// Numbers of the pull requests GitHub lists on the run (empty for forks).
    pub pull_requests: Vec<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub run_started_at: Option<DateTime<Utc>>,
    /// From the attempt's creation (`created_at` for attempt 1, `run_started_at` after a re-run)
    /// to the first job's start; null until a job started.
    pub queue_seconds: Option<f64>,
    /// From `run_started_at` to `updated_at`; only for completed runs.
    pub duration_seconds: Option<f64>,
    /// The jobs of this attempt as known when the event was produced.
    pub jobs: Vec<JobFacts>,
    /// The head commit's metrics, once fetched.
    pub code_metrics: Option<CommitFacts>,
    /// Present (true) only when this attempt's jobs could not be read when the event was made:
    /// `jobs` is then empty or stale, and the jobs follow in their own events once readable (or
    /// a `workflow_jobs_unavailable` event says why not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub jobs_unavailable: bool,
}

/// A job of one run attempt, as observed in one status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFacts {
    pub repo: String,
    pub run_id: u64,
    pub run_attempt: u32,
    pub job_id: u64,
    pub job_name: Option<String>,
    pub workflow_name: Option<String>,
    pub status: String,
    pub conclusion: Option<String>,
    pub head_sha: Option<String>,
    pub head_branch: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// From `created_at` to `started_at`, when both are known.
    pub queue_seconds: Option<f64>,
    /// From `started_at` to `completed_at`; only for completed jobs.
    pub duration_seconds: Option<f64>,
    pub html_url: Option<String>,
    pub runner_id: Option<u64>,
    pub runner_name: Option<String>,
    pub runner_group_id: Option<u64>,
    pub runner_group_name: Option<String>,
    pub labels: Vec<String>,
    /// Ordered by step number; numbers are GitHub's and may skip.
    pub steps: Vec<StepFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFacts {
    pub number: i64,
    pub step_name: Option<String>,
    pub status: Option<String>,
    pub conclusion: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
}

/// What one commit changed, fetched once per repository and SHA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitFacts {
    pub repo: String,
    pub commit_sha: String,
    pub commit_message: String,
    pub commit_author: CommitAuthor,
    pub committed_at: Option<DateTime<Utc>>,
    pub files_changed_count: u64,
    pub additions: u64,
    pub deletions: u64,
    pub pull_request_numbers: Vec<u64>,
    pub pull_request_ids: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitAuthor {
    pub name: Option<String>,
    pub email: Option<String>,
    /// The GitHub account, when GitHub could match the email to one.
    pub login: Option<String>,
}

impl RunFacts {
    pub fn from_run(
        repo: &str,
        run: &WorkflowRun,
        jobs: Vec<JobFacts>,
        code_metrics: Option<CommitFacts>,
    ) -> Self {
        let duration_seconds = match (run.is_completed(), run.run_started_at) {
            (true, Some(started)) => seconds_between(started, run.updated_at),
            _ => None,
        };
        RunFacts {
            repo: repo.to_string(),
            run_id: run.id,
            run_attempt: run.run_attempt,
            run_number: run.run_number,
            workflow_id: run.workflow_id,
            workflow_name: run.name.clone(),
            workflow_path: run.path.clone(),
            display_title: run.display_title.clone(),
            status: run.status().to_string(),
            conclusion: run.conclusion.clone(),
            event: run.event.clone(),
            head_branch: run.head_branch.clone(),
            head_sha: run.head_sha.clone(),
            html_url: run.html_url.clone(),
            actor: run.actor.as_ref().map(|account| account.login.clone()),
            triggering_actor: run
                .triggering_actor
                .as_ref()
                .map(|account| account.login.clone()),
            pull_requests: run.pull_requests.iter().map(|pull| pull.number).collect(),
            created_at: run.created_at,
            updated_at: run.updated_at,
            run_started_at: run.run_started_at,
            queue_seconds: None,
            duration_seconds,
            jobs: Vec::new(),
            code_metrics,
            jobs_unavailable: false,
        }
        .with_jobs(jobs)
    }
}

impl RunFacts {
    /// The same run with a newer view of its jobs (a job moved while the run did not).
    pub fn with_jobs(mut self, jobs: Vec<JobFacts>) -> Self {
        let attempt_created_at = if self.run_attempt > 1 {
            self.run_started_at.unwrap_or(self.created_at)
        } else {
            self.created_at
        };
        let first_job_started = jobs.iter().filter_map(|job| job.started_at).min();
        self.queue_seconds =
            first_job_started.and_then(|started| seconds_between(attempt_created_at, started));
        self.jobs = jobs;
        self.jobs_unavailable = false;
        self
    }
}

/// An entity gha-ingest gave up reading after retries: the `data` of `workflow_run_unavailable`,
/// `workflow_jobs_unavailable` and `commit_metrics_unavailable` events. It says which fact will
/// not come, and why, so a consumer never waits for it in silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnavailableFacts {
    pub repo: String,
    /// `run`, `attempt`, `jobs` or `commit`.
    pub entity: String,
    pub run_id: Option<u64>,
    pub run_attempt: Option<u32>,
    pub commit_sha: Option<String>,
    /// `not_found` (deleted, or an endpoint the server lacks), `gone`, `server_error`,
    /// `malformed`, `rejected`, ...
    pub reason: String,
    /// The last error, for people.
    pub detail: String,
    /// How many poll cycles tried it.
    pub attempts: u32,
    pub first_failed_at: DateTime<Utc>,
}

impl JobFacts {
    pub fn from_job(repo: &str, run_attempt: u32, job: &WorkflowJob) -> Self {
        let mut steps: Vec<StepFacts> = job.steps.iter().map(StepFacts::from_step).collect();
        steps.sort_by_key(|step| step.number);
        let duration_seconds = match (job.is_completed(), job.started_at, job.completed_at) {
            (true, Some(started), Some(completed)) => seconds_between(started, completed),
            _ => None,
        };
        JobFacts {
            repo: repo.to_string(),
            run_id: job.run_id,
            run_attempt: job.run_attempt.unwrap_or(run_attempt),
            job_id: job.id,
            job_name: job.name.clone(),
            workflow_name: job.workflow_name.clone(),
            status: job.status().to_string(),
            conclusion: job.conclusion.clone(),
            head_sha: job.head_sha.clone(),
            head_branch: job.head_branch.clone(),
            created_at: job.created_at,
            started_at: job.started_at,
            completed_at: job.completed_at,
            queue_seconds: match (job.created_at, job.started_at) {
                (Some(created), Some(started)) => seconds_between(created, started),
                _ => None,
            },
            duration_seconds,
            html_url: job.html_url.clone(),
            runner_id: job.runner_id,
            runner_name: job.runner_name.clone(),
            runner_group_id: job.runner_group_id,
            runner_group_name: job.runner_group_name.clone(),
            labels: job.labels.clone(),
            steps,
        }
    }

    pub fn is_completed(&self) -> bool {
        self.status == crate::github::STATUS_COMPLETED
    }
}

impl StepFacts {
    fn from_step(step: &WorkflowStep) -> Self {
        let duration_seconds = match (step.started_at, step.completed_at) {
            (Some(started), Some(completed)) => seconds_between(started, completed),
            _ => None,
        };
        StepFacts {
            number: step.number,
            step_name: step.name.clone(),
            status: step.status.clone(),
            conclusion: step.conclusion.clone(),
            started_at: step.started_at,
            completed_at: step.completed_at,
            duration_seconds,
        }
    }
}

impl CommitFacts {
    /// `files_changed_count` is passed in because past 300 files GitHub paginates the list: the
    /// caller counts across pages, while `stats` already covers the whole commit.
    pub fn from_commit(
        repo: &str,
        commit: &Commit,
        files_changed_count: u64,
        pulls: &[(u64, u64)],
    ) -> Self {
        let author = commit.commit.author.as_ref();
        let stats = commit.stats.unwrap_or_default();
        CommitFacts {
            repo: repo.to_string(),
            commit_sha: commit.sha.clone(),
            commit_message: commit.commit.message.clone(),
            commit_author: CommitAuthor {
                name: author.and_then(|identity| identity.name.clone()),
                email: author.and_then(|identity| identity.email.clone()),
                login: commit.author.as_ref().map(|account| account.login.clone()),
            },
            committed_at: commit
                .commit
                .committer
                .as_ref()
                .and_then(|identity| identity.date)
                .or_else(|| author.and_then(|identity| identity.date)),
            files_changed_count,
            additions: stats.additions,
            deletions: stats.deletions,
            pull_request_numbers: pulls.iter().map(|(number, _)| *number).collect(),
            pull_request_ids: pulls.iter().map(|(_, id)| *id).collect(),
        }
    }
}

/// Seconds from `start` to `end`, with milliseconds; `None` if the clock went backwards.
fn seconds_between(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<f64> {
    let millis = (end - start).num_milliseconds();
    (millis >= 0).then(|| millis as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_fixture() -> WorkflowRun {
        serde_json::from_str(
            r#"{"id":30433642,"name":"Build","head_branch":null,"head_sha":"acb5820ced9479c074f688cc328bf03f341a511d",
                "status":"completed","conclusion":"success","run_attempt":2,"pull_requests":[{"id":1,"number":7}],
                "created_at":"2020-01-22T19:33:08Z","updated_at":"2020-01-22T19:40:08Z",
                "run_started_at":"2020-01-22T19:35:08Z","actor":{"login":"octocat","id":1}}"#,
        )
        .unwrap()
    }

    #[test]
    fn completed_run_gets_duration_from_attempt_start() {
        let facts = RunFacts::from_run("octo/hello", &run_fixture(), vec![], None);
        assert_eq!(facts.duration_seconds, Some(300.0));
        assert_eq!(facts.pull_requests, vec![7]);
        assert_eq!(facts.head_branch, None);
        assert_eq!(facts.actor.as_deref(), Some("octocat"));
    }

    #[test]
    fn queue_time_of_a_rerun_counts_from_the_attempt_start() {
        let job: WorkflowJob = serde_json::from_str(
            r#"{"id":9,"run_id":30433642,"status":"completed","conclusion":"success",
                "started_at":"2020-01-22T19:35:38Z","completed_at":"2020-01-22T19:36:00Z",
                "steps":[{"number":16,"name":"b"},{"number":1,"name":"a"}]}"#,
        )
        .unwrap();
        let job_facts = JobFacts::from_job("octo/hello", 2, &job);
        assert_eq!(job_facts.duration_seconds, Some(22.0));
        assert_eq!(
            job_facts.steps.iter().map(|s| s.number).collect::<Vec<_>>(),
            vec![1, 16]
        );
        let facts = RunFacts::from_run("octo/hello", &run_fixture(), vec![job_facts], None);
        assert_eq!(facts.queue_seconds, Some(30.0));
    }
}
