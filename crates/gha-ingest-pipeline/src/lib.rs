//! The pipeline agent: follows every GitHub Actions run of each repository and publishes run,
//! job, step and commit events, each fact once per state, surviving restarts.
//!
//! GitHub offers no "changed since" query: runs are listed newest-*created* first, a run may stay
//! open for hours, and a re-run of a weeks-old run keeps its old `created_at`. So one poll cycle of
//! a repository (`poller`) combines four conditional reads, each free when nothing changed:
//! the newest page of runs (new runs; a gap behind it is filled by created-date `windows`), the
//! `queued` and `in_progress` lists (re-runs of runs of any age), every run still open in the
//! store (long-running runs until they complete), and, every `reconcile_interval`, a sweep of
//! day windows over the look-back period (re-runs that started and finished between two polls).
//! `observer` turns each changed run into state and events; the store commits them atomically
//! with the ETags and cursor; `publisher` moves the outbox to the queue. `webhook` takes in
//! GitHub's `workflow_run` and `workflow_job` deliveries as the same facts, through the same store;
//! `redelivery` asks GitHub to send again the App's deliveries that failed.

mod agent;
mod cadence;
mod events;
mod failures;
mod metrics;
mod observer;
mod options;
mod poller;
mod publisher;
mod redelivery;
mod status;
mod webhook;
mod webhook_health;
mod windows;

pub use agent::PipelineAgent;
pub use failures::FailurePolicy;
pub use gha_ingest_core::Clock;
pub use metrics::PipelineMetrics;
pub use options::PipelineOptions;
pub use publisher::{OutboxPublisher, PublishError, QueueSet};
pub use redelivery::{Redelivery, RedeliveryError, RedeliveryReport, REDELIVERY_WINDOW};
pub use status::{AgentStatus, StatusSnapshot};
pub use webhook::{Delivery, DeliveryError, DeliveryOutcome, WebhookReceiver};

/// Why a poll cycle of one repository stopped: a list of the repository could not be read, or
/// GitHub refused the credential, or the state database failed. (One run, attempt, job list or
/// commit that cannot be read never stops a cycle: see `failures`.) The repository is polled
/// again after a backoff; everything committed before the failure stays.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("github")]
    Github(#[from] gha_ingest_github::GithubError),
    #[error("state")]
    Store(#[from] gha_ingest_store::StoreError),
}
