//! What a caller may ask of a new run, and the simulator's error type.

use serde::{Deserialize, Serialize};

/// A run to create "now" (see `SimHandle::create_run`). Every field has a default, so
/// `RunSpec { jobs: 3, ..Default::default() }` reads well; over HTTP the same fields are JSON.
///
/// The default run is deliberately plain: event `push` on the default branch `main`, workflow
/// "CI", 2 jobs, queued for 10 s, in progress for 60 s, then `success`; a fresh commit touching
/// 1–10 files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSpec {
    /// Number of jobs (job names come from the workflow: "build", "test (ubuntu-latest)", …).
    pub jobs: usize,
    /// Seconds the run stays `queued`.
    pub queue_secs: u64,
    /// Seconds the run stays `in_progress` before it is `completed`.
    pub run_secs: u64,
    /// Commit to run on; a new random commit when `None`. Runs may share a commit.
    pub head_sha: Option<String>,
    /// Final conclusion, GitHub's word (`success`, `failure`, `cancelled`, `skipped`,
    /// `startup_failure`, `timed_out`, …); `success` when `None`. A `startup_failure` run has no
    /// jobs.
    pub conclusion: Option<String>,
    /// Triggering event; `push` when `None`.
    pub event: Option<String>,
    /// Branch (any text, U+FFFE included); the repository's default branch `main` when `None`.
    /// The run's commit becomes the branch's head, so `GET /commits/{branch}` answers it.
    pub head_branch: Option<String>,
    /// The head commit's full message (any size, any characters), replacing a generated one
    /// (of a new commit, or of the existing `head_sha`). Its first line is the run's
    /// `display_title`, as on GitHub for a push.
    pub commit_message: Option<String>,
    /// Names of the jobs, in order, replacing the workflow's; when set there are exactly this
    /// many jobs (`jobs` is ignored), in every attempt.
    pub job_names: Option<Vec<String>>,
    /// Workflow name (`CI`, `Lint` or `Release`); `CI` when `None` or unknown.
    pub workflow: Option<String>,
    /// Files the commit touches (a new commit, or overriding an existing one); more than 300
    /// makes `GET /commits/{sha}` paginate its files.
    pub commit_files: Option<usize>,
    /// A status shown before `queued` (`waiting`, `pending` or `requested`), for
    /// `pre_queue_secs`. Jobs show `waiting` while the run is `waiting`.
    pub pre_queue_status: Option<String>,
    /// Seconds the pre-queue status lasts.
    pub pre_queue_secs: u64,
}

impl Default for RunSpec {
    fn default() -> Self {
        Self {
            jobs: 2,
            queue_secs: 10,
            run_secs: 60,
            head_sha: None,
            conclusion: None,
            event: None,
            head_branch: None,
            commit_message: None,
            job_names: None,
            workflow: None,
            commit_files: None,
            pre_queue_status: None,
            pre_queue_secs: 0,
        }
    }
}

/// What can go wrong when driving the simulator through its handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("repository name {0:?} is not of the form owner/name")]
    InvalidRepoName(String),
    #[error("unknown repository {0}")]
    UnknownRepo(String),
    #[error("unknown run {run_id} in {repo}")]
    UnknownRun { repo: String, run_id: u64 },
    #[error("invalid GitHub App public key: {0}")]
    InvalidAppKey(String),
    #[error("unknown GitHub App {0}")]
    UnknownApp(u64),
    #[error("unknown installation {0}")]
    UnknownInstallation(u64),
    #[error("invalid webhook URL: {0}")]
    InvalidWebhookUrl(String),
}
