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
//!
//! Two refinements keep that cost where it matters least. Activity comes in bursts (a push, its
//! runs, a fix, its runs), so a repository stays at the poll interval for [`RECENT`] after its
//! last change before it starts slowing down. And a repository first seen with no run newer than
//! `quiet_max` starts at the slow cadence: an organisation's first cycle does not poll its
//! hundreds of dormant repositories every interval for the minutes it would take to slow them
//! down one quiet poll at a time.

use std::time::Duration;

/// How long a repository is polled at the poll interval after its last change.
pub(crate) const RECENT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cadence {
    pub poll_interval: Duration,
    pub quiet_max: Duration,
}

impl Cadence {
    /// The wait before the next poll after `quiet_polls` quiet polls in a row: the poll interval
    /// while the last change is [`RECENT`], then doubling with each quiet poll up to `quiet_max`.
    pub(crate) fn wait_after(&self, quiet_polls: u32) -> Duration {
        let slowing = quiet_polls.saturating_sub(self.recent_polls());
        self.poll_interval
            .saturating_mul(2u32.saturating_pow(slowing.min(20)))
            .min(self.quiet_max.max(self.poll_interval))
    }

    /// Quiet polls while the last change is still recent.
    fn recent_polls(&self) -> u32 {
        let interval = self.poll_interval.as_secs_f64().max(0.001);
        (RECENT.as_secs_f64() / interval).ceil() as u32
    }

    /// The count of quiet polls that puts a repository at `quiet_max`: where a dormant
    /// repository starts.
    pub(crate) fn dormant(&self) -> u32 {
        (0..=self.recent_polls() + 20)
            .find(|&quiet_polls| self.wait_after(quiet_polls) >= self.quiet_max)
            .unwrap_or(self.recent_polls() + 20)
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
    fn quiet_polls_double_the_wait_up_to_the_cap_once_the_last_change_is_not_recent() {
        let cadence = Cadence {
            poll_interval: Duration::from_secs(30),
            quiet_max: Duration::from_secs(600),
        };
        // Five minutes at 30 s are ten quiet polls at the interval.
        let waits: Vec<u64> = (0..17).map(|n| cadence.wait_after(n).as_secs()).collect();
        assert_eq!(
            waits,
            [30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 60, 120, 240, 480, 600, 600]
        );
        assert_eq!(cadence.wait_after(u32::MAX).as_secs(), 600);
        assert_eq!(cadence.dormant(), 15);
        assert_eq!(cadence.wait_after(cadence.dormant() - 1).as_secs(), 480);
        assert_eq!(
            cadence.sweep_interval(Duration::from_secs(600), 0),
            Duration::from_secs(600)
        );
        assert_eq!(
            cadence.sweep_interval(Duration::from_secs(600), 19),
            Duration::from_secs(12_000)
        );
    }

    #[test]
    fn with_no_slow_cadence_a_dormant_repository_is_polled_every_interval() {
        let cadence = Cadence {
            poll_interval: Duration::from_secs(30),
            quiet_max: Duration::from_secs(30),
        };
        assert_eq!(cadence.dormant(), 0);
        assert_eq!(cadence.wait_after(cadence.dormant()).as_secs(), 30);
    }
}
