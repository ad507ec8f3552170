//! The GitHub REST client of gha-ingest, on top of octocrab's HTTP layer.
//!
//! octocrab's typed models are stricter than GitHub's real payloads, so this crate uses only its
//! transport (auth, base URL, timeouts) and decodes with the lenient types of `gha-ingest-core`.
//! What it adds is what a poller that must run for months needs: conditional requests (a 304
//! costs no rate-limit point), `Link` pagination kept on the configured host, and one retry policy
//! that honours `retry-after` and `x-ratelimit-*` and backs off with jitter on 5xx, timeouts and
//! malformed bodies. Callers see classified errors, never an octocrab or hyper type.
//!
//! Every request is admitted by the scheduler of its credential (`schedule`): a points-per-minute
//! ceiling and a concurrency limit under GitHub's secondary limits, priorities (fresh facts before
//! logs before commits before catch-up), and a reserve of the hourly budget only fresh work may
//! spend. Credentials are a token or a GitHub App's installations (`auth`), and `access` routes
//! each repository to the installation that can read it; `hooks` lists the App's webhook
//! deliveries and asks for failed ones again.

mod access;
mod auth;
mod client;
mod endpoints;
mod error;
mod hooks;
mod job_log;
mod metrics;
mod pagination;
mod ratelimit;
mod retry;
mod schedule;

pub use access::{DiscoveredRepo, GithubAccess, InstallationStatus};
pub use auth::{Credential, GithubApp, Installation, InstallationToken};
pub use client::{ClientOptions, Fetched, GithubClient};
pub use endpoints::{
    attempt_jobs_path, followable_repositories, latest_jobs_path, run_path, CommitWithPulls,
    RunQuery,
};
pub use error::{ErrorClass, GithubError};
pub use hooks::{AppHooks, DeliveryPage, HookDelivery};
pub use job_log::{DownloadedLog, LogDownload, LogDownloadError};
pub use metrics::{endpoint_class, GithubMetrics, ENDPOINT_CLASSES};
pub use ratelimit::RateLimitSnapshot;
pub use schedule::{BudgetOptions, BudgetSnapshot, Priority};

/// Makes aws-lc-rs the process's TLS crypto provider. reqwest is built without a provider of its
/// own (one crypto backend in the whole build, the one the AWS SDK requires), so every process
/// that builds a reqwest client (the daemon, its tests) calls this first. Idempotent.
pub fn install_crypto_provider() {
    // Err only when a provider is installed already: the first one stays.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
