//! The JSON API under `/api/`: collection status, repository configuration, "collect now" and
//! the recent runs the dashboard shows. Reads come from the agents' status counters, the state
//! store and the queues; the only writes are to the repository list (persisted in the store,
//! read by the pipeline agent on every cycle) and a wake-up of the pipeline agent.
//!
//! Every read takes [`Reader`]; raw upstream error text (queue and GitHub errors, a
//! repository's last poll error) is shown only to a trusted reader, others get its class.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use gha_ingest_core::facts::{JobFacts, RunFacts};
use gha_ingest_core::RepoName;
use gha_ingest_github::{BudgetSnapshot, InstallationStatus, RateLimitSnapshot};
use gha_ingest_logs::LogStatusSnapshot;
use gha_ingest_pipeline::StatusSnapshot;
use gha_ingest_store::Destination;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{Admin, Reader};
use crate::budget::BudgetSample;
use crate::error::ApiError;
use crate::SharedState;

/// Runs returned by `/api/runs` without a `limit`.
const DEFAULT_RUNS_LIMIT: u32 = 20;
/// The most runs one request may ask for.
const MAX_RUNS_LIMIT: u32 = 200;
/// The only host whose repository URLs are accepted.
const GITHUB_HOST: &str = "github.com";

pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".to_string())
}

/// A queue's depth as the dashboard and metrics show it.
#[derive(Debug, Serialize)]
pub(crate) struct QueueView {
    pub role: String,
    pub name: String,
    pub visible: Option<u64>,
    pub in_flight: Option<u64>,
    /// Why the depth is unknown, if it is.
    pub error: Option<String>,
}

/// What an untrusted reader sees instead of upstream error text.
const ERROR_HIDDEN: &str = "failing (send a token to see the error)";

/// The error text for a trusted reader, a placeholder for anyone else.
fn shown_error(error: Option<String>, trusted: bool) -> Option<String> {
    error.map(|error| {
        if trusted {
            error
        } else {
            ERROR_HIDDEN.to_string()
        }
    })
}

pub(crate) async fn queue_views(state: &SharedState) -> Vec<QueueView> {
    let mut views = Vec::with_capacity(state.queues.len());
    for (role, queue) in &state.queues {
        let (visible, in_flight, error) = match queue.approximate_depth().await {
            Ok(depth) => (Some(depth.visible), Some(depth.in_flight), None),
            Err(error) => (None, None, Some(error.to_string())),
        };
        views.push(QueueView {
            role: role.clone(),
            name: queue.name().to_string(),
            visible,
            in_flight,
            error,
        });
    }
    views
}

/// Seconds from `then` to now, never negative.
fn age_secs(then: Option<DateTime<Utc>>) -> Option<i64> {
    then.map(|then| (Utc::now() - then).num_seconds().max(0))
}

#[derive(Debug, Serialize)]
struct PipelineView {
    #[serde(flatten)]
    counters: StatusSnapshot,
    last_cycle_age_secs: Option<i64>,
    poll_interval_secs: u64,
}

#[derive(Debug, Serialize)]
struct OutboxView {
    metrics: u64,
    log_requests: u64,
    parked: u64,
}

#[derive(Debug, Serialize)]
struct GithubView {
    /// The first credential's primary budget (the token's, or the first installation's).
    rate_limit: RateLimitSnapshot,
    /// Each credential's request plan: ceiling, reserve, admissions and waiters by class.
    credentials: Vec<CredentialView>,
    /// The GitHub App's installations (empty with a token).
    installations: Vec<InstallationStatus>,
    requests_sent_total: u64,
    requests_not_modified_total: u64,
    failed_attempts_total: u64,
    rate_limit_waits_total: u64,
    /// The budget over the last hour, oldest first.
    budget_samples: Vec<BudgetSample>,
}

#[derive(Debug, Serialize)]
struct CredentialView {
    credential: String,
    budget: BudgetSnapshot,
}

/// Entities the pipeline could not read: being retried, or given up on.
#[derive(Debug, Serialize)]
struct FailuresView {
    retrying: u64,
    given_up: u64,
    /// The most recent ones, newest first.
    recent: Vec<FailureView>,
}

