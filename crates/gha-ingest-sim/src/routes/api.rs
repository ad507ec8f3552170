//! The API origin's request pipeline, the same for every GitHub route: the credential (401 when
//! missing or unknown), its secondary limits (403 + `retry-after`), whether it may use the route,
//! injected faults, disabled routes (404 for good, like an endpoint a GitHub Enterprise Server
//! lacks), its primary budget, the answer (an installation token sees only its installation's
//! repositories), then ETag / `If-None-Match` (a 304 costs no point), rate-limit headers,
//! counting and the request log. Requests under `/api/v3` are answered as without it, with the
//! answer's URLs kept under `/api/v3`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use tokio::time::Instant;

use crate::clock::{lock, to_datetime, Millis};
use crate::credentials::{self, Credential, Refusal};
use crate::faults::{FaultKind, Origin};
use crate::payloads::render_rate_limit;
use crate::query::Query;
use crate::ratelimit::RateLimitSnapshot;
use crate::routes::apps as app_routes;
use crate::routes::{
    actions, hooks, repos, split_enterprise_prefix, ApiRoute, OrgRef, RepoRef, RepoResource,
    ENTERPRISE_PREFIX,
};
use crate::secondary;
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

/// One API request as the pipeline sees it.
#[derive(Debug)]
struct ApiRequest<'a> {
    method: &'a Method,
    /// The path without GitHub Enterprise Server's `/api/v3`.
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    route: &'a ApiRoute,
    /// Whether it came under `/api/v3`: then URLs in the answer keep that prefix.
    enterprise: bool,
}

/// The fallback handler of the API origin: every GitHub route goes through here.
pub(crate) async fn serve_api(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let arrived = Instant::now();
    let (path, enterprise) = split_enterprise_prefix(uri.path());
    if enterprise {
        lock(&shared.stats).enterprise_requests_total += 1;
    }
    let route = ApiRoute::parse(&method, path);
    let request = ApiRequest {
        method: &method,
        path,
        query: uri.query(),
        headers: &headers,
        route: &route,
        enterprise,
    };
    let (response, credential) = answer(&shared, &request).await;
    let status = response.status().as_u16();
    record(&shared, route.template(), credential, status, arrived);
    tracing::debug!(
        route = route.template(),
        path = uri.path(),
        status,
        "simulator answered"
    );
    response
}

/// Counts an answered request and appends it to the request log.
fn record(
    shared: &Shared,
    route_template: &'static str,
    credential: Option<Credential>,
    status: u16,
    arrived: Instant,
) {
    lock(&shared.stats).record_api_response(route_template, credential, status);
    let since_start = arrived.saturating_duration_since(shared.started_at);
    let at_ms_since_start = u64::try_from(since_start.as_millis()).unwrap_or(u64::MAX);
    let dropped =
        lock(&shared.request_log).record(at_ms_since_start, credential, route_template, status);
    if dropped {
        lock(&shared.stats).request_log_dropped_total += 1;
    }
}

/// Resolves the credential, then answers as it: the response and the credential, if any.
async fn answer(shared: &Arc<Shared>, request: &ApiRequest<'_>) -> (Response, Option<Credential>) {
    let now_ms = shared.clock.now_ms();
    let resolved = {
        let apps = lock(&shared.apps);
        credentials::resolve(&shared.config, &apps, request.headers, now_ms)
    };
    match resolved {
        Ok(credential) => (
            answer_as(shared, request, credential).await,
            Some(credential),
        ),
        Err(refusal) => {
            lock(&shared.stats).unauthorized_total += 1;
            // GitHub sends the unauthenticated budget's headers; the simulator's is the user one.
            let response = refusal_response(shared, Credential::Anonymous, &refusal);
            (response, None)
        }
    }
}

