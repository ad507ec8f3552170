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
//!
//! While webhooks are healthy (see `webhook_health`) they bring each change first, and polling
//! only confirms: every wait is `webhook_poll_slowdown` times longer. The look-back sweep keeps
//! its own pace: it is what finds the changes that neither a delivery nor a poll's lists showed.

use std::time::Duration;

use crate::PipelineOptions;

/// How long a repository is polled at the poll interval after its last change.
pub(crate) const RECENT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cadence {
    /// How often the fresh lane runs a cycle: the configured poll interval.
    pub cycle: Duration,
    /// The wait after a poll that saw a change.
    pub poll_interval: Duration,
    pub quiet_max: Duration,
}

impl Cadence {
    /// The cadence `options` configure, every wait `slowdown` times longer (see
    /// `WebhookHealth::slowdown`; 1: as configured).
    pub(crate) fn of(options: &PipelineOptions, slowdown: u32) -> Cadence {
        let slowdown = slowdown.max(1);
        Cadence {
            cycle: options.poll_interval,
            poll_interval: options.poll_interval.saturating_mul(slowdown),
            quiet_max: options.quiet_poll_max.saturating_mul(slowdown),
        }
    }

    /// How long after a poll (or a delivery) after `quiet_polls` quiet polls in a row the next
    /// poll is due; `None`: at the next cycle. Half a cycle early, so that the cycle that comes
    /// just before it is due takes it.
    pub(crate) fn next_poll_in(&self, quiet_polls: u32) -> Option<Duration> {
        let wait = self.wait_after(quiet_polls);
        (wait > self.cycle).then(|| wait - self.cycle / 2)
    }

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
        let cadence = Cadence::of(&options(30, 600), 1);
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
        let cadence = Cadence::of(&options(30, 30), 1);
        assert_eq!(cadence.dormant(), 0);
        assert_eq!(cadence.wait_after(cadence.dormant()).as_secs(), 30);
        assert_eq!(cadence.next_poll_in(cadence.dormant()), None);
    }

    #[test]
    fn healthy_webhooks_stretch_every_wait_and_a_busy_repository_skips_cycles() {
        let options = options(30, 600);
        let normal = Cadence::of(&options, 1);
        assert_eq!(normal.next_poll_in(0), None, "polled every cycle");
        assert_eq!(normal.next_poll_in(12).map(|d| d.as_secs()), Some(105));
        let slowed = Cadence::of(&options, 4);
        assert_eq!(slowed.cycle.as_secs(), 30);
        assert_eq!(slowed.next_poll_in(0).map(|d| d.as_secs()), Some(105));
        assert_eq!(slowed.wait_after(u32::MAX).as_secs(), 2_400);
        assert_eq!(
            Cadence::of(&options, 0),
            normal,
            "no slower than configured"
        );
    }

    fn options(poll_interval: u64, quiet_max: u64) -> PipelineOptions {
        PipelineOptions {
            poll_interval: Duration::from_secs(poll_interval),
            quiet_poll_max: Duration::from_secs(quiet_max),
            ..PipelineOptions::default()
        }
    }
}
