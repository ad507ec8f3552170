//! The pipeline agent's metrics (`gha_ingest_pipeline_*`), registered by the agent's owner into
//! the process's registry. The handles are shared atomics: `AgentStatus` reads them back for the
//! dashboard, so one count serves both.
//!
//! Labels stay bounded: `event_type` is one of the contract's types, `outcome` two values, and a
//! job's runner group and first label keep at most [`MAX_LABEL_VALUES`] distinct values each
//! (the rest are `other`), because runner labels are free text chosen by each workflow.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use gha_ingest_core::facts::JobFacts;
use gha_ingest_store::{StateStore, StoreError};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::webhook_health::WebhookHealth;

/// Distinct values one free-text label keeps before folding the rest into `other`.
pub const MAX_LABEL_VALUES: usize = 20;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventTypeLabels {
    pub event_type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `workflow_run`, `workflow_job`, `ping` or `other`.
    pub event: &'static str,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookEventLabels {
    /// `workflow_run` or `workflow_job`.
    pub event: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunnerLabels {
    pub runner_group: String,
    pub label: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RepoLabels {
    pub repo: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Every family of the pipeline agent. Cloning shares the values.
#[derive(Debug, Clone)]
pub struct PipelineMetrics {
    pub(crate) running: Gauge,
    pub(crate) poll_cycles: Counter,
    pub(crate) poll_cycle_duration: Histogram,
    pub(crate) repo_polls: Family<OutcomeLabels, Counter>,
    pub(crate) events_queued: Family<EventTypeLabels, Counter>,
    pub(crate) events_published: Family<EventTypeLabels, Counter>,
    pub(crate) publish_failures: Counter,
    pub(crate) messages_parked: Counter,
    pub(crate) event_freshness: Histogram,
    pub(crate) job_queue_wait: HistogramFamily<RunnerLabels>,
    pub(crate) last_cycle_timestamp: FloatGauge,
    pub(crate) webhook_deliveries: Family<DeliveryLabels, Counter>,
    webhook_missed: Family<WebhookEventLabels, Counter>,
    webhook_redeliveries: Family<OutcomeLabels, Counter>,
    webhooks_healthy: Gauge,
    /// Whether webhooks bring changes first (shared by clones; see `webhook_health`).
    webhook_health: Arc<WebhookHealth>,
    runner_values: Arc<BoundedValues>,
    label_values: Arc<BoundedValues>,
    /// Filled at scrape time from the state database (see [`PipelineMetrics::refresh`]).
    pub(crate) scraped: ScrapedGauges,
}

/// Gauges read from the state database when `/metrics` is scraped.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScrapedGauges {
    pub open_runs: Gauge,
    pub repositories: Gauge,
    pub poll_interval: Gauge,
    pub quiet_poll_max: Gauge,
    pub catchup_pending: Gauge,
    pub oldest_repo_poll: FloatGauge,
    pub repo_last_poll: Family<RepoLabels, FloatGauge>,
    pub unreadable: Family<StateLabels, Gauge>,
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        PipelineMetrics {
            running: Gauge::default(),
            poll_cycles: Counter::default(),
            // 10 ms .. ~5.8 min
            poll_cycle_duration: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            repo_polls: Family::default(),
            events_queued: Family::default(),
            events_published: Family::default(),
            publish_failures: Counter::default(),
            messages_parked: Counter::default(),
            event_freshness: freshness_histogram(),
            job_queue_wait: Family::new_with_constructor(queue_wait_histogram),
            last_cycle_timestamp: FloatGauge::default(),
            webhook_deliveries: Family::default(),
            webhook_missed: Family::default(),
            webhook_redeliveries: Family::default(),
            webhooks_healthy: Gauge::default(),
            webhook_health: Arc::default(),
            runner_values: Arc::default(),
            label_values: Arc::default(),
            scraped: ScrapedGauges::default(),
        }
    }
}

/// 0.5 s .. ~2.3 h: from a poll's best case to a repository that waited out a rate limit.
fn freshness_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.5, 2.0, 15))
}

/// 1 s .. ~4.5 h: jobs wait seconds on hosted runners, hours on a starved self-hosted pool.
fn queue_wait_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 15))
}

