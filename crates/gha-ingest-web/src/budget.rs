//! GitHub's rate-limit budget over the last hour, for the dashboard's chart. The server samples
//! what the pipeline's client last heard from GitHub (no request of its own) every
//! [`SAMPLE_INTERVAL`] and keeps a bounded ring of samples, so memory stays constant however
//! long the daemon runs.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::SharedState;

/// Time between two samples.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(30);
/// Samples kept: one hour.
const SAMPLES_KEPT: usize = 120;

/// One reading of the budget.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct BudgetSample {
    pub at: DateTime<Utc>,
    pub remaining: u64,
    pub limit: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct BudgetSamples {
    samples: Mutex<VecDeque<BudgetSample>>,
}

impl BudgetSamples {
    pub(crate) fn record(&self, sample: BudgetSample) {
        let mut samples = self
            .samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        samples.push_back(sample);
        while samples.len() > SAMPLES_KEPT {
            samples.pop_front();
        }
    }

    /// Oldest first.
    pub(crate) fn snapshot(&self) -> Vec<BudgetSample> {
        self.samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .copied()
            .collect()
    }
}

/// Samples the budget of the first credential (the token, or the App's first installation)
/// until `shutdown`.
pub(crate) async fn sample_until(state: SharedState, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(SAMPLE_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let Some(budget) = state.github.any_client().map(|client| client.rate_limit()) else {
            continue;
        };
        if let Some(remaining) = budget.remaining {
            state.budget_samples.record(BudgetSample {
                at: Utc::now(),
                remaining,
                limit: budget.limit,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_hour_only() {
        let samples = BudgetSamples::default();
        for remaining in 0..(SAMPLES_KEPT as u64 + 10) {
            samples.record(BudgetSample {
                at: Utc::now(),
                remaining,
                limit: Some(5000),
            });
        }
        let kept = samples.snapshot();
        assert_eq!(kept.len(), SAMPLES_KEPT);
        assert_eq!(kept[0].remaining, 10);
    }
}
