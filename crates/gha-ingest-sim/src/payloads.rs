//! JSON rendering: every payload is a clone of a real GitHub example (in `fixtures/github/`) with
//! its values patched for one generated entity, so field names, nesting, nulls and URL forms stay
//! exactly GitHub's.
//!
//! URLs that point at `https://api.github.com` in the examples point at the simulator's API origin
//! instead, so clients can follow them; `html_url`s keep `https://github.com`.

use base64::Engine;
use chrono::FixedOffset;
use serde_json::{json, Map, Value};

use crate::app_payloads::AppTemplates;
use crate::clock::{format_seconds_z, to_datetime, Millis};
use crate::generate::{commit_file, CommitFile, FileStatus};
use crate::lifecycle::{job_state, job_times, run_state, step_state, JobState, StepState};
use crate::model::{
    Attempt, Commit, JobPlan, PullPlan, Repo, RepoJson, Run, StepPlan, StepTimeStyle, User,
    Workflow,
};
use crate::webhooks::payload::{webhook_organization, webhook_repository, HookTemplates};

const WORKFLOW_RUN_JSON: &str = include_str!("../fixtures/github/workflow-run.json");
const WORKFLOW_RUN_PAGINATED_JSON: &str =
    include_str!("../fixtures/github/workflow-run-paginated.json");
const JOB_JSON: &str = include_str!("../fixtures/github/job.json");
const COMMIT_JSON: &str = include_str!("../fixtures/github/commit.json");
const PULL_REQUEST_SIMPLE_ITEMS_JSON: &str =
    include_str!("../fixtures/github/pull-request-simple-items.json");
const RATE_LIMIT_OVERVIEW_JSON: &str = include_str!("../fixtures/github/rate-limit-overview.json");
const WORKFLOW_RUN_WITH_PULL_REQUESTS_JSON: &str =
    include_str!("../fixtures/github/workflow_run.completed.with-pull-requests.json");

/// Where the examples' API URLs point; replaced by the simulator's API origin.
const GITHUB_API_ORIGIN: &str = "https://api.github.com";
/// The example commit sha that appears in the commit and pull-request examples.
const EXAMPLE_COMMIT_SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";

/// The parsed examples, with API URLs already pointing at the simulator.
#[derive(Debug)]
pub(crate) struct Templates {
    pub api_origin: String,
    run_single: Value,
    run_list_item: Value,
    run_repository: Value,
    run_head_repository: Value,
    user: Value,
    job: Value,
    step: Value,
    commit: Value,
    commit_file: Value,
    pull_simple: Value,
    pull_minimal: Value,
    repository_full: Value,
    rate_limit: Value,
    /// The GitHub App examples (`app_payloads`).
    pub apps: AppTemplates,
    /// The webhook example's envelope (`webhooks::payload`).
    pub hooks: HookTemplates,
}

pub(crate) fn parse_fixture(text: &str, api_origin: &str) -> Value {
    let pointed_at_simulator = text.replace(GITHUB_API_ORIGIN, api_origin);
    // The fixtures are compiled in and covered by tests: a parse failure is a build defect.
    serde_json::from_str(&pointed_at_simulator).expect("bundled fixture is valid JSON")
}

pub(crate) fn pointer(value: &Value, path: &str) -> Value {
    value
        .pointer(path)
        .cloned()
        .unwrap_or_else(|| panic!("bundled fixture has {path}"))
}

