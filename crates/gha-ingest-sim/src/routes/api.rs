//! The API origin's request pipeline, the same for every GitHub route: credentials, injected
//! faults, disabled routes (404 for good, like an endpoint a GitHub Enterprise Server lacks), the
//! primary rate limit, the answer, then ETag / `If-None-Match` (a 304 costs no point),
//! rate-limit headers and counting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::clock::{lock, to_datetime, Millis};
use crate::faults::{FaultKind, Origin};
use crate::payloads::render_rate_limit;
use crate::query::Query;
use crate::ratelimit::RateLimitSnapshot;
use crate::routes::{actions, repos, ApiRoute, OrgRef, RepoRef, RepoResource};
use crate::state::Shared;
use crate::world::World;

const DOCUMENTATION_URL: &str = "https://docs.github.com/rest";

/// What a route answers, before the pipeline adds headers.
#[derive(Debug)]
pub(crate) enum ApiOutcome {
    Json {
        status: StatusCode,
        body: Value,
        link: Option<String>,
    },
    Redirect {
        location: String,
    },
}

impl ApiOutcome {
    pub(crate) fn ok(body: Value) -> Self {
        ApiOutcome::Json {
            status: StatusCode::OK,
            body,
            link: None,
        }
    }

    pub(crate) fn ok_paged(body: Value, link: Option<String>) -> Self {
        ApiOutcome::Json {
            status: StatusCode::OK,
            body,
            link,
        }
    }

    /// GitHub's error body: `{"message", "documentation_url", "status"}`.
    pub(crate) fn error(status: StatusCode, message: &str) -> Self {
        ApiOutcome::Json {
            status,
            body: error_body(status, message),
            link: None,
        }
    }

    pub(crate) fn not_found() -> Self {
        Self::error(StatusCode::NOT_FOUND, "Not Found")
    }
}

fn error_body(status: StatusCode, message: &str) -> Value {
    json!({
        "message": message,
        "documentation_url": DOCUMENTATION_URL,
        "status": status.as_u16().to_string(),
    })
}

/// Whether an answer spends a rate-limit point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cost {
    Free,
    OnePoint,
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(1);

/// The fallback handler of the API origin: every GitHub route goes through here.
pub(crate) async fn serve_api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let route = ApiRoute::parse(&method, uri.path());
    let response = answer(&shared, &route, &uri, &headers).await;
    let status = response.status().as_u16();
    lock(&shared.stats).record_api_response(route.template(), status);
    tracing::debug!(
        route = route.template(),
        path = uri.path(),
        status,
        "simulator answered"
    );
    response
}

async fn answer(
    shared: &Arc<Shared>,
    route: &ApiRoute,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    if let Err(message) = check_credentials(shared, headers) {
        lock(&shared.stats).unauthorized_total += 1;
        let snapshot = rate_limit_snapshot(shared);
        return json_response(
            StatusCode::UNAUTHORIZED,
            &error_body(StatusCode::UNAUTHORIZED, message),
            snapshot,
        );
    }

    let mut garble_body = false;
    let fault = lock(&shared.faults).take(Origin::Api, uri.path());
    if let Some(kind) = fault {
        lock(&shared.stats).faults_fired_total += 1;
        match kind {
            FaultKind::Delay(delay) => tokio::time::sleep(delay).await,
            FaultKind::Status(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let message = status.canonical_reason().unwrap_or("Server Error");
                let snapshot = rate_limit_snapshot(shared);
                return json_response(status, &error_body(status, message), snapshot);
            }
            FaultKind::SecondaryRateLimit {
                retry_after_secs,
                status,
            } => {
                lock(&shared.stats).secondary_rate_limited_total += 1;
                return secondary_rate_limit_response(shared, retry_after_secs, status);
            }
            FaultKind::MalformedJson => garble_body = true,
            FaultKind::LogHostStatus(_) => {}
        }
    }

    let is_disabled = lock(&shared.disabled_routes)
        .iter()
        .any(|fragment| uri.path().contains(fragment.as_str()));

    if *route == ApiRoute::RateLimit {
        if is_disabled {
            return finish(
                shared,
                ApiOutcome::not_found(),
                headers,
                garble_body,
                Cost::Free,
            );
        }
        let snapshot = rate_limit_snapshot(shared);
        let templates = Arc::clone(&lock(&shared.world).templates);
        let body = render_rate_limit(
            &templates,
            snapshot.limit,
            snapshot.used,
            snapshot.reset_epoch_secs,
        );
        return finish(
            shared,
            ApiOutcome::ok(body),
            headers,
            garble_body,
            Cost::Free,
        );
    }

    let exhausted = lock(&shared.rate_limit).is_exhausted(shared.clock.now_ms());
    if exhausted {
        lock(&shared.stats).rate_limited_total += 1;
        return primary_rate_limit_response(shared);
    }

    let now_ms = shared.clock.now_ms();
    let query = Query::parse(uri.query());
    let outcome = if is_disabled {
        ApiOutcome::not_found()
    } else {
        let world = lock(&shared.world);
        dispatch(shared, &world, route, &query, now_ms)
    };
    finish(shared, outcome, headers, garble_body, Cost::OnePoint)
}

