//! Counters of the log agent, for the dashboard and metrics.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::ending::UnavailableReason;
use crate::metrics::{LogMetrics, ReasonLabels};

/// Live status of the log agent; the counts are its Prometheus metrics' own values.
#[derive(Debug, Default)]
pub struct LogAgentStatus {
    metrics: LogMetrics,
    last_error: Mutex<Option<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LogStatusSnapshot {
    pub running: bool,
    pub logs_published_total: u64,
    pub log_messages_published_total: u64,
    pub log_bytes_published_total: u64,
    pub logs_unavailable_total: u64,
    pub failures_total: u64,
    pub last_error: Option<String>,
}

impl LogAgentStatus {
    /// The agent's metric families, to register in the process's registry.
    pub fn metrics(&self) -> &LogMetrics {
        &self.metrics
    }

    pub fn snapshot(&self) -> LogStatusSnapshot {
        let metrics = &self.metrics;
        LogStatusSnapshot {
            running: metrics.running.get() == 1,
            logs_published_total: metrics.published.get(),
            log_messages_published_total: metrics.published_messages.get(),
            log_bytes_published_total: metrics.published_bytes.get(),
            logs_unavailable_total: UnavailableReason::ALL
                .iter()
                .filter_map(|reason| {
                    metrics.unavailable.get(&ReasonLabels {
                        reason: reason.as_str(),
                    })
                })
                .map(|counter| counter.get())
                .sum(),
            failures_total: metrics.failures.get(),
            last_error: self
                .last_error
                .lock()
                .expect("status lock poisoned")
                .clone(),
        }
    }

    pub(crate) fn set_running(&self, running: bool) {
        self.metrics.running.set(i64::from(running));
    }

    pub(crate) fn published(&self, messages: u64, bytes: u64, since_completion: Option<Duration>) {
        self.metrics
            .log_published(messages, bytes, since_completion);
    }

    pub(crate) fn unavailable(&self, reason: UnavailableReason) {
        self.metrics.log_unavailable(reason);
    }

    pub(crate) fn failed(&self, error: String) {
        self.metrics.failures.inc();
        *self.last_error.lock().expect("status lock poisoned") = Some(error);
    }
}
