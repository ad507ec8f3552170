//! Counters of the log agent, for the dashboard and metrics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Default)]
pub struct LogAgentStatus {
    running: AtomicBool,
    logs_published_total: AtomicU64,
    log_messages_published_total: AtomicU64,
    log_bytes_published_total: AtomicU64,
    logs_unavailable_total: AtomicU64,
    failures_total: AtomicU64,
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
    pub fn snapshot(&self) -> LogStatusSnapshot {
        LogStatusSnapshot {
            running: self.running.load(Ordering::Relaxed),
            logs_published_total: self.logs_published_total.load(Ordering::Relaxed),
            log_messages_published_total: self.log_messages_published_total.load(Ordering::Relaxed),
            log_bytes_published_total: self.log_bytes_published_total.load(Ordering::Relaxed),
            logs_unavailable_total: self.logs_unavailable_total.load(Ordering::Relaxed),
            failures_total: self.failures_total.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .expect("status lock poisoned")
                .clone(),
        }
    }

    pub(crate) fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
    }

    pub(crate) fn published(&self, messages: u64, bytes: u64) {
        self.logs_published_total.fetch_add(1, Ordering::Relaxed);
        self.log_messages_published_total
            .fetch_add(messages, Ordering::Relaxed);
        self.log_bytes_published_total
            .fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn unavailable(&self) {
        self.logs_unavailable_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, error: String) {
        self.failures_total.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().expect("status lock poisoned") = Some(error);
    }
}
