//! Repository-level routes: the repository, an organisation's repositories (typed, sorted), a
//! commit by SHA or by branch or tag name (with its file pagination) and the pull requests
//! associated with a commit.

use axum::http::StatusCode;
use serde_json::Value;

use crate::apps::Installation;
use crate::clock::{format_seconds_z, Millis};
use crate::model::{Commit, Repo};
use crate::payloads::{
    render_commit, render_pull_simple, COMMIT_FILES_LISTED_AT_MOST, COMMIT_FILES_PER_PAGE,
};
use crate::query::{PageRequest, Query};
use crate::routes::api::ApiOutcome;
use crate::world::World;

pub(crate) fn repository(world: &World, repo_index: usize) -> ApiOutcome {
    ApiOutcome::ok(render_repository(&world.repos[repo_index]))
}

/// The `sort` of `GET /orgs/{org}/repos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RepoSort {
    Created,
    Updated,
    Pushed,
    FullName,
}

/// `GET /orgs/{org}/repos?type=&sort=&direction=`. Every simulated repository is public and
/// no fork, so `private` and `forks` list nothing and the other types everything. `sort`
/// defaults to `created`, `direction` to `asc` for `full_name` and `desc` otherwise, as GitHub
/// documents; ties go by id. Values outside the documented ones mean the default. An
/// installation token lists only its installation's repositories (`scope`).
pub(crate) fn org_repos(
    world: &World,
    owner: &str,
    query: &Query,
    scope: Option<&Installation>,
) -> ApiOutcome {
    let owned: Vec<&Repo> = world
        .repos_of_owner(owner)
        .iter()
        .map(|index| &world.repos[*index])
        .filter(|repo| scope.is_none_or(|installation| installation.includes(&repo.full_name)))
        .collect();
    let Some(owner_id) = world.owner_id(owner).filter(|_| !owned.is_empty()) else {
        return ApiOutcome::not_found();
    };
    let lists_nothing = matches!(query.get("type"), Some("private" | "forks"));
    let sort = match query.get("sort") {
        Some("updated") => RepoSort::Updated,
        Some("pushed") => RepoSort::Pushed,
        Some("full_name") => RepoSort::FullName,
        _ => RepoSort::Created,
    };
    let ascending = match query.get("direction") {
        Some("asc") => true,
        Some("desc") => false,
        _ => sort == RepoSort::FullName,
    };
    let listed: Vec<&Repo> = if lists_nothing { Vec::new() } else { owned };
    // Each key computed once: `pushed_ms` reads every commit of a repository.
    let mut keyed: Vec<(Millis, String, u64, &Repo)> = listed
        .into_iter()
        .map(|repo| {
            let (time_key, name_key) = match sort {
                RepoSort::Created => (repo.created_ms, String::new()),
                RepoSort::Updated | RepoSort::Pushed => (pushed_ms(repo), String::new()),
                RepoSort::FullName => (0, repo.full_name.to_lowercase()),
            };
            (time_key, name_key, repo.id, repo)
        })
        .collect();
    keyed.sort_by(|left, right| {
        let order = (left.0, &left.1, left.2).cmp(&(right.0, &right.1, right.2));
        if ascending {
            order
        } else {
            order.reverse()
        }
    });
    let page = query.page_request(30, 100);
    let repos: Vec<Value> = keyed[page.range(keyed.len())]
        .iter()
        .map(|(_, _, _, repo)| render_repository(repo))
        .collect();
    let base_url = format!(
        "{}/organizations/{owner_id}/repos",
        world.templates.api_origin
    );
    let link = page.link_header(&base_url, query, keyed.len());
    ApiOutcome::ok_paged(Value::Array(repos), link)
}

/// When anything was last pushed: the newest commit, or the creation.
fn pushed_ms(repo: &Repo) -> Millis {
    repo.commits
        .values()
        .map(|commit| commit.timestamp_ms)
        .max()
        .unwrap_or(repo.created_ms)
        .max(repo.created_ms)
}