fn check_credentials(shared: &Shared, headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(expected_token) = shared.config.token.as_deref() else {
        return Ok(());
    };
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        return Err("Requires authentication");
    };
    let presented_token = authorization
        .to_str()
        .ok()
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
        })
        .map(|(_, token)| token.trim());
    if presented_token == Some(expected_token) {
        Ok(())
    } else {
        Err("Bad credentials")
    }
}

fn resolve_repo(world: &World, repo: &RepoRef) -> Option<usize> {
    match repo {
        RepoRef::Name { owner, name } => world.repo_index(&format!("{owner}/{name}")),
        RepoRef::Id(id) => world.repo_index_by_id(*id),
    }
}

fn dispatch(
    shared: &Shared,
    world: &World,
    route: &ApiRoute,
    query: &Query,
    now_ms: Millis,
) -> ApiOutcome {
    match route {
        ApiRoute::RateLimit | ApiRoute::Unknown => ApiOutcome::not_found(),
        ApiRoute::OrgRepos(org) => {
            let owner = match org {
                OrgRef::Login(login) => Some(login.as_str()),
                OrgRef::Id(id) => world.owner_by_id(*id),
            };
            owner.map_or_else(ApiOutcome::not_found, |owner| {
                repos::org_repos(world, owner, query)
            })
        }
        ApiRoute::Repo(repo, resource) => {
            let Some(repo_index) = resolve_repo(world, repo) else {
                return ApiOutcome::not_found();
            };
            match resource {
                RepoResource::Repository => repos::repository(world, repo_index),
                RepoResource::ListRuns => actions::list_runs(world, repo_index, query, now_ms),
                RepoResource::Run(run_id) => {
                    actions::get_run(world, repo_index, *run_id, None, query, now_ms)
                }
                RepoResource::Attempt(run_id, attempt) => {
                    actions::get_run(world, repo_index, *run_id, Some(*attempt), query, now_ms)
                }
                RepoResource::RunJobs(run_id) => {
                    actions::list_run_jobs(world, repo_index, *run_id, query, now_ms)
                }
                RepoResource::AttemptJobs(run_id, attempt) => {
                    actions::list_attempt_jobs(world, repo_index, *run_id, *attempt, query, now_ms)
                }
                RepoResource::Job(job_id) => actions::get_job(world, repo_index, *job_id, now_ms),
                RepoResource::JobLogs(job_id) => {
                    actions::job_logs(shared, world, repo_index, *job_id, now_ms)
                }
                RepoResource::Commit(sha) => repos::commit(world, repo_index, sha, query),
                RepoResource::CommitPulls(sha) => {
                    repos::commit_pulls(world, repo_index, sha, query)
                }
            }
        }
    }
}

/// Garbles the runs `serve_run_malformed` named, wherever they appear in an answer (a list or
/// a run's own URL): a run object is one with an `id` and a `run_attempt`.
fn malform_runs(malformed: &std::collections::HashSet<u64>, body: &mut serde_json::Value) {
    if malformed.is_empty() {
        return;
    }
    let is_malformed_run = |object: &serde_json::Map<String, serde_json::Value>| {
        object.contains_key("run_attempt")
            && object
                .get("id")
                .and_then(serde_json::Value::as_u64)
                .is_some_and(|id| malformed.contains(&id))
    };
    let garble = |object: &mut serde_json::Map<String, serde_json::Value>| {
        if is_malformed_run(object) {
            object.insert("created_at".into(), "yesterday-ish".into());
        }
    };
    if let serde_json::Value::Object(object) = body {
        garble(object);
        if let Some(serde_json::Value::Array(runs)) = object.get_mut("workflow_runs") {
            for run in runs.iter_mut().filter_map(serde_json::Value::as_object_mut) {
                garble(run);
            }
        }
    }
}

