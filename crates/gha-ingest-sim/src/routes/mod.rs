//! The HTTP surface: the API origin's GitHub routes (`api` runs the shared pipeline, `actions`,
//! `repos` and `apps` answer), the log origin (`log_host`), and route matching (this file).
//!
//! API paths are matched by hand rather than by axum's router so every answer, including a bad
//! id or an unknown path, is GitHub's JSON, and every request is counted under its template.
//! GitHub Enterprise Server serves the same API under `/api/v3`: `split_enterprise_prefix`
//! takes it off before matching.

pub(crate) mod actions;
pub(crate) mod api;
pub(crate) mod apps;
pub(crate) mod hooks;
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
    /// `GET /app`: the authenticated App (JWT).
    App,
    /// `GET /app/installations` (JWT).
    AppInstallations,
    /// `POST /app/installations/{installation_id}/access_tokens` (JWT).
    CreateInstallationToken(u64),
    /// `GET /app/hook/deliveries` (JWT).
    AppHookDeliveries,
    /// `GET /app/hook/deliveries/{delivery_id}` (JWT).
    AppHookDelivery(u64),
    /// `POST /app/hook/deliveries/{delivery_id}/attempts` (JWT).
    RedeliverAppHookDelivery(u64),
    /// `GET /installation/repositories` (installation token).
    InstallationRepositories,
    Unknown,
}

/// GitHub Enterprise Server's REST base path.
pub(crate) const ENTERPRISE_PREFIX: &str = "/api/v3";

/// `/api/v3/repos/a/b` → (`/repos/a/b`, true); any other path is returned as it is.
pub(crate) fn split_enterprise_prefix(path: &str) -> (&str, bool) {
    match path.strip_prefix(ENTERPRISE_PREFIX) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => (rest, true),
        _ => (path, false),
    }
}

impl ApiRoute {
    pub(crate) fn parse(method: &Method, path: &str) -> Self {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if method == Method::POST {
            return match segments.as_slice() {
                ["app", "installations", id, "access_tokens"] => id
                    .parse()
                    .map_or(ApiRoute::Unknown, ApiRoute::CreateInstallationToken),
                ["app", "hook", "deliveries", id, "attempts"] => id
                    .parse()
                    .map_or(ApiRoute::Unknown, ApiRoute::RedeliverAppHookDelivery),
                _ => ApiRoute::Unknown,
            };
        }
        if method != Method::GET && method != Method::HEAD {
            return ApiRoute::Unknown;
        }
        match segments.as_slice() {
            ["rate_limit"] => ApiRoute::RateLimit,
            ["app"] => ApiRoute::App,
            ["app", "installations"] => ApiRoute::AppInstallations,
            ["app", "hook", "deliveries"] => ApiRoute::AppHookDeliveries,
            ["app", "hook", "deliveries", id] => id
                .parse()
                .map_or(ApiRoute::Unknown, ApiRoute::AppHookDelivery),
            ["installation", "repositories"] => ApiRoute::InstallationRepositories,
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
            ApiRoute::App => "GET /app",
            ApiRoute::AppInstallations => "GET /app/installations",
            ApiRoute::CreateInstallationToken(_) => {
                "POST /app/installations/{installation_id}/access_tokens"
            }
            ApiRoute::AppHookDeliveries => "GET /app/hook/deliveries",
            ApiRoute::AppHookDelivery(_) => "GET /app/hook/deliveries/{delivery_id}",
            ApiRoute::RedeliverAppHookDelivery(_) => {
                "POST /app/hook/deliveries/{delivery_id}/attempts"
            }
            ApiRoute::InstallationRepositories => "GET /installation/repositories",
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

    #[test]
    fn app_routes_take_their_methods() {
        assert_eq!(
            ApiRoute::parse(&Method::POST, "/app/installations/52380411/access_tokens"),
            ApiRoute::CreateInstallationToken(52_380_411)
        );
        assert_eq!(
            ApiRoute::parse(&Method::GET, "/app/installations/1/access_tokens"),
            ApiRoute::Unknown
        );
        assert_eq!(
            ApiRoute::parse(&Method::GET, "/installation/repositories"),
            ApiRoute::InstallationRepositories
        );
        assert_eq!(ApiRoute::parse(&Method::GET, "/app/"), ApiRoute::App);
        assert_eq!(
            ApiRoute::parse(&Method::POST, "/app/hook/deliveries/12/attempts"),
            ApiRoute::RedeliverAppHookDelivery(12)
        );
        assert_eq!(
            ApiRoute::parse(&Method::GET, "/app/hook/deliveries/12"),
            ApiRoute::AppHookDelivery(12)
        );
        assert_eq!(
            ApiRoute::parse(&Method::GET, "/app/hook/deliveries/latest"),
            ApiRoute::Unknown
        );
    }

    #[test]
    fn the_enterprise_prefix_comes_off_whole_segments_only() {
        assert_eq!(
            split_enterprise_prefix("/api/v3/repos/a/b"),
            ("/repos/a/b", true)
        );
        assert_eq!(split_enterprise_prefix("/api/v3"), ("", true));
        assert_eq!(
            split_enterprise_prefix("/api/v30/repos"),
            ("/api/v30/repos", false)
        );
        assert_eq!(split_enterprise_prefix("/repos/a/b"), ("/repos/a/b", false));
    }
}
