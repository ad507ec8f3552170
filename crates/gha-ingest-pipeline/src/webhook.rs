//! Taking in GitHub's `workflow_run` and `workflow_job` webhook deliveries: the same facts as
//! polling, with the same event ids, committed with their state and the delivery's id in one
//! transaction before the sender is answered.
//!
//! The HTTP side (signature, size, headers) is the web server's; a delivery reaches
//! [`WebhookReceiver::receive`] already authenticated. From there:
//!
//! - a job delivery carries the whole job (steps included): its event is the job's event, and
//!   its state is stored under its run when the run is known;
//! - a run delivery carries the run but neither its jobs nor its commit: its event carries the
//!   jobs and commit metrics known so far, and the run stays followed until a poll has read its
//!   jobs and commit (`confirm_by_polling`), which also publishes whatever deliveries were lost;
//! - a delivery older than the stored state (a late or redelivered one) changes nothing, so state
//!   never moves backwards; the same delivery twice is recognised by its id;
//! - a run delivery that would skip an attempt the store has not seen publishes its events but
//!   leaves the state to polling, which reads every attempt in between.
//!
//! Any delivery with a change puts its repository back at the poll interval, so polling confirms
//! it soon. Polling stays the safety net: GitHub does not redeliver by itself.

use std::sync::Arc;

use chrono::TimeDelta;
use gha_ingest_core::facts::{JobFacts, RunFacts};
use gha_ingest_core::github::job_progress;
use gha_ingest_core::webhook::{
    PayloadError, WebhookPayload, WorkflowJobPayload, WorkflowRunPayload,
};
use gha_ingest_core::{Clock, RepoName, Source};
use gha_ingest_store::{RunUpdate, StateStore, StoreError};
use tokio::sync::Notify;

use crate::cadence::Cadence;
use crate::events::EventEncoder;
use crate::metrics::PipelineMetrics;
use crate::observer::{first_unseen_attempt, Batch};
use crate::PipelineOptions;

/// One authenticated delivery: its `X-GitHub-Delivery` id, `X-GitHub-Event` name and raw body.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub id: &'a str,
    pub event: &'a str,
    pub body: &'a [u8],
}

/// What became of a delivery that was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Its facts are stored; `events_queued` of its events were new.
    Ingested { events_queued: usize },
    /// This delivery id was taken in before: nothing changed.
    Duplicate,
    /// Older than the state stored (a late delivery): nothing changed.
    Stale,
    /// About a repository that is not followed.
    NotFollowed,
    /// A `ping`, or an event gha-ingest does not use.
    Ignored,
}

impl DeliveryOutcome {
    /// The value of the `outcome` label of `gha_ingest_pipeline_webhook_deliveries_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingested { .. } => "ingested",
            Self::Duplicate => "duplicate",
            Self::Stale => "stale",
            Self::NotFollowed => "not_followed",
            Self::Ignored => "ignored",
        }
    }
}

