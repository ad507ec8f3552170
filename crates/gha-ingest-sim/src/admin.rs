//! The HTTP admin API under `/_sim/` on the API origin: the `SimHandle` over HTTP, for the CLI
//! (`gha-ingest sim`) and the demo. Admin requests are neither counted nor rate limited, and
//! faults never touch them.
//!
//! | request | body | answer |
//! |---|---|---|
//! | `POST /_sim/repos` | `{"owner","name"}` | `{"full_name"}` |
//! | `POST /_sim/repos/{o}/{r}/history` | `{"runs","spread_secs"}` | `{"run_ids":[…]}` |
//! | `POST /_sim/repos/{o}/{r}/runs` | `RunSpec` (every field optional, e.g. `{"commit_message":"…","job_names":["build"],"head_branch":"…"}`) | `{"run_id"}` |
//! | `GET /_sim/repos/{o}/{r}/runs` | | `{"run_ids":[…]}` |
//! | `DELETE /_sim/repos/{o}/{r}/runs/{id}` | | 204; then the run, its attempts, jobs and logs answer 404 |
//! | `POST /_sim/repos/{o}/{r}/runs/{id}/rerun` | | `{"run_attempt"}` |
//! | `POST /_sim/advance` | `{"secs"}` | `{"now"}` |
//! | `GET /_sim/now` | | `{"now"}` |
//! | `GET /_sim/stats` | | `SimStats` |
//! | `POST /_sim/stats/reset` | | 204 |
//! | `POST /_sim/faults` | `Fault` | 204 |
//! | `DELETE /_sim/faults` | | 204 |
//! | `POST /_sim/disabled_routes` | `{"route_contains": "/attempts/"}` | 204; matching API paths answer 404 for good |
//! | `DELETE /_sim/disabled_routes` | | 204; every route answers again |
//! | `POST /_sim/rate_limit` | `{"remaining"}` | 204; the token's (or anonymous) budget |
//! | `POST /_sim/apps` | `{"app_id","public_key_pem"}` (SPKI or PKCS#1 PEM) | 204 |
//! | `POST /_sim/installations` | `{"app_id","account","repos":["owner/name",…]}` | `{"installation_id"}` |
//! | `POST /_sim/installations/{id}/repos` | `{"repo"}` | 204 |
//! | `POST /_sim/installations/{id}/suspend` | | 204; no new tokens, old ones answer 401 |
//! | `POST /_sim/installations/{id}/rate_limit` | `{"remaining"}` | 204; that installation's budget |
//! | `POST /_sim/installations/expire_tokens` | | 204; every issued installation token expires now |
//! | `GET /_sim/request_log` | | `{"entries":[RequestLogEntry…]}`, emptying the log |
//! | `POST /_sim/jobs/{id}/log` | `LogSpec`, e.g. `{"generated":{"bytes":1000,"line_len":80}}`, `"gone"`, `"missing"` or `"never_served"` | 204 |
//! | `GET /_sim/jobs/{id}/log/digest` | | `{"length","sha256"}` |
//! | `POST /_sim/webhook` | `{"url","secret"}` | 204; every change from now on is delivered there, signed |
//! | `DELETE /_sim/webhook` | | 204; nothing is delivered until the next `POST` |
//! | `POST /_sim/webhook/faults` | `{"seed","drop_ratio","duplicate_ratio","reorder_ratio","max_delay_ms","wrong_signature_ratio"}` (each optional) | 204 |
//! | `GET /_sim/webhook/stats` | | `WebhookStats` |

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::faults::Fault;
use crate::handle::SimHandle;
use crate::logs::LogSpec;
use crate::spec::{RunSpec, SimError};
use crate::state::Shared;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/repos", post(add_repo))
        .route("/repos/{owner}/{repo}/history", post(generate_history))
        .route(
            "/repos/{owner}/{repo}/runs",
            post(create_run).get(list_runs),
        )
        .route("/repos/{owner}/{repo}/runs/{run_id}", delete(delete_run))
        .route("/repos/{owner}/{repo}/runs/{run_id}/rerun", post(rerun))
        .route("/advance", post(advance))
        .route("/now", get(now))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .route("/faults", post(inject_fault).delete(clear_faults))
        .route(
            "/disabled_routes",
            post(disable_route).delete(enable_all_routes),
        )
        .route("/rate_limit", post(set_rate_limit))
        .route("/apps", post(add_app))
        .route("/installations", post(add_installation))
        .route(
            "/installations/expire_tokens",
            post(expire_installation_tokens),
        )
        .route(
            "/installations/{installation_id}/repos",
            post(add_installation_repo),
        )
        .route(
            "/installations/{installation_id}/suspend",
            post(suspend_installation),
        )
        .route(
            "/installations/{installation_id}/rate_limit",
            post(set_installation_rate_limit),
        )
        .route("/request_log", get(take_request_log))
        .route("/jobs/{job_id}/log", post(set_job_log))
        .route("/jobs/{job_id}/log/digest", get(job_log_digest))
        .route("/webhook", post(set_webhook).delete(clear_webhook))
        .route("/webhook/faults", post(set_webhook_faults))
        .route("/webhook/stats", get(webhook_stats))
        .fallback(unknown)
}

