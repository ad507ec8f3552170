//! A GitHub Actions REST API simulator, so gha-ingest and its tests run against the real
//! payload shapes with nothing installed and nothing online.
//!
//! It serves two loopback origins: the **API origin** (GitHub's routes for workflow runs,
//! attempts, jobs, job logs, commits, pull requests, repositories and `/rate_limit`, plus an admin
//! API under `/_sim/`), and a **log origin** standing in for the blob host GitHub redirects log
//! downloads to. It imitates what makes polling GitHub hard: newest-created-first pages with
//! `Link` headers and the 1,000-result cap on filtered lists, runs that move through their states
//! as the (simulated) clock advances, re-runs that reuse the run id, logs that only exist once a
//! job completed and expire, ETags with free 304s, the primary rate limit, and injectable faults.
//! Every request is counted so tests can assert on API cost.
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
mod clock;
mod config;
mod faults;
mod generate;
mod handle;
mod lifecycle;
mod logs;
mod model;
mod payloads;
mod query;
mod ratelimit;
mod routes;
mod server;
mod spec;
mod state;
mod stats;
mod world;

pub use config::{ClockMode, SimConfig, DEFAULT_LOG_URL_TTL, DEFAULT_RATE_LIMIT_PER_HOUR};
pub use faults::{Fault, FaultKind};
pub use handle::SimHandle;
pub use logs::LogSpec;
pub use server::{RunningSim, Simulator};
pub use spec::{RunSpec, SimError};
pub use stats::SimStats;
