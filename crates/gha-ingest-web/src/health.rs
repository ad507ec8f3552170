//! Liveness and readiness. `/healthz` answers as long as the process serves HTTP. `/readyz`
//! answers from a cached probe, run at most once per `readiness_ttl` however often it is asked
//! (a load balancer or an anonymous client hitting it costs nothing): the state database, every
//! queue and GitHub are checked concurrently, each within a short budget.
//!
//! GitHub is probed with `/rate_limit`, which costs no rate-limit point, through `probe_github`,
//! a client of its own: the probe never waits for, nor holds, one of the pipeline's request
//! slots.
//!
//! Reasons name the failing dependency for everyone; the upstream error text (queue URLs, AWS
//! messages) is shown only to a trusted reader (see `auth.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gha_ingest_github::RateLimitSnapshot;
use serde::Serialize;

use crate::auth::Reader;
use crate::SharedState;

/// How long one readiness check may take before it counts as failed.
const CHECK_BUDGET: Duration = Duration::from_secs(3);

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// One failed check: what failed, and why in the dependency's own words.
#[derive(Debug, Clone)]
struct Failure {
    dependency: String,
    detail: String,
}

/// The outcome of one probe.
#[derive(Debug)]
struct Probe {
    at: Instant,
    failures: Vec<Failure>,
}

/// The last probe, and a lock so concurrent requests wait for one probe instead of each running
/// their own.
#[derive(Debug, Default)]
pub(crate) struct ReadinessCache {
    last: tokio::sync::Mutex<Option<Arc<Probe>>>,
}

#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    /// One line per failed check; empty when ready.
    reasons: Vec<String>,
}

/// Whether the caller may see upstream error text; never refuses.
pub(crate) struct MaybeReader(Option<Reader>);

impl FromRequestParts<SharedState> for MaybeReader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeReader(
            Reader::from_request_parts(parts, state).await.ok(),
        ))
    }
}

pub(crate) async fn readyz(State(state): State<SharedState>, reader: MaybeReader) -> Response {
    let probe = current_probe(&state).await;
    let trusted = reader.0.is_some_and(|reader| reader.trusted);
    let reasons: Vec<String> = probe
        .failures
        .iter()
        .map(|failure| match trusted {
            true => format!("{}: {}", failure.dependency, failure.detail),
            false => format!("{}: not ready", failure.dependency),
        })
        .collect();
    let ready = reasons.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Readiness { ready, reasons })).into_response()
}

/// The cached probe if fresh, else a new one (one at a time).
async fn current_probe(state: &SharedState) -> Arc<Probe> {
    let mut last = state.readiness.last.lock().await;
    if let Some(probe) = last.as_ref() {
        if probe.at.elapsed() < state.readiness_ttl {
            return probe.clone();
        }
    }
    let probe = Arc::new(run_probe(state).await);
    *last = Some(probe.clone());
    probe
}

async fn run_probe(state: &SharedState) -> Probe {
    let store = async {
        within_budget("state database", async {
            state.store.ping().await.map_err(|error| error.to_string())
        })
        .await
    };
    let queues = futures::future::join_all(state.queues.iter().map(|(role, queue)| {
        within_budget(format!("{role} queue"), async move {
            queue
                .health_check()
                .await
                .map_err(|error| error.to_string())
        })
    }));
    let github = github_check(state);
    let (store, queues, github) = tokio::join!(store, queues, github);
    let failures = std::iter::once(store)
        .chain(queues)
        .chain(std::iter::once(github))
        .flatten()
        .collect();
    Probe {
        at: Instant::now(),
        failures,
    }
}

async fn within_budget(
    dependency: impl Into<String>,
    check: impl std::future::Future<Output = Result<(), String>>,
) -> Option<Failure> {
    let detail = match tokio::time::timeout(CHECK_BUDGET, check).await {
        Ok(Ok(())) => return None,
        Ok(Err(detail)) => detail,
        Err(_) => format!("no answer within {}s", CHECK_BUDGET.as_secs()),
    };
    Some(Failure {
        dependency: dependency.into(),
        detail,
    })
}

/// GitHub answers and the budget is not spent; nothing can be collected until a spent budget
/// resets, so that is "not ready" too. While the probe client's budget is spent its request
/// waits for the reset (counted on GitHub's clock by the client) and runs out of time here, so
/// a spent budget costs no request, and the first probe after the reset sends one again.
async fn github_check(state: &SharedState) -> Option<Failure> {
    let reachable = within_budget("github", async {
        state
            .probe_github
            .get_json::<serde_json::Value>("/rate_limit", None)
            .await
            .map(drop)
            .map_err(|error| error.to_string())
    })
    .await;
    if is_spent(&state.probe_github.rate_limit()) {
        return Some(Failure {
            dependency: "github".to_string(),
            detail: "rate-limit budget spent until its reset".to_string(),
        });
    }
    reachable
}

/// Whether GitHub last reported the budget spent.
fn is_spent(budget: &RateLimitSnapshot) -> bool {
    budget.remaining == Some(0)
}
