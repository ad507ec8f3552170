//! How often a repository is polled: at the poll interval while anything happens in it, less
//! and less often while nothing does.
//!
//! Idle polling is free against GitHub's hourly budget (304s) but not against its secondary
//! limit of points per minute: three requests per repository per interval put a token's ceiling
//! at about a hundred repositories. Most repositories of an organisation are quiet most of the
//! time, so each quiet poll (nothing open, nothing new) doubles the wait before the next, up to
//! `quiet_max`; any open run or new run brings the repository back to the poll interval. The
//! look-back sweep of a repository slows down in the same proportion. The cost of a quiet
//! repository waking up is a first fact up to `quiet_max` late (webhooks remove that floor).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cadence {
    pub poll_interval: Duration,
    pub quiet_max: Duration,
}

impl Cadence {
    /// The wait before the next poll after `quiet_polls` quiet polls in a row.
    pub(crate) fn wait_after(&self, quiet_polls: u32) -> Duration {
        self.poll_interval
            .saturating_mul(2u32.saturating_pow(quiet_polls.min(20)))
            .min(self.quiet_max.max(self.poll_interval))
    }

    /// The look-back sweep's interval for a repository polled after `quiet_polls` quiet polls:
    /// `reconcile` stretched as much as its polling is.
    pub(crate) fn sweep_interval(&self, reconcile: Duration, quiet_polls: u32) -> Duration {
        let stretch = self.wait_after(quiet_polls).as_secs_f64()
            / self.poll_interval.as_secs_f64().max(0.001);
        reconcile.mul_f64(stretch.max(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_polls_double_the_wait_up_to_the_cap() {
        let cadence = Cadence {
            poll_interval: Duration::from_secs(30),
            quiet_max: Duration::from_secs(600),
        };
        let waits: Vec<u64> = (0..7).map(|n| cadence.wait_after(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(cadence.wait_after(u32::MAX).as_secs(), 600);
        assert_eq!(
            cadence.sweep_interval(Duration::from_secs(600), 0),
            Duration::from_secs(600)
        );
        assert_eq!(
            cadence.sweep_interval(Duration::from_secs(600), 9),
            Duration::from_secs(12_000)
        );
    }
}
