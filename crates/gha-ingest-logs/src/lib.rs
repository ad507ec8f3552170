//! The log agent: for every finished job, its raw log, whole and byte-exact, on the logs queue.
//!
//! Work arrives on the log-requests queue (a copy of each `workflow_job_completed` event, so the
//! metrics queue stays whole for downstream agents). For each request the agent downloads the log
//! through the GitHub client (redirect, then the log host without the token) into a spool file,
//! plans its parts so every encoded message fits the size limit, publishes them, and only then
//! deletes the request. While it works, it keeps extending the request's visibility. A log that
//! cannot be had ends in a `job_log_unavailable` event; one that keeps failing for other reasons
//! is left to the queue's redrive policy (dead-letter queue).

mod agent;
mod parts;
mod request;
mod status;

pub use agent::{LogAgent, LogAgentOptions, LogQueues};
pub use parts::{plan_parts, PartPlan};
pub use request::LogRequest;
pub use status::{LogAgentStatus, LogStatusSnapshot};
