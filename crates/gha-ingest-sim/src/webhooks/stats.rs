//! Counters of the webhook deliveries, so tests and benchmarks can assert on what a receiver
//! was put through ("every dropped delivery was redelivered", "nothing is still in flight").

use serde::{Deserialize, Serialize};

/// A snapshot of the webhook counters since start (`SimHandle::webhook_stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookStats {
    /// Deliveries POSTed to the receiver (first deliveries, duplicates and redeliveries),
    /// whatever the answer.
    pub sent: u64,
    /// Of those, answered with a 2xx.
    pub succeeded: u64,
    /// Deliveries recorded as failed: answered otherwise, not answered in time, not connected,
    /// or dropped on purpose.
    pub failed: u64,
    /// Of the failed ones that were POSTed, those the receiver did not answer within
    /// `WebhookSettings::timeout`.
    pub timed_out: u64,
    /// Dropped on purpose (`WebhookFaults::drop_ratio`): recorded as failed, never POSTed.
    pub dropped: u64,
    /// Extra copies POSTed with the same GUID (`WebhookFaults::duplicate_ratio`).
    pub duplicated: u64,
    /// Deliveries held back so later ones overtake them (`WebhookFaults::reorder_ratio`).
    pub reordered: u64,
    /// Deliveries signed with another secret (`WebhookFaults::wrong_signature_ratio`).
    pub wrong_signature: u64,
    /// Redeliveries asked for with `POST /app/hook/deliveries/{delivery_id}/attempts`.
    pub redelivered: u64,
    /// Deliveries queued or being POSTed; 0 once everything so far has been recorded.
    pub pending: u64,
    /// Run attempts that ended in `startup_failure`, for which GitHub sends no webhook at all.
    pub startup_failures_unsent: u64,
    /// Events larger than GitHub's 25 MB payload cap, which GitHub does not send.
    pub oversized_unsent: u64,
    /// Recorded deliveries forgotten to stay within `WebhookSettings::deliveries_kept` and
    /// `delivery_bytes_kept`, oldest first.
    pub records_evicted: u64,
}