/// The full repository object with its times: created when added, pushed (and so updated) at
/// its newest commit.
pub(crate) fn render_repository(repo: &Repo) -> Value {
    let mut payload = repo.rendered.full.clone();
    if let Value::Object(fields) = &mut payload {
        let pushed_at = format_seconds_z(pushed_ms(repo));
        fields.insert(
            "created_at".into(),
            format_seconds_z(repo.created_ms).into(),
        );
        fields.insert("updated_at".into(), pushed_at.clone().into());
        fields.insert("pushed_at".into(), pushed_at.into());
    }
    payload
}

/// A commit by `reference`, as GitHub's `{ref}` takes it: a full SHA, an unambiguous SHA prefix
/// of at least 7 characters, or a branch or tag name (also as `heads/…`, `tags/…`,
/// `refs/heads/…`, `refs/tags/…`), which means the head commit of that branch.
fn find_commit<'a>(repo: &'a Repo, reference: &str) -> Option<&'a Commit> {
    if let Some(commit) = repo.commits.get(reference) {
        return Some(commit);
    }
    let branch = reference.strip_prefix("refs/").unwrap_or(reference);
    let branch = branch
        .strip_prefix("heads/")
        .or_else(|| branch.strip_prefix("tags/"))
        .unwrap_or(branch);
    let head = repo
        .branch_heads
        .get(branch)
        .or_else(|| repo.branch_heads.get(reference))
        .and_then(|sha| repo.commits.get(sha));
    if head.is_some() {
        return head;
    }
    let is_hex = reference.bytes().all(|byte| byte.is_ascii_hexdigit());
    if reference.len() < 7 || !is_hex {
        return None;
    }
    let mut candidates = repo
        .commits
        .values()
        .filter(|commit| commit.sha.starts_with(reference));
    match (candidates.next(), candidates.next()) {
        (Some(commit), None) => Some(commit),
        _ => None,
    }
}

fn no_commit(sha: &str) -> ApiOutcome {
    ApiOutcome::error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("No commit found for SHA: {sha}"),
    )
}

/// "If there are more than 300 files in the commit diff, the response will include pagination
/// link headers for the remaining files, up to a limit of 3000 files. Each page contains the
/// static commit information, and the only changes are to the file listing."
pub(crate) fn commit(world: &World, repo_index: usize, sha: &str, query: &Query) -> ApiOutcome {
    let repo = &world.repos[repo_index];
    let Some(commit) = find_commit(repo, sha) else {
        return no_commit(sha);
    };
    // Files always come 300 to a page, whatever `per_page` says.
    let page = PageRequest {
        per_page: COMMIT_FILES_PER_PAGE,
        page: query
            .page_request(COMMIT_FILES_PER_PAGE, COMMIT_FILES_PER_PAGE)
            .page,
    };
    let listed_files = commit.file_count.min(COMMIT_FILES_LISTED_AT_MOST);
    let body = render_commit(&world.templates, repo, commit, &world.users, page.page);
    let base_url = format!(
        "{}/repositories/{}/commits/{}",
        world.templates.api_origin, repo.id, commit.sha
    );
    let link = page.link_header(&base_url, query, listed_files);
    ApiOutcome::ok_paged(body, link)
}

pub(crate) fn commit_pulls(
    world: &World,
    repo_index: usize,
    sha: &str,
    query: &Query,
) -> ApiOutcome {
    let repo = &world.repos[repo_index];
    let Some(commit) = find_commit(repo, sha) else {
        return no_commit(sha);
    };
    let page = query.page_request(30, 100);
    let pulls: Vec<Value> = commit.pulls[page.range(commit.pulls.len())]
        .iter()
        .map(|pull| render_pull_simple(&world.templates, repo, commit, pull, &world.users))
        .collect();
    let base_url = format!(
        "{}/repositories/{}/commits/{}/pulls",
        world.templates.api_origin, repo.id, commit.sha
    );
    let link = page.link_header(&base_url, query, commit.pulls.len());
    ApiOutcome::ok_paged(Value::Array(pulls), link)
}
