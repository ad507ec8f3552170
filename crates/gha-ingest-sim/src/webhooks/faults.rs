//! What goes wrong with webhook deliveries on purpose: the losses, repeats, reorderings and bad
//! signatures a receiver meets on github.com ("some `workflow_job.queued` deliveries never
//! arrive"), drawn from a seeded generator so a failing test replays exactly.
//!
//! Every delivery draws the same five numbers whatever the ratios are, so raising one ratio
//! never changes which deliveries another one hits.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Faults applied to the deliveries of state changes from now on (see
/// `SimHandle::set_webhook_faults`). Ratios are probabilities from 0 to 1, drawn independently
/// for each delivery. Redeliveries (`POST /app/hook/deliveries/{id}/attempts`) are never
/// faulted, so a test can always recover what was lost.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WebhookFaults {
    /// Seeds the draws: the same seed, ratios and sequence of changes hit the same deliveries.
    pub seed: u64,
    /// Never POSTed, recorded as failed ("timed out", status code 0) as when GitHub gives up on
    /// a receiver: listed by `GET /app/hook/deliveries?status=failure` and redeliverable. Only
    /// polling (or a redelivery) brings the change to the receiver.
    pub drop_ratio: f64,
    /// POSTed twice with the same `X-GitHub-Delivery` GUID (two recorded deliveries), as a
    /// receiver must expect from any at-least-once sender.
    pub duplicate_ratio: f64,
    /// Held back for a random time up to `max_delay` (real time), so later deliveries of the
    /// same run overtake it.
    pub reorder_ratio: f64,
    /// The longest a reordered delivery is held back.
    pub max_delay: Duration,
    /// Signed with another secret: a receiver that verifies `X-Hub-Signature-256` must refuse
    /// it, and the delivery is recorded with the receiver's answer.
    pub wrong_signature_ratio: f64,
}

/// The faults one delivery gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Roll {
    pub drop: bool,
    pub duplicate: bool,
    pub delay: Option<Duration>,
    pub wrong_signature: bool,
}

/// The faults in force and the generator they are drawn from.
#[derive(Debug)]
pub(crate) struct FaultDice {
    faults: WebhookFaults,
    rng: StdRng,
}

impl Default for FaultDice {
    fn default() -> Self {
        Self::new(WebhookFaults::default())
    }
}

/// A ratio as a probability: NaN and negatives mean never, above 1 always.
fn probability(ratio: f64) -> f64 {
    if ratio.is_nan() {
        0.0
    } else {
        ratio.clamp(0.0, 1.0)
    }
}

impl FaultDice {
    pub(crate) fn new(faults: WebhookFaults) -> Self {
        Self {
            rng: StdRng::seed_from_u64(faults.seed),
            faults,
        }
    }

    pub(crate) fn roll(&mut self) -> Roll {
        let draws: [f64; 5] = std::array::from_fn(|_| self.rng.gen::<f64>());
        let hits = |draw: f64, ratio: f64| draw < probability(ratio);
        let is_delayed = hits(draws[2], self.faults.reorder_ratio);
        Roll {
            drop: hits(draws[0], self.faults.drop_ratio),
            duplicate: hits(draws[1], self.faults.duplicate_ratio),
            delay: is_delayed.then(|| self.faults.max_delay.mul_f64(draws[4])),
            wrong_signature: hits(draws[3], self.faults.wrong_signature_ratio),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_by_default_and_certain_ones_always() {
        let mut quiet = FaultDice::default();
        assert!((0..1_000).all(|_| quiet.roll() == Roll::default()));
        let mut certain = FaultDice::new(WebhookFaults {
            drop_ratio: 1.0,
            duplicate_ratio: 7.0,
            wrong_signature_ratio: 1.0,
            reorder_ratio: 1.0,
            max_delay: Duration::from_millis(100),
            ..WebhookFaults::default()
        });
        let roll = certain.roll();
        assert!(roll.drop && roll.duplicate && roll.wrong_signature);
        assert!(roll
            .delay
            .is_some_and(|delay| delay <= Duration::from_millis(100)));
    }

    #[test]
    fn a_seed_replays_and_ratios_do_not_shift_each_other() {
        let faults = WebhookFaults {
            seed: 9,
            drop_ratio: 0.3,
            ..WebhookFaults::default()
        };
        let drops = |faults: WebhookFaults| {
            let mut dice = FaultDice::new(faults);
            (0..200).map(|_| dice.roll().drop).collect::<Vec<_>>()
        };
        assert_eq!(drops(faults.clone()), drops(faults.clone()));
        let with_duplicates = WebhookFaults {
            duplicate_ratio: 0.5,
            ..faults.clone()
        };
        assert_eq!(drops(faults.clone()), drops(with_duplicates));
        let dropped = drops(faults).iter().filter(|drop| **drop).count();
        assert!((30..90).contains(&dropped), "{dropped} of 200 at 0.3");
        assert_eq!(probability(f64::NAN), 0.0);
    }
}