impl Templates {
    pub(crate) fn load(api_origin: &str) -> Self {
        let run_single = parse_fixture(WORKFLOW_RUN_JSON, api_origin);
        let run_paginated = parse_fixture(WORKFLOW_RUN_PAGINATED_JSON, api_origin);
        let job = parse_fixture(JOB_JSON, api_origin);
        let commit = parse_fixture(COMMIT_JSON, api_origin);
        let pulls = parse_fixture(PULL_REQUEST_SIMPLE_ITEMS_JSON, api_origin);
        let with_pulls = parse_fixture(WORKFLOW_RUN_WITH_PULL_REQUESTS_JSON, api_origin);
        Self {
            api_origin: api_origin.to_string(),
            run_repository: pointer(&run_single, "/repository"),
            run_head_repository: pointer(&run_single, "/head_repository"),
            user: pointer(&run_single, "/actor"),
            run_list_item: pointer(&run_paginated, "/workflow_runs/0"),
            step: pointer(&job, "/steps/0"),
            commit_file: pointer(&commit, "/files/0"),
            pull_simple: pointer(&pulls, "/0"),
            repository_full: pointer(&pulls, "/0/head/repo"),
            pull_minimal: pointer(&with_pulls, "/workflow_run/pull_requests/0"),
            rate_limit: parse_fixture(RATE_LIMIT_OVERVIEW_JSON, api_origin),
            apps: AppTemplates::load(api_origin),
            hooks: HookTemplates::load(api_origin),
            run_single,
            job,
            commit,
        }
    }

    pub(crate) fn api_repo_url(&self, repo: &Repo) -> String {
        format!("{}/repos/{}", self.api_origin, repo.full_name)
    }
}

fn html_repo_url(repo: &Repo) -> String {
    format!("https://github.com/{}", repo.full_name)
}

