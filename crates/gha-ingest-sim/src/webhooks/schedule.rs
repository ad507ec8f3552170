//! Which state changes happened since the last look: the simulator's states are computed from
//! plans and the clock (`lifecycle`), nothing moves on a timer, so the changes a webhook reports
//! are found by sampling each live attempt at its plan's instants.
//!
//! A run attempt's state only changes at four instants (requested, queued, started, completed)
//! and a job's at the same four with its own start and end, so evaluating the lifecycle
//! functions at those instants up to now yields exactly the states REST clients could have
//! observed, in order; a state that lasted no time (a job skipped before it started) is never
//! observed, so never reported. Each watch remembers the last state it reported, which also
//! covers plans that change under it: a re-run cancels the running attempt at a cutoff that may
//! lie (by less than a second) before the previous look, and the cancelled jobs' completions
//! are still reported, once.

use std::collections::BTreeMap;

use crate::clock::Millis;
use crate::lifecycle::{job_state, run_state, JobState};
use crate::model::{Attempt, JobPlan};
use crate::world::World;

/// What GitHub says happened, the `action` of a delivery. Ordered as states progress, so a
/// watch only ever moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Action {
    /// A run attempt was created (whatever its first status: `queued`, `waiting`, …).
    Requested,
    /// A job waits for an environment's approval.
    Waiting,
    /// A job was queued (or left `waiting`).
    Queued,
    InProgress,
    Completed,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Requested => "requested",
            Action::Waiting => "waiting",
            Action::Queued => "queued",
            Action::InProgress => "in_progress",
            Action::Completed => "completed",
        }
    }
}

/// What changed: the attempt itself (`workflow_run`) or one of its jobs (`workflow_job`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Subject {
    Run,
    /// The job's index in its attempt.
    Job(usize),
}

/// One state change of one attempt, at the simulated instant it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub at_ms: Millis,
    pub run_id: u64,
    pub attempt_number: u32,
    pub subject: Subject,
    pub action: Action,
}

impl Change {
    /// Changes at one instant go out as GitHub's would make sense to a reader: a run is
    /// requested before its jobs are queued, starts before its jobs do, and completes after
    /// them.
    fn sort_key(&self) -> (Millis, u64, u32, u8, usize) {
        let (phase, job_index) = match (self.subject, self.action) {
            (Subject::Run, Action::Requested) => (0, 0),
            (Subject::Job(index), Action::Waiting | Action::Queued | Action::Requested) => {
                (1, index)
            }
            (Subject::Run, Action::InProgress) => (2, 0),
            (Subject::Job(index), Action::InProgress) => (3, index),
            (Subject::Job(index), Action::Completed) => (4, index),
            (Subject::Run, _) => (5, 0),
        };
        (
            self.at_ms,
            self.run_id,
            self.attempt_number,
            phase,
            job_index,
        )
    }
}

/// The last state reported for one attempt and for each of its jobs.
#[derive(Debug, Clone, Default)]
struct AttemptWatch {
    run: Option<Action>,
    jobs: Vec<Option<Action>>,
}

/// The attempts whose changes are still to come, keyed by `(run_id, attempt_number)`.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    attempts: BTreeMap<(u64, u32), AttemptWatch>,
}

/// What one look found.
#[derive(Debug, Default)]
pub(crate) struct Look {
    /// In the order they happened (ties: see `Change::sort_key`).
    pub changes: Vec<Change>,
    /// Attempts that ended in `startup_failure`: GitHub sends nothing for them, ever.
    pub startup_failures: u64,
}

/// A run attempt's action at `at_ms`: `requested` for every status before `in_progress`.
fn run_action_at(attempt: &Attempt, at_ms: Millis) -> Option<Action> {
    if at_ms < attempt.requested_ms {
        return None;
    }
    Some(match run_state(attempt, at_ms).status {
        "in_progress" => Action::InProgress,
        "completed" => Action::Completed,
        _ => Action::Requested,
    })
}

fn job_action_at(attempt: &Attempt, job: &JobPlan, at_ms: Millis) -> Option<Action> {
    if at_ms < attempt.requested_ms {
        return None;
    }
    Some(match job_state(attempt, job, at_ms) {
        JobState::Waiting => Action::Waiting,
        JobState::Queued => Action::Queued,
        JobState::InProgress => Action::InProgress,
        JobState::Completed => Action::Completed,
    })
}

