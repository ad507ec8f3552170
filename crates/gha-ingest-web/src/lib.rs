//! The daemon's HTTP side: a dashboard, a JSON management API, health checks and Prometheus
//! metrics, all read from the agents' shared status, the state store and the queues.
//!
//! The binary builds a [`WebState`] from the components it already wired, binds a listener and
//! calls [`serve`] with its shutdown token; tests use [`router`] the same way. Nothing here
//! drives collection itself: a "collect now" only wakes the pipeline agent through `trigger`,
//! and repositories added here are picked up by the agent from the store on its next cycle.
//!
//! Read-only routes are open; every route that changes state requires the admin bearer token
//! (see `auth.rs`). Errors become HTTP answers in exactly one place, `error.rs`.

mod api;
mod auth;
mod dashboard;
mod error;
mod health;
mod logs;
mod metrics;

use std::sync::Arc;

use axum::routing::{delete, get, post};
use axum::Router;
use gha_ingest_github::GithubClient;
use gha_ingest_logs::LogAgentStatus;
use gha_ingest_pipeline::AgentStatus;
use gha_ingest_queue::MessageQueue;
use gha_ingest_store::StateStore;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

/// Everything the web server reads from or acts on. Built once by the binary.
pub struct WebState {
    pub store: StateStore,
    /// `None` when the pipeline agent does not run in this process.
    pub pipeline_status: Option<Arc<AgentStatus>>,
    /// `None` when the log agent does not run in this process.
    pub log_status: Option<Arc<LogAgentStatus>>,
    /// Wakes the pipeline agent for an immediate cycle; `None` refuses "collect now".
    pub trigger: Option<Arc<Notify>>,
    /// `(role, queue)` with role `metrics`, `log_requests` or `logs`: depth and readiness.
    pub queues: Vec<(String, Arc<dyn MessageQueue>)>,
    pub github: GithubClient,
    /// The bearer token mutations require; `None` refuses every mutation.
    pub admin_token: Option<String>,
    /// Shown on the dashboard so "last polled N s ago" can be judged against it.
    pub poll_interval_secs: u64,
}

/// What handlers share: the caller's [`WebState`] plus the server's own caches.
#[derive(Debug)]
pub(crate) struct AppState {
    web: WebState,
    /// Recently downloaded logs, so paging through one does not download it again.
    pub(crate) log_cache: logs::LogCache,
}

impl std::ops::Deref for AppState {
    type Target = WebState;

    fn deref(&self) -> &WebState {
        &self.web
    }
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState")
            .field("store", &self.store)
            .field("pipeline_status", &self.pipeline_status.is_some())
            .field("log_status", &self.log_status.is_some())
            .field("trigger", &self.trigger.is_some())
            .field("queues", &self.queues)
            .field("github", &self.github)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "[redacted]"),
            )
            .field("poll_interval_secs", &self.poll_interval_secs)
            .finish()
    }
}

/// The shared handle every handler receives.
pub(crate) type SharedState = Arc<AppState>;

/// All routes of the server.
pub fn router(state: WebState) -> Router {
    let shared: SharedState = Arc::new(AppState {
        web: state,
        log_cache: logs::LogCache::default(),
    });
    Router::new()
        .route("/", get(dashboard::page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/status", get(api::status))
        .route(
            "/api/repositories",
            get(api::list_repositories).post(api::add_repository),
        )
        .route(
            "/api/repositories/{owner}/{name}",
            delete(api::remove_repository),
        )
        .route("/api/collect", post(api::collect))
        .route("/api/runs", get(api::recent_runs))
        .route("/api/runs/{run_id}/jobs/{job_id}/log", get(logs::job_log))
        .fallback(api::not_found)
        .with_state(shared)
}

/// Serves [`router`] on `listener` until `shutdown` is cancelled, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: TcpListener,
    state: WebState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "http server listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled_owned().await })
        .await
}