impl PipelineMetrics {
    /// Registers every family under `registry`, whose prefix should be `gha_ingest_pipeline`.
    pub fn register(&self, registry: &mut Registry) {
        // Both outcomes exist from the start, so `increase()` sees the first failure.
        for outcome in ["ok", "error"] {
            let _ = self.repo_polls.get_or_create(&OutcomeLabels { outcome });
        }
        // And the deliveries the webhook alert divides by, in case webhooks are turned on.
        for event in ["workflow_run", "workflow_job"] {
            for outcome in ["ingested", "refused", "error"] {
                let _ = self
                    .webhook_deliveries
                    .get_or_create(&DeliveryLabels { event, outcome });
            }
        }
        registry.register(
            "running",
            "Whether the pipeline agent is running (1) or not (0)",
            self.running.clone(),
        );
        registry.register(
            "poll_cycles",
            "Poll cycles completed; one cycle polls every repository that is due",
            self.poll_cycles.clone(),
        );
        registry.register(
            "poll_cycle_duration_seconds",
            "Duration of one poll cycle over all due repositories",
            self.poll_cycle_duration.clone(),
        );
        registry.register(
            "repo_polls",
            "Repository polls, by outcome (ok, error)",
            self.repo_polls.clone(),
        );
        registry.register(
            "events_queued",
            "Events written to the outbox, by event type",
            self.events_queued.clone(),
        );
        registry.register(
            "events_published",
            "Events the queue confirmed, by event type",
            self.events_published.clone(),
        );
        registry.register(
            "publish_failures",
            "Failed publish attempts (the outbox keeps the events and retries)",
            self.publish_failures.clone(),
        );
        registry.register(
            "messages_parked",
            "Messages the queue refused for good, parked in the outbox",
            self.messages_parked.clone(),
        );
        registry.register(
            "event_freshness_seconds",
            "From GitHub's last change of a run or job to its event in the outbox (polls, not backfill)",
            self.event_freshness.clone(),
        );
        registry.register(
            "job_queue_wait_seconds",
            "From a job's creation to its start, by runner group and first runner label",
            self.job_queue_wait.clone(),
        );
        registry.register(
            "last_cycle_timestamp_seconds",
            "Unix time the last poll cycle finished",
            self.last_cycle_timestamp.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries, by event (workflow_run, workflow_job, ping, other) and outcome (ingested, duplicate, stale, not_followed, ignored, malformed, refused, error)",
            self.webhook_deliveries.clone(),
        );
        registry.register(
            "webhook_missed",
            "While webhooks are received: run and job states that reached the outbox through a poll first (a delivery lost, or slower than the poll)",
            self.webhook_missed.clone(),
        );
        registry.register(
            "webhooks_healthy",
            "1 while webhooks bring changes before polls find them (a delivery taken in since start, few missed in 10 minutes): repositories are then polled webhooks.poll_slowdown times less often",
            self.webhooks_healthy.clone(),
        );
        registry.register(
            "webhook_redeliveries",
            "Failed webhook deliveries the daemon asked GitHub to send again (App webhooks), by outcome (asked, refused)",
            self.webhook_redeliveries.clone(),
        );
        let scraped = &self.scraped;
        registry.register(
            "open_runs",
            "Runs not yet completed that the agent follows",
            scraped.open_runs.clone(),
        );
        registry.register(
            "repositories",
            "Repositories followed",
            scraped.repositories.clone(),
        );
        registry.register(
            "poll_interval_seconds",
            "Seconds between two polls of an active repository: the configured interval, times webhooks.poll_slowdown while webhooks are healthy",
            scraped.poll_interval.clone(),
        );
        registry.register(
            "quiet_poll_max_seconds",
            "The longest wait between two polls of a quiet repository (configured, times webhooks.poll_slowdown while webhooks are healthy): a healthy repository is polled at least this often",
            scraped.quiet_poll_max.clone(),
        );
        registry.register(
            "catchup_pending_repositories",
            "Repositories with history still to read (a first backfill, or a gap), read by the catch-up lane at the lowest priority",
            scraped.catchup_pending.clone(),
        );
        registry.register(
            "oldest_repo_poll_timestamp_seconds",
            "The least recent successful poll over all repositories, as Unix time",
            scraped.oldest_repo_poll.clone(),
        );
        registry.register(
            "repo_last_successful_poll_timestamp_seconds",
            "Unix time of each repository's last successful poll (with telemetry.metrics_repo_label)",
            scraped.repo_last_poll.clone(),
        );
        registry.register(
            "unreadable_entities",
            "Runs, attempts, job lists and commits GitHub would not serve: retrying, or given up on",
            scraped.unreadable.clone(),
        );
    }