/// GitHub's legacy global node id: base64 of `0<len>:<Type><id>`.
pub(crate) fn node_id(type_name: &str, id: impl std::fmt::Display) -> String {
    let raw = format!("0{}:{type_name}{id}", type_name.len());
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Replaces text inside every string of a JSON tree.
pub(crate) fn rewrite_strings(value: &mut Value, replacements: &[(&str, &str)]) {
    match value {
        Value::String(text) => {
            for (from, to) in replacements {
                if text.contains(from) {
                    *text = text.replace(from, to);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| rewrite_strings(item, replacements)),
        Value::Object(fields) => fields
            .values_mut()
            .for_each(|field| rewrite_strings(field, replacements)),
        _ => {}
    }
}

pub(crate) fn object_mut(value: &mut Value) -> &mut Map<String, Value> {
    match value {
        Value::Object(fields) => fields,
        _ => unreachable!("templates are JSON objects"),
    }
}

/// Sets a field only when the template has it, so a template's field set is never widened.
fn set_if_present(fields: &mut Map<String, Value>, key: &str, value: Value) {
    if let Some(slot) = fields.get_mut(key) {
        *slot = value;
    }
}

fn null_or<T: Into<Value>>(value: Option<T>) -> Value {
    value.map_or(Value::Null, Into::into)
}

/// A simple-user object for `login`.
pub(crate) fn user_json(templates: &Templates, login: &str, id: u64, type_name: &str) -> Value {
    let mut user = templates.user.clone();
    rewrite_strings(
        &mut user,
        &[
            ("/users/octocat", &format!("/users/{login}")),
            (
                "https://github.com/octocat",
                &format!("https://github.com/{login}"),
            ),
        ],
    );
    let fields = object_mut(&mut user);
    fields.insert("login".into(), login.into());
    fields.insert("id".into(), id.into());
    fields.insert("node_id".into(), node_id(type_name, id).into());
    fields.insert(
        "avatar_url".into(),
        format!("https://avatars.githubusercontent.com/u/{id}?v=4").into(),
    );
    fields.insert("type".into(), type_name.into());
    user
}

/// The repository objects of one repository, built once when it is added.
pub(crate) fn repo_json(
    templates: &Templates,
    owner: &str,
    name: &str,
    repo_id: u64,
    owner_id: u64,
    default_branch: &str,
) -> RepoJson {
    let full_name = format!("{owner}/{name}");
    let owner_user = user_json(templates, owner, owner_id, "Organization");
    let description = format!("Simulated repository {full_name}");

    let mut run_repository = templates.run_repository.clone();
    rewrite_strings(&mut run_repository, &[("octocat/Hello-World", &full_name)]);
    let fields = object_mut(&mut run_repository);
    fields.insert("id".into(), repo_id.into());
    fields.insert("node_id".into(), node_id("Repository", repo_id).into());
    fields.insert("name".into(), name.into());
    fields.insert("full_name".into(), full_name.clone().into());
    fields.insert("owner".into(), owner_user.clone());
    fields.insert("description".into(), description.clone().into());

    let mut run_head_repository = templates.run_head_repository.clone();
    rewrite_strings(
        &mut run_head_repository,
        &[("octo-org/octo-repo", &full_name)],
    );
    let fields = object_mut(&mut run_head_repository);
    fields.insert("id".into(), repo_id.into());
    fields.insert("node_id".into(), node_id("Repository", repo_id).into());
    fields.insert("name".into(), name.into());
    fields.insert("full_name".into(), full_name.clone().into());
    fields.insert("private".into(), false.into());
    fields.insert("owner".into(), owner_user.clone());

    let mut full = templates.repository_full.clone();
    rewrite_strings(&mut full, &[("octocat/Hello-World", &full_name)]);
    let fields = object_mut(&mut full);
    fields.insert("id".into(), repo_id.into());
    fields.insert("node_id".into(), node_id("Repository", repo_id).into());
    fields.insert("name".into(), name.into());
    fields.insert("full_name".into(), full_name.clone().into());
    fields.insert("owner".into(), owner_user.clone());
    fields.insert("description".into(), description.into());
    fields.insert("default_branch".into(), default_branch.into());
    fields.insert("mirror_url".into(), Value::Null);
    fields.insert("homepage".into(), Value::Null);
    fields.insert("language".into(), "Rust".into());
    fields.insert("topics".into(), json!([]));
    fields.insert("is_template".into(), false.into());
    // Required by the description's full-repository; the example predates it.
    fields.insert("has_discussions".into(), false.into());

    let webhook = webhook_repository(templates, &full);
    let organization = webhook_organization(templates, owner, owner_id);
    RepoJson {
        run_repository,
        run_head_repository,
        full,
        owner_user,
        webhook,
        organization,
    }
}

/// Which example a run is rendered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunShape {
    /// `GET .../runs/{id}` and `.../attempts/{n}`: `workflow-run.json`.
    Single,
    /// An item of `GET .../runs`: `workflow-run-paginated.json` (no `referenced_workflows`, no
    /// `previous_attempt_url`).
    ListItem,
}

/// Everything a run payload refers to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunContext<'a> {
    pub repo: &'a Repo,
    pub workflow: &'a Workflow,
    pub run: &'a Run,
    pub attempt: &'a Attempt,
    pub commit: Option<&'a Commit>,
    pub users: &'a [User],
}

pub(crate) fn render_run(
    templates: &Templates,
    context: RunContext<'_>,
    shape: RunShape,
    exclude_pull_requests: bool,
    now_ms: Millis,
) -> Value {
    let RunContext {
        repo,
        workflow,
        run,
        attempt,
        commit,
        users,
    } = context;
    let mut payload = match shape {
        RunShape::Single => templates.run_single.clone(),
        RunShape::ListItem => templates.run_list_item.clone(),
    };
    let state = run_state(attempt, now_ms);
    let api_repo = templates.api_repo_url(repo);
    let run_url = format!("{api_repo}/actions/runs/{}", run.id);
    let workflow_path = match &run.head_branch {
        Some(branch) => format!(".github/workflows/{}@{branch}", workflow.file_name),
        None => format!(".github/workflows/{}", workflow.file_name),
    };
    let display_title = commit
        .and_then(|commit| commit.message.lines().next())
        .unwrap_or(&workflow.name)
        .to_string();
    let pull_requests: Vec<Value> = match commit {
        Some(commit) if !exclude_pull_requests => commit
            .pulls
            .iter()
            .filter(|pull| pull.is_open)
            .map(|pull| render_pull_minimal(templates, repo, commit, pull))
            .collect(),
        _ => Vec::new(),
    };

    let fields = object_mut(&mut payload);
    fields.insert("id".into(), run.id.into());
    fields.insert("name".into(), workflow.name.clone().into());
    fields.insert("node_id".into(), node_id("Workflow Run", run.id).into());
    fields.insert("check_suite_id".into(), attempt.check_suite_id.into());
    fields.insert(
        "check_suite_node_id".into(),
        node_id("CheckSuite", attempt.check_suite_id).into(),
    );
    fields.insert("head_branch".into(), null_or(run.head_branch.clone()));
    fields.insert("head_sha".into(), run.head_sha.clone().into());
    fields.insert("path".into(), workflow_path.into());
    fields.insert("run_number".into(), run.run_number.into());
    fields.insert("event".into(), run.event.clone().into());
    fields.insert("display_title".into(), display_title.into());
    fields.insert("status".into(), state.status.into());
    fields.insert("conclusion".into(), null_or(state.conclusion));
    fields.insert("workflow_id".into(), workflow.id.into());
    fields.insert("url".into(), run_url.clone().into());
    fields.insert(
        "html_url".into(),
        format!("{}/actions/runs/{}", html_repo_url(repo), run.id).into(),
    );
    fields.insert("pull_requests".into(), Value::Array(pull_requests));
    fields.insert("created_at".into(), format_seconds_z(run.created_ms).into());
    fields.insert(
        "updated_at".into(),
        format_seconds_z(state.updated_ms).into(),
    );
    fields.insert("actor".into(), user_at(users, run.actor_index));
    fields.insert("run_attempt".into(), attempt.number.into());
    set_if_present(
        fields,
        "referenced_workflows",
        referenced_workflows(repo, workflow, run),
    );
    fields.insert(
        "run_started_at".into(),
        format_seconds_z(attempt.requested_ms).into(),
    );
    fields.insert(
        "triggering_actor".into(),
        user_at(users, attempt.triggering_actor_index),
    );
    fields.insert("jobs_url".into(), format!("{run_url}/jobs").into());
    fields.insert("logs_url".into(), format!("{run_url}/logs").into());
    fields.insert(
        "check_suite_url".into(),
        format!("{api_repo}/check-suites/{}", attempt.check_suite_id).into(),
    );
    fields.insert(
        "artifacts_url".into(),
        format!("{run_url}/artifacts").into(),
    );
    fields.insert("cancel_url".into(), format!("{run_url}/cancel").into());
    fields.insert("rerun_url".into(), format!("{run_url}/rerun").into());
    let previous_attempt_url =
        (attempt.number > 1).then(|| format!("{run_url}/attempts/{}", attempt.number - 1));
    set_if_present(
        fields,
        "previous_attempt_url",
        null_or(previous_attempt_url),
    );
    fields.insert(
        "workflow_url".into(),
        format!("{api_repo}/actions/workflows/{}", workflow.id).into(),
    );
    if let Some(commit) = commit {
        if let Some(Value::Object(head_commit)) = fields.get_mut("head_commit") {
            head_commit.insert("id".into(), commit.sha.clone().into());
            head_commit.insert("tree_id".into(), commit.tree_sha.clone().into());
            head_commit.insert("message".into(), commit.message.clone().into());
            head_commit.insert(
                "timestamp".into(),
                format_seconds_z(commit.timestamp_ms).into(),
            );
            head_commit.insert(
                "author".into(),
                json!({"name": commit.author_name, "email": commit.author_email}),
            );
        }
    }
    fields.insert("repository".into(), repo.rendered.run_repository.clone());
    fields.insert(
        "head_repository".into(),
        repo.rendered.run_head_repository.clone(),
    );
    payload
}

pub(crate) fn user_at(users: &[User], index: usize) -> Value {
    users
        .get(index)
        .or_else(|| users.first())
        .map_or(Value::Null, |user| user.json.clone())
}

/// Release workflows call a reusable workflow; the others reference none.
fn referenced_workflows(repo: &Repo, workflow: &Workflow, run: &Run) -> Value {
    if workflow.file_name != "release.yml" {
        return json!([]);
    }
    json!([{
        "path": format!("{}/.github/workflows/reusable-build.yml@{}", repo.full_name, repo.default_branch),
        "sha": run.head_sha,
        "ref": format!("refs/heads/{}", repo.default_branch),
    }])
}

fn render_pull_minimal(
    templates: &Templates,
    repo: &Repo,
    commit: &Commit,
    pull: &PullPlan,
) -> Value {
    let mut payload = templates.pull_minimal.clone();
    let api_repo = templates.api_repo_url(repo);
    let repo_ref = json!({"id": repo.id, "url": api_repo, "name": repo.name});
    let fields = object_mut(&mut payload);
    fields.insert(
        "url".into(),
        format!("{api_repo}/pulls/{}", pull.number).into(),
    );
    fields.insert("id".into(), pull.id.into());
    fields.insert("number".into(), pull.number.into());
    fields.insert(
        "head".into(),
        json!({"ref": pull.head_ref, "sha": commit.sha, "repo": repo_ref}),
    );
    fields.insert(
        "base".into(),
        json!({"ref": pull.base_ref, "sha": commit.parent_sha, "repo": repo_ref}),
    );
    payload
}

/// Everything a job payload refers to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobContext<'a> {
    pub repo: &'a Repo,
    pub workflow: &'a Workflow,
    pub run: &'a Run,
    pub attempt: &'a Attempt,
    pub job: &'a JobPlan,
}

