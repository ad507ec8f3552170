//! The Actions, commit and organisation endpoints the pipeline agent reads, with GitHub's quirks:
//! jobs and commit files are paginated, and only the first page of a list is asked conditionally
//! (its ETag changes whenever anything in the list does).

use gha_ingest_core::github::{
    Commit, JobList, OrgRepository, PullRequestSummary, RunList, WorkflowJob, WorkflowRun,
};
use gha_ingest_core::RepoName;
use serde::de::DeserializeOwned;

use crate::client::{Fetched, GithubClient};
use crate::error::GithubError;

/// GitHub pages lists at most 100 items.
const MAX_PER_PAGE: u32 = 100;
/// GitHub lists commit files 300 to a page, up to 3,000.
const MAX_COMMIT_FILE_PAGES: usize = 10;

/// Filters of `GET /repos/{owner}/{repo}/actions/runs`. Any filter caps results at 1,000.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    /// GitHub date syntax: `2026-01-01T00:00:00Z..2026-01-02T00:00:00Z`, `>=2026-01-01T00:00:00Z`.
    pub created: Option<String>,
    /// A status or conclusion: `queued`, `in_progress`, `completed`, `failure`, ...
    pub status: Option<String>,
}

impl RunQuery {
    /// The first page's path, which is also the key its ETag is stored under.
    pub fn first_page_path(&self, repo: &RepoName) -> String {
        let mut path = format!("/repos/{repo}/actions/runs?per_page={MAX_PER_PAGE}");
        if let Some(status) = &self.status {
            path.push_str("&status=");
            path.push_str(&encode(status));
        }
        if let Some(created) = &self.created {
            path.push_str("&created=");
            path.push_str(&encode(created));
        }
        path
    }
}

/// A commit's metrics inputs gathered across its pages, and the pull requests that contain it.
#[derive(Debug, Clone)]
pub struct CommitWithPulls {
    pub commit: Commit,
    pub files_changed_count: u64,
    /// `(number, id)` of each pull request GitHub associates with the commit.
    pub pulls: Vec<(u64, u64)>,
}

impl GithubClient {
    /// One page of runs (the first, conditionally on `etag`; or the page `next_page` names).
    pub async fn list_runs_page(
        &self,
        path: &str,
        etag: Option<&str>,
    ) -> Result<Fetched<RunList>, GithubError> {
        self.get_json(path, etag).await
    }

    pub async fn get_run(
        &self,
        repo: &RepoName,
        run_id: u64,
        etag: Option<&str>,
    ) -> Result<Fetched<WorkflowRun>, GithubError> {
        self.get_json(&run_path(repo, run_id), etag).await
    }

    /// The run as it was for one attempt (there is no endpoint listing attempts: they are 1..=n).
    pub async fn get_run_attempt(
        &self,
        repo: &RepoName,
        run_id: u64,
        attempt: u32,
    ) -> Result<WorkflowRun, GithubError> {
        let path = format!("/repos/{repo}/actions/runs/{run_id}/attempts/{attempt}");
        self.get_unconditional(&path).await
    }

    /// All jobs of one attempt, every page; conditional on the first page's `etag`.
    pub async fn list_attempt_jobs(
        &self,
        repo: &RepoName,
        run_id: u64,
        attempt: u32,
        etag: Option<&str>,
    ) -> Result<Fetched<Vec<WorkflowJob>>, GithubError> {
        self.list_jobs(&attempt_jobs_path(repo, run_id, attempt), etag)
            .await
    }

    /// All jobs of a run's latest attempt, every page. The fallback for servers without the
    /// per-attempt endpoint (older GitHub Enterprise Server releases).
    pub async fn list_latest_jobs(
        &self,
        repo: &RepoName,
        run_id: u64,
        etag: Option<&str>,
    ) -> Result<Fetched<Vec<WorkflowJob>>, GithubError> {
        self.list_jobs(&latest_jobs_path(repo, run_id), etag).await
    }

    /// Every page of a job list. A job GitHub sent malformed is left out with a warning: the
    /// other jobs of the run, and the run itself, still go out.
    async fn list_jobs(
        &self,
        first: &str,
        etag: Option<&str>,
    ) -> Result<Fetched<Vec<WorkflowJob>>, GithubError> {
        let (page, etag, mut next_page) = match self.get_json::<JobList>(first, etag).await? {
            Fetched::NotModified => return Ok(Fetched::NotModified),
            Fetched::Modified {
                value,
                etag,
                next_page,
            } => (value, etag, next_page),
        };
        warn_of_malformed_jobs(first, &page);
        let mut jobs = page.jobs;
        while let Some(path) = next_page.take() {
            if let Fetched::Modified {
                value,
                next_page: following,
                ..
            } = self.get_json::<JobList>(&path, None).await?
            {
                warn_of_malformed_jobs(&path, &value);
                jobs.extend(value.jobs);
                next_page = following;
            }
        }
        Ok(Fetched::Modified {
            value: jobs,
            etag,
            next_page: None,
        })
    }

