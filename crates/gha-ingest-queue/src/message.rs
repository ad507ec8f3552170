//! The plain data that crosses the [`MessageQueue`](crate::MessageQueue) trait: what is sent, what
//! is received, and what a batch send reports. No SDK or database type appears here.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::QueueError;

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The message body, one JSON event.
    pub body: String,
    /// String attributes (e.g. `event_type`, `repo`, `schema_version`) so consumers can filter
    /// without parsing the body. At most [`MAX_ATTRIBUTES`](crate::limits::MAX_ATTRIBUTES).
    pub attributes: BTreeMap<String, String>,
    /// The event's idempotency key: the `MessageDeduplicationId` on SQS FIFO queues, stored by the
    /// embedded queue. Standard queues do not deduplicate; consumers do.
    pub deduplication_id: String,
}

/// A message handed out by [`MessageQueue::receive`](crate::MessageQueue::receive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The queue's id for the message; stable across redeliveries.
    pub message_id: String,
    /// The body as sent.
    pub body: String,
    /// The string attributes as sent.
    pub attributes: BTreeMap<String, String>,
    /// The handle to delete the message or extend its visibility; new on every delivery.
    pub receipt: ReceiptHandle,
    /// How many times the message has been delivered, this delivery included (1 the first time).
    pub receive_count: u32,
}

/// The proof of one delivery of a message, needed to delete it or extend its visibility.
///
/// Opaque: its content depends on the implementation. Only the latest receipt of a message is
/// guaranteed to act on it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ReceiptHandle(pub String);

impl fmt::Debug for ReceiptHandle {
    // SQS receipt handles are several hundred characters long; a prefix identifies one in logs.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.0.chars().take(24).collect();
        if prefix.len() < self.0.len() {
            write!(formatter, "ReceiptHandle({prefix}…)")
        } else {
            write!(formatter, "ReceiptHandle({prefix})")
        }
    }
}

/// What a [`send_batch`](crate::MessageQueue::send_batch) call did not deliver.
#[derive(Debug, Clone, Default)]
pub struct SendOutcome {
    /// The messages that were not accepted, by index in the input, in ascending order; every
    /// other message was accepted by the queue.
    pub failed: Vec<(usize, QueueError)>,
}

impl SendOutcome {
    /// Whether every message was accepted.
    pub fn all_sent(&self) -> bool {
        self.failed.is_empty()
    }
}

/// How many messages a queue holds, approximately (SQS counts are eventually consistent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Messages waiting to be received.
    pub visible: u64,
    /// Messages received and not yet deleted, hidden until their visibility timeout expires.
    pub in_flight: u64,
}