pub(crate) fn render_job(templates: &Templates, context: JobContext<'_>, now_ms: Millis) -> Value {
    let JobContext {
        repo,
        workflow,
        run,
        attempt,
        job,
    } = context;
    let mut payload = templates.job.clone();
    let api_repo = templates.api_repo_url(repo);
    let state = job_state(attempt, job, now_ms);
    let times = job_times(attempt, job);
    let has_runner = matches!(state, JobState::InProgress | JobState::Completed)
        && !(job.conclusion == "skipped" && job.steps.is_empty());
    let started_ms = match state {
        JobState::Waiting | JobState::Queued => times.created_ms,
        JobState::InProgress | JobState::Completed => times.started_ms,
    };
    let is_completed = state == JobState::Completed;
    let steps: Vec<Value> = match state {
        JobState::Waiting | JobState::Queued => Vec::new(),
        JobState::InProgress | JobState::Completed => job
            .steps
            .iter()
            .map(|step| render_step(templates, job, step, times.started_ms, now_ms))
            .collect(),
    };

    let fields = object_mut(&mut payload);
    fields.insert("id".into(), job.id.into());
    fields.insert("run_id".into(), run.id.into());
    fields.insert(
        "run_url".into(),
        format!("{api_repo}/actions/runs/{}", run.id).into(),
    );
    fields.insert("node_id".into(), node_id("Workflow Job", job.id).into());
    fields.insert("head_sha".into(), run.head_sha.clone().into());
    fields.insert(
        "url".into(),
        format!("{api_repo}/actions/jobs/{}", job.id).into(),
    );
    fields.insert(
        "html_url".into(),
        format!("{}/runs/{}/jobs/{}", html_repo_url(repo), run.id, job.id).into(),
    );
    fields.insert("status".into(), state.as_str().into());
    fields.insert(
        "conclusion".into(),
        null_or(is_completed.then(|| job.conclusion.clone())),
    );
    fields.insert("started_at".into(), format_seconds_z(started_ms).into());
    fields.insert(
        "completed_at".into(),
        null_or(is_completed.then(|| format_seconds_z(times.completed_ms))),
    );
    fields.insert("name".into(), job.name.clone().into());
    fields.insert("steps".into(), Value::Array(steps));
    fields.insert(
        "check_run_url".into(),
        format!("{api_repo}/check-runs/{}", job.id).into(),
    );
    fields.insert("labels".into(), json!(job.labels));
    fields.insert(
        "runner_id".into(),
        null_or(has_runner.then_some(job.runner.id)),
    );
    fields.insert(
        "runner_name".into(),
        null_or(has_runner.then(|| job.runner.name.clone())),
    );
    fields.insert(
        "runner_group_id".into(),
        null_or(has_runner.then_some(job.runner.group_id)),
    );
    fields.insert(
        "runner_group_name".into(),
        null_or(has_runner.then(|| job.runner.group_name.clone())),
    );
    fields.insert("workflow_name".into(), workflow.name.clone().into());
    fields.insert("head_branch".into(), null_or(run.head_branch.clone()));
    // Real REST responses carry these two although the API description's example omits them;
    // without run_attempt a client could not tell `filter=all` jobs apart.
    fields.insert("run_attempt".into(), attempt.number.into());
    fields.insert(
        "created_at".into(),
        format_seconds_z(times.created_ms).into(),
    );
    payload
}

