//! The log agent: for every finished job, its raw log, whole and byte-exact, on the logs queue.
//!
//! Work arrives on the log-requests queue (a copy of each `workflow_job_completed` event, so the
//! metrics queue stays whole for downstream agents). For each request the agent downloads the log
//! through the GitHub client (redirect, then the log host without the token) into a spool file,
//! plans its parts so every encoded message fits the size limit, publishes them, and only then
//! deletes the request. While it works, it keeps extending the request's visibility. Every log
//! ends: one that cannot be had (gone, too large, or not found or not served on the request's
//! `max_attempts`-th receive, counted by the queue itself, redrive policy or not) ends in a
//! `job_log_unavailable` event and the request is deleted.

mod agent;
mod ending;
mod messages;
mod metrics;
mod parts;
mod request;
mod status;

pub use agent::{LogAgent, LogAgentOptions, LogQueues};
pub use metrics::LogMetrics;
pub use parts::{plan_parts, PartPlan};
pub use request::LogRequest;
pub use status::{LogAgentStatus, LogStatusSnapshot};
