//! Moving the outbox to the queues: a row leaves the outbox only after its queue confirmed it.
//!
//! At-least-once: a crash after the queue accepted a batch but before the rows were deleted sends
//! that batch again after restart, with the same bodies and `event_id`s. A queue that is down
//! holds the outbox back (with growing waits) and loses nothing; a message the queue refuses for
//! good (too large, invalid characters) is parked in the outbox rather than blocking the rest.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gha_ingest_core::{error_chain, SCHEMA_VERSION};
use gha_ingest_queue::{MessageQueue, OutgoingMessage, QueueError, MAX_BATCH};
use gha_ingest_store::{Destination, OutboxMessage, StateStore, StoreError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::status::AgentStatus;

const IDLE_RECHECK: Duration = Duration::from_secs(1);
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// The last drain's time limit unless `with_drain_deadline` says otherwise.
const DEFAULT_DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// Why publishing stopped for now: the outbox is kept, and publishing is tried again later.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("queue {queue}")]
    Queue {
        queue: String,
        #[source]
        source: QueueError,
    },
    #[error("outbox")]
    Store(#[from] StoreError),
}

/// The queues the pipeline agent publishes to.
#[derive(Debug, Clone)]
pub struct QueueSet {
    pub metrics: Arc<dyn MessageQueue>,
    /// Work for the log agent; `None` when no log agent is deployed.
    pub log_requests: Option<Arc<dyn MessageQueue>>,
}

impl QueueSet {
    fn queue_for(&self, destination: Destination) -> Option<&Arc<dyn MessageQueue>> {
        match destination {
            Destination::Metrics => Some(&self.metrics),
            Destination::LogRequests => self.log_requests.as_ref(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct OutboxPublisher {
    store: StateStore,
    queues: QueueSet,
    wake: Arc<Notify>,
    status: Arc<AgentStatus>,
    drain_deadline: Duration,
}

impl OutboxPublisher {
    pub fn new(
        store: StateStore,
        queues: QueueSet,
        wake: Arc<Notify>,
        status: Arc<AgentStatus>,
    ) -> Self {
        OutboxPublisher {
            store,
            queues,
            wake,
            status,
            drain_deadline: DEFAULT_DRAIN_DEADLINE,
        }
    }

    /// How long the last drain at shutdown may take; what it does not publish stays in the
    /// outbox for the next start.
    pub fn with_drain_deadline(mut self, deadline: Duration) -> Self {
        self.drain_deadline = deadline;
        self
    }

    /// Publishes until `shutdown`; then one last drain, so that a clean stop leaves no backlog
    /// when the queue is reachable.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            match self.publish_pending().await {
                Ok(_) => failures = 0,
                Err(error) => {
                    failures += 1;
                    self.status.publish_failed(error_chain(&error).to_string());
                    let wait = retry_wait(failures);
                    tracing::warn!(cause = %error_chain(&error), wait_ms = wait.as_millis() as u64, "publishing failed; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_RECHECK) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        match tokio::time::timeout(self.drain_deadline, self.publish_pending()).await {
            Ok(Ok(count)) => tracing::info!(published = count, "outbox drained at shutdown"),
            Ok(Err(error)) => {
                tracing::warn!(cause = %error_chain(&error), "outbox left for the next start")
            }
            Err(_) => tracing::warn!("outbox drain timed out at shutdown; left for the next start"),
        }
    }

    /// Publishes everything in the outbox now. Returns how many messages the queues accepted.
    pub async fn publish_pending(&self) -> Result<u64, PublishError> {
        let mut published = 0;
        for destination in Destination::ALL {
            let Some(queue) = self.queues.queue_for(destination) else {
                continue;
            };
            loop {
                let batch = self.store.outbox_batch(destination, MAX_BATCH).await?;
                if batch.is_empty() {
                    break;
                }
                let accepted = self
                    .publish_batch(queue.as_ref(), destination, &batch)
                    .await?;
                published += accepted;
                if accepted == 0 {
                    break;
                }
            }
        }
        Ok(published)
    }

    async fn publish_batch(
        &self,
        queue: &dyn MessageQueue,
        destination: Destination,
        batch: &[OutboxMessage],
    ) -> Result<u64, PublishError> {
        let outgoing: Vec<OutgoingMessage> = batch.iter().map(to_outgoing).collect();
        let queue_error = |source: QueueError| PublishError::Queue {
            queue: queue.name().to_string(),
            source,
        };
        let outcome = queue.send_batch(&outgoing).await.map_err(queue_error)?;
        let mut accepted: Vec<&OutboxMessage> = Vec::with_capacity(batch.len());
        let mut transient_failure = None;
        let mut failed: BTreeMap<usize, QueueError> = outcome.failed.into_iter().collect();
        for (index, message) in batch.iter().enumerate() {
            match failed.remove(&index) {
                None => accepted.push(message),
                Some(error) if error.is_retryable() => {
                    self.store
                        .mark_publish_failed(message.seq, &error.to_string())
                        .await?;
                    transient_failure = Some(queue_error(error));
                }
                Some(error) => {
                    tracing::error!(event_id = %message.event_id, queue = queue.name(), cause = %error, "queue refused the message for good; parked in the outbox");
                    self.store.park(message.seq, &error.to_string()).await?;
                    self.status.parked();
                }
            }
        }
        let seqs: Vec<i64> = accepted.iter().map(|message| message.seq).collect();
        self.store.mark_published(&seqs).await?;
        // Counted as events where consumers read them; a log request is the agent's own work.
        if destination == Destination::Metrics {
            self.status
                .published(accepted.iter().map(|message| message.event_type.as_str()));
        }
        match transient_failure {
            Some(error) => Err(error),
            None => Ok(accepted.len() as u64),
        }
    }
}

/// The message attributes let consumers filter without parsing the body.
fn to_outgoing(message: &OutboxMessage) -> OutgoingMessage {
    let attributes = BTreeMap::from([
        ("event_type".to_string(), message.event_type.clone()),
        ("repo".to_string(), message.repo.clone()),
        ("schema_version".to_string(), SCHEMA_VERSION.to_string()),
    ]);
    OutgoingMessage {
        body: message.body.clone(),
        attributes,
        deduplication_id: message.event_id.clone(),
    }
}

fn retry_wait(failures: u32) -> Duration {
    Duration::from_millis(250)
        .saturating_mul(2u32.saturating_pow(failures.min(10)))
        .min(MAX_RETRY_WAIT)
}