#[derive(Debug, Serialize)]
struct FailureView {
    repo: String,
    entity: &'static str,
    run_id: Option<u64>,
    run_attempt: Option<u32>,
    commit_sha: Option<String>,
    attempts: u32,
    reason: String,
    next_retry_at: DateTime<Utc>,
    given_up_at: Option<DateTime<Utc>>,
}

async fn failures_view(state: &SharedState, trusted: bool) -> Result<FailuresView, ApiError> {
    let (retrying, given_up) = state.store.failure_counts().await?;
    let recent = state
        .store
        .recent_failures(RECENT_FAILURES_SHOWN)
        .await?
        .into_iter()
        .map(|failure| FailureView {
            repo: failure.repo,
            entity: failure.kind.as_str(),
            run_id: failure.run_id,
            run_attempt: failure.run_attempt,
            commit_sha: failure.sha,
            attempts: failure.attempts,
            reason: if trusted {
                failure.reason
            } else {
                ERROR_HIDDEN.to_string()
            },
            next_retry_at: failure.next_retry_at,
            given_up_at: failure.given_up_at,
        })
        .collect();
    Ok(FailuresView {
        retrying,
        given_up,
        recent,
    })
}

/// How many unreadable entities the status lists.
const RECENT_FAILURES_SHOWN: u32 = 20;

#[derive(Debug, Serialize)]
pub(crate) struct StatusView {
    now: DateTime<Utc>,
    /// `null` when the pipeline agent does not run in this process.
    pipeline: Option<PipelineView>,
    /// `null` when the log agent does not run in this process.
    logs: Option<LogStatusSnapshot>,
    repositories: usize,
    queues: Vec<QueueView>,
    outbox: OutboxView,
    failures: FailuresView,
    github: GithubView,
    /// Repositories with history still to read by the catch-up lane.
    catchup_pending_repositories: u64,
    collect_now_available: bool,
    mutations_enabled: bool,
}

pub(crate) async fn status(
    State(state): State<SharedState>,
    reader: Reader,
) -> Result<Json<StatusView>, ApiError> {
    let trusted = reader.trusted;
    let pipeline = state.pipeline_status.as_ref().map(|status| {
        let mut counters = status.snapshot();
        counters.last_error = shown_error(counters.last_error.take(), trusted);
        PipelineView {
            last_cycle_age_secs: age_secs(counters.last_cycle_finished_at),
            counters,
            poll_interval_secs: state.poll_interval_secs,
        }
    });
    let logs = state.log_status.as_ref().map(|status| {
        let mut snapshot = status.snapshot();
        snapshot.last_error = shown_error(snapshot.last_error.take(), trusted);
        snapshot
    });
    let mut queues = queue_views(&state).await;
    for queue in &mut queues {
        queue.error = shown_error(queue.error.take(), trusted);
    }
    let outbox = OutboxView {
        metrics: state.store.outbox_depth(Destination::Metrics).await?,
        log_requests: state.store.outbox_depth(Destination::LogRequests).await?,
        parked: state.store.parked_count().await?,
    };
    Ok(Json(StatusView {
        now: Utc::now(),
        pipeline,
        logs,
        repositories: state.store.repositories().await?.len(),
        queues,
        outbox,
        failures: failures_view(&state, trusted).await?,
        github: github_view(&state),
        catchup_pending_repositories: state.store.catchup_pending().await?,
        collect_now_available: state.trigger.is_some(),
        mutations_enabled: state.access.admin_token.is_some(),
    }))
}

fn github_view(state: &SharedState) -> GithubView {
    let metrics = state.github.metrics();
    let clients = state.github.clients();
    GithubView {
        rate_limit: clients
            .first()
            .map(|client| client.rate_limit())
            .unwrap_or_default(),
        credentials: clients
            .iter()
            .map(|client| CredentialView {
                credential: client.credential_label(),
                budget: client.budget(),
            })
            .collect(),
        installations: state.github.installations(),
        requests_sent_total: metrics.requests_total(),
        requests_not_modified_total: metrics.responses_with_status(304),
        failed_attempts_total: metrics.failed_attempts(),
        rate_limit_waits_total: metrics.rate_limit_waits(),
        budget_samples: state.budget_samples.snapshot(),
    }
}

