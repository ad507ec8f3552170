//! What the agent is doing, for the dashboard, readiness and metrics: shared, lock-light counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Live status of the pipeline agent and its publisher.
#[derive(Debug, Default)]
pub struct AgentStatus {
    running: AtomicBool,
    cycles_total: AtomicU64,
    repo_poll_errors_total: AtomicU64,
    events_queued_total: AtomicU64,
    events_published_total: AtomicU64,
    publish_failures_total: AtomicU64,
    messages_parked_total: AtomicU64,
    published_by_type: Mutex<BTreeMap<String, u64>>,
    last_cycle_finished_at: Mutex<Option<DateTime<Utc>>>,
    last_error: Mutex<Option<String>>,
}

/// A copy of the status at one instant.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusSnapshot {
    pub running: bool,
    pub cycles_total: u64,
    pub repo_poll_errors_total: u64,
    pub events_queued_total: u64,
    pub events_published_total: u64,
    pub publish_failures_total: u64,
    pub messages_parked_total: u64,
    /// Events the queues confirmed, by event type.
    pub events_published_by_type: BTreeMap<String, u64>,
    pub last_cycle_finished_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl AgentStatus {
    pub fn snapshot(&self) -> StatusSnapshot {
        StatusSnapshot {
            running: self.running.load(Ordering::Relaxed),
            cycles_total: self.cycles_total.load(Ordering::Relaxed),
            repo_poll_errors_total: self.repo_poll_errors_total.load(Ordering::Relaxed),
            events_queued_total: self.events_queued_total.load(Ordering::Relaxed),
            events_published_total: self.events_published_total.load(Ordering::Relaxed),
            publish_failures_total: self.publish_failures_total.load(Ordering::Relaxed),
            messages_parked_total: self.messages_parked_total.load(Ordering::Relaxed),
            events_published_by_type: self
                .published_by_type
                .lock()
                .expect("status lock poisoned")
                .clone(),
            last_cycle_finished_at: *self
                .last_cycle_finished_at
                .lock()
                .expect("status lock poisoned"),
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

    pub(crate) fn cycle_finished(&self, events_queued: u64) {
        self.cycles_total.fetch_add(1, Ordering::Relaxed);
        self.events_queued_total
            .fetch_add(events_queued, Ordering::Relaxed);
        *self
            .last_cycle_finished_at
            .lock()
            .expect("status lock poisoned") = Some(Utc::now());
    }

    pub(crate) fn repo_failed(&self, error: String) {
        self.repo_poll_errors_total.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().expect("status lock poisoned") = Some(error);
    }

    pub(crate) fn published<'a>(&self, event_types: impl Iterator<Item = &'a str>) {
        let mut by_type = self.published_by_type.lock().expect("status lock poisoned");
        for event_type in event_types {
            self.events_published_total.fetch_add(1, Ordering::Relaxed);
            *by_type.entry(event_type.to_string()).or_insert(0) += 1;
        }
    }

    pub(crate) fn publish_failed(&self, error: String) {
        self.publish_failures_total.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().expect("status lock poisoned") = Some(error);
    }

    pub(crate) fn parked(&self) {
        self.messages_parked_total.fetch_add(1, Ordering::Relaxed);
    }
}
