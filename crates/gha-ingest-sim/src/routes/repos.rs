//! Repository-level routes: the repository, an organisation's repositories, a commit (with its
//! file pagination) and the pull requests associated with a commit.

use axum::http::StatusCode;
use serde_json::Value;

use crate::model::{Commit, Repo};
use crate::payloads::{
    render_commit, render_pull_simple, COMMIT_FILES_LISTED_AT_MOST, COMMIT_FILES_PER_PAGE,
};
use crate::query::{PageRequest, Query};
use crate::routes::api::ApiOutcome;
use crate::world::World;

pub(crate) fn repository(world: &World, repo_index: usize) -> ApiOutcome {
    ApiOutcome::ok(world.repos[repo_index].rendered.full.clone())
}

pub(crate) fn org_repos(world: &World, owner: &str, query: &Query) -> ApiOutcome {
    let owned: Vec<&Repo> = world
        .repos
        .iter()
        .filter(|repo| repo.owner.eq_ignore_ascii_case(owner))
        .collect();
    let Some(owner_id) = world.owner_id(owner).filter(|_| !owned.is_empty()) else {
        return ApiOutcome::not_found();
    };
    let page = query.page_request(30, 100);
    let repos: Vec<Value> = owned[page.range(owned.len())]
        .iter()
        .map(|repo| repo.rendered.full.clone())
        .collect();
    let base_url = format!(
        "{}/organizations/{owner_id}/repos",
        world.templates.api_origin
    );
    let link = page.link_header(&base_url, query, owned.len());
    ApiOutcome::ok_paged(Value::Array(repos), link)
}

/// A commit by full SHA or by an unambiguous prefix of at least 7 characters.
fn find_commit<'a>(repo: &'a Repo, sha: &str) -> Option<&'a Commit> {
    if let Some(commit) = repo.commits.get(sha) {
        return Some(commit);
    }
    if sha.len() < 7 {
        return None;
    }
    let mut candidates = repo
        .commits
        .values()
        .filter(|commit| commit.sha.starts_with(sha));
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
