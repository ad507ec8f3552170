//! The queue error, classified so that retry logic never looks inside an SDK or database error.

/// Why a queue operation failed, and whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// Network failure, timeout, throttling, a 5xx answer or a busy database: retry with backoff.
    #[error("{operation} on queue {queue} failed, retryable: {message}")]
    Transient {
        /// The queue's name.
        queue: String,
        /// The operation, e.g. `send_batch`.
        operation: &'static str,
        /// What went wrong, with its causes.
        message: String,
    },
    /// Missing queue, access denied, invalid request or configuration: retrying will not help.
    #[error("{operation} on queue {queue} failed: {message}")]
    Permanent {
        /// The queue's name.
        queue: String,
        /// The operation, e.g. `send_batch`.
        operation: &'static str,
        /// What went wrong, with its causes.
        message: String,
    },
    /// The message's size (body plus attribute names, types and values, in bytes) exceeds the
    /// configured limit.
    #[error("message of {bytes} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The message's size as SQS counts it.
        bytes: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// The message (or the batch) breaks an SQS rule: too many attributes, a bad attribute name,
    /// a character SQS does not allow, an empty body, too many messages.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
}

impl QueueError {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Transient { .. })
    }

    pub(crate) fn transient(
        queue: &str,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        QueueError::Transient {
            queue: queue.to_owned(),
            operation,
            message: message.into(),
        }
    }

    pub(crate) fn permanent(
        queue: &str,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        QueueError::Permanent {
            queue: queue.to_owned(),
            operation,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_errors_are_retryable() {
        assert!(QueueError::transient("q", "receive", "timeout").is_retryable());
        assert!(!QueueError::permanent("q", "receive", "queue does not exist").is_retryable());
        assert!(!QueueError::MessageTooLarge { bytes: 2, limit: 1 }.is_retryable());
        assert!(!QueueError::InvalidMessage("x".into()).is_retryable());
    }

    #[test]
    fn messages_carry_context_and_chain() {
        let error = QueueError::permanent("gha-events", "send_batch", "queue does not exist");
        assert_eq!(
            error.to_string(),
            "send_batch on queue gha-events failed: queue does not exist"
        );
    }
}
