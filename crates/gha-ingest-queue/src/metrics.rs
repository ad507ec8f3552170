//! The queues' metrics (`gha_ingest_queue_*`), read from the queues themselves when `/metrics` is
//! scraped: their depth, their dead-letter queue's depth, and what the embedded queue dropped.
//! A queue that cannot be asked keeps its last values, and the failure is logged at debug level
//! (the dashboard and `/readyz` report unreachable queues).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::MessageQueue;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    /// `metrics`, `log_requests` or `logs`.
    pub role: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DepthLabels {
    pub role: String,
    /// `visible` (waiting) or `in_flight` (received, not yet deleted).
    pub state: &'static str,
}

/// Every family of the queues this process uses. Cloning shares the values.
#[derive(Debug, Clone, Default)]
pub struct QueueMetrics {
    depth: Family<DepthLabels, Gauge>,
    dead_letter: Family<RoleLabels, Gauge>,
    dropped: Family<RoleLabels, Counter<u64, AtomicU64>>,
}

impl QueueMetrics {
    /// Registers every family under `registry`, whose prefix should be `gha_ingest_queue`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "depth_messages",
            "Approximate messages in each queue, waiting (visible) or received and not yet deleted (in_flight)",
            self.depth.clone(),
        );
        registry.register(
            "dead_letter_messages",
            "Messages in each queue's dead-letter queue (SQS: the queue its redrive policy names)",
            self.dead_letter.clone(),
        );
        registry.register(
            "dropped_messages",
            "Messages the embedded queue dropped to stay within its retention and size cap (nobody consumed them)",
            self.dropped.clone(),
        );
    }

    /// Asks each queue for its figures; called when `/metrics` is scraped.
    pub async fn refresh(&self, queues: &[(String, Arc<dyn MessageQueue>)]) {
        for (role, queue) in queues {
            match queue.approximate_depth().await {
                Ok(depth) => {
                    for (state, count) in
                        [("visible", depth.visible), ("in_flight", depth.in_flight)]
                    {
                        self.depth
                            .get_or_create(&DepthLabels {
                                role: role.clone(),
                                state,
                            })
                            .set(saturating_i64(count));
                    }
                }
                Err(error) => {
                    tracing::debug!(queue = queue.name(), cause = %error, "queue depth unknown")
                }
            }
            match queue.dead_letter_depth().await {
                Ok(Some(count)) => {
                    self.dead_letter
                        .get_or_create(&RoleLabels { role: role.clone() })
                        .set(saturating_i64(count));
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(queue = queue.name(), cause = %error, "dead-letter depth unknown")
                }
            }
            // The queue counts its own drops; the counter mirrors that running total.
            self.dropped
                .get_or_create(&RoleLabels { role: role.clone() })
                .inner()
                .store(queue.dropped_total(), Ordering::Relaxed);
        }
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
