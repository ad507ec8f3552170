//! The log agent's metrics (`gha_ingest_logs_*`). `LogAgentStatus` reads the same handles back
//! for the dashboard, so the two never disagree.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::ending::UnavailableReason;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// One of the `job_log_unavailable` reasons: a closed set.
    pub reason: &'static str,
}

/// Every family of the log agent. Cloning shares the values.
#[derive(Debug, Clone)]
pub struct LogMetrics {
    pub(crate) running: Gauge,
    pub(crate) published: Counter,
    pub(crate) published_messages: Counter,
    pub(crate) published_bytes: Counter,
    pub(crate) unavailable: Family<ReasonLabels, Counter>,
    pub(crate) failures: Counter,
    pub(crate) size: Histogram,
    pub(crate) freshness: Histogram,
}

impl Default for LogMetrics {
    fn default() -> Self {
        LogMetrics {
            running: Gauge::default(),
            published: Counter::default(),
            published_messages: Counter::default(),
            published_bytes: Counter::default(),
            unavailable: Family::default(),
            failures: Counter::default(),
            // 1 KiB .. 1 GiB (the default logs.max_log_bytes), by factors of 4
            size: Histogram::new(exponential_buckets(1024.0, 4.0, 11)),
            // 1 s .. ~4.5 h: a poll interval, a queue wait, or a backlog after an outage
            freshness: Histogram::new(exponential_buckets(1.0, 2.0, 15)),
        }
    }
}

impl LogMetrics {
    /// Registers every family under `registry`, whose prefix should be `gha_ingest_logs`.
    pub fn register(&self, registry: &mut Registry) {
        // Every reason exists from the start, so `increase()` sees the first one.
        for reason in UnavailableReason::ALL {
            let _ = self.unavailable.get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            });
        }
        registry.register(
            "running",
            "Whether the log agent is running (1) or not (0)",
            self.running.clone(),
        );
        registry.register(
            "published",
            "Job logs published in full",
            self.published.clone(),
        );
        registry.register(
            "published_messages",
            "Log messages (parts) published",
            self.published_messages.clone(),
        );
        registry.register(
            "published_bytes",
            "Bytes of job logs published",
            self.published_bytes.clone(),
        );
        registry.register(
            "unavailable",
            "Jobs whose log GitHub did not serve, by reason (a job_log_unavailable event each)",
            self.unavailable.clone(),
        );
        registry.register(
            "failures",
            "Log requests that failed and will be tried again",
            self.failures.clone(),
        );
        registry.register(
            "size_bytes",
            "Size of each published job log",
            self.size.clone(),
        );
        registry.register(
            "freshness_seconds",
            "From a job's completion on GitHub to its log's last part on the queue",
            self.freshness.clone(),
        );
    }

    pub(crate) fn log_unavailable(&self, reason: UnavailableReason) {
        self.unavailable
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// A whole log went out; `since_completion` is `None` when the job's end time is unknown.
    pub(crate) fn log_published(
        &self,
        messages: u64,
        bytes: u64,
        since_completion: Option<Duration>,
    ) {
        self.published.inc();
        self.published_messages.inc_by(messages);
        self.published_bytes.inc_by(bytes);
        self.size.observe(bytes as f64);
        if let Some(age) = since_completion {
            self.freshness.observe(age.as_secs_f64());
        }
    }
}