fn render_step(
    templates: &Templates,
    job: &JobPlan,
    step: &StepPlan,
    job_started_ms: Millis,
    now_ms: Millis,
) -> Value {
    let mut payload = templates.step.clone();
    let state = step_state(step, job_started_ms, now_ms);
    let style = job.step_time_style;
    let started_at = match state {
        StepState::Queued => Value::Null,
        StepState::InProgress | StepState::Completed => {
            format_step_time(job_started_ms + step.start_offset_ms, style).into()
        }
    };
    let (status, conclusion, completed_at) = match state {
        StepState::Queued => ("queued", Value::Null, Value::Null),
        StepState::InProgress => ("in_progress", Value::Null, Value::Null),
        StepState::Completed => (
            "completed",
            step.conclusion.clone().into(),
            format_step_time(job_started_ms + step.end_offset_ms, style).into(),
        ),
    };
    let fields = object_mut(&mut payload);
    fields.insert("name".into(), step.name.clone().into());
    fields.insert("status".into(), status.into());
    fields.insert("conclusion".into(), conclusion);
    fields.insert("number".into(), step.number.into());
    fields.insert("started_at".into(), started_at);
    fields.insert("completed_at".into(), completed_at);
    payload
}

/// UTC−8, the offset of the API description's job example.
const PACIFIC_STANDARD_TIME_OFFSET_SECS: i32 = 8 * 3600;