async fn answer_as(
    shared: &Arc<Shared>,
    request: &ApiRequest<'_>,
    credential: Credential,
) -> Response {
    // Held until the answer is built (or the connection drops): the concurrency slot.
    let _in_flight = match shared.secondary.admit(
        credential,
        secondary::points_of(request.method),
        Instant::now(),
    ) {
        Ok(in_flight) => {
            let mut stats = lock(&shared.stats);
            let usage = stats.credential_mut(credential);
            usage.max_points_per_minute =
                usage.max_points_per_minute.max(in_flight.points_in_window);
            usage.max_concurrent = usage.max_concurrent.max(in_flight.concurrent);
            in_flight
        }
        Err(_) => {
            count_secondary_rate_limited(shared, credential);
            return secondary_rate_limit_response(
                shared,
                credential,
                secondary::RETRY_AFTER_SECS,
                StatusCode::FORBIDDEN.as_u16(),
            );
        }
    };

    if let Err(refusal) = credentials::admit_route(credential, request.route) {
        if refusal.status == StatusCode::UNAUTHORIZED {
            lock(&shared.stats).unauthorized_total += 1;
        }
        return refusal_response(shared, credential, &refusal);
    }

    let mut garble_body = false;
    let fault = lock(&shared.faults).take(Origin::Api, request.path);
    if let Some(kind) = fault {
        lock(&shared.stats).faults_fired_total += 1;
        match kind {
            FaultKind::Delay(delay) => tokio::time::sleep(delay).await,
            FaultKind::Status(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let message = status.canonical_reason().unwrap_or("Server Error");
                let snapshot = rate_limit_snapshot(shared, credential);
                return json_response(status, &error_body(status, message), snapshot);
            }
            FaultKind::SecondaryRateLimit {
                retry_after_secs,
                status,
            } => {
                count_secondary_rate_limited(shared, credential);
                return secondary_rate_limit_response(shared, credential, retry_after_secs, status);
            }
            FaultKind::MalformedJson => garble_body = true,
            FaultKind::LogHostStatus(_) => {}
        }
    }

    let is_disabled = lock(&shared.disabled_routes)
        .iter()
        .any(|fragment| request.path.contains(fragment.as_str()));

    if *request.route == ApiRoute::RateLimit {
        if is_disabled {
            return finish(
                shared,
                request,
                credential,
                ApiOutcome::not_found(),
                garble_body,
                Cost::Free,
            );
        }
        let snapshot = rate_limit_snapshot(shared, credential);
        let templates = Arc::clone(&lock(&shared.world).templates);
        let body = render_rate_limit(
            &templates,
            snapshot.limit,
            snapshot.used,
            snapshot.reset_epoch_secs,
        );
        return finish(
            shared,
            request,
            credential,
            ApiOutcome::ok(body),
            garble_body,
            Cost::Free,
        );
    }

    let now_ms = shared.clock.now_ms();
    let exhausted = lock(&shared.rate_limit)
        .budget(credential, now_ms)
        .is_exhausted(now_ms);
    if exhausted {
        {
            let mut stats = lock(&shared.stats);
            stats.rate_limited_total += 1;
            stats.credential_mut(credential).primary_rate_limited += 1;
        }
        return primary_rate_limit_response(shared, credential);
    }

    let query = Query::parse(request.query);
    let outcome = if is_disabled {
        ApiOutcome::not_found()
    } else {
        let world = lock(&shared.world);
        dispatch(shared, &world, request.route, &query, credential, now_ms)
    };
    finish(
        shared,
        request,
        credential,
        outcome,
        garble_body,
        Cost::OnePoint,
    )
}

fn count_secondary_rate_limited(shared: &Shared, credential: Credential) {
    let mut stats = lock(&shared.stats);
    stats.secondary_rate_limited_total += 1;
    stats.credential_mut(credential).secondary_rate_limited += 1;
}

fn refusal_response(shared: &Shared, credential: Credential, refusal: &Refusal) -> Response {
    let snapshot = rate_limit_snapshot(shared, credential);
    json_response(
        refusal.status,
        &error_body(refusal.status, &refusal.message),
        snapshot,
    )
}

fn resolve_repo(world: &World, repo: &RepoRef) -> Option<usize> {
    match repo {
        RepoRef::Name { owner, name } => world.repo_index(&format!("{owner}/{name}")),
        RepoRef::Id(id) => world.repo_index_by_id(*id),
    }
}

fn duration_ms(duration: std::time::Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX / 4)
}