fn finish(
    shared: &Shared,
    outcome: ApiOutcome,
    request_headers: &HeaderMap,
    garble_body: bool,
    cost: Cost,
) -> Response {
    match outcome {
        ApiOutcome::Redirect { location } => {
            let snapshot = spend(shared, cost);
            lock(&shared.stats).log_redirects_total += 1;
            let builder =
                with_github_headers(Response::builder().status(StatusCode::FOUND), snapshot)
                    .header(header::LOCATION, location);
            build(builder, Body::empty())
        }
        ApiOutcome::Json {
            status,
            mut body,
            link,
        } => {
            malform_runs(&lock(&shared.malformed_runs), &mut body);
            let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
            if garble_body {
                bytes.truncate(bytes.len() / 2);
            }
            let etag = etag_of(&bytes);
            if status == StatusCode::OK && if_none_match_matches(request_headers, &etag) {
                lock(&shared.stats).not_modified_total += 1;
                let snapshot = rate_limit_snapshot(shared);
                let builder = with_github_headers(
                    Response::builder().status(StatusCode::NOT_MODIFIED),
                    snapshot,
                )
                .header(header::ETAG, etag);
                return build(builder, Body::empty());
            }
            let snapshot = spend(shared, cost);
            let mut builder = with_github_headers(Response::builder().status(status), snapshot)
                .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                .header(header::ETAG, etag);
            if let Some(link) = link {
                builder = builder.header(header::LINK, link);
            }
            build(builder, Body::from(bytes))
        }
    }
}

fn spend(shared: &Shared, cost: Cost) -> RateLimitSnapshot {
    let now_ms = shared.clock.now_ms();
    let mut rate_limit = lock(&shared.rate_limit);
    if cost == Cost::OnePoint {
        rate_limit.consume(now_ms);
        lock(&shared.stats).rate_limit_points_used += 1;
    }
    rate_limit.snapshot(now_ms)
}

fn rate_limit_snapshot(shared: &Shared) -> RateLimitSnapshot {
    lock(&shared.rate_limit).snapshot(shared.clock.now_ms())
}

/// `Wed, 02 Dec 2026 09:41:30 GMT`: HTTP's date form.
fn http_date(ms: Millis) -> String {
    to_datetime(ms)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// `If-None-Match` may list several tags or `*`; weak and strong forms compare equal here.
fn if_none_match_matches(headers: &HeaderMap, etag: &str) -> bool {
    let strip_weak = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let current = strip_weak(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|candidate| candidate.trim() == "*" || strip_weak(candidate) == current)
}

fn with_github_headers(
    builder: axum::http::response::Builder,
    snapshot: RateLimitSnapshot,
) -> axum::http::response::Builder {
    let request_number = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    builder
        .header("x-ratelimit-limit", snapshot.limit)
        .header("x-ratelimit-remaining", snapshot.remaining)
        .header("x-ratelimit-used", snapshot.used)
        .header("x-ratelimit-reset", snapshot.reset_epoch_secs)
        .header("x-ratelimit-resource", "core")
        // Simulated time, so `x-ratelimit-reset` minus `Date` is the wait on either clock.
        .header(header::DATE, http_date(snapshot.taken_ms))
        .header("x-github-api-version-selected", "2022-11-28")
        .header("x-github-media-type", "github.v3; format=json")
        .header(
            "x-github-request-id",
            format!(
                "5A1D:{request_number:06X}:{:08X}",
                request_number.wrapping_mul(2_654_435_761) as u32
            ),
        )
        .header(header::CACHE_CONTROL, "private, max-age=60, s-maxage=60")
        .header(
            header::VARY,
            HeaderValue::from_static(
                "Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding",
            ),
        )
}

fn build(builder: axum::http::response::Builder, body: Body) -> Response {
    builder.body(body).unwrap_or_else(|_| {
        let mut fallback = Response::new(Body::empty());
        *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}

fn etag_of(bytes: &[u8]) -> String {
    format!("W/\"{}\"", hex::encode(Sha256::digest(bytes)))
}

fn json_response(status: StatusCode, body: &Value, snapshot: RateLimitSnapshot) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let builder = with_github_headers(Response::builder().status(status), snapshot)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::ETAG, etag_of(&bytes));
    build(builder, Body::from(bytes))
}

fn secondary_rate_limit_response(
    shared: &Shared,
    retry_after_secs: u64,
    status_code: u16,
) -> Response {
    let status = StatusCode::from_u16(status_code).unwrap_or(StatusCode::FORBIDDEN);
    let body = json!({
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 5A1D:3F2E:1B6C7D:2D4E5F:6650A1B2.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
        "status": status.as_u16().to_string(),
    });
    let snapshot = rate_limit_snapshot(shared);
    let mut response = json_response(status, &body, snapshot);
    if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn primary_rate_limit_response(shared: &Shared) -> Response {
    let snapshot = rate_limit_snapshot(shared);
    let body = json!({
        "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID 5A1D:3F2E:1B6C7D:2D4E5F:6650A1B2.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits",
        "status": "403",
    });
    json_response(StatusCode::FORBIDDEN, &body, snapshot)
}