/// Step times carry milliseconds and, depending on the job, an offset (quirk 4).
pub(crate) fn format_step_time(ms: Millis, style: StepTimeStyle) -> String {
    let utc = to_datetime(ms);
    match style {
        StepTimeStyle::PacificOffset => {
            match FixedOffset::west_opt(PACIFIC_STANDARD_TIME_OFFSET_SECS) {
                Some(pacific) => utc
                    .with_timezone(&pacific)
                    .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                    .to_string(),
                None => utc.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string(),
            }
        }
        StepTimeStyle::UtcOffset => utc.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string(),
        StepTimeStyle::UtcZ => utc.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    }
}

/// Files per page of a commit, and the most GitHub lists at all.
pub(crate) const COMMIT_FILES_PER_PAGE: usize = 300;
pub(crate) const COMMIT_FILES_LISTED_AT_MOST: usize = 3_000;

/// One page of a commit: the static commit information, the whole commit's `stats`, and the
/// page's slice of `files[]`.
pub(crate) fn render_commit(
    templates: &Templates,
    repo: &Repo,
    commit: &Commit,
    users: &[User],
    page: usize,
) -> Value {
    let mut payload = templates.commit.clone();
    let api_repo = templates.api_repo_url(repo);
    let html_repo = html_repo_url(repo);
    let sha = &commit.sha;
    let listed_files = commit.file_count.min(COMMIT_FILES_LISTED_AT_MOST);
    let first_index = (page.max(1) - 1).saturating_mul(COMMIT_FILES_PER_PAGE);
    let files: Vec<Value> = (first_index..listed_files.min(first_index + COMMIT_FILES_PER_PAGE))
        .map(|index| {
            render_commit_file(
                templates,
                &api_repo,
                &html_repo,
                sha,
                &commit_file(sha, index),
            )
        })
        .collect();
    let signature = json!({
        "name": commit.author_name,
        "email": commit.author_email,
        "date": format_seconds_z(commit.timestamp_ms),
    });

    let fields = object_mut(&mut payload);
    fields.insert("url".into(), format!("{api_repo}/commits/{sha}").into());
    fields.insert("sha".into(), sha.clone().into());
    fields.insert("node_id".into(), node_id("Commit", sha).into());
    fields.insert(
        "html_url".into(),
        format!("{html_repo}/commit/{sha}").into(),
    );
    fields.insert(
        "comments_url".into(),
        format!("{api_repo}/commits/{sha}/comments").into(),
    );
    if let Some(Value::Object(git_commit)) = fields.get_mut("commit") {
        git_commit.insert("url".into(), format!("{api_repo}/git/commits/{sha}").into());
        git_commit.insert("author".into(), signature.clone());
        git_commit.insert("committer".into(), signature);
        git_commit.insert("message".into(), commit.message.clone().into());
        git_commit.insert(
            "tree".into(),
            json!({"url": format!("{api_repo}/tree/{}", commit.tree_sha), "sha": commit.tree_sha}),
        );
    }
    let author = user_at(users, commit.author_index);
    fields.insert("author".into(), author.clone());
    fields.insert("committer".into(), author);
    fields.insert(
        "parents".into(),
        json!([{"url": format!("{api_repo}/commits/{}", commit.parent_sha), "sha": commit.parent_sha}]),
    );
    fields.insert(
        "stats".into(),
        json!({"additions": commit.additions, "deletions": commit.deletions, "total": commit.additions + commit.deletions}),
    );
    fields.insert("files".into(), Value::Array(files));
    payload
}

