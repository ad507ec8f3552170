//! The pure domain of gha-ingest: what GitHub sends us, what we promise downstream consumers,
//! and the translation between the two.
//!
//! This crate does no IO. It knows nothing of HTTP, SQLite or SQS, so that the contract with
//! downstream agents (the event envelope, the facts each event carries and the idempotency keys)
//! can be read, tested and versioned in one place.

pub mod clock;
pub mod error_chain;
pub mod event;
pub mod facts;
pub mod github;
pub mod identity;
pub mod log_facts;
pub mod queue_text;
pub mod repo;
pub mod size;
pub mod throttle;
pub mod webhook;

pub use clock::Clock;
pub use error_chain::error_chain;
pub use event::{Envelope, EventType, Source, SCHEMA_VERSION};
pub use repo::RepoName;
pub use throttle::Throttle;