/// The states observed at `instants` up to `now_ms` that come after `reported`, with the
/// instant each was first observed; moves `reported` forward.
fn newly_observed(
    reported: &mut Option<Action>,
    instants: [Millis; 4],
    now_ms: Millis,
    action_at: impl Fn(Millis) -> Option<Action>,
) -> Vec<(Millis, Action)> {
    let mut sorted = instants;
    sorted.sort_unstable();
    let mut observed = Vec::new();
    for at_ms in sorted.into_iter().filter(|at_ms| *at_ms <= now_ms) {
        if let Some(action) = action_at(at_ms) {
            if Some(action) > *reported {
                *reported = Some(action);
                observed.push((at_ms, action));
            }
        }
    }
    observed
}

impl AttemptWatch {
    /// A watch that has reported everything true at `now_ms`, so only later changes come out.
    fn caught_up(attempt: &Attempt, now_ms: Millis) -> Self {
        Self {
            run: run_action_at(attempt, now_ms),
            jobs: attempt
                .jobs
                .iter()
                .map(|job| job_action_at(attempt, job, now_ms))
                .collect(),
        }
    }

    fn look(&mut self, run_id: u64, attempt: &Attempt, now_ms: Millis, into: &mut Vec<Change>) {
        let run_instants = [
            attempt.requested_ms,
            attempt.queued_ms(),
            attempt.started_ms(),
            attempt.completed_ms(),
        ];
        let change = |at_ms, subject, action| Change {
            at_ms,
            run_id,
            attempt_number: attempt.number,
            subject,
            action,
        };
        for (at_ms, action) in newly_observed(&mut self.run, run_instants, now_ms, |at_ms| {
            run_action_at(attempt, at_ms)
        }) {
            into.push(change(at_ms, Subject::Run, action));
        }
        self.jobs.resize(attempt.jobs.len(), None);
        for (job_index, (job, reported)) in attempt.jobs.iter().zip(&mut self.jobs).enumerate() {
            let job_instants = [
                attempt.requested_ms,
                attempt.queued_ms(),
                attempt.started_ms() + job.start_offset_ms,
                attempt.started_ms() + job.end_offset_ms,
            ];
            for (at_ms, action) in newly_observed(reported, job_instants, now_ms, |at_ms| {
                job_action_at(attempt, job, at_ms)
            }) {
                into.push(change(at_ms, Subject::Job(job_index), action));
            }
        }
    }

    fn is_finished(&self) -> bool {
        self.run == Some(Action::Completed)
            && self.jobs.iter().all(|job| *job == Some(Action::Completed))
    }
}

impl Watches {
    /// Watches every attempt of `world` that has not finished by `now_ms`, as already reported
    /// up to now: turning webhooks on reports what happens from then on, not the past.
    pub(crate) fn catch_up(&mut self, world: &World, now_ms: Millis) {
        self.attempts.clear();
        for run in world.runs.values() {
            for attempt in run.attempts.iter().filter(|a| a.completed_ms() > now_ms) {
                self.attempts.insert(
                    (run.id, attempt.number),
                    AttemptWatch::caught_up(attempt, now_ms),
                );
            }
        }
    }

    /// Watches a new attempt from its very first state (`requested`).
    pub(crate) fn watch(&mut self, run_id: u64, attempt_number: u32) {
        self.attempts.entry((run_id, attempt_number)).or_default();
    }

    pub(crate) fn clear(&mut self) {
        self.attempts.clear();
    }

