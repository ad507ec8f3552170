//! The envelope every message body is wrapped in: the contract downstream agents rely on.
//!
//! ```json
//! {"event_type": "workflow_run_completed", "event_id": "run-30433642-1-completed",
//!  "schema_version": 1, "source": "poll", "timestamp": "2026-06-01T00:00:00Z", "data": {...}}
//! ```
//! `schema_version` changes only on a breaking change; fields are added without a bump.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The version of the event schemas in `docs/schema/`.
pub const SCHEMA_VERSION: u32 = 1;

/// How the fact reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Seen by the regular poll of a repository.
    Poll,
    /// Delivered by a webhook (`workflow_run` / `workflow_job`), before any poll saw it.
    Webhook,
    /// Found while ingesting history on a repository's first start.
    Backfill,
}

/// Every kind of message the daemon publishes. The string forms are part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    WorkflowRunRequested,
    WorkflowRunWaiting,
    WorkflowRunPending,
    WorkflowRunQueued,
    WorkflowRunInProgress,
    WorkflowRunCompleted,
    /// A run in a status GitHub has not documented; `data.status` carries it verbatim.
    WorkflowRunUpdated,
    WorkflowJobWaiting,
    WorkflowJobPending,
    WorkflowJobQueued,
    WorkflowJobInProgress,
    WorkflowJobCompleted,
    /// A job in a status GitHub has not documented; `data.status` carries it verbatim.
    WorkflowJobUpdated,
    CommitMetrics,
    JobLogFetched,
    JobLogUnavailable,
    /// A run (or one earlier attempt of it) that could not be read, given up on after retries.
    WorkflowRunUnavailable,
    /// The jobs of one attempt could not be read, given up on after retries.
    WorkflowJobsUnavailable,
    /// A head commit's metrics could not be read, given up on after retries.
    CommitMetricsUnavailable,
}

impl EventType {
    pub const ALL: [EventType; 19] = [
        EventType::WorkflowRunRequested,
        EventType::WorkflowRunWaiting,
        EventType::WorkflowRunPending,
        EventType::WorkflowRunQueued,
        EventType::WorkflowRunInProgress,
        EventType::WorkflowRunCompleted,
        EventType::WorkflowRunUpdated,
        EventType::WorkflowJobWaiting,
        EventType::WorkflowJobPending,
        EventType::WorkflowJobQueued,
        EventType::WorkflowJobInProgress,
        EventType::WorkflowJobCompleted,
        EventType::WorkflowJobUpdated,
        EventType::CommitMetrics,
        EventType::JobLogFetched,
        EventType::JobLogUnavailable,
        EventType::WorkflowRunUnavailable,
        EventType::WorkflowJobsUnavailable,
        EventType::CommitMetricsUnavailable,
    ];

    /// The event a run observed in `status` produces.
    pub fn for_run_status(status: &str) -> Self {
        match status {
            "requested" => Self::WorkflowRunRequested,
            "waiting" => Self::WorkflowRunWaiting,
            "pending" => Self::WorkflowRunPending,
            "queued" => Self::WorkflowRunQueued,
            "in_progress" => Self::WorkflowRunInProgress,
            "completed" => Self::WorkflowRunCompleted,
            _ => Self::WorkflowRunUpdated,
        }
    }

    /// The event a job observed in `status` produces.
    pub fn for_job_status(status: &str) -> Self {
        match status {
            "waiting" => Self::WorkflowJobWaiting,
            "pending" => Self::WorkflowJobPending,
            "queued" => Self::WorkflowJobQueued,
            "in_progress" => Self::WorkflowJobInProgress,
            "completed" => Self::WorkflowJobCompleted,
            _ => Self::WorkflowJobUpdated,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WorkflowRunRequested => "workflow_run_requested",
            Self::WorkflowRunWaiting => "workflow_run_waiting",
            Self::WorkflowRunPending => "workflow_run_pending",
            Self::WorkflowRunQueued => "workflow_run_queued",
            Self::WorkflowRunInProgress => "workflow_run_in_progress",
            Self::WorkflowRunCompleted => "workflow_run_completed",
            Self::WorkflowRunUpdated => "workflow_run_updated",
            Self::WorkflowJobWaiting => "workflow_job_waiting",
            Self::WorkflowJobPending => "workflow_job_pending",
            Self::WorkflowJobQueued => "workflow_job_queued",
            Self::WorkflowJobInProgress => "workflow_job_in_progress",
            Self::WorkflowJobCompleted => "workflow_job_completed",
            Self::WorkflowJobUpdated => "workflow_job_updated",
            Self::CommitMetrics => "commit_metrics",
            Self::JobLogFetched => "job_log_fetched",
            Self::JobLogUnavailable => "job_log_unavailable",
            Self::WorkflowRunUnavailable => "workflow_run_unavailable",
            Self::WorkflowJobsUnavailable => "workflow_jobs_unavailable",
            Self::CommitMetricsUnavailable => "commit_metrics_unavailable",
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message body. `data` is the facts themselves when an event is produced (serialized once,
/// straight to the body) and JSON when one is read or reduced to fit a size limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<D = serde_json::Value> {
    pub event_type: EventType,
    /// Stable idempotency key: the same fact always gets the same id (see `identity`).
    pub event_id: String,
    pub schema_version: u32,
    pub source: Source,
    /// When the event was produced, RFC 3339 in UTC.
    #[serde(with = "rfc3339_utc")]
    pub timestamp: DateTime<Utc>,
    pub data: D,
}

impl<D> Envelope<D> {
    pub fn new(
        event_type: EventType,
        event_id: String,
        source: Source,
        timestamp: DateTime<Utc>,
        data: D,
    ) -> Self {
        Envelope {
            event_type,
            event_id,
            schema_version: SCHEMA_VERSION,
            source,
            timestamp,
            data,
        }
    }
}

impl<D: Serialize> Envelope<D> {
    /// The same envelope with its data as JSON, to be read or changed field by field.
    pub fn to_json_data(&self) -> Envelope {
        Envelope {
            event_type: self.event_type,
            event_id: self.event_id.clone(),
            schema_version: self.schema_version,
            source: self.source,
            timestamp: self.timestamp,
            data: serde_json::to_value(&self.data)
                .expect("facts are plain data and always serialize"),
        }
    }
}

/// Timestamps as `2026-06-01T00:00:00Z`: second precision unless the source had more, always `Z`.
pub mod rfc3339_utc {
    use super::*;

    pub fn serialize<S: serde::Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_strings_match_serde() {
        for event_type in EventType::ALL {
            let json = serde_json::to_value(event_type).unwrap();
            assert_eq!(
                json,
                serde_json::Value::String(event_type.as_str().to_string())
            );
        }
    }

    #[test]
    fn unknown_statuses_map_to_updated_events() {
        assert_eq!(
            EventType::for_run_status("in_progress"),
            EventType::WorkflowRunInProgress
        );
        assert_eq!(
            EventType::for_run_status("frozen"),
            EventType::WorkflowRunUpdated
        );
        assert_eq!(
            EventType::for_job_status("frozen"),
            EventType::WorkflowJobUpdated
        );
    }
}