#[derive(Debug, Serialize)]
struct RepositoryView {
    repository: String,
    /// Where the entry came from: `config` or `api`.
    origin: String,
    last_poll_at: Option<DateTime<Utc>>,
    last_poll_age_secs: Option<i64>,
    last_poll_ok_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    consecutive_errors: i64,
    runs_stored: u64,
}

pub(crate) async fn list_repositories(
    State(state): State<SharedState>,
    reader: Reader,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut views = Vec::new();
    for entry in state.store.repositories().await? {
        let cursor = state.store.cursor(&entry.repo).await?;
        views.push(RepositoryView {
            repository: entry.repo.to_string(),
            origin: entry.origin,
            last_poll_age_secs: age_secs(cursor.last_poll_at),
            last_poll_at: cursor.last_poll_at,
            last_poll_ok_at: cursor.last_poll_ok_at,
            last_error: shown_error(cursor.last_error, reader.trusted),
            consecutive_errors: cursor.consecutive_errors,
            runs_stored: state.store.count_runs(&entry.repo).await?,
        });
    }
    Ok(Json(json!({ "repositories": views })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepositoryBody {
    repository: String,
}

/// Decodes an optional JSON body; an empty body is `None`.
fn optional_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|error| ApiError::BadRequest(format!("invalid json body: {error}")))
}

/// `owner/name` or `https://github.com/owner/name`; URLs to any other host are refused.
pub(crate) fn parse_repository(input: &str) -> Result<RepoName, ApiError> {
    let (host, repo) = RepoName::parse_with_host(input)
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    match host {
        Some(host) if host != GITHUB_HOST && host != "www.github.com" => {
            Err(ApiError::BadRequest(format!(
                "{input:?} points to {host}, not {GITHUB_HOST}: only github.com repositories can be added"
            )))
        }
        _ => Ok(repo),
    }
}

pub(crate) async fn add_repository(
    State(state): State<SharedState>,
    _admin: Admin,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: RepositoryBody = optional_json(&body)?.ok_or_else(|| {
        ApiError::BadRequest("expected a json body {\"repository\": \"owner/name\"}".to_string())
    })?;
    let repo = parse_repository(&body.repository)?;
    let added = state.store.add_repository(&repo, "api").await?;
    let status = if added {
        tracing::info!(%repo, "repository added through the http api");
        // Poll it now rather than a whole interval later.
        if let Some(trigger) = &state.trigger {
            trigger.notify_one();
        }
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let answer = json!({ "repository": repo.to_string(), "added": added });
    Ok((status, Json(answer)).into_response())
}

pub(crate) async fn remove_repository(
    State(state): State<SharedState>,
    _admin: Admin,
    Path((owner, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let repo =
        RepoName::new(&owner, &name).map_err(|error| ApiError::BadRequest(error.to_string()))?;
    if state.store.remove_repository(&repo).await? {
        tracing::info!(%repo, "repository removed through the http api");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("{repo} is not configured")))
    }
}

/// Wakes the pipeline agent for a cycle now. The agent's cycle covers every repository, so a
/// named repository is validated and must be configured, but the whole cycle runs.
pub(crate) async fn collect(
    State(state): State<SharedState>,
    _admin: Admin,
    body: Bytes,
) -> Result<Response, ApiError> {
    let requested: Option<RepositoryBody> = optional_json(&body)?;
    let repository = match requested {
        Some(body) => {
            let repo = parse_repository(&body.repository)?;
            let configured = state.store.repositories().await?;
            if !configured.iter().any(|entry| entry.repo == repo) {
                return Err(ApiError::NotFound(format!("{repo} is not configured")));
            }
            Some(repo.to_string())
        }
        None => None,
    };
    let trigger = state.trigger.as_ref().ok_or_else(|| {
        ApiError::Unavailable("the pipeline agent does not run in this process".to_string())
    })?;
    // notify_one keeps a permit if the agent is mid-cycle, so the request is never lost.
    trigger.notify_one();
    tracing::info!(
        repository = repository.as_deref().unwrap_or("all"),
        "collection triggered through the http api"
    );
    let answer =
        json!({ "triggered": true, "repository": repository, "scope": "all repositories" });
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

#[derive(Debug, Serialize)]
struct JobView {
    job_id: u64,
    job_name: Option<String>,
    run_attempt: u32,
    status: String,
    conclusion: Option<String>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    queue_seconds: Option<f64>,
    duration_seconds: Option<f64>,
    runner_name: Option<String>,
    html_url: Option<String>,
}

impl From<JobFacts> for JobView {
    fn from(job: JobFacts) -> Self {
        JobView {
            job_id: job.job_id,
            job_name: job.job_name,
            run_attempt: job.run_attempt,
            status: job.status,
            conclusion: job.conclusion,
            started_at: job.started_at,
            completed_at: job.completed_at,
            queue_seconds: job.queue_seconds,
            duration_seconds: job.duration_seconds,
            runner_name: job.runner_name,
            html_url: job.html_url,
        }
    }
}

#[derive(Debug, Serialize)]
struct RunView {
    repository: String,
    run_id: u64,
    run_attempt: u32,
    run_number: Option<u64>,
    workflow_name: Option<String>,
    display_title: Option<String>,
    status: String,
    conclusion: Option<String>,
    event: Option<String>,
    head_branch: Option<String>,
    head_sha: String,
    html_url: Option<String>,
    actor: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    run_started_at: Option<DateTime<Utc>>,
    queue_seconds: Option<f64>,
    duration_seconds: Option<f64>,
    jobs: Vec<JobView>,
}

impl From<RunFacts> for RunView {
    fn from(run: RunFacts) -> Self {
        RunView {
            repository: run.repo,
            run_id: run.run_id,
            run_attempt: run.run_attempt,
            run_number: run.run_number,
            workflow_name: run.workflow_name,
            display_title: run.display_title,
            status: run.status,
            conclusion: run.conclusion,
            event: run.event,
            head_branch: run.head_branch,
            head_sha: run.head_sha,
            html_url: run.html_url,
            actor: run.actor,
            created_at: run.created_at,
            updated_at: run.updated_at,
            run_started_at: run.run_started_at,
            queue_seconds: run.queue_seconds,
            duration_seconds: run.duration_seconds,
            jobs: run.jobs.into_iter().map(JobView::from).collect(),
        }
    }
}

/// Parses an optional unsigned query parameter, refusing anything else with a clear message.
pub(crate) fn query_u64(
    query: &HashMap<String, String>,
    name: &str,
) -> Result<Option<u64>, ApiError> {
    query
        .get(name)
        .map(|value| {
            value.parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "{name} must be a non-negative integer, got {value:?}"
                ))
            })
        })
        .transpose()
}

