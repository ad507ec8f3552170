//! A GitHub Actions REST API simulator, so gha-ingest and its tests run against the real
//! payload shapes with nothing installed and nothing online.
//!
//! It serves two loopback origins: the **API origin** (GitHub's routes for workflow runs,
//! attempts, jobs, job logs, commits, pull requests, repositories and `/rate_limit`, plus an admin
//! API under `/_sim/`), and a **log origin** standing in for the blob host GitHub redirects log
//! downloads to. It imitates what makes polling GitHub hard: newest-created-first pages with
//! `Link` headers and the 1,000-result cap on filtered lists, runs that move through their states
//! as the (simulated) clock advances, re-runs that reuse the run id, logs that only exist once a
//! job completed and expire, ETags with free 304s, and injectable faults. It enforces what GitHub
//! enforces for an organisation-scale client: a primary budget per credential (the token,
//! each GitHub App installation, the App's JWT), secondary limits per credential (points per
//! minute, concurrent requests), GitHub App authentication (JWT → installation token →
//! the installation's repositories only), and serves GitHub Enterprise Server's `/api/v3` base.
//! Every request is counted, per route and per credential, so tests can assert on API cost.
//! With a webhook set, it delivers every run and job state change as GitHub does (signed
//! `workflow_run` / `workflow_job` deliveries, in order, with injectable losses, duplicates,
//! reorderings and bad signatures) and serves GitHub's deliveries API to list and redeliver
//! them.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use gha_ingest_sim::{RunSpec, SimConfig, Simulator};
//! let loopback = "127.0.0.1:0".parse().expect("valid address");
//! let sim = Simulator::start(SimConfig::default(), loopback, loopback).await?;
//! let handle = sim.handle();
//! handle.add_repo("acme", "app");
//! let run_id = handle.create_run("acme/app", RunSpec::default());
//! handle.advance(std::time::Duration::from_secs(120)); // the run has completed now
//! println!("{}/repos/acme/app/actions/runs/{run_id}", sim.api_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
mod app_payloads;
mod apps;
mod clock;
mod config;
mod credentials;
mod faults;
mod generate;
mod handle;
mod jwt;
mod keys;
mod lifecycle;
mod logs;
mod model;
mod payloads;
mod query;
mod ratelimit;
mod request_log;
mod routes;
mod secondary;
mod server;
mod spec;
mod state;
mod stats;
mod webhooks;
mod world;

pub use config::{
    ClockMode, SecondaryLimits, SimConfig, WebhookSettings, DEFAULT_APP_RATE_LIMIT_PER_HOUR,
    DEFAULT_INSTALLATION_RATE_LIMIT_PER_HOUR, DEFAULT_INSTALLATION_TOKEN_TTL, DEFAULT_LOG_URL_TTL,
    DEFAULT_RATE_LIMIT_PER_HOUR, DEFAULT_RATE_LIMIT_WINDOW, DEFAULT_SECONDARY_MAX_CONCURRENT,
    DEFAULT_SECONDARY_POINTS_PER_MINUTE, DEFAULT_WEBHOOK_TIMEOUT,
};
pub use faults::{Fault, FaultKind};
pub use handle::SimHandle;
pub use keys::AppKeyPair;
pub use logs::LogSpec;
pub use request_log::RequestLogEntry;
pub use server::{RunningSim, Simulator};
pub use spec::{RunSpec, SimError};
pub use stats::{CredentialStats, SimStats};
pub use webhooks::{InjectedFaults, WebhookDelivery, WebhookFaults, WebhookStats};
