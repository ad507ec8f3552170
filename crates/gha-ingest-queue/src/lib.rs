//! Message queues for gha-ingest, behind one narrow trait.
//!
//! The pipeline publishes batches of JSON events and the log agent consumes work items; both only
//! need "send a batch, receive with a lease, acknowledge, extend the lease, how deep is it, is it
//! there". [`MessageQueue`] is exactly that, shaped by those needs and not by any SDK: no AWS or
//! sqlx type crosses it. Two implementations live behind it:
//!
//! - [`SqsQueue`] (`sqs.rs`): AWS SQS through `aws-sdk-sqs`, the production engine.
//! - [`EmbeddedQueue`] (`embedded.rs`): a queue in a SQLite file, the zero-setup default for the demo
//!   and for single-machine installs, with SQS's standard-queue semantics (leases, receive counts,
//!   redrive to a dead-letter queue).
//!
//! Both validate messages themselves ([`limits`]) before sending, because emulators such as moto
//! accept messages real SQS rejects. The suite in `tests/conformance.rs` runs the same behaviour tests
//! against both, so the embedded queue cannot drift from SQS.
//!
//! Delivery guarantee: at least once. A message is redelivered when its visibility timeout expires
//! before it was deleted; consumers deduplicate by the event's idempotency key.

mod embedded;
mod error;
pub mod limits;
mod message;
mod metrics;
mod sqs;
#[cfg(feature = "test-support")]
pub mod testing;

use std::time::Duration;

use async_trait::async_trait;

pub use embedded::{EmbeddedQueue, EmbeddedQueueOptions};
pub use error::QueueError;
pub use limits::{MessageLimits, MAX_BATCH};
pub use message::{OutgoingMessage, QueueDepth, ReceiptHandle, ReceivedMessage, SendOutcome};
pub use metrics::QueueMetrics;
pub use sqs::{SqsQueue, SqsQueueSettings};

/// The longest long poll a receive waits, as on SQS; longer waits are shortened to it.
pub const MAX_RECEIVE_WAIT: Duration = Duration::from_secs(20);

/// The longest visibility timeout (lease), as on SQS: 12 hours; longer ones are shortened to it.
pub const MAX_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);

/// A message queue as the pipeline and the log agent use it.
///
/// Semantics every implementation honours (checked by the conformance suite):
/// - at-least-once delivery, roughly oldest first, no ordering guarantee;
/// - a received message is hidden for its visibility timeout, then delivered again with a fresh
///   receipt and `receive_count` one higher, unless it was deleted;
/// - deleting an already-deleted message succeeds (acknowledgement is idempotent);
/// - extending the visibility of a deleted message fails with [`QueueError::Permanent`];
/// - only a message's latest receipt is sure to act on it. With an older one (the message was
///   received again since), delete succeeds: the embedded queue then deletes nothing, SQS "might
///   not" delete (moto does); extend fails on the embedded queue.
#[async_trait]
pub trait MessageQueue: Send + Sync + std::fmt::Debug {
    /// The queue's name, for logs and metric labels.
    fn name(&self) -> &str;

    /// Sends at most [`MAX_BATCH`] messages.
    ///
    /// Each message is validated first (size in bytes including attributes, attribute count and
    /// names, allowed characters); an invalid one is reported in [`SendOutcome::failed`] with its
    /// index and the others are still sent. More than [`MAX_BATCH`] messages is an
    /// [`QueueError::InvalidMessage`] for the whole call. `Err` means the call failed as a whole
    /// (some messages may have been sent anyway: retrying the batch may duplicate, never lose).
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<SendOutcome, QueueError>;

    /// Receives up to `max_messages` (clamped to 1..=[`MAX_BATCH`]) and hides them for
    /// `visibility_timeout`. Long polls: returns as soon as any message is available, or an empty
    /// list once `wait` (at most [`MAX_RECEIVE_WAIT`]) has elapsed.
    async fn receive(
        &self,
        max_messages: u32,
        wait: Duration,
        visibility_timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Acknowledges a received message: it will not be delivered again.
    async fn delete(&self, receipt: &ReceiptHandle) -> Result<(), QueueError>;

    /// Hides a received message for `visibility_timeout` from now (a lease extension); zero makes
    /// it visible again at once (a negative acknowledgement).
    async fn extend_visibility(
        &self,
        receipt: &ReceiptHandle,
        visibility_timeout: Duration,
    ) -> Result<(), QueueError>;

    /// Approximate numbers of waiting and in-flight messages, for metrics and the dashboard.
    async fn approximate_depth(&self) -> Result<QueueDepth, QueueError>;

    /// Checks that the queue exists and is reachable.
    async fn health_check(&self) -> Result<(), QueueError>;

    /// Messages (waiting or in flight) in this queue's dead-letter queue, or `None` when it has
    /// none. SQS: the queue named by the redrive policy, found at each call so a policy added or
    /// changed later is followed.
    async fn dead_letter_depth(&self) -> Result<Option<u64>, QueueError> {
        Ok(None)
    }

    /// Messages the queue itself dropped since this process started, to stay within its bounds
    /// (the embedded queue's retention and size cap). SQS expires messages past its retention
    /// without telling anyone: 0.
    fn dropped_total(&self) -> u64 {
        0
    }
}
