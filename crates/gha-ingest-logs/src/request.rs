//! Reading a work request: the `workflow_job_completed` envelope the pipeline agent queued.

use chrono::{DateTime, Utc};
use gha_ingest_core::log_facts::LogSubject;
use gha_ingest_core::{Envelope, EventType, RepoName};

/// The job whose log to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    pub repo: RepoName,
    pub subject: LogSubject,
    /// The job's conclusion was `skipped`: it never ran, and GitHub has no log for it.
    pub job_skipped: bool,
    /// When the job ended, as GitHub said: where the log's freshness is measured from.
    pub completed_at: Option<DateTime<Utc>>,
}

impl LogRequest {
    pub fn parse(body: &str) -> Result<Self, String> {
        let envelope: Envelope =
            serde_json::from_str(body).map_err(|err| format!("not an event envelope: {err}"))?;
        if envelope.event_type != EventType::WorkflowJobCompleted {
            return Err(format!(
                "expected workflow_job_completed, got {}",
                envelope.event_type
            ));
        }
        let job_skipped = envelope
            .data
            .get("conclusion")
            .and_then(|value| value.as_str())
            == Some("skipped");
        let completed_at = envelope
            .data
            .get("completed_at")
            .and_then(|value| value.as_str())
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map(|at| at.with_timezone(&Utc));
        let subject: LogSubject = serde_json::from_value(envelope.data)
            .map_err(|err| format!("job facts incomplete: {err}"))?;
        let repo = subject.repo.parse().map_err(|err| format!("{err}"))?;
        Ok(LogRequest {
            repo,
            subject,
            job_skipped,
            completed_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_job_out_of_a_job_completed_event() {
        let body = r#"{"event_type":"workflow_job_completed","event_id":"job-7-completed","schema_version":1,
            "source":"poll","timestamp":"2026-06-01T00:00:00Z",
            "data":{"repo":"acme/webapp","run_id":5,"run_attempt":2,"job_id":7,"job_name":"build","status":"completed"}}"#;
        let request = LogRequest::parse(body).unwrap();
        assert_eq!(request.repo.to_string(), "acme/webapp");
        assert_eq!(
            (
                request.subject.run_id,
                request.subject.run_attempt,
                request.subject.job_id
            ),
            (5, 2, 7)
        );
        assert!(!request.job_skipped, "no conclusion is not skipped");
        let skipped = body.replace(
            r#""status":"completed""#,
            r#""status":"completed","conclusion":"skipped""#,
        );
        assert!(LogRequest::parse(&skipped).unwrap().job_skipped);
    }

    #[test]
    fn refuses_other_events_and_garbage() {
        assert!(LogRequest::parse("not json").is_err());
        let queued = r#"{"event_type":"workflow_job_queued","event_id":"job-7-queued","schema_version":1,
            "source":"poll","timestamp":"2026-06-01T00:00:00Z","data":{}}"#;
        assert!(LogRequest::parse(queued)
            .unwrap_err()
            .contains("workflow_job_completed"));
    }
}
