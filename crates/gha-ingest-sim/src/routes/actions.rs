//! The GitHub Actions routes: list and get runs and attempts, list and get jobs, and the job-log
//! redirect to the log origin.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::clock::{lock, Millis};
use crate::lifecycle::{job_state, run_state, JobState};
use crate::logs::{spec_for_job, LogSpec};
use crate::model::{Attempt, Run};
use crate::payloads::{render_job, render_run, JobContext, RunShape};
use crate::query::{CreatedFilter, Query};
use crate::routes::api::ApiOutcome;
use crate::state::Shared;
use crate::world::World;

/// "This API will return up to 1,000 results for each search when using the following
/// parameters: actor, branch, check_suite_id, created, event, head_sha, status."
pub(crate) const FILTERED_RESULTS_CAP: usize = 1_000;
const CAPPING_PARAMETERS: [&str; 7] = [
    "actor",
    "branch",
    "check_suite_id",
    "created",
    "event",
    "head_sha",
    "status",
];

/// The filters of `GET .../actions/runs`.
#[derive(Debug, Default)]
struct RunFilters<'a> {
    status: Option<&'a str>,
    created: Option<CreatedFilter>,
    event: Option<&'a str>,
    branch: Option<&'a str>,
    head_sha: Option<&'a str>,
    actor: Option<&'a str>,
    check_suite_id: Option<u64>,
}

fn non_empty<'a>(query: &'a Query, name: &str) -> Option<&'a str> {
    query.get(name).filter(|value| !value.is_empty())
}

impl RunFilters<'_> {
    fn accepts(&self, world: &World, run: &Run, now_ms: Millis) -> bool {
        let attempt = run.latest_attempt();
        if let Some(wanted) = self.status {
            // `status` takes a status or a conclusion.
            let state = run_state(attempt, now_ms);
            if state.status != wanted && state.conclusion != Some(wanted) {
                return false;
            }
        }
        if self
            .created
            .is_some_and(|created| !created.matches(run.created_ms))
        {
            return false;
        }
        if self.event.is_some_and(|event| event != run.event) {
            return false;
        }
        if self
            .branch
            .is_some_and(|branch| run.head_branch.as_deref() != Some(branch))
        {
            return false;
        }
        if self.head_sha.is_some_and(|sha| sha != run.head_sha) {
            return false;
        }
        if self
            .check_suite_id
            .is_some_and(|id| id != attempt.check_suite_id)
        {
            return false;
        }
        if let Some(actor) = self.actor {
            let login = world
                .users
                .get(run.actor_index)
                .map(|user| user.login.as_str());
            if login != Some(actor) {
                return false;
            }
        }
        true
    }
}

pub(crate) fn list_runs(
    world: &World,
    repo_index: usize,
    query: &Query,
    now_ms: Millis,
) -> ApiOutcome {
    let created = match non_empty(query, "created") {
        Some(text) => match CreatedFilter::parse(text) {
            Some(filter) => Some(filter),
            None => return validation_failed(&format!("Invalid created parameter: {text}")),
        },
        None => None,
    };
    let check_suite_id = match non_empty(query, "check_suite_id") {
        Some(text) => match text.parse() {
            Ok(id) => Some(id),
            Err(_) => {
                return validation_failed(&format!("Invalid check_suite_id parameter: {text}"))
            }
        },
        None => None,
    };
    let filters = RunFilters {
        status: non_empty(query, "status"),
        created,
        event: non_empty(query, "event"),
        branch: non_empty(query, "branch"),
        head_sha: non_empty(query, "head_sha"),
        actor: non_empty(query, "actor"),
        check_suite_id,
    };
    let is_capped = CAPPING_PARAMETERS
        .iter()
        .any(|name| non_empty(query, name).is_some());
    let exclude_pull_requests = query.flag("exclude_pull_requests");

    let repo = &world.repos[repo_index];
    let matching: Vec<&Run> = repo
        .runs_by_created
        .iter()
        .rev()
        .filter_map(|(_, run_id)| world.runs.get(run_id))
        .filter(|run| filters.accepts(world, run, now_ms))
        .collect();
    let total_count = matching.len();
    let visible = if is_capped {
        total_count.min(FILTERED_RESULTS_CAP)
    } else {
        total_count
    };
    let page = query.page_request(30, 100);
    let workflow_runs: Vec<Value> = matching[page.range(visible)]
        .iter()
        .map(|run| {
            let context = world.run_context(run, run.latest_attempt());
            render_run(
                &world.templates,
                context,
                RunShape::ListItem,
                exclude_pull_requests,
                now_ms,
            )
        })
        .collect();
    let base_url = format!(
        "{}/repositories/{}/actions/runs",
        world.templates.api_origin, repo.id
    );
    let link = page.link_header(&base_url, query, visible);
    ApiOutcome::ok_paged(
        json!({"total_count": total_count, "workflow_runs": workflow_runs}),
        link,
    )
}