fn handle(shared: Arc<Shared>) -> SimHandle {
    SimHandle::new(shared)
}

fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

fn sim_error_response(error: &SimError) -> Response {
    let status = match error {
        SimError::InvalidRepoName(_)
        | SimError::InvalidAppKey(_)
        | SimError::InvalidWebhookUrl(_) => StatusCode::UNPROCESSABLE_ENTITY,
        SimError::UnknownRepo(_)
        | SimError::UnknownRun { .. }
        | SimError::UnknownApp(_)
        | SimError::UnknownInstallation(_) => StatusCode::NOT_FOUND,
    };
    error_response(status, &error.to_string())
}

async fn unknown() -> Response {
    error_response(StatusCode::NOT_FOUND, "unknown admin route")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRepo {
    owner: String,
    name: String,
}

async fn add_repo(State(shared): State<Arc<Shared>>, Json(new_repo): Json<NewRepo>) -> Response {
    let has_valid_name = |part: &str| !part.is_empty() && !part.contains('/');
    if !has_valid_name(&new_repo.owner) || !has_valid_name(&new_repo.name) {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "owner and name must be non-empty and contain no '/'",
        );
    }
    handle(shared).add_repo(&new_repo.owner, &new_repo.name);
    let full_name = format!("{}/{}", new_repo.owner, new_repo.name);
    (StatusCode::CREATED, Json(json!({ "full_name": full_name }))).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryRequest {
    runs: usize,
    #[serde(default = "default_spread_secs")]
    spread_secs: u64,
}

fn default_spread_secs() -> u64 {
    7 * 24 * 3600
}

async fn generate_history(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo)): Path<(String, String)>,
    Json(request): Json<HistoryRequest>,
) -> Response {
    let full_name = format!("{owner}/{repo}");
    match handle(shared).try_generate_history(
        &full_name,
        request.runs,
        Duration::from_secs(request.spread_secs),
    ) {
        Ok(run_ids) => Json(json!({ "run_ids": run_ids })).into_response(),
        Err(error) => sim_error_response(&error),
    }
}

async fn create_run(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo)): Path<(String, String)>,
    Json(spec): Json<RunSpec>,
) -> Response {
    match handle(shared).try_create_run(&format!("{owner}/{repo}"), spec) {
        Ok(run_id) => (StatusCode::CREATED, Json(json!({ "run_id": run_id }))).into_response(),
        Err(error) => sim_error_response(&error),
    }
}

async fn list_runs(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo)): Path<(String, String)>,
) -> Response {
    let run_ids = handle(shared).list_run_ids(&format!("{owner}/{repo}"));
    Json(json!({ "run_ids": run_ids })).into_response()
}

async fn rerun(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo, run_id)): Path<(String, String, u64)>,
) -> Response {
    match handle(shared).try_rerun(&format!("{owner}/{repo}"), run_id) {
        Ok(run_attempt) => Json(json!({ "run_attempt": run_attempt })).into_response(),
        Err(error) => sim_error_response(&error),
    }
}

async fn delete_run(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo, run_id)): Path<(String, String, u64)>,
) -> Response {
    match handle(shared).try_delete_run(&format!("{owner}/{repo}"), run_id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => sim_error_response(&error),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisableRouteRequest {
    route_contains: String,
}

async fn disable_route(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<DisableRouteRequest>,
) -> Response {
    if request.route_contains.is_empty() {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "route_contains must not be empty",
        );
    }
    handle(shared).disable_route(&request.route_contains);
    StatusCode::NO_CONTENT.into_response()
}

async fn enable_all_routes(State(shared): State<Arc<Shared>>) -> StatusCode {
    handle(shared).enable_all_routes();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceRequest {
    secs: f64,
}

async fn advance(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<AdvanceRequest>,
) -> Response {
    let Ok(by) = Duration::try_from_secs_f64(request.secs) else {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "secs must be a non-negative number",
        );
    };
    let handle = handle(shared);
    handle.advance(by);
    Json(json!({ "now": handle.now().to_rfc3339() })).into_response()
}

async fn now(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({ "now": handle(shared).now().to_rfc3339() })).into_response()
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(handle(shared).stats()).into_response()
}

async fn reset_stats(State(shared): State<Arc<Shared>>) -> StatusCode {
    handle(shared).reset_stats();
    StatusCode::NO_CONTENT
}

