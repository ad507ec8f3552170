//! The daemon's HTTP side: a dashboard, a JSON management API, health checks and Prometheus
//! metrics, all read from the agents' shared status, the state store and the queues.
//!
//! The binary builds a [`WebState`] from the components it already wired, binds a listener and
//! calls [`serve`] with its shutdown token. Nothing here drives collection itself: a "collect
//! now" only wakes the pipeline agent through `trigger`, and repositories added here are picked
//! up by the agent from the store on its next cycle.
//!
//! The port may be reachable by anyone (`0.0.0.0` in a container), so every layer assumes a
//! hostile client: a foreign `Host` is refused before routing (`host.rs`), every read needs the
//! read token and every change the admin token (`auth.rs`), failed token attempts are throttled,
//! the log viewer cannot be used to drain GitHub's budget or the disk (`logs.rs`), webhook
//! deliveries are taken in only with a valid signature (`webhooks.rs`), readiness is a
//! cached probe (`health.rs`), and every answer carries browser hardening headers
//! (`headers.rs`). Errors become HTTP answers in exactly one place, `error.rs`.

mod api;
mod auth;
mod budget;
mod dashboard;
mod error;
mod headers;
mod health;
mod host;
mod logs;
mod metrics;
mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use gha_ingest_github::{GithubAccess, GithubClient};
use gha_ingest_logs::LogAgentStatus;
use gha_ingest_pipeline::AgentStatus;
use gha_ingest_queue::MessageQueue;
use gha_ingest_store::StateStore;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use webhooks::WebhookEndpoint;

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
    /// The pipeline's client: its counters and budget are shown, the log viewer downloads with it.
    pub github: GithubAccess,
    /// A client of its own for the readiness probe (same API and token, one request slot), so a
    /// probe never waits for, nor takes, one of the pipeline's request slots.
    pub probe_github: GithubClient,
    /// Who may read and who may change.
    pub access: AccessPolicy,
    /// Limits of the job-log viewer.
    pub log_viewer: LogViewerOptions,
    /// How long one readiness probe answers `/readyz` before the next is run.
    pub readiness_ttl: Duration,
    /// Label per-repository metrics with the repository name.
    pub metrics_repo_label: bool,
    /// Shown on the dashboard so "last polled N s ago" can be judged against it.
    pub poll_interval_secs: u64,
    /// The longest a quiet repository waits between two polls.
    pub quiet_poll_max_secs: u64,
    /// The webhook receiver; `None` when webhooks are off.
    pub webhooks: Option<WebhookEndpoint>,
}

/// The bearer tokens and the names the server answers to.
#[derive(Debug, Default, Clone)]
pub struct AccessPolicy {
    /// Required by every change, and accepted for reads; `None` refuses every change.
    pub admin_token: Option<SecretString>,
    /// Required by every read (with the admin token as an alternative); `None` leaves reads open.
    pub read_token: Option<SecretString>,
    /// `/metrics` needs the read token too.
    pub metrics_require_token: bool,
    /// Host names (optionally `name:port`) accepted besides loopback names and IP literals.
    pub allowed_hosts: Vec<String>,
}

/// How much of GitHub's budget and the disk the log viewer may use.
#[derive(Debug, Clone)]
pub struct LogViewerOptions {
    /// Downloads at once; one more is refused with 429.
    pub max_concurrent_downloads: usize,
    /// Largest log downloaded.
    pub max_log_bytes: u64,
    /// Folder of the spool files (anonymous files, gone when the process is).
    pub spool_dir: PathBuf,
    /// Bytes the spool holds at most, downloads in progress counted at `max_log_bytes`.
    pub spool_max_bytes: u64,
    /// Uncached downloads one client may start per minute.
    pub downloads_per_client_per_minute: u32,
    /// How long one log request may take, download included.
    pub time_limit: Duration,
}

impl LogViewerOptions {
    /// The defaults of the configuration, spooling into `spool_dir`.
    pub fn new(spool_dir: PathBuf) -> Self {
        LogViewerOptions {
            max_concurrent_downloads: 2,
            max_log_bytes: 256 * 1024 * 1024,
            spool_dir,
            spool_max_bytes: 1024 * 1024 * 1024,
            downloads_per_client_per_minute: 10,
            time_limit: Duration::from_secs(120),
        }
    }
}

/// What handlers share: the caller's [`WebState`] plus the server's own caches and guards.
#[derive(Debug)]
pub(crate) struct AppState {
    web: WebState,
    /// Downloaded logs, the downloads in progress and the limits on starting one.
    pub(crate) log_viewer: logs::LogViewer,
    /// The last readiness probe.
    pub(crate) readiness: health::ReadinessCache,
    /// Failed token attempts per client.
    pub(crate) auth_failures: auth::FailureThrottle,
    /// GitHub's budget over the last hour, for the dashboard's chart.
    pub(crate) budget_samples: budget::BudgetSamples,
    /// Every component's metric families, for `/metrics`.
    pub(crate) metrics: metrics::ProcessMetrics,
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
            .field("access", &self.access)
            .field("log_viewer", &self.log_viewer)
            .field("readiness_ttl", &self.readiness_ttl)
            .field("poll_interval_secs", &self.poll_interval_secs)
            .field("quiet_poll_max_secs", &self.quiet_poll_max_secs)
            .field("webhooks", &self.webhooks)
            .finish()
    }
}

/// The shared handle every handler receives.
pub(crate) type SharedState = Arc<AppState>;

/// All routes of the server, behind the host check and the hardening headers.
fn router(shared: SharedState) -> Router {
    let mut routes = Router::new();
    if let Some(endpoint) = &shared.webhooks {
        // Authenticated by its signature, not a token: GitHub sends none.
        routes = routes.route(
            &endpoint.path,
            post(webhooks::receive).layer(DefaultBodyLimit::max(endpoint.max_body_bytes)),
        );
    }
    routes
        .route("/", get(dashboard::page))
        .route("/assets/dashboard.js", get(dashboard::script))
        .route("/assets/dashboard.css", get(dashboard::stylesheet))
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
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            host::require_known_host,
        ))
        .layer(axum::middleware::map_response(headers::harden))
        .with_state(shared)
}

/// Serves the routes on `listener` until `shutdown` is cancelled, then lets in-flight requests
/// finish. The budget sampler runs alongside and stops with it.
pub async fn serve(
    listener: TcpListener,
    state: WebState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let shared: SharedState = Arc::new(AppState {
        log_viewer: logs::LogViewer::new(&state.log_viewer)?,
        readiness: health::ReadinessCache::default(),
        auth_failures: auth::FailureThrottle::default(),
        budget_samples: budget::BudgetSamples::default(),
        metrics: metrics::ProcessMetrics::new(&state),
        web: state,
    });
    let sampler = tokio::spawn(budget::sample_until(shared.clone(), shutdown.clone()));
    tracing::info!(%address, "http server listening");
    let app = router(shared).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled_owned().await })
        .await;
    sampler.abort();
    served
}