/// Why a delivery was not taken in. `Malformed` is the sender's fault (nothing is stored; polling
/// will see the same facts); `Store` is ours (the sender should try again).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("malformed delivery")]
    Malformed(#[from] PayloadError),
    #[error("state")]
    Store(#[from] StoreError),
}

/// Takes in deliveries for the pipeline agent's store and outbox.
#[derive(Debug, Clone)]
pub struct WebhookReceiver {
    store: StateStore,
    /// The polling cadence, for when a delivery's repository is polled next.
    options: PipelineOptions,
    encoder: EventEncoder,
    metrics: PipelineMetrics,
    /// Notified when new events are in the outbox (the publisher waits on it).
    published: Arc<Notify>,
}

impl WebhookReceiver {
    /// `metrics` are the pipeline agent's (`AgentStatus::metrics`): from now on they count what
    /// a poll found first as a missed delivery. `published` is the publisher's wake-up, as given
    /// to the agent.
    pub fn new(
        store: StateStore,
        options: &PipelineOptions,
        metrics: PipelineMetrics,
        published: Arc<Notify>,
        clock: Clock,
    ) -> Self {
        metrics.expect_webhooks(options.webhook_poll_slowdown);
        WebhookReceiver {
            options: options.clone(),
            store,
            encoder: EventEncoder {
                max_message_bytes: options.max_message_bytes,
                emit_log_requests: options.emit_log_requests,
                clock,
            },
            metrics,
            published,
        }
    }

    /// Takes in one delivery; counted by event and outcome.
    pub async fn receive(&self, delivery: Delivery<'_>) -> Result<DeliveryOutcome, DeliveryError> {
        let received = self.take_in(delivery).await;
        if let Ok(outcome) = &received {
            // Any signed delivery proves the path; one with new events brought a change first.
            let change = matches!(outcome, DeliveryOutcome::Ingested { events_queued: 1.. });
            let health = self.metrics.webhook_health();
            health.delivered(u32::from(change), self.encoder.clock.now());
        }
        let outcome = match &received {
            Ok(outcome) => outcome.as_str(),
            Err(DeliveryError::Malformed(_)) => "malformed",
            Err(DeliveryError::Store(_)) => "error",
        };
        self.metrics.webhook_delivery(delivery.event, outcome);
        received
    }

    /// Counts a delivery the web server refused before it got here (unsigned, wrongly signed,
    /// too large).
    pub fn refused(&self, event: &str) {
        self.metrics.webhook_delivery(event, "refused");
    }

    async fn take_in(&self, delivery: Delivery<'_>) -> Result<DeliveryOutcome, DeliveryError> {
        match WebhookPayload::parse(delivery.event, delivery.body)? {
            WebhookPayload::WorkflowJob(payload) => self.job(delivery, &payload).await,
            WebhookPayload::WorkflowRun(payload) => self.run(delivery, &payload).await,
            WebhookPayload::Ping | WebhookPayload::Other => {
                self.without_changes(delivery, DeliveryOutcome::Ignored)
                    .await
            }
        }
    }

    async fn job(
        &self,
        delivery: Delivery<'_>,
        payload: &WorkflowJobPayload,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let Some(repo) = self.followed(&payload.repository.repo_name()?).await? else {
            return self
                .without_changes(delivery, DeliveryOutcome::NotFollowed)
                .await;
        };
        let job = &payload.workflow_job;
        if let Some(stored) = self.store.job_status(job.id).await? {
            if job_progress(&stored) > job_progress(job.status()) {
                return self.without_changes(delivery, DeliveryOutcome::Stale).await;
            }
        }
        let attempt = match job.run_attempt {
            Some(attempt) => attempt,
            None => self
                .store
                .stored_run(job.run_id)
                .await?
                .map_or(1, |run| run.run_attempt),
        };
        let facts = JobFacts::from_job(&repo.to_string(), attempt, job);
        let mut batch = Batch::default();
        batch.queue_job_events(&self.encoder, std::slice::from_ref(&facts), Source::Webhook);
        batch.changes.jobs.push(facts);
        self.commit(delivery, &repo, batch).await
    }

    async fn run(
        &self,
        delivery: Delivery<'_>,
        payload: &WorkflowRunPayload,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let Some(repo) = self.followed(&payload.repository.repo_name()?).await? else {
            return self
                .without_changes(delivery, DeliveryOutcome::NotFollowed)
                .await;
        };
        let run = &payload.workflow_run;
        let stored = self.store.stored_run(run.id).await?;
        if let Some(stored) = &stored {
            let older = (run.run_attempt, run.updated_at) < (stored.run_attempt, stored.updated_at);
            if older {
                return self.without_changes(delivery, DeliveryOutcome::Stale).await;
            }
        }
        let jobs = self.store.attempt_jobs(run.id, run.run_attempt).await?;
        let code_metrics = self.store.commit_facts(&repo, &run.head_sha).await?;
        let facts = RunFacts::from_run(&repo.to_string(), run, jobs, code_metrics);
        let mut batch = Batch::default();
        batch.queue_run_events(&self.encoder, &facts, Source::Webhook);
        // A later attempt than polling has read is left to polling, which reads each one between.
        if run.run_attempt <= first_unseen_attempt(stored.as_ref()) {
            batch.changes.confirm_by_polling.push(run.id);
            batch.changes.runs.push(RunUpdate { facts });
        }
        self.commit(delivery, &repo, batch).await
    }

    async fn commit(
        &self,
        delivery: Delivery<'_>,
        repo: &RepoName,
        mut batch: Batch,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let now = self.encoder.clock.now();
        let health = self.metrics.webhook_health();
        // Polled again as if the change had been seen by a poll: soon, unless webhooks are
        // healthy (then they bring the next changes, and the poll only confirms).
        let wait = Cadence::of(&self.options, health.slowdown(now)).next_poll_in(0);
        batch.changes.activity = Some(
            now + wait.map_or(TimeDelta::zero(), |wait| {
                TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX)
            }),
        );
        let Some(queued) = self
            .store
            .apply_delivery(delivery.id, delivery.event, repo, &batch.changes)
            .await?
        else {
            return Ok(DeliveryOutcome::Duplicate);
        };
        batch.measure_queued(&self.metrics, &queued, now);
        if !queued.is_empty() {
            self.published.notify_one();
        }
        Ok(DeliveryOutcome::Ingested {
            events_queued: queued.len(),
        })
    }

    /// Remembers a delivery that changes nothing, so that it is recognised if sent again.
    async fn without_changes(
        &self,
        delivery: Delivery<'_>,
        outcome: DeliveryOutcome,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let new = self
            .store
            .record_delivery(delivery.id, delivery.event)
            .await?;
        Ok(if new {
            outcome
        } else {
            DeliveryOutcome::Duplicate
        })
    }

    async fn followed(&self, repo: &RepoName) -> Result<Option<RepoName>, DeliveryError> {
        Ok(self.store.followed_repository(repo).await?)
    }
}
