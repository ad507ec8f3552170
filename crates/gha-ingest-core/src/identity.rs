//! Idempotency keys: the same fact always gets the same `event_id`, however often it is derived
//! or sent, so consumers can deduplicate by it.
//!
//! Run and job ids are unique across all of GitHub, so their keys need no repository. A commit
//! SHA is only unique within a repository's network (forks share commits), so commit keys carry
//! a short hash of the repository name. Every key is at most 128 characters of the alphabet SQS
//! FIFO queues accept for `MessageDeduplicationId`.

use sha2::{Digest, Sha256};

/// A run attempt seen in a status: `run-30433642-2-in_progress`.
pub fn run_event_id(run_id: u64, run_attempt: u32, status: &str) -> String {
    format!("run-{run_id}-{run_attempt}-{}", key_safe(status))
}

/// A job seen in a status: `job-399444496-completed`. Each attempt has its own job ids.
pub fn job_event_id(job_id: u64, status: &str) -> String {
    format!("job-{job_id}-{}", key_safe(status))
}

/// The metrics of one commit in one repository.
pub fn commit_event_id(repo: &str, sha: &str) -> String {
    format!("commit-{}-{}", key_safe(sha), short_hash(repo))
}

/// The log of a job (one message, or the first of its parts).
pub fn log_event_id(job_id: u64) -> String {
    format!("log-{job_id}")
}

/// One part of a log split across several messages.
pub fn log_part_event_id(job_id: u64, part: u32, parts: u32) -> String {
    format!("log-{job_id}-part-{part}-of-{parts}")
}

/// A job whose log could not be had.
pub fn log_unavailable_event_id(job_id: u64) -> String {
    format!("log-unavailable-{job_id}")
}

/// A run, or one earlier attempt of it, that could not be read: `run-30433642-2-unavailable`.
pub fn run_unavailable_event_id(run_id: u64, run_attempt: u32) -> String {
    format!("run-{run_id}-{run_attempt}-unavailable")
}

/// The jobs of one attempt that could not be read: `jobs-30433642-1-unavailable`.
pub fn jobs_unavailable_event_id(run_id: u64, run_attempt: u32) -> String {
    format!("jobs-{run_id}-{run_attempt}-unavailable")
}

/// A commit whose metrics could not be read, in one repository.
pub fn commit_unavailable_event_id(repo: &str, sha: &str) -> String {
    format!("commit-{}-{}-unavailable", key_safe(sha), short_hash(repo))
}

fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..6])
}

/// Statuses and SHAs come from GitHub; keep only what a dedup id may hold, bounded in length.
fn key_safe(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(48)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct_per_fact() {
        assert_eq!(
            run_event_id(30433642, 1, "completed"),
            "run-30433642-1-completed"
        );
        assert_ne!(
            run_event_id(1, 1, "completed"),
            run_event_id(1, 2, "completed")
        );
        assert_eq!(job_event_id(7, "queued"), job_event_id(7, "queued"));
        assert_ne!(commit_event_id("a/b", "abc"), commit_event_id("a/c", "abc"));
    }

    #[test]
    fn keys_fit_fifo_dedup_ids() {
        let long = "x".repeat(500);
        for key in [
            run_event_id(u64::MAX, u32::MAX, &long),
            commit_event_id(&long, &long),
        ] {
            assert!(key.len() <= 128, "{key}");
            assert!(key.chars().all(|c| c.is_ascii_graphic()));
        }
    }
}
