//! The pipeline agent's durable state in one SQLite file (sqlx, migrations in `migrations/state`).
//!
//! The invariant this crate exists for: everything learned from one batch of GitHub answers
//! (run and job states, ETags, the cursor, commit metrics) is written in the same transaction as
//! the events it produces, into an outbox. The publisher removes an outbox row only after the
//! queue confirmed the message. So a crash at any point either loses the whole batch (it is polled
//! again: its ETags were not stored) or keeps it whole (its events are published after restart),
//! and an event that was already queued once is never queued again (`emitted_events`).

mod changes;
mod database;
mod error;
mod failures;
mod metrics;
mod outbox;
mod prune;
mod reads;
mod time;

pub use changes::{CatchupChange, CatchupRange, ChangeSet, CursorUpdate, PendingEvent, RunUpdate};
pub use database::StateStore;
pub use error::StoreError;
pub use failures::{entity_key, EntityFailure, EntityKind};
pub use metrics::StoreMetrics;
pub use outbox::{Destination, OutboxMessage};
pub use prune::{PruneReport, PARKED_RETENTION_DAYS};
pub use reads::{PollOverview, RepoCursor, RepositoryEntry, StoredRun};
