//! The GitHub REST client of gha-ingest, on top of octocrab's HTTP layer.
//!
//! octocrab's typed models are stricter than GitHub's real payloads, so this crate uses only its
//! transport (auth, base URL, timeouts) and decodes with the lenient types of `gha-ingest-core`.
//! What it adds is what a poller that must run for months needs: conditional requests (a 304
//! costs no rate-limit point), `Link` pagination kept on the configured host, and one retry policy
//! that honours `retry-after` and `x-ratelimit-*` and backs off with jitter on 5xx, timeouts and
//! malformed bodies. Callers see classified errors, never an octocrab or hyper type.

mod client;
mod endpoints;
mod error;
mod job_log;
mod metrics;
mod pagination;
mod ratelimit;
mod retry;

pub use client::{ClientOptions, Fetched, GithubClient};
pub use endpoints::{attempt_jobs_path, latest_jobs_path, run_path, CommitWithPulls, RunQuery};
pub use error::{ErrorClass, GithubError};
pub use job_log::{DownloadedLog, LogDownload, LogDownloadError};
pub use metrics::{endpoint_class, GithubMetrics, ENDPOINT_CLASSES};
pub use ratelimit::RateLimitSnapshot;