    /// The changes since the previous look, up to `now_ms`. Finished, deleted and
    /// `startup_failure` attempts stop being watched.
    pub(crate) fn look(&mut self, world: &World, now_ms: Millis) -> Look {
        let mut look = Look::default();
        self.attempts.retain(|(run_id, attempt_number), watch| {
            let Some(attempt) = world
                .runs
                .get(run_id)
                .and_then(|run| run.attempt(*attempt_number))
            else {
                return false;
            };
            if attempt.conclusion == "startup_failure" {
                look.startup_failures += 1;
                return false;
            }
            watch.look(*run_id, attempt, now_ms, &mut look.changes);
            !watch.is_finished()
        });
        look.changes.sort_by_key(Change::sort_key);
        look
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::cancel_attempt_at;
    use crate::model::{RunnerInfo, StepTimeStyle};

    const T0: Millis = 1_000_000;

    fn job(id: u64, start_offset_ms: Millis, end_offset_ms: Millis) -> JobPlan {
        JobPlan {
            id,
            name: format!("job {id}"),
            labels: vec![],
            runner: RunnerInfo {
                id: 1,
                name: "r".into(),
                group_id: 1,
                group_name: "g".into(),
            },
            start_offset_ms,
            end_offset_ms,
            conclusion: "success".into(),
            steps: vec![],
            step_time_style: StepTimeStyle::UtcZ,
            log_has_bom: false,
        }
    }

    fn attempt() -> Attempt {
        Attempt {
            number: 1,
            requested_ms: T0,
            pre_queue_status: None,
            pre_queue_ms: 0,
            queue_ms: 10_000,
            run_ms: 60_000,
            conclusion: "success".into(),
            triggering_actor_index: 0,
            check_suite_id: 1,
            jobs: vec![job(7, 0, 60_000), job(8, 2_000, 59_000)],
        }
    }

    fn actions(changes: &[Change]) -> Vec<(Millis, Subject, &'static str)> {
        changes
            .iter()
            .map(|change| (change.at_ms - T0, change.subject, change.action.as_str()))
            .collect()
    }

    fn look(watch: &mut AttemptWatch, attempt: &Attempt, now_ms: Millis) -> Vec<Change> {
        let mut changes = Vec::new();
        watch.look(30_000_000, attempt, now_ms, &mut changes);
        changes.sort_by_key(Change::sort_key);
        changes
    }

    #[test]
    fn one_long_look_reports_every_state_in_order_at_its_instant() {
        let attempt = attempt();
        let mut watch = AttemptWatch::default();
        let changes = look(&mut watch, &attempt, T0 + 3_600_000);
        assert_eq!(
            actions(&changes),
            [
                (0, Subject::Run, "requested"),
                (0, Subject::Job(0), "queued"),
                (0, Subject::Job(1), "queued"),
                (10_000, Subject::Run, "in_progress"),
                (10_000, Subject::Job(0), "in_progress"),
                (12_000, Subject::Job(1), "in_progress"),
                (69_000, Subject::Job(1), "completed"),
                (70_000, Subject::Job(0), "completed"),
                (70_000, Subject::Run, "completed"),
            ]
        );
        assert!(watch.is_finished());
        assert!(look(&mut watch, &attempt, T0 + 7_200_000).is_empty());
    }

    #[test]
    fn short_looks_report_each_change_once() {
        let attempt = attempt();
        let mut watch = AttemptWatch::default();
        let mut reported = Vec::new();
        for second in 0..=80 {
            reported.extend(look(&mut watch, &attempt, T0 + second * 1_000));
        }
        assert_eq!(reported.len(), 9);
        assert!(reported
            .windows(2)
            .all(|pair| pair[0].sort_key() <= pair[1].sort_key()));
    }

    #[test]
    fn waiting_jobs_are_queued_when_the_wait_ends_and_runs_report_no_queued() {
        let mut attempt = attempt();
        attempt.pre_queue_status = Some("waiting".into());
        attempt.pre_queue_ms = 5_000;
        let mut watch = AttemptWatch::default();
        let changes = look(&mut watch, &attempt, T0 + 5_000);
        assert_eq!(
            actions(&changes),
            [
                (0, Subject::Run, "requested"),
                (0, Subject::Job(0), "waiting"),
                (0, Subject::Job(1), "waiting"),
                (5_000, Subject::Job(0), "queued"),
                (5_000, Subject::Job(1), "queued"),
            ]
        );
    }

    #[test]
    fn a_cancelled_attempt_reports_its_jobs_completions_even_before_the_last_look() {
        let mut attempt = attempt();
        let mut watch = AttemptWatch::default();
        look(&mut watch, &attempt, T0 + 11_500);
        // A re-run at +11.5 s cancels at the whole second before it.
        cancel_attempt_at(&mut attempt, T0 + 11_000);
        let changes = look(&mut watch, &attempt, T0 + 11_500);
        assert_eq!(
            actions(&changes),
            [
                (11_000, Subject::Job(0), "completed"),
                (11_000, Subject::Job(1), "completed"),
                (11_000, Subject::Run, "completed"),
            ]
        );
        assert!(watch.is_finished());
    }

    #[test]
    fn a_job_that_never_ran_is_not_reported_in_progress() {
        let mut attempt = attempt();
        attempt.conclusion = "skipped".into();
        attempt.jobs = vec![job(9, 0, 0)];
        let mut watch = AttemptWatch::default();
        let changes = look(&mut watch, &attempt, T0 + 3_600_000);
        let job_actions: Vec<_> = changes
            .iter()
            .filter(|change| change.subject == Subject::Job(0))
            .map(|change| change.action)
            .collect();
        assert_eq!(job_actions, [Action::Queued, Action::Completed]);
    }

    #[test]
    fn catching_up_reports_only_later_changes() {
        let attempt = attempt();
        let mut watch = AttemptWatch::caught_up(&attempt, T0 + 20_000);
        let changes = look(&mut watch, &attempt, T0 + 3_600_000);
        assert_eq!(
            actions(&changes),
            [
                (69_000, Subject::Job(1), "completed"),
                (70_000, Subject::Job(0), "completed"),
                (70_000, Subject::Run, "completed"),
            ]
        );
    }
}
