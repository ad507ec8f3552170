//! Getting back the webhook deliveries that failed: GitHub keeps them listed for 3 days but never
//! sends them again by itself.
//!
//! Every `interval`, a pass reads the App's delivery list newest first, back to what the last pass
//! saw (the first pass: the whole window), and groups the attempts by delivery (`guid`). A
//! delivery is asked for again when no attempt of it succeeded, its last attempt is at least
//! `settle` old (GitHub may still be retrying a slow answer), the daemon did not take it in anyway
//! (a crash after the commit and before the answer makes GitHub see a failure for a delivery the
//! store holds), it is still inside GitHub's window, and this daemon has not asked for it
//! `MAX_ASKS` times already. Polling stays the net under all of it: a delivery that never comes
//! back is still read by the next poll of its repository.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gha_ingest_core::{error_chain, Clock};
use gha_ingest_github::{AppHooks, GithubError, HookDelivery};
use gha_ingest_store::{StateStore, StoreError};
use tokio_util::sync::CancellationToken;

use crate::metrics::PipelineMetrics;

/// How long GitHub keeps a delivery redeliverable (github.com; 7 days on GHES).
pub const REDELIVERY_WINDOW: Duration = Duration::from_secs(3 * 24 * 3600);
/// Kept off the window's edge: a request at the last second may arrive after it.
const WINDOW_MARGIN: Duration = Duration::from_secs(3600);
/// How often one delivery is asked for again at most.
const MAX_ASKS: u32 = 3;
/// Pages read in one pass at most (100 deliveries each).
const MAX_PAGES_PER_PASS: usize = 100;
/// Deliveries asked for in one pass at most; the rest wait for the next pass.
const MAX_ASKS_PER_PASS: usize = 200;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedeliveryReport {
    /// Attempts read from GitHub's list.
    pub attempts_read: usize,
    /// Deliveries with no successful attempt.
    pub failed: usize,
    /// Failed deliveries the store had taken in anyway.
    pub taken_anyway: usize,
    /// Deliveries GitHub was asked to send again.
    pub asked: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RedeliveryError {
    #[error("github")]
    Github(#[from] GithubError),
    #[error("state")]
    Store(#[from] StoreError),
}

/// The redelivery loop of one App.
#[derive(Debug)]
pub struct Redelivery {
    hooks: AppHooks,
    store: StateStore,
    metrics: PipelineMetrics,
    clock: Clock,
    interval: Duration,
    settle: Duration,
    /// The newest attempt the last pass saw: the next pass reads back to it (minus `settle`).
    seen_through: Mutex<Option<DateTime<Utc>>>,
    /// Deliveries asked for, with how often and when first: forgotten past the window.
    asked: Mutex<HashMap<String, (u32, DateTime<Utc>)>>,
}

impl Redelivery {
    /// Passes every `interval`; a delivery is asked for once its last attempt is `settle` old.
    pub fn new(
        hooks: AppHooks,
        store: StateStore,
        metrics: PipelineMetrics,
        interval: Duration,
        settle: Duration,
    ) -> Self {
        Redelivery {
            // Deliveries are dated on GitHub's clock; their age is measured on it too.
            clock: hooks.github_clock(),
            hooks,
            store,
            metrics,
            interval,
            settle,
            seen_through: Mutex::new(None),
            asked: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Passes until `shutdown`; a failed pass is logged and the next one reads further back.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            match self.pass().await {
                Ok(report) if report.asked > 0 || report.failed > report.taken_anyway => {
                    tracing::info!(
                        asked = report.asked,
                        failed = report.failed,
                        taken_anyway = report.taken_anyway,
                        "asked GitHub to redeliver failed webhook deliveries"
                    )
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(cause = %error_chain(&error), "cannot read the App's webhook deliveries; polling still reads what they carried")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// One pass: read back to the last pass, ask for what failed.
    pub async fn pass(&self) -> Result<RedeliveryReport, RedeliveryError> {
        let now = self.clock.now();
        let window_start = now - chrono_duration(REDELIVERY_WINDOW - WINDOW_MARGIN);
        let read_back_to = self
            .seen_through
            .lock()
            .expect("redelivery lock poisoned")
            .map_or(window_start, |seen| {
                (seen - chrono_duration(self.settle * 2)).max(window_start)
            });
        let attempts = self.read_back_to(read_back_to).await?;
        let mut report = RedeliveryReport {
            attempts_read: attempts.len(),
            ..RedeliveryReport::default()
        };
        if let Some(newest) = attempts.iter().map(|attempt| attempt.delivered_at).max() {
            *self.seen_through.lock().expect("redelivery lock poisoned") = Some(newest);
        }
        let settled_before = now - chrono_duration(self.settle);
        for delivery in failed_deliveries(&attempts) {
            if delivery.delivered_at > settled_before {
                // Newer than `settle`: the next pass reads it again (it reads back past it).
                continue;
            }
            report.failed += 1;
            if self.store.delivery_taken(&delivery.guid).await? {
                report.taken_anyway += 1;
                continue;
            }
            if delivery.delivered_at < window_start
                || report.asked >= MAX_ASKS_PER_PASS
                || !self.may_ask(&delivery.guid, now)
            {
                continue;
            }
            match self.hooks.redeliver(delivery.id).await {
                Ok(()) => {
                    report.asked += 1;
                    self.metrics.webhook_redelivery("asked");
                }
                Err(error) => {
                    self.metrics.webhook_redelivery("refused");
                    tracing::warn!(delivery = %delivery.guid, cause = %error_chain(&error), "GitHub would not redeliver a failed webhook delivery; polling reads its facts");
                }
            }
        }
        self.forget_asked_before(window_start);
        Ok(report)
    }

    /// Every attempt listed from the newest back to `until` (or the page limit).
    async fn read_back_to(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<HookDelivery>, RedeliveryError> {
        let mut attempts = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES_PER_PASS {
            let page = self.hooks.deliveries(next.as_deref()).await?;
            let reached_the_end = page
                .deliveries
                .last()
                .is_none_or(|oldest| oldest.delivered_at < until);
            attempts.extend(page.deliveries);
            match page.next {
                Some(path) if !reached_the_end => next = Some(path),
                _ => break,
            }
        }
        Ok(attempts)
    }

    /// Counts an ask for `guid`; false once it was asked for [`MAX_ASKS`] times.
    fn may_ask(&self, guid: &str, now: DateTime<Utc>) -> bool {
        let mut asked = self.asked.lock().expect("redelivery lock poisoned");
        let (count, _) = asked.entry(guid.to_string()).or_insert((0, now));
        if *count >= MAX_ASKS {
            return false;
        }
        *count += 1;
        true
    }

    fn forget_asked_before(&self, instant: DateTime<Utc>) {
        self.asked
            .lock()
            .expect("redelivery lock poisoned")
            .retain(|_, (_, first)| *first >= instant);
    }
}

/// The latest attempt of each delivery none of whose attempts succeeded.
fn failed_deliveries(attempts: &[HookDelivery]) -> Vec<&HookDelivery> {
    let mut by_guid: HashMap<&str, (bool, &HookDelivery)> = HashMap::new();
    for attempt in attempts {
        let entry = by_guid
            .entry(attempt.guid.as_str())
            .or_insert((false, attempt));
        entry.0 |= attempt.succeeded();
        if attempt.delivered_at > entry.1.delivered_at {
            entry.1 = attempt;
        }
    }
    let mut failed: Vec<&HookDelivery> = by_guid
        .into_values()
        .filter(|(succeeded, _)| !succeeded)
        .map(|(_, latest)| latest)
        .collect();
    failed.sort_by_key(|attempt| attempt.delivered_at);
    failed
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(id: u64, guid: &str, minute: u32, status_code: u16) -> HookDelivery {
        HookDelivery {
            id,
            guid: guid.to_string(),
            delivered_at: DateTime::parse_from_rfc3339(&format!("2026-12-01T10:{minute:02}:00Z"))
                .unwrap()
                .with_timezone(&Utc),
            redelivery: id > 1,
            status: String::new(),
            status_code,
            event: "workflow_job".to_string(),
            action: None,
        }
    }

    #[test]
    fn a_delivery_is_failed_only_when_none_of_its_attempts_succeeded() {
        let attempts = [
            attempt(1, "a", 1, 0),
            attempt(2, "a", 5, 202),
            attempt(3, "b", 2, 500),
            attempt(4, "b", 7, 401),
            attempt(5, "c", 3, 200),
        ];
        let failed = failed_deliveries(&attempts);
        assert_eq!(
            failed.iter().map(|attempt| attempt.id).collect::<Vec<_>>(),
            vec![4],
            "b failed twice: its latest attempt is asked for again; a succeeded on redelivery"
        );
    }
}
