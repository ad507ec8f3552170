//! Turning facts into encoded events for the outbox: envelope, idempotency key, size limit.

use gha_ingest_core::facts::{CommitFacts, JobFacts, RunFacts, UnavailableFacts};
use gha_ingest_core::size::encode_within_limit;
use gha_ingest_core::{identity, Clock, Envelope, EventType, Source};
use gha_ingest_store::{Destination, EntityKind, PendingEvent};

/// Room left for message attributes (event_type, repo, schema_version) within the size limit.
const ATTRIBUTE_ALLOWANCE_BYTES: usize = 1024;

#[derive(Debug, Clone)]
pub(crate) struct EventEncoder {
    pub max_message_bytes: usize,
    pub emit_log_requests: bool,
    /// Stamps each envelope's `timestamp`.
    pub clock: Clock,
}

impl EventEncoder {
    pub(crate) fn run_event(&self, facts: &RunFacts, source: Source) -> Vec<PendingEvent> {
        let envelope = Envelope::new(
            EventType::for_run_status(&facts.status),
            identity::run_event_id(facts.run_id, facts.run_attempt, &facts.status),
            source,
            self.clock.now(),
            facts,
        );
        self.encode(envelope, &[Destination::Metrics])
    }

    /// A job event; a completed job's also goes to the log agent's work queue.
    pub(crate) fn job_event(&self, facts: &JobFacts, source: Source) -> Vec<PendingEvent> {
        let envelope = Envelope::new(
            EventType::for_job_status(&facts.status),
            identity::job_event_id(facts.job_id, &facts.status),
            source,
            self.clock.now(),
            facts,
        );
        if facts.is_completed() && self.emit_log_requests {
            self.encode(envelope, &[Destination::Metrics, Destination::LogRequests])
        } else {
            self.encode(envelope, &[Destination::Metrics])
        }
    }

    pub(crate) fn commit_event(&self, facts: &CommitFacts, source: Source) -> Vec<PendingEvent> {
        let envelope = Envelope::new(
            EventType::CommitMetrics,
            identity::commit_event_id(&facts.repo, &facts.commit_sha),
            source,
            self.clock.now(),
            facts,
        );
        self.encode(envelope, &[Destination::Metrics])
    }

    /// The announcement that an entity will not be read: it was given up on after retries.
    pub(crate) fn unavailable_event(
        &self,
        kind: EntityKind,
        facts: &UnavailableFacts,
    ) -> Vec<PendingEvent> {
        let attempt = facts.run_attempt.unwrap_or(1);
        let run_id = facts.run_id.unwrap_or_default();
        let (event_type, event_id) = match kind {
            EntityKind::Run | EntityKind::Attempt => (
                EventType::WorkflowRunUnavailable,
                identity::run_unavailable_event_id(run_id, attempt),
            ),
            EntityKind::Jobs => (
                EventType::WorkflowJobsUnavailable,
                identity::jobs_unavailable_event_id(run_id, attempt),
            ),
            EntityKind::Commit => (
                EventType::CommitMetricsUnavailable,
                identity::commit_unavailable_event_id(
                    &facts.repo,
                    facts.commit_sha.as_deref().unwrap_or_default(),
                ),
            ),
        };
        let envelope = Envelope::new(event_type, event_id, Source::Poll, self.clock.now(), facts);
        self.encode(envelope, &[Destination::Metrics])
    }

    fn encode<D: serde::Serialize>(
        &self,
        envelope: Envelope<D>,
        destinations: &[Destination],
    ) -> Vec<PendingEvent> {
        let limit = self
            .max_message_bytes
            .saturating_sub(ATTRIBUTE_ALLOWANCE_BYTES);
        let body = match encode_within_limit(&envelope, limit) {
            Ok(body) => body,
            Err(too_large) => {
                // Only a limit far below anything GitHub's data needs gets here (every free text
                // is cut first). Kept whole: the publisher parks it where an operator sees it.
                tracing::error!(event_id = %envelope.event_id, bytes = too_large.bytes, limit, "event exceeds the message size limit even reduced");
                gha_ingest_core::queue_text::to_queue_json(&envelope)
            }
        };
        destinations
            .iter()
            .map(|destination| PendingEvent {
                destination: *destination,
                event_id: envelope.event_id.clone(),
                event_type: envelope.event_type.as_str().to_string(),
                body: body.clone(),
            })
            .collect()
    }
}
