//! Where a run, job or step stands at a given simulated instant, computed from its plan.
//!
//! Nothing is ever "moved" by a timer: the same plan read at a later instant gives the later
//! state, which is why every payload (and so every ETag) is a pure function of plan and clock.

use crate::clock::Millis;
use crate::model::{Attempt, JobPlan, StepPlan};

/// A run attempt's state at one instant, in GitHub's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunState<'a> {
    pub status: &'a str,
    pub conclusion: Option<&'a str>,
    /// The time of the last state change: GitHub's `updated_at`.
    pub updated_ms: Millis,
}

pub(crate) fn run_state(attempt: &Attempt, now_ms: Millis) -> RunState<'_> {
    if now_ms >= attempt.completed_ms() {
        return RunState {
            status: "completed",
            conclusion: Some(attempt.conclusion.as_str()),
            updated_ms: attempt.completed_ms(),
        };
    }
    if now_ms >= attempt.started_ms() {
        return RunState {
            status: "in_progress",
            conclusion: None,
            updated_ms: attempt.started_ms(),
        };
    }
    if now_ms >= attempt.queued_ms() {
        return RunState {
            status: "queued",
            conclusion: None,
            updated_ms: attempt.queued_ms(),
        };
    }
    RunState {
        status: attempt.pre_queue_status.as_deref().unwrap_or("queued"),
        conclusion: None,
        updated_ms: attempt.requested_ms,
    }
}

/// A job's state at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    /// Waiting for an environment's approval (the attempt's pre-queue status was `waiting`).
    Waiting,
    Queued,
    InProgress,
    Completed,
}

impl JobState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JobState::Waiting => "waiting",
            JobState::Queued => "queued",
            JobState::InProgress => "in_progress",
            JobState::Completed => "completed",
        }
    }
}

/// The absolute times of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobTimes {
    pub created_ms: Millis,
    pub started_ms: Millis,
    pub completed_ms: Millis,
}

pub(crate) fn job_times(attempt: &Attempt, job: &JobPlan) -> JobTimes {
    JobTimes {
        created_ms: attempt.requested_ms,
        started_ms: attempt.started_ms() + job.start_offset_ms,
        completed_ms: attempt.started_ms() + job.end_offset_ms,
    }
}

pub(crate) fn job_state(attempt: &Attempt, job: &JobPlan, now_ms: Millis) -> JobState {
    let times = job_times(attempt, job);
    if now_ms >= times.completed_ms {
        return JobState::Completed;
    }
    if now_ms >= times.started_ms {
        return JobState::InProgress;
    }
    let is_waiting_for_approval =
        now_ms < attempt.queued_ms() && attempt.pre_queue_status.as_deref() == Some("waiting");
    if is_waiting_for_approval {
        JobState::Waiting
    } else {
        JobState::Queued
    }
}

/// A step's state; only meaningful while its job is in progress or completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepState {
    Queued,
    InProgress,
    Completed,
}

pub(crate) fn step_state(step: &StepPlan, job_started_ms: Millis, now_ms: Millis) -> StepState {
    let elapsed_ms = now_ms - job_started_ms;
    if elapsed_ms >= step.end_offset_ms {
        StepState::Completed
    } else if elapsed_ms >= step.start_offset_ms {
        StepState::InProgress
    } else {
        StepState::Queued
    }
}