fn validation_failed(message: &str) -> ApiOutcome {
    ApiOutcome::error(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// A run, or one of its attempts as it was for that attempt.
pub(crate) fn get_run(
    world: &World,
    repo_index: usize,
    run_id: u64,
    attempt_number: Option<u32>,
    query: &Query,
    now_ms: Millis,
) -> ApiOutcome {
    let Some(run) = world.run_in_repo(repo_index, run_id) else {
        return ApiOutcome::not_found();
    };
    let attempt = match attempt_number {
        Some(number) => run.attempt(number),
        None => Some(run.latest_attempt()),
    };
    let Some(attempt) = attempt else {
        return ApiOutcome::not_found();
    };
    let context = world.run_context(run, attempt);
    ApiOutcome::ok(render_run(
        &world.templates,
        context,
        RunShape::Single,
        query.flag("exclude_pull_requests"),
        now_ms,
    ))
}

pub(crate) fn list_run_jobs(
    world: &World,
    repo_index: usize,
    run_id: u64,
    query: &Query,
    now_ms: Millis,
) -> ApiOutcome {
    let Some(run) = world.run_in_repo(repo_index, run_id) else {
        return ApiOutcome::not_found();
    };
    let attempts: Vec<&Attempt> = match query.get("filter").unwrap_or("latest") {
        "latest" => vec![run.latest_attempt()],
        "all" => run.attempts.iter().collect(),
        other => return validation_failed(&format!("Invalid filter parameter: {other}")),
    };
    let base_url = format!(
        "{}/repositories/{}/actions/runs/{run_id}/jobs",
        world.templates.api_origin, world.repos[repo_index].id
    );
    jobs_page(world, run, &attempts, query, now_ms, &base_url)
}

pub(crate) fn list_attempt_jobs(
    world: &World,
    repo_index: usize,
    run_id: u64,
    attempt_number: u32,
    query: &Query,
    now_ms: Millis,
) -> ApiOutcome {
    let Some(run) = world.run_in_repo(repo_index, run_id) else {
        return ApiOutcome::not_found();
    };
    let Some(attempt) = run.attempt(attempt_number) else {
        return ApiOutcome::not_found();
    };
    let base_url = format!(
        "{}/repositories/{}/actions/runs/{run_id}/attempts/{attempt_number}/jobs",
        world.templates.api_origin, world.repos[repo_index].id
    );
    jobs_page(world, run, &[attempt], query, now_ms, &base_url)
}

fn jobs_page(
    world: &World,
    run: &Run,
    attempts: &[&Attempt],
    query: &Query,
    now_ms: Millis,
    base_url: &str,
) -> ApiOutcome {
    let repo = &world.repos[run.repo_index];
    let workflow = &repo.workflows[run.workflow_index];
    let all_jobs: Vec<JobContext<'_>> = attempts
        .iter()
        .flat_map(|attempt| {
            attempt.jobs.iter().map(move |job| JobContext {
                repo,
                workflow,
                run,
                attempt,
                job,
            })
        })
        .collect();
    let page = query.page_request(30, 100);
    let jobs: Vec<Value> = all_jobs[page.range(all_jobs.len())]
        .iter()
        .map(|context| render_job(&world.templates, *context, now_ms))
        .collect();
    let link = page.link_header(base_url, query, all_jobs.len());
    ApiOutcome::ok_paged(json!({"total_count": all_jobs.len(), "jobs": jobs}), link)
}

pub(crate) fn get_job(world: &World, repo_index: usize, job_id: u64, now_ms: Millis) -> ApiOutcome {
    match world.job_context(job_id) {
        Some(context) if context.run.repo_index == repo_index => {
            ApiOutcome::ok(render_job(&world.templates, context, now_ms))
        }
        _ => ApiOutcome::not_found(),
    }
}

/// 302 to a short-lived URL on the log origin once the job has completed; 404 before that (and
/// for logs that never existed, a skipped job's included: see `logs::spec_for_job`), 410 once
/// the log has expired. A `NeverServed` log still redirects; the log origin then answers 404.
pub(crate) fn job_logs(
    shared: &Shared,
    world: &World,
    repo_index: usize,
    job_id: u64,
    now_ms: Millis,
) -> ApiOutcome {
    let Some(context) = world
        .job_context(job_id)
        .filter(|context| context.run.repo_index == repo_index)
    else {
        return ApiOutcome::not_found();
    };
    if job_state(context.attempt, context.job, now_ms) != JobState::Completed {
        return ApiOutcome::not_found();
    }
    let spec = spec_for_job(&lock(&shared.log_specs), job_id, Some(context.job));
    match spec {
        LogSpec::Missing => ApiOutcome::not_found(),
        LogSpec::Gone => ApiOutcome::Json {
            status: StatusCode::GONE,
            body: json!({
                "message": "Server Error",
                "documentation_url": "https://docs.github.com/rest/actions/workflow-jobs#download-job-logs-for-a-workflow-run",
                "status": "410",
            }),
            link: None,
        },
        LogSpec::Fixture | LogSpec::Bytes(_) | LogSpec::Generated { .. } | LogSpec::NeverServed => {
            let token = lock(&shared.log_tokens).issue(job_id, now_ms);
            ApiOutcome::Redirect {
                location: format!("{}/logs/{token}", shared.log_origin),
            }
        }
    }
}
