//! The HTTP surface: the API origin's GitHub routes (`api` runs the shared pipeline, `actions`
//! and `repos` answer), the log origin (`log_host`), and route matching (this file).
//!
//! API paths are matched by hand rather than by axum's router so every answer, including a bad
//! id or an unknown path, is GitHub's JSON, and every request is counted under its template.

pub(crate) mod actions;
pub(crate) mod api;
pub(crate) mod log_host;
pub(crate) mod repos;

use axum::http::Method;

/// How a request names a repository: `/repos/{owner}/{repo}` or `/repositories/{id}` (the form
/// GitHub's own `Link` headers use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RepoRef {
    Name { owner: String, name: String },
    Id(u64),
}

/// How a request names an organisation: `/orgs/{org}` or `/organizations/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OrgRef {
    Login(String),
    Id(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RepoResource {
    Repository,
    ListRuns,
    Run(u64),
    Attempt(u64, u32),
    AttemptJobs(u64, u32),
    RunJobs(u64),
    Job(u64),
    JobLogs(u64),
    Commit(String),
    CommitPulls(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiRoute {
    RateLimit,
    OrgRepos(OrgRef),
    Repo(RepoRef, RepoResource),
    Unknown,
}

impl ApiRoute {
    pub(crate) fn parse(method: &Method, path: &str) -> Self {
        if method != Method::GET && method != Method::HEAD {
            return ApiRoute::Unknown;
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["rate_limit"] => ApiRoute::RateLimit,
            ["orgs", org, "repos"] => ApiRoute::OrgRepos(OrgRef::Login((*org).to_string())),
            ["organizations", id, "repos"] => match id.parse() {
                Ok(id) => ApiRoute::OrgRepos(OrgRef::Id(id)),
                Err(_) => ApiRoute::Unknown,
            },
            ["repos", owner, name, rest @ ..] => {
                let repo = RepoRef::Name {
                    owner: (*owner).to_string(),
                    name: (*name).to_string(),
                };
                parse_repo_resource(rest)
                    .map_or(ApiRoute::Unknown, |resource| ApiRoute::Repo(repo, resource))
            }
            ["repositories", id, rest @ ..] => match (id.parse(), parse_repo_resource(rest)) {
                (Ok(id), Some(resource)) => ApiRoute::Repo(RepoRef::Id(id), resource),
                _ => ApiRoute::Unknown,
            },
            _ => ApiRoute::Unknown,
        }
    }

    /// The template requests are counted under.
    pub(crate) fn template(&self) -> &'static str {
        match self {
            ApiRoute::RateLimit => "GET /rate_limit",
            ApiRoute::OrgRepos(_) => "GET /orgs/{org}/repos",
            ApiRoute::Repo(_, resource) => match resource {
                RepoResource::Repository => "GET /repos/{owner}/{repo}",
                RepoResource::ListRuns => "GET /repos/{owner}/{repo}/actions/runs",
                RepoResource::Run(_) => "GET /repos/{owner}/{repo}/actions/runs/{run_id}",
                RepoResource::Attempt(..) => {
                    "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}"
                }
                RepoResource::AttemptJobs(..) => {
                    "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs"
                }
                RepoResource::RunJobs(_) => "GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
                RepoResource::Job(_) => "GET /repos/{owner}/{repo}/actions/jobs/{job_id}",
                RepoResource::JobLogs(_) => "GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs",
                RepoResource::Commit(_) => "GET /repos/{owner}/{repo}/commits/{ref}",
                RepoResource::CommitPulls(_) => {
                    "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls"
                }
            },
            ApiRoute::Unknown => "GET {unknown}",
        }
    }
}

fn parse_repo_resource(rest: &[&str]) -> Option<RepoResource> {
    let resource = match rest {
        [] => RepoResource::Repository,
        ["actions", "runs"] => RepoResource::ListRuns,
        ["actions", "runs", run_id] => RepoResource::Run(run_id.parse().ok()?),
        ["actions", "runs", run_id, "jobs"] => RepoResource::RunJobs(run_id.parse().ok()?),
        ["actions", "runs", run_id, "attempts", attempt] => {
            RepoResource::Attempt(run_id.parse().ok()?, attempt.parse().ok()?)
        }
        ["actions", "runs", run_id, "attempts", attempt, "jobs"] => {
            RepoResource::AttemptJobs(run_id.parse().ok()?, attempt.parse().ok()?)
        }
        ["actions", "jobs", job_id] => RepoResource::Job(job_id.parse().ok()?),
        ["actions", "jobs", job_id, "logs"] => RepoResource::JobLogs(job_id.parse().ok()?),
        ["commits", sha, "pulls"] => RepoResource::CommitPulls(percent_decoded(sha)),
        // A branch or tag name may hold slashes (`release/v2`, `refs/heads/main`).
        ["commits", reference @ ..] if !reference.is_empty() => {
            RepoResource::Commit(percent_decoded(&reference.join("/")))
        }
        _ => return None,
    };
    Some(resource)
}

/// A path segment as text: `%2F`, `%EF%BF%BE` and the like decoded (lossily, if not UTF-8).
fn percent_decoded(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_repository_forms_reach_the_same_resource() {
        let by_name = ApiRoute::parse(
            &Method::GET,
            "/repos/acme/app/actions/runs/30000001/attempts/2/jobs",
        );
        let by_id = ApiRoute::parse(
            &Method::GET,
            "/repositories/1296269/actions/runs/30000001/attempts/2/jobs",
        );
        assert_eq!(by_name.template(), by_id.template());
        assert!(matches!(
            by_id,
            ApiRoute::Repo(
                RepoRef::Id(1_296_269),
                RepoResource::AttemptJobs(30_000_001, 2)
            )
        ));
    }

    #[test]
    fn commit_refs_keep_their_slashes_and_are_decoded() {
        assert_eq!(
            ApiRoute::parse(&Method::GET, "/repos/a/b/commits/release/v2"),
            ApiRoute::Repo(
                RepoRef::Name {
                    owner: "a".into(),
                    name: "b".into()
                },
                RepoResource::Commit("release/v2".into())
            )
        );
        assert!(matches!(
            ApiRoute::parse(&Method::GET, "/repos/a/b/commits/fix%EF%BF%BE%2Bx"),
            ApiRoute::Repo(_, RepoResource::Commit(reference)) if reference == "fix\u{fffe}+x"
        ));
        assert!(matches!(
            ApiRoute::parse(&Method::GET, "/repos/a/b/commits/abc1234/pulls"),
            ApiRoute::Repo(_, RepoResource::CommitPulls(sha)) if sha == "abc1234"
        ));
    }

    #[test]
    fn malformed_ids_and_other_methods_are_unknown() {
        assert_eq!(
            ApiRoute::parse(&Method::GET, "/repos/a/b/actions/runs/abc"),
            ApiRoute::Unknown
        );
        assert_eq!(
            ApiRoute::parse(&Method::POST, "/repos/a/b/actions/runs"),
            ApiRoute::Unknown
        );
        assert_eq!(
            ApiRoute::parse(&Method::GET, "/rate_limit"),
            ApiRoute::RateLimit
        );
    }
}
