//! What the agent is doing, for the dashboard, readiness and metrics: shared, lock-light counters.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use gha_ingest_core::EventType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::Serialize;

use crate::metrics::{EventTypeLabels, OutcomeLabels, PipelineMetrics};

/// Live status of the pipeline agent and its publisher. The counts are the Prometheus metrics'
/// own values (`metrics()`), so the dashboard and `/metrics` never disagree.
#[derive(Debug, Default)]
pub struct AgentStatus {
    metrics: PipelineMetrics,
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
    /// The agent's metric families, to register in the process's registry.
    pub fn metrics(&self) -> &PipelineMetrics {
        &self.metrics
    }

    pub fn snapshot(&self) -> StatusSnapshot {
        let metrics = &self.metrics;
        let by_type = |family: &Family<EventTypeLabels, Counter>| -> BTreeMap<String, u64> {
            let mut totals = BTreeMap::new();
            for event_type in EventType::ALL {
                let labels = EventTypeLabels {
                    event_type: event_type.as_str().to_owned(),
                };
                if let Some(counter) = family.get(&labels) {
                    totals.insert(labels.event_type, counter.get());
                }
            }
            totals
        };
        let events_published_by_type = by_type(&metrics.events_published);
        StatusSnapshot {
            running: metrics.running.get() == 1,
            cycles_total: metrics.poll_cycles.get(),
            repo_poll_errors_total: metrics
                .repo_polls
                .get(&OutcomeLabels { outcome: "error" })
                .map_or(0, |counter| counter.get()),
            events_queued_total: by_type(&metrics.events_queued).values().sum(),
            events_published_total: events_published_by_type.values().sum(),
            publish_failures_total: metrics.publish_failures.get(),
            messages_parked_total: metrics.messages_parked.get(),
            events_published_by_type,
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
        self.metrics.set_running(running);
    }

    /// A poll cycle over every due repository ended.
    pub(crate) fn cycle_finished(&self, elapsed: std::time::Duration) {
        let now = Utc::now();
        self.metrics.cycle_finished(elapsed, now);
        *self
            .last_cycle_finished_at
            .lock()
            .expect("status lock poisoned") = Some(now);
    }

    pub(crate) fn repo_polled(&self) {
        self.metrics.repo_polled(true);
    }

    pub(crate) fn repo_failed(&self, error: String) {
        self.metrics.repo_polled(false);
        *self.last_error.lock().expect("status lock poisoned") = Some(error);
    }

    pub(crate) fn published<'a>(&self, event_types: impl Iterator<Item = &'a str>) {
        for event_type in event_types {
            self.metrics.event_published(event_type);
        }
    }

    pub(crate) fn publish_failed(&self, error: String) {
        self.metrics.publish_failures.inc();
        *self.last_error.lock().expect("status lock poisoned") = Some(error);
    }

    pub(crate) fn parked(&self) {
        self.metrics.messages_parked.inc();
    }
}