fn dispatch(
    shared: &Shared,
    world: &World,
    route: &ApiRoute,
    query: &Query,
    credential: Credential,
    now_ms: Millis,
) -> ApiOutcome {
    // Lock order: world (held by the caller) → apps.
    let installation_id = match credential {
        Credential::Installation(installation_id) => Some(installation_id),
        _ => None,
    };
    match route {
        ApiRoute::RateLimit | ApiRoute::Unknown => ApiOutcome::not_found(),
        ApiRoute::App => match credential {
            Credential::App(app_id) => app_routes::app(world, &lock(&shared.apps), app_id),
            _ => ApiOutcome::not_found(),
        },
        ApiRoute::AppInstallations => match credential {
            Credential::App(app_id) => {
                app_routes::list_installations(world, &lock(&shared.apps), app_id, query)
            }
            _ => ApiOutcome::not_found(),
        },
        ApiRoute::CreateInstallationToken(installation_id) => {
            let Credential::App(app_id) = credential else {
                return ApiOutcome::not_found();
            };
            let ttl_ms = duration_ms(shared.config.installation_token_ttl);
            let (outcome, minted) = app_routes::create_installation_token(
                world,
                &mut lock(&shared.apps),
                app_id,
                *installation_id,
                ttl_ms,
                now_ms,
            );
            if minted.is_some() {
                lock(&shared.stats).installation_tokens_issued_total += 1;
            }
            outcome
        }
        // Only an App's JWT gets here (`credentials::admit_route`). The simulator has one
        // webhook: every App sees its deliveries.
        ApiRoute::AppHookDeliveries => hooks::list_deliveries(shared, query),
        ApiRoute::AppHookDelivery(delivery_id) => hooks::get_delivery(shared, *delivery_id),
        ApiRoute::RedeliverAppHookDelivery(delivery_id) => hooks::redeliver(shared, *delivery_id),
        ApiRoute::InstallationRepositories => {
            let apps = lock(&shared.apps);
            match installation_id.and_then(|id| apps.installation(id)) {
                Some(installation) => {
                    app_routes::installation_repositories(world, installation, query)
                }
                None => ApiOutcome::not_found(),
            }
        }
        ApiRoute::OrgRepos(org) => {
            let owner = match org {
                OrgRef::Login(login) => Some(login.as_str()),
                OrgRef::Id(id) => world.owner_by_id(*id),
            };
            let Some(owner) = owner else {
                return ApiOutcome::not_found();
            };
            let apps = lock(&shared.apps);
            let scope = installation_id.and_then(|id| apps.installation(id));
            if installation_id.is_some() && scope.is_none() {
                return ApiOutcome::not_found();
            }
            repos::org_repos(world, owner, query, scope)
        }
        ApiRoute::Repo(repo, resource) => {
            let Some(repo_index) = resolve_repo(world, repo) else {
                return ApiOutcome::not_found();
            };
            if let Some(installation_id) = installation_id {
                // An installation token sees its installation's repositories only; GitHub
                // answers any other as if it did not exist.
                let is_visible = lock(&shared.apps)
                    .installation(installation_id)
                    .is_some_and(|installation| {
                        installation.includes(&world.repos[repo_index].full_name)
                    });
                if !is_visible {
                    return ApiOutcome::not_found();
                }
            }
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

/// `http://host/repos/…` → `http://host/api/v3/repos/…` for every URL of the API origin in
/// `text`: a GitHub Enterprise Server answer's URLs (bodies and `Link`) stay under its base.
fn under_enterprise_prefix(text: &str, api_origin: &str) -> String {
    text.replace(
        &format!("{api_origin}/"),
        &format!("{api_origin}{ENTERPRISE_PREFIX}/"),
    )
}

fn finish(
    shared: &Shared,
    request: &ApiRequest<'_>,
    credential: Credential,
    outcome: ApiOutcome,
    garble_body: bool,
    cost: Cost,
) -> Response {
    match outcome {
        ApiOutcome::Redirect { location } => {
            let snapshot = spend(shared, credential, cost);
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
            let mut link = link;
            if request.enterprise {
                let text = String::from_utf8_lossy(&bytes);
                bytes = under_enterprise_prefix(&text, &shared.api_origin).into_bytes();
                link = link.map(|link| under_enterprise_prefix(&link, &shared.api_origin));
            }
            if garble_body {
                bytes.truncate(bytes.len() / 2);
            }
            let etag = etag_of(&bytes);
            if status == StatusCode::OK && if_none_match_matches(request.headers, &etag) {
                lock(&shared.stats).not_modified_total += 1;
                let snapshot = rate_limit_snapshot(shared, credential);
                let builder = with_github_headers(
                    Response::builder().status(StatusCode::NOT_MODIFIED),
                    snapshot,
                )
                .header(header::ETAG, etag);
                return build(builder, Body::empty());
            }
            let snapshot = spend(shared, credential, cost);
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

fn spend(shared: &Shared, credential: Credential, cost: Cost) -> RateLimitSnapshot {
    let now_ms = shared.clock.now_ms();
    // Lock order: primary budgets → stats.
    let mut budgets = lock(&shared.rate_limit);
    let budget = budgets.budget(credential, now_ms);
    if cost == Cost::OnePoint {
        budget.consume(now_ms);
        let mut stats = lock(&shared.stats);
        stats.rate_limit_points_used += 1;
        stats.credential_mut(credential).primary_points_used += 1;
    }
    budget.snapshot(now_ms)
}

fn rate_limit_snapshot(shared: &Shared, credential: Credential) -> RateLimitSnapshot {
    let now_ms = shared.clock.now_ms();
    lock(&shared.rate_limit)
        .budget(credential, now_ms)
        .snapshot(now_ms)
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
    credential: Credential,
    retry_after_secs: u64,
    status_code: u16,
) -> Response {
    let status = StatusCode::from_u16(status_code).unwrap_or(StatusCode::FORBIDDEN);
    let body = json!({
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 5A1D:3F2E:1B6C7D:2D4E5F:6650A1B2.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
        "status": status.as_u16().to_string(),
    });
    let snapshot = rate_limit_snapshot(shared, credential);
    let mut response = json_response(status, &body, snapshot);
    if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn primary_rate_limit_response(shared: &Shared, credential: Credential) -> Response {
    let snapshot = rate_limit_snapshot(shared, credential);
    let body = json!({
        "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID 5A1D:3F2E:1B6C7D:2D4E5F:6650A1B2.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits",
        "status": "403",
    });
    json_response(StatusCode::FORBIDDEN, &body, snapshot)
}