    pub(crate) fn cycle_finished(&self, elapsed: std::time::Duration, at: DateTime<Utc>) {
        self.poll_cycles.inc();
        self.poll_cycle_duration.observe(elapsed.as_secs_f64());
        self.last_cycle_timestamp
            .set(at.timestamp_millis() as f64 / 1000.0);
    }

    pub(crate) fn repo_polled(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        let _ = self
            .repo_polls
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts one webhook delivery; the event name (a header anyone can send) is folded into
    /// the events gha-ingest knows.
    pub(crate) fn webhook_delivery(&self, event: &str, outcome: &'static str) {
        use gha_ingest_core::webhook::{EVENT_PING, EVENT_WORKFLOW_JOB, EVENT_WORKFLOW_RUN};
        let event = [EVENT_WORKFLOW_RUN, EVENT_WORKFLOW_JOB, EVENT_PING]
            .into_iter()
            .find(|known| *known == event)
            .unwrap_or("other");
        let _ = self
            .webhook_deliveries
            .get_or_create(&DeliveryLabels { event, outcome })
            .inc();
    }

    pub(crate) fn event_queued(&self, event_type: &str) {
        count_event(&self.events_queued, event_type);
    }

    pub(crate) fn event_published(&self, event_type: &str) {
        count_event(&self.events_published, event_type);
    }

    /// Records what is measured of an event the store queued for the first time, `now`.
    pub(crate) fn observe_queued(&self, measure: &EventMeasure, now: DateTime<Utc>) {
        if let Some(changed_at) = measure.changed_at {
            let seconds = (now - changed_at).num_milliseconds().max(0) as f64 / 1000.0;
            self.event_freshness.observe(seconds);
        }
        if let Some(wait) = &measure.queue_wait {
            let labels = RunnerLabels {
                runner_group: self.runner_values.fold(&wait.runner_group),
                label: self.label_values.fold(&wait.label),
            };
            self.job_queue_wait
                .get_or_create(&labels)
                .observe(wait.seconds);
        }
        if let Some(event) = measure.polled_first {
            if self.webhook_health.is_expected() {
                let _ = self
                    .webhook_missed
                    .get_or_create(&WebhookEventLabels { event })
                    .inc();
                self.webhook_health.missed(now);
            }
        }
    }

    pub(crate) fn webhook_redelivery(&self, outcome: &'static str) {
        let _ = self
            .webhook_redeliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// From now on, facts found first by a poll count as missed webhook deliveries, and polling
    /// is `slowdown` times slower while webhooks are healthy.
    pub(crate) fn expect_webhooks(&self, slowdown: u32) {
        self.webhook_health.expect(slowdown);
    }

    /// What deliveries and polls say of the webhooks so far.
    pub(crate) fn webhook_health(&self) -> &WebhookHealth {
        &self.webhook_health
    }

    pub(crate) fn set_running(&self, running: bool) {
        self.running.set(i64::from(running));
    }

    /// Brings the gauges read from the state database up to date; called when `/metrics` is
    /// scraped. `repo_label`: one series per repository (`telemetry.metrics_repo_label`).
    pub async fn refresh(
        &self,
        store: &StateStore,
        poll_interval: std::time::Duration,
        quiet_poll_max: std::time::Duration,
        repo_label: bool,
    ) -> Result<(), StoreError> {
        let overview = store.poll_overview().await?;
        let (retrying, given_up) = store.failure_counts().await?;
        let scraped = &self.scraped;
        scraped.open_runs.set(saturating_i64(overview.open_runs));
        scraped
            .repositories
            .set(saturating_i64(overview.last_successful_polls.len() as u64));
        // The cadence in force: slower while webhooks are healthy.
        let now = Utc::now();
        let slowdown = i64::from(self.webhook_health.slowdown(now));
        self.webhooks_healthy
            .set(i64::from(self.webhook_health.is_healthy(now)));
        scraped
            .poll_interval
            .set(saturating_i64(poll_interval.as_secs()).saturating_mul(slowdown));
        scraped
            .quiet_poll_max
            .set(saturating_i64(quiet_poll_max.as_secs()).saturating_mul(slowdown));
        scraped
            .catchup_pending
            .set(saturating_i64(store.catchup_pending().await?));
        let unix = |at: DateTime<Utc>| at.timestamp_millis() as f64 / 1000.0;
        // A repository never polled counts as polled at the epoch: it is the oldest of all.
        let oldest = overview
            .last_successful_polls
            .iter()
            .map(|(_, polled)| polled.map_or(0.0, unix))
            .fold(None, |oldest: Option<f64>, at| {
                Some(oldest.map_or(at, |oldest| oldest.min(at)))
            });
        // No repository: nothing is late.
        scraped
            .oldest_repo_poll
            .set(oldest.unwrap_or_else(|| unix(Utc::now())));
        // Rebuilt each time, so a repository no longer followed leaves no stale series.
        scraped.repo_last_poll.clear();
        if repo_label {
            for (repo, polled) in &overview.last_successful_polls {
                if let Some(polled) = polled {
                    scraped
                        .repo_last_poll
                        .get_or_create(&RepoLabels { repo: repo.clone() })
                        .set(unix(*polled));
                }
            }
        }
        for (state, count) in [("retrying", retrying), ("given_up", given_up)] {
            scraped
                .unreadable
                .get_or_create(&StateLabels { state })
                .set(saturating_i64(count));
        }
        Ok(())
    }
}

fn count_event(family: &Family<EventTypeLabels, Counter>, event_type: &str) {
    family
        .get_or_create(&EventTypeLabels {
            event_type: event_type.to_owned(),
        })
        .inc();
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// What is measured of one event, if the store finds it new (an event seen again is not).
#[derive(Debug, Clone, Default)]
pub(crate) struct EventMeasure {
    /// When GitHub last changed the fact; only for live polls (a backfill's age is history).
    pub changed_at: Option<DateTime<Utc>>,
    /// A completed job's wait for its runner: measured once per job, at completion.
    pub queue_wait: Option<QueueWait>,
    /// Found by a poll: the webhook event that would have carried it first (`workflow_run`,
    /// `workflow_job`), counted as missed while webhooks are received.
    pub polled_first: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub(crate) struct QueueWait {
    runner_group: String,
    label: String,
    seconds: f64,
}

impl QueueWait {
    /// The wait of a completed job that ran (a skipped job never waited for a runner).
    pub(crate) fn of(job: &JobFacts) -> Option<QueueWait> {
        if !job.is_completed() || job.conclusion.as_deref() == Some("skipped") {
            return None;
        }
        let (created, started) = (job.created_at?, job.started_at?);
        Some(QueueWait {
            runner_group: job
                .runner_group_name
                .clone()
                .unwrap_or_else(|| "none".to_owned()),
            label: job
                .labels
                .first()
                .cloned()
                .unwrap_or_else(|| "none".to_owned()),
            seconds: (started - created).num_milliseconds().max(0) as f64 / 1000.0,
        })
    }
}

/// The first [`MAX_LABEL_VALUES`] values seen are kept as they are; later ones become `other`.
#[derive(Debug, Default)]
struct BoundedValues {
    seen: Mutex<BTreeSet<String>>,
}

impl BoundedValues {
    fn fold(&self, value: &str) -> String {
        let mut seen = self.seen.lock().expect("label lock poisoned");
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() < MAX_LABEL_VALUES {
            seen.insert(value.to_owned());
            return value.to_owned();
        }
        "other".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_labels_keep_a_bounded_number_of_values() {
        let values = BoundedValues::default();
        for index in 0..MAX_LABEL_VALUES {
            assert_eq!(values.fold(&format!("v{index}")), format!("v{index}"));
        }
        assert_eq!(values.fold("one-too-many"), "other");
        assert_eq!(values.fold("v3"), "v3", "values kept stay themselves");
    }
}