    /// The commit with its file count summed over every page of files, and its pull requests.
    pub async fn get_commit_with_pulls(
        &self,
        repo: &RepoName,
        sha: &str,
    ) -> Result<CommitWithPulls, GithubError> {
        let sha = encode(sha);
        let (commit, mut next_page) = match self
            .get_json::<Commit>(&format!("/repos/{repo}/commits/{sha}"), None)
            .await?
        {
            Fetched::Modified {
                value, next_page, ..
            } => (value, next_page),
            Fetched::NotModified => unreachable!("an unconditional request is never answered 304"),
        };
        let mut files_changed_count = commit.files.len() as u64;
        let mut pages = 1;
        while let (Some(path), true) = (next_page.take(), pages < MAX_COMMIT_FILE_PAGES) {
            match self.get_json::<Commit>(&path, None).await? {
                Fetched::Modified {
                    value,
                    next_page: following,
                    ..
                } => {
                    files_changed_count += value.files.len() as u64;
                    next_page = following;
                }
                Fetched::NotModified => break,
            }
            pages += 1;
        }
        let pulls_path = format!("/repos/{repo}/commits/{sha}/pulls?per_page={MAX_PER_PAGE}");
        let pulls: Vec<PullRequestSummary> = match self.get_all_pages(&pulls_path).await {
            Ok(pulls) => pulls,
            // A server without this endpoint (or a commit no branch holds any more) still has
            // the commit's own facts: keep them, with no pull requests.
            Err(error) if error.class() == crate::ErrorClass::NotFound => {
                tracing::warn!(repo = %repo, sha, cause = %error, "pull requests of the commit cannot be listed; publishing the commit without them");
                Vec::new()
            }
            Err(error) => return Err(error),
        };
        Ok(CommitWithPulls {
            commit,
            files_changed_count,
            pulls: pulls.iter().map(|pull| (pull.number, pull.id)).collect(),
        })
    }

    /// Every repository of an organisation.
    pub async fn list_org_repos(&self, org: &str) -> Result<Vec<OrgRepository>, GithubError> {
        self.get_all_pages(&format!(
            "/orgs/{}/repos?per_page={MAX_PER_PAGE}&type=all",
            encode(org)
        ))
        .await
    }

    /// Every repository the credential's installation can read (`GET /installation/repositories`).
    pub async fn list_installation_repos(&self) -> Result<Vec<OrgRepository>, GithubError> {
        #[derive(serde::Deserialize)]
        struct Page {
            repositories: Vec<OrgRepository>,
        }
        let mut repositories = Vec::new();
        let mut next_page = Some(format!(
            "/installation/repositories?per_page={MAX_PER_PAGE}"
        ));
        while let Some(path) = next_page.take() {
            if let Fetched::Modified {
                value,
                next_page: following,
                ..
            } = self.get_json::<Page>(&path, None).await?
            {
                repositories.extend(value.repositories);
                next_page = following;
            }
        }
        Ok(repositories)
    }

    async fn get_unconditional<T: DeserializeOwned>(&self, path: &str) -> Result<T, GithubError> {
        match self.get_json(path, None).await? {
            Fetched::Modified { value, .. } => Ok(value),
            Fetched::NotModified => unreachable!("an unconditional request is never answered 304"),
        }
    }

    /// A list endpoint whose body is a JSON array, every page of it.
    async fn get_all_pages<T: DeserializeOwned>(&self, first: &str) -> Result<Vec<T>, GithubError> {
        let mut items = Vec::new();
        let mut next_page = Some(first.to_string());
        while let Some(path) = next_page.take() {
            match self.get_json::<Vec<T>>(&path, None).await? {
                Fetched::Modified {
                    value,
                    next_page: following,
                    ..
                } => {
                    items.extend(value);
                    next_page = following;
                }
                Fetched::NotModified => break,
            }
        }
        Ok(items)
    }
}

/// The repositories of a listing worth following: neither archived nor disabled, with a name
/// that parses (any other is logged and left out). `source` names the listing in the log.
pub fn followable_repositories(listed: &[OrgRepository], source: &str) -> Vec<RepoName> {
    listed
        .iter()
        .filter(|listed| !listed.archived && !listed.disabled)
        .filter_map(|listed| match listed.full_name.parse::<RepoName>() {
            Ok(repo) => Some(repo),
            Err(error) => {
                tracing::warn!(source, cause = %error, "skipping unexpected repository name");
                None
            }
        })
        .collect()
}

fn warn_of_malformed_jobs(path: &str, page: &JobList) {
    for item in &page.malformed {
        tracing::warn!(path, job_id = ?item.id, cause = %item.error, "a job github sent malformed is left out");
    }
}

/// The request path of a run, also the key its ETag is stored under.
pub fn run_path(repo: &RepoName, run_id: u64) -> String {
    format!("/repos/{repo}/actions/runs/{run_id}")
}

/// The first page of an attempt's jobs, also the key its ETag is stored under.
pub fn attempt_jobs_path(repo: &RepoName, run_id: u64, attempt: u32) -> String {
    format!("/repos/{repo}/actions/runs/{run_id}/attempts/{attempt}/jobs?per_page={MAX_PER_PAGE}")
}

/// The first page of a run's latest attempt's jobs, also the key its ETag is stored under.
pub fn latest_jobs_path(repo: &RepoName, run_id: u64) -> String {
    format!("/repos/{repo}/actions/runs/{run_id}/jobs?filter=latest&per_page={MAX_PER_PAGE}")
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_query_paths_are_encoded_and_stable() {
        let repo: RepoName = "octo/hello".parse().unwrap();
        let query = RunQuery {
            created: Some("2026-01-01T00:00:00Z..2026-01-02T00:00:00Z".into()),
            status: None,
        };
        assert_eq!(
            query.first_page_path(&repo),
            "/repos/octo/hello/actions/runs?per_page=100&created=2026-01-01T00%3A00%3A00Z..2026-01-02T00%3A00%3A00Z"
        );
        assert_eq!(
            RunQuery::default().first_page_path(&repo),
            "/repos/octo/hello/actions/runs?per_page=100"
        );
    }
}
