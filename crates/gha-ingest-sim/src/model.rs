//! The generated world: repositories, workflows, runs with their attempts, jobs and steps, and
//! commits. Everything here is a *plan* (when each thing is requested, starts and ends); the state
//! at any moment is computed from the plan and the clock by `lifecycle`, and rendered to JSON by
//! `payloads`. Nothing here knows about HTTP.

use std::collections::HashMap;

use serde_json::Value;

use crate::clock::Millis;

/// First run id handed out; GitHub's ids are in this range in the API description examples.
pub(crate) const FIRST_RUN_ID: u64 = 30_000_000;
/// First job id handed out.
pub(crate) const FIRST_JOB_ID: u64 = 400_000_000;
/// First check suite id handed out.
pub(crate) const FIRST_CHECK_SUITE_ID: u64 = 90_000_000;
/// First repository id handed out.
pub(crate) const FIRST_REPO_ID: u64 = 1_296_269;
/// First organisation (owner) id handed out.
pub(crate) const FIRST_OWNER_ID: u64 = 9_919;
/// First workflow id handed out.
pub(crate) const FIRST_WORKFLOW_ID: u64 = 159_038;

/// A repository and the precomputed JSON objects every payload of it embeds.
#[derive(Debug)]
pub(crate) struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub full_name: String,
    pub default_branch: String,
    pub workflows: Vec<Workflow>,
    /// `(created_ms, run_id)`, sorted ascending: the list endpoint walks it backwards.
    pub runs_by_created: Vec<(Millis, u64)>,
    pub commits: HashMap<String, Commit>,
    /// Branch (or tag) name → the SHA of its head commit: the commit of the newest run created
    /// on it. `GET /commits/{ref}` resolves names through it.
    pub branch_heads: HashMap<String, String>,
    /// When the repository was added: its `created_at`.
    pub created_ms: Millis,
    pub next_pull_number: u64,
    pub rendered: RepoJson,
}

/// The repository objects as they appear inside payloads, built once per repository.
#[derive(Debug, Clone)]
pub(crate) struct RepoJson {
    /// `repository` inside a run (minimal-repository, the run example's field set).
    pub run_repository: Value,
    /// `head_repository` inside a run (the run example's field set for it).
    pub run_head_repository: Value,
    /// The full repository object (`GET /repos/{o}/{r}`, `/orgs/{org}/repos`, PR head/base).
    pub full: Value,
    /// The owner as a simple-user object.
    pub owner_user: Value,
    /// `repository` of a webhook delivery: the webhook example's field set, `full`'s values.
    pub webhook: Value,
    /// `organization` of a webhook delivery (every simulated owner is an organisation).
    pub organization: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct Workflow {
    pub id: u64,
    pub name: String,
    pub file_name: String,
    /// Job names in order; a run of this workflow uses the first 1–4.
    pub job_names: Vec<String>,
    pub next_run_number: u64,
}

#[derive(Debug)]
pub(crate) struct Run {
    pub id: u64,
    pub repo_index: usize,
    pub workflow_index: usize,
    pub run_number: u64,
    pub event: String,
    pub head_branch: Option<String>,
    pub head_sha: String,
    pub actor_index: usize,
    pub created_ms: Millis,
    /// Durations and job count a re-run repeats (attempt 1's plan before any cancellation).
    pub base_queue_ms: Millis,
    pub base_run_ms: Millis,
    pub base_job_count: usize,
    /// Names of the jobs of every attempt (the workflow's, or the run spec's `job_names`).
    pub job_names: Vec<String>,
    /// Attempt 1 first; the last one is the latest.
    pub attempts: Vec<Attempt>,
}

impl Run {
    pub(crate) fn latest_attempt(&self) -> &Attempt {
        // A run is never stored without its first attempt.
        &self.attempts[self.attempts.len() - 1]
    }

    pub(crate) fn attempt(&self, number: u32) -> Option<&Attempt> {
        let index = usize::try_from(number).ok()?.checked_sub(1)?;
        self.attempts.get(index)
    }
}

/// One execution of a run. Its timeline: requested → (optional pre-queue status) → queued →
/// in_progress → completed.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub number: u32,
    pub requested_ms: Millis,
    /// `waiting`, `pending` or `requested` before the attempt is queued, for `pre_queue_ms`.
    pub pre_queue_status: Option<String>,
    pub pre_queue_ms: Millis,
    pub queue_ms: Millis,
    pub run_ms: Millis,
    pub conclusion: String,
    pub triggering_actor_index: usize,
    pub check_suite_id: u64,
    pub jobs: Vec<JobPlan>,
}

impl Attempt {
    pub(crate) fn queued_ms(&self) -> Millis {
        self.requested_ms + self.pre_queue_ms
    }

    pub(crate) fn started_ms(&self) -> Millis {
        self.queued_ms() + self.queue_ms
    }

    pub(crate) fn completed_ms(&self) -> Millis {
        self.started_ms() + self.run_ms
    }
}

#[derive(Debug, Clone)]
pub(crate) struct JobPlan {
    pub id: u64,
    pub name: String,
    pub labels: Vec<String>,
    pub runner: RunnerInfo,
    /// Offsets from the attempt's start.
    pub start_offset_ms: Millis,
    pub end_offset_ms: Millis,
    pub conclusion: String,
    pub steps: Vec<StepPlan>,
    pub step_time_style: StepTimeStyle,
    /// Whether the job's fixture log starts with a UTF-8 byte-order mark (seen in the wild).
    pub log_has_bom: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RunnerInfo {
    pub id: u64,
    pub name: String,
    pub group_id: u64,
    pub group_name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct StepPlan {
    pub number: u32,
    pub name: String,
    /// Offsets from the job's start.
    pub start_offset_ms: Millis,
    pub end_offset_ms: Millis,
    pub conclusion: String,
}

/// How a job's step timestamps are written: GitHub mixes forms (quirk 4 in GITHUB-API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepTimeStyle {
    /// `2020-01-20T09:42:40.000-08:00`, as in the API description's job example.
    PacificOffset,
    /// `2020-01-20T17:42:40.000+00:00`.
    UtcOffset,
    /// `2021-08-05T10:26:08.000Z`, as in the webhook examples.
    UtcZ,
}

#[derive(Debug, Clone)]
pub(crate) struct Commit {
    pub sha: String,
    pub tree_sha: String,
    pub parent_sha: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub author_index: usize,
    pub timestamp_ms: Millis,
    pub file_count: usize,
    pub additions: u64,
    pub deletions: u64,
    pub pulls: Vec<PullPlan>,
}

#[derive(Debug, Clone)]
pub(crate) struct PullPlan {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub head_ref: String,
    pub base_ref: String,
    /// Open PRs contain the commit; a merged (closed) PR introduced it to the default branch.
    pub is_open: bool,
    pub created_ms: Millis,
}

/// A user that acts in the world (actor, triggering actor, commit author).
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub login: String,
    pub display_name: String,
    pub email: String,
    pub json: Value,
}

/// Where a job lives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobLocation {
    pub run_id: u64,
    pub attempt_number: u32,
    pub job_index: usize,
}
