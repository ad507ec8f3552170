//! What a GitHub webhook delivery carries, for the two events gha-ingest derives facts from.
//!
//! A `workflow_run` delivery holds the same run object the REST API lists, and a
//! `workflow_job` delivery the same job object (steps included), so the facts built from them
//! are the facts polling builds: one fact, one `event_id`, whichever way it arrived. Only the
//! fields used are declared (the payload types of `github` are lenient the same way); the
//! repository is named by `repository.full_name`.

use serde::Deserialize;

use crate::github::{WorkflowJob, WorkflowRun};
use crate::repo::RepoName;

/// The value of `X-GitHub-Event` for the events handled.
pub const EVENT_WORKFLOW_RUN: &str = "workflow_run";
pub const EVENT_WORKFLOW_JOB: &str = "workflow_job";
/// Sent once when a webhook is created or tested.
pub const EVENT_PING: &str = "ping";

/// A delivery's payload, by its `X-GitHub-Event`.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookPayload {
    WorkflowRun(Box<WorkflowRunPayload>),
    WorkflowJob(Box<WorkflowJobPayload>),
    Ping,
    /// An event gha-ingest does not use (the webhook may be subscribed to more).
    Other,
}

/// Why a delivery's body could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not a {event} payload: {source}")]
    Malformed {
        event: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("repository.full_name {name:?} is not owner/name")]
    Repository { name: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WorkflowRunPayload {
    /// `requested`, `in_progress` or `completed`.
    pub action: String,
    pub workflow_run: WorkflowRun,
    pub repository: RepositoryRef,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WorkflowJobPayload {
    /// `queued`, `waiting`, `in_progress` or `completed`.
    pub action: String,
    pub workflow_job: WorkflowJob,
    pub repository: RepositoryRef,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RepositoryRef {
    pub full_name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InstallationRef {
    pub id: u64,
}

impl WebhookPayload {
    /// Decodes `body` as the payload of `event` (the `X-GitHub-Event` header).
    pub fn parse(event: &str, body: &[u8]) -> Result<Self, PayloadError> {
        let malformed = |source| PayloadError::Malformed {
            event: event.to_string(),
            source,
        };
        match event {
            EVENT_WORKFLOW_RUN => serde_json::from_slice(body)
                .map(|payload| Self::WorkflowRun(Box::new(payload)))
                .map_err(malformed),
            EVENT_WORKFLOW_JOB => serde_json::from_slice(body)
                .map(|payload| Self::WorkflowJob(Box::new(payload)))
                .map_err(malformed),
            EVENT_PING => Ok(Self::Ping),
            _ => Ok(Self::Other),
        }
    }
}

impl RepositoryRef {
    pub fn repo_name(&self) -> Result<RepoName, PayloadError> {
        self.full_name
            .parse()
            .map_err(|_| PayloadError::Repository {
                name: self.full_name.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_payload_is_read_with_its_steps_and_repository() {
        let body = br#"{"action":"completed","repository":{"full_name":"acme/webapp"},
            "installation":{"id":7},
            "workflow_job":{"id":9,"run_id":5,"run_attempt":2,"status":"completed",
              "conclusion":"success","steps":[{"name":"Build","number":1,"status":"completed"}],
              "labels":["ubuntu-latest"]}}"#;
        let WebhookPayload::WorkflowJob(payload) =
            WebhookPayload::parse(EVENT_WORKFLOW_JOB, body).unwrap()
        else {
            panic!("not a job payload");
        };
        assert_eq!(payload.workflow_job.id, 9);
        assert_eq!(payload.workflow_job.steps.len(), 1);
        assert_eq!(
            payload.repository.repo_name().unwrap().to_string(),
            "acme/webapp"
        );
        assert_eq!(payload.installation, Some(InstallationRef { id: 7 }));
    }

    #[test]
    fn other_events_are_recognised_without_reading_them_and_a_bad_body_is_an_error() {
        assert_eq!(
            WebhookPayload::parse("push", b"not json").unwrap(),
            WebhookPayload::Other
        );
        assert_eq!(
            WebhookPayload::parse(EVENT_PING, b"{}").unwrap(),
            WebhookPayload::Ping
        );
        let error = WebhookPayload::parse(EVENT_WORKFLOW_RUN, b"{\"action\":1}").unwrap_err();
        assert!(
            error.to_string().contains("workflow_run payload"),
            "{error}"
        );
    }
}