/// Ends an attempt at `cutoff_ms` if it is still going then: a re-run supersedes it. Whatever
/// had not finished becomes `cancelled` at the cutoff, steps that never began become `skipped`.
pub(crate) fn cancel_attempt_at(attempt: &mut Attempt, cutoff_ms: Millis) {
    if attempt.completed_ms() <= cutoff_ms {
        return;
    }
    let old_started_ms = attempt.started_ms();
    attempt.conclusion = "cancelled".to_string();
    if cutoff_ms < attempt.queued_ms() {
        attempt.pre_queue_ms = (cutoff_ms - attempt.requested_ms).max(0);
        attempt.queue_ms = 0;
        attempt.run_ms = 0;
    } else if cutoff_ms < old_started_ms {
        attempt.queue_ms = cutoff_ms - attempt.queued_ms();
        attempt.run_ms = 0;
    } else {
        attempt.run_ms = cutoff_ms - old_started_ms;
    }
    let new_started_ms = attempt.started_ms();
    for job in &mut attempt.jobs {
        let job_start_ms = old_started_ms + job.start_offset_ms;
        let job_end_ms = old_started_ms + job.end_offset_ms;
        if job_end_ms <= cutoff_ms {
            continue;
        }
        job.conclusion = "cancelled".to_string();
        if job_start_ms >= cutoff_ms {
            job.start_offset_ms = cutoff_ms - new_started_ms;
            job.end_offset_ms = cutoff_ms - new_started_ms;
            job.steps.clear();
            continue;
        }
        job.end_offset_ms = cutoff_ms - new_started_ms;
        let cutoff_in_job_ms = cutoff_ms - job_start_ms;
        for step in &mut job.steps {
            if step.end_offset_ms <= cutoff_in_job_ms {
                continue;
            }
            if step.start_offset_ms < cutoff_in_job_ms {
                step.conclusion = "cancelled".to_string();
            } else {
                step.start_offset_ms = cutoff_in_job_ms;
                step.conclusion = "skipped".to_string();
            }
            step.end_offset_ms = cutoff_in_job_ms;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RunnerInfo, StepTimeStyle};

    fn step(number: u32, start_offset_ms: Millis, end_offset_ms: Millis) -> StepPlan {
        StepPlan {
            number,
            name: format!("step {number}"),
            start_offset_ms,
            end_offset_ms,
            conclusion: "success".to_string(),
        }
    }

    fn attempt() -> Attempt {
        Attempt {
            number: 1,
            requested_ms: 1_000_000,
            pre_queue_status: None,
            pre_queue_ms: 0,
            queue_ms: 10_000,
            run_ms: 60_000,
            conclusion: "success".to_string(),
            triggering_actor_index: 0,
            check_suite_id: 1,
            jobs: vec![JobPlan {
                id: 7,
                name: "build".to_string(),
                labels: vec![],
                runner: RunnerInfo {
                    id: 1,
                    name: "r".to_string(),
                    group_id: 2,
                    group_name: "g".to_string(),
                },
                start_offset_ms: 0,
                end_offset_ms: 60_000,
                conclusion: "success".to_string(),
                steps: vec![step(1, 0, 20_000), step(2, 20_000, 60_000)],
                step_time_style: StepTimeStyle::UtcZ,
                log_has_bom: false,
            }],
        }
    }

    #[test]
    fn run_moves_through_its_states_with_time() {
        let attempt = attempt();
        let queued = run_state(&attempt, 1_000_000);
        assert_eq!((queued.status, queued.updated_ms), ("queued", 1_000_000));
        let running = run_state(&attempt, 1_010_000);
        assert_eq!(
            (running.status, running.updated_ms),
            ("in_progress", 1_010_000)
        );
        let done = run_state(&attempt, 1_070_000);
        assert_eq!(done.status, "completed");
        assert_eq!(done.conclusion, Some("success"));
        assert_eq!(done.updated_ms, 1_070_000);
    }

    #[test]
    fn pre_queue_status_comes_first() {
        let mut attempt = attempt();
        attempt.pre_queue_status = Some("waiting".to_string());
        attempt.pre_queue_ms = 5_000;
        assert_eq!(run_state(&attempt, 1_000_000).status, "waiting");
        assert_eq!(
            job_state(&attempt, &attempt.jobs[0], 1_000_000),
            JobState::Waiting
        );
        assert_eq!(run_state(&attempt, 1_005_000).status, "queued");
    }

    #[test]
    fn cancelling_mid_step_cancels_it_and_skips_the_rest() {
        let mut attempt = attempt();
        cancel_attempt_at(&mut attempt, 1_020_000);
        assert_eq!(attempt.conclusion, "cancelled");
        assert_eq!(attempt.completed_ms(), 1_020_000);
        let job = &attempt.jobs[0];
        assert_eq!(job.end_offset_ms, 10_000);
        assert_eq!(job.steps[0].conclusion, "cancelled");
        assert_eq!(job.steps[0].end_offset_ms, 10_000);
        assert_eq!(job.steps[1].conclusion, "skipped");
        assert_eq!(
            job_state(&attempt, job, 1_020_000),
            JobState::Completed,
            "the job ends exactly at the cutoff"
        );
    }

    #[test]
    fn cancelling_a_finished_attempt_changes_nothing() {
        let mut attempt = attempt();
        cancel_attempt_at(&mut attempt, 2_000_000);
        assert_eq!(attempt.conclusion, "success");
        assert_eq!(attempt.completed_ms(), 1_070_000);
    }
}