fn render_commit_file(
    templates: &Templates,
    api_repo: &str,
    html_repo: &str,
    sha: &str,
    file: &CommitFile,
) -> Value {
    let mut payload = templates.commit_file.clone();
    let fields = object_mut(&mut payload);
    // The description requires both; the example lacks them.
    fields.insert("sha".into(), file.blob_sha(sha).into());
    fields.insert(
        "contents_url".into(),
        format!("{api_repo}/contents/{}?ref={sha}", file.filename).into(),
    );
    fields.insert("filename".into(), file.filename.clone().into());
    fields.insert("additions".into(), file.additions.into());
    fields.insert("deletions".into(), file.deletions.into());
    fields.insert("changes".into(), (file.additions + file.deletions).into());
    fields.insert("status".into(), file.status.as_str().into());
    fields.insert(
        "raw_url".into(),
        format!("{html_repo}/raw/{sha}/{}", file.filename).into(),
    );
    fields.insert(
        "blob_url".into(),
        format!("{html_repo}/blob/{sha}/{}", file.filename).into(),
    );
    if file.is_binary {
        // "Diffs with binary data will have no patch property."
        fields.remove("patch");
    } else {
        fields.insert("patch".into(), file.patch().into());
    }
    if let FileStatus::Renamed { previous_filename } = &file.status {
        fields.insert("previous_filename".into(), previous_filename.clone().into());
    }
    payload
}

/// A pull-request-simple object for one PR containing `commit`.
pub(crate) fn render_pull_simple(
    templates: &Templates,
    repo: &Repo,
    commit: &Commit,
    pull: &PullPlan,
    users: &[User],
) -> Value {
    let mut payload = templates.pull_simple.clone();
    let number = pull.number.to_string();
    rewrite_strings(
        &mut payload,
        &[
            ("octocat/Hello-World", &repo.full_name),
            ("/pulls/1347", &format!("/pulls/{number}")),
            ("/issues/1347", &format!("/issues/{number}")),
            ("/pull/1347", &format!("/pull/{number}")),
            (EXAMPLE_COMMIT_SHA, &commit.sha),
        ],
    );
    let author = user_at(users, commit.author_index);
    let created_at = format_seconds_z(pull.created_ms);
    let closed_at =
        (!pull.is_open).then(|| format_seconds_z(commit.timestamp_ms.max(pull.created_ms)));
    let owner_login = &repo.owner;
    let fields = object_mut(&mut payload);
    fields.insert("id".into(), pull.id.into());
    fields.insert("node_id".into(), node_id("PullRequest", pull.id).into());
    fields.insert("number".into(), pull.number.into());
    fields.insert(
        "state".into(),
        if pull.is_open { "open" } else { "closed" }.into(),
    );
    fields.insert("locked".into(), false.into());
    fields.insert("title".into(), pull.title.clone().into());
    fields.insert("user".into(), author.clone());
    fields.insert(
        "body".into(),
        format!("{}\n\nGenerated by the simulator.", pull.title).into(),
    );
    fields.insert("active_lock_reason".into(), Value::Null);
    fields.insert("created_at".into(), created_at.clone().into());
    fields.insert(
        "updated_at".into(),
        closed_at.clone().unwrap_or(created_at).into(),
    );
    fields.insert("closed_at".into(), null_or(closed_at.clone()));
    fields.insert("merged_at".into(), null_or(closed_at));
    fields.insert(
        "merge_commit_sha".into(),
        null_or((!pull.is_open).then(|| commit.sha.clone())),
    );
    fields.insert(
        "head".into(),
        json!({
            "label": format!("{owner_login}:{}", pull.head_ref),
            "ref": pull.head_ref,
            "sha": commit.sha,
            "user": repo.rendered.owner_user,
            "repo": repo.rendered.full,
        }),
    );
    fields.insert(
        "base".into(),
        json!({
            "label": format!("{owner_login}:{}", pull.base_ref),
            "ref": pull.base_ref,
            "sha": commit.parent_sha,
            "user": repo.rendered.owner_user,
            "repo": repo.rendered.full,
        }),
    );
    if let Some(Value::Array(teams)) = fields.get_mut("requested_teams") {
        // The description requires a team's ownership `type`; the example predates it.
        for team in teams.iter_mut().filter_map(Value::as_object_mut) {
            team.entry("type").or_insert_with(|| "organization".into());
        }
    }
    fields.insert("author_association".into(), "MEMBER".into());
    fields.insert("draft".into(), false.into());
    payload
}