async fn inject_fault(State(shared): State<Arc<Shared>>, Json(fault): Json<Fault>) -> StatusCode {
    handle(shared).inject_fault(fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    handle(shared).clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitRequest {
    remaining: u32,
}

async fn set_rate_limit(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<RateLimitRequest>,
) -> StatusCode {
    handle(shared).set_rate_limit_remaining(request.remaining);
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApp {
    app_id: u64,
    public_key_pem: String,
}

async fn add_app(State(shared): State<Arc<Shared>>, Json(new_app): Json<NewApp>) -> Response {
    match handle(shared).try_add_app(new_app.app_id, &new_app.public_key_pem) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => sim_error_response(&error),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInstallation {
    app_id: u64,
    account: String,
    #[serde(default)]
    repos: Vec<String>,
}

async fn add_installation(
    State(shared): State<Arc<Shared>>,
    Json(new_installation): Json<NewInstallation>,
) -> Response {
    let repos: Vec<&str> = new_installation.repos.iter().map(String::as_str).collect();
    match handle(shared).try_add_installation(
        new_installation.app_id,
        &new_installation.account,
        &repos,
    ) {
        Ok(installation_id) => (
            StatusCode::CREATED,
            Json(json!({ "installation_id": installation_id })),
        )
            .into_response(),
        Err(error) => sim_error_response(&error),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallationRepo {
    repo: String,
}

async fn add_installation_repo(
    State(shared): State<Arc<Shared>>,
    Path(installation_id): Path<u64>,
    Json(request): Json<InstallationRepo>,
) -> Response {
    match handle(shared).try_add_installation_repo(installation_id, &request.repo) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => sim_error_response(&error),
    }
}

async fn suspend_installation(
    State(shared): State<Arc<Shared>>,
    Path(installation_id): Path<u64>,
) -> Response {
    match handle(shared).try_suspend_installation(installation_id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => sim_error_response(&error),
    }
}

async fn set_installation_rate_limit(
    State(shared): State<Arc<Shared>>,
    Path(installation_id): Path<u64>,
    Json(request): Json<RateLimitRequest>,
) -> StatusCode {
    handle(shared).set_installation_rate_limit_remaining(installation_id, request.remaining);
    StatusCode::NO_CONTENT
}

async fn expire_installation_tokens(State(shared): State<Arc<Shared>>) -> StatusCode {
    handle(shared).expire_installation_tokens();
    StatusCode::NO_CONTENT
}

async fn take_request_log(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({ "entries": handle(shared).take_request_log() })).into_response()
}

async fn set_job_log(
    State(shared): State<Arc<Shared>>,
    Path(job_id): Path<u64>,
    Json(spec): Json<LogSpec>,
) -> StatusCode {
    handle(shared).set_job_log(job_id, spec);
    StatusCode::NO_CONTENT
}

async fn job_log_digest(State(shared): State<Arc<Shared>>, Path(job_id): Path<u64>) -> Response {
    let handle = handle(shared);
    // Hashing a large generated log takes a while: keep it off the async workers.
    let digest = tokio::task::spawn_blocking(move || handle.job_log_digest(job_id)).await;
    match digest {
        Ok(Some((length, sha256))) => {
            Json(json!({ "length": length, "sha256": sha256 })).into_response()
        }
        Ok(None) => error_response(StatusCode::NOT_FOUND, "no log for this job"),
        Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "digest task failed"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookRequest {
    url: String,
    secret: String,
}

async fn set_webhook(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<WebhookRequest>,
) -> Response {
    match handle(shared).try_set_webhook(&request.url, &request.secret) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => sim_error_response(&error),
    }
}

async fn clear_webhook(State(shared): State<Arc<Shared>>) -> StatusCode {
    handle(shared).clear_webhook();
    StatusCode::NO_CONTENT
}

/// `WebhookFaults` over HTTP: the delay in milliseconds, every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WebhookFaultsRequest {
    seed: u64,
    drop_ratio: f64,
    duplicate_ratio: f64,
    reorder_ratio: f64,
    max_delay_ms: u64,
    wrong_signature_ratio: f64,
}

async fn set_webhook_faults(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<WebhookFaultsRequest>,
) -> StatusCode {
    handle(shared).set_webhook_faults(crate::WebhookFaults {
        seed: request.seed,
        drop_ratio: request.drop_ratio,
        duplicate_ratio: request.duplicate_ratio,
        reorder_ratio: request.reorder_ratio,
        max_delay: Duration::from_millis(request.max_delay_ms),
        wrong_signature_ratio: request.wrong_signature_ratio,
    });
    StatusCode::NO_CONTENT
}

async fn webhook_stats(State(shared): State<Arc<Shared>>) -> Json<crate::WebhookStats> {
    Json(handle(shared).webhook_stats())
}
