//! One module per scenario of `scripts/bench`; each returns its figures as one JSON object.

pub mod backfill;
pub mod freshness;
pub mod idle;
pub mod logs;
pub mod org;
pub mod peers;
pub mod webhooks;
