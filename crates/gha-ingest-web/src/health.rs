//! Liveness and readiness. `/healthz` answers as long as the process serves HTTP; `/readyz`
//! checks, each within a short budget, that the state database answers and every queue is
//! reachable, and names whatever is not.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::SharedState;

/// How long one readiness check may take before it counts as failed.
const CHECK_BUDGET: Duration = Duration::from_secs(3);

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    /// One line per failed check; empty when ready.
    reasons: Vec<String>,
}

pub(crate) async fn readyz(State(state): State<SharedState>) -> Response {
    let mut reasons = Vec::new();
    match tokio::time::timeout(CHECK_BUDGET, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => reasons.push(format!("state database: {error}")),
        Err(_) => reasons.push(format!(
            "state database: no answer within {}s",
            CHECK_BUDGET.as_secs()
        )),
    }
    let checks = state.queues.iter().map(|(role, queue)| async move {
        match tokio::time::timeout(CHECK_BUDGET, queue.health_check()).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(format!("{role} queue: {error}")),
            Err(_) => Some(format!(
                "{role} queue: no answer within {}s",
                CHECK_BUDGET.as_secs()
            )),
        }
    });
    for check in checks {
        if let Some(reason) = check.await {
            reasons.push(reason);
        }
    }
    // GitHub: `/rate_limit` costs no rate-limit point; an exhausted budget is reported too, since
    // nothing can be collected until it resets.
    match tokio::time::timeout(
        CHECK_BUDGET,
        state
            .github
            .get_json::<serde_json::Value>("/rate_limit", None),
    )
    .await
    {
        Ok(Ok(_)) => {
            if state.github.rate_limit().remaining == Some(0) {
                reasons.push("github: rate-limit budget spent until its reset".to_string());
            }
        }
        Ok(Err(error)) => reasons.push(format!("github: {error}")),
        Err(_) => reasons.push(format!(
            "github: no answer within {}s",
            CHECK_BUDGET.as_secs()
        )),
    }
    let ready = reasons.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Readiness { ready, reasons })).into_response()
}