/// `GET /rate_limit` with the `core` bucket (and the deprecated `rate` copy of it) filled in.
pub(crate) fn render_rate_limit(
    templates: &Templates,
    limit: u32,
    used: u32,
    reset_epoch_secs: i64,
) -> Value {
    let mut payload = templates.rate_limit.clone();
    let core = json!({
        "limit": limit,
        "used": used,
        "remaining": limit.saturating_sub(used),
        "reset": reset_epoch_secs,
    });
    if let Some(Value::Object(resources)) = payload.get_mut("resources") {
        for (name, bucket) in resources.iter_mut() {
            if name == "core" {
                *bucket = core.clone();
            } else if let Value::Object(bucket_fields) = bucket {
                let bucket_limit = bucket_fields.get("limit").cloned().unwrap_or(Value::Null);
                bucket_fields.insert("used".into(), 0.into());
                bucket_fields.insert("remaining".into(), bucket_limit);
                bucket_fields.insert("reset".into(), reset_epoch_secs.into());
            }
        }
    }
    set_if_present(object_mut(&mut payload), "rate", core);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_point_at_the_simulator() {
        let templates = Templates::load("http://127.0.0.1:9");
        let text = templates.run_single.to_string();
        assert!(!text.contains("https://api.github.com"));
        assert!(text.contains("http://127.0.0.1:9/repos/octo-org/octo-repo/actions/runs/30433642"));
    }

    #[test]
    fn node_ids_use_the_legacy_form() {
        assert_eq!(node_id("User", 1), "MDQ6VXNlcjE=");
        assert_eq!(
            node_id("Workflow Run", 269_289),
            "MDEyOldvcmtmbG93IFJ1bjI2OTI4OQ=="
        );
    }

    #[test]
    fn step_times_carry_milliseconds_and_offsets() {
        let ms = 1_579_542_160_000; // 2020-01-20T17:42:40Z
        assert_eq!(
            format_step_time(ms, StepTimeStyle::PacificOffset),
            "2020-01-20T09:42:40.000-08:00"
        );
        assert_eq!(
            format_step_time(ms + 5, StepTimeStyle::UtcOffset),
            "2020-01-20T17:42:40.005+00:00"
        );
        assert_eq!(
            format_step_time(ms, StepTimeStyle::UtcZ),
            "2020-01-20T17:42:40.000Z"
        );
    }

    #[test]
    fn user_json_keeps_the_example_fields() {
        let templates = Templates::load("http://sim");
        let user = user_json(&templates, "hubot", 3, "User");
        let template_keys: Vec<_> = templates
            .user
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let user_keys: Vec<_> = user
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(template_keys, user_keys);
        assert_eq!(user["url"], "http://sim/users/hubot");
        assert_eq!(
            user["following_url"],
            "http://sim/users/hubot/following{/other_user}"
        );
        assert_eq!(user["html_url"], "https://github.com/hubot");
    }
}