pub(crate) async fn recent_runs(
    State(state): State<SharedState>,
    _reader: Reader,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = match query_u64(&query, "limit")? {
        None => DEFAULT_RUNS_LIMIT,
        Some(limit) if (1..=u64::from(MAX_RUNS_LIMIT)).contains(&limit) => limit as u32,
        Some(limit) => {
            return Err(ApiError::BadRequest(format!(
                "limit must be between 1 and {MAX_RUNS_LIMIT}, got {limit}"
            )))
        }
    };
    let runs: Vec<RunView> = state
        .store
        .recent_runs(limit)
        .await?
        .into_iter()
        .map(RunView::from)
        .collect();
    Ok(Json(json!({ "runs": runs })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_parse_from_names_and_github_urls() {
        for input in [
            "octo/hello",
            "https://github.com/octo/hello",
            "https://github.com/octo/hello.git",
            "https://GitHub.com/octo/hello/",
        ] {
            assert_eq!(
                parse_repository(input).unwrap().to_string(),
                "octo/hello",
                "{input}"
            );
        }
    }

    #[test]
    fn foreign_hosts_and_garbage_are_refused() {
        let foreign = parse_repository("https://gitlab.com/octo/hello").unwrap_err();
        assert!(foreign.to_string().contains("gitlab.com"), "{foreign}");
        for input in [
            "",
            "octo",
            "octo/hello/extra",
            "ftp://github.com/a/b",
            "-x/y",
        ] {
            assert!(parse_repository(input).is_err(), "{input}");
        }
    }
}
