//! Failure isolation per entity: what to do when a run, an attempt, a job list or a commit
//! cannot be read.
//!
//! One bad entity must never silence a repository. A failure that concerns one entity (404/410,
//! a 5xx or garbled body that persisted through the client's retries, a 4xx for this request) is
//! recorded and the cycle goes on: the run's facts known from the list are still published, the
//! entity is retried on later cycles with growing waits, and after `max_attempts` cycles it is
//! given up on with an explicit `*_unavailable` event. A failure that concerns everything (bad
//! credentials, a forbidden token) still stops the cycle, so one outage is not mistaken for a
//! thousand missing entities.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gha_ingest_core::facts::UnavailableFacts;
use gha_ingest_github::GithubError;
use gha_ingest_store::{entity_key, EntityFailure, EntityKind};

/// How failed entities are retried and when they are given up on.
#[derive(Debug, Clone, Copy)]
pub struct FailurePolicy {
    /// Cycles an entity may fail in before it is given up on (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failure; each further failure waits four times longer.
    pub retry_base: Duration,
    /// The longest wait between two tries.
    pub retry_max: Duration,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            max_attempts: 5,
            retry_base: Duration::from_secs(60),
            retry_max: Duration::from_secs(6 * 3600),
        }
    }
}

impl FailurePolicy {
    /// The wait before trying again after `attempts` failures: 1, 4, 16, 64 minutes, ...
    pub(crate) fn retry_wait(&self, attempts: u32) -> chrono::Duration {
        let wait = self
            .retry_base
            .saturating_mul(4u32.saturating_pow(attempts.saturating_sub(1).min(15)))
            .min(self.retry_max);
        chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(6))
    }
}

/// One entity of a repository, as the failure table names it.
#[derive(Debug, Clone)]
pub(crate) struct Entity {
    pub kind: EntityKind,
    pub run_id: Option<u64>,
    pub run_attempt: Option<u32>,
    pub sha: Option<String>,
}

impl Entity {
    pub(crate) fn run(run_id: u64, run_attempt: u32) -> Self {
        Entity {
            kind: EntityKind::Run,
            run_id: Some(run_id),
            run_attempt: Some(run_attempt),
            sha: None,
        }
    }

    pub(crate) fn attempt(run_id: u64, run_attempt: u32) -> Self {
        Entity {
            kind: EntityKind::Attempt,
            run_id: Some(run_id),
            run_attempt: Some(run_attempt),
            sha: None,
        }
    }

    pub(crate) fn jobs(run_id: u64, run_attempt: u32) -> Self {
        Entity {
            kind: EntityKind::Jobs,
            run_id: Some(run_id),
            run_attempt: Some(run_attempt),
            sha: None,
        }
    }

    pub(crate) fn commit(sha: &str) -> Self {
        Entity {
            kind: EntityKind::Commit,
            run_id: None,
            run_attempt: None,
            sha: Some(sha.to_string()),
        }
    }

    pub(crate) fn from_failure(failure: &EntityFailure) -> Self {
        Entity {
            kind: failure.kind,
            run_id: failure.run_id,
            run_attempt: failure.run_attempt,
            sha: failure.sha.clone(),
        }
    }

    pub(crate) fn key(&self) -> String {
        // A run is one entity whatever its attempt: its key carries no attempt.
        let attempt = match self.kind {
            EntityKind::Run => None,
            _ => self.run_attempt,
        };
        entity_key(self.kind, self.run_id, attempt, self.sha.as_deref())
    }
}

/// Whether an entity may be read this cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// Never failed, or its retry is due.
    Read,
    /// Failed recently: wait for `next_retry_at` (and do not spend a request on it now).
    Wait,
    /// Given up on: its unavailable event went out.
    GivenUp,
}

/// What the failure book decided about one new failure.
#[derive(Debug)]
pub(crate) struct Recorded {
    pub failure: EntityFailure,
    /// `Some` when this failure was the last one allowed: announce it.
    pub unavailable: Option<UnavailableFacts>,
}

/// The failures of one repository during one cycle: loaded from the store at its start, updated
/// as entities fail or are read, written through the cycle's change sets.
#[derive(Debug)]
pub(crate) struct FailureBook {
    policy: FailurePolicy,
    repo: String,
    now: DateTime<Utc>,
    state: Mutex<BookState>,
}

#[derive(Debug, Default)]
struct BookState {
    known: HashMap<String, EntityFailure>,
    /// Entities that failed or were read this cycle: each counts once per cycle.
    settled_this_cycle: HashSet<String>,
}

impl FailureBook {
    pub(crate) fn new(
        policy: FailurePolicy,
        repo: String,
        now: DateTime<Utc>,
        known: Vec<EntityFailure>,
    ) -> Self {
        let known = known
            .into_iter()
            .map(|failure| (failure.key(), failure))
            .collect();
        FailureBook {
            policy,
            repo,
            now,
            state: Mutex::new(BookState {
                known,
                settled_this_cycle: HashSet::new(),
            }),
        }
    }

    pub(crate) fn readiness(&self, entity: &Entity) -> Readiness {
        let state = self.state.lock().expect("failure book lock poisoned");
        match state.known.get(&entity.key()) {
            None => Readiness::Read,
            Some(failure) if failure.given_up_at.is_some() => Readiness::GivenUp,
            Some(_) if state.settled_this_cycle.contains(&entity.key()) => Readiness::Wait,
            Some(failure) if failure.next_retry_at > self.now => Readiness::Wait,
            Some(_) => Readiness::Read,
        }
    }

    /// Failures whose retry is due and that nothing read this cycle yet.
    pub(crate) fn due(&self) -> Vec<EntityFailure> {
        let state = self.state.lock().expect("failure book lock poisoned");
        let mut due: Vec<EntityFailure> = state
            .known
            .iter()
            .filter(|(key, failure)| {
                failure.given_up_at.is_none()
                    && failure.next_retry_at <= self.now
                    && !state.settled_this_cycle.contains(*key)
            })
            .map(|(_, failure)| failure.clone())
            .collect();
        due.sort_by_key(|failure| failure.key());
        due
    }

    /// The entity was read: returns the key to clear if it had failed before.
    pub(crate) fn read(&self, entity: &Entity) -> Option<String> {
        let key = entity.key();
        let mut state = self.state.lock().expect("failure book lock poisoned");
        state.settled_this_cycle.insert(key.clone());
        state.known.remove(&key).map(|_| key)
    }

    /// Records one failure of `entity`; `None` when the error concerns everything (the caller
    /// must stop the cycle) or the entity already failed this cycle.
    pub(crate) fn failed(&self, entity: &Entity, error: &GithubError) -> Option<Recorded> {
        if !error.concerns_one_entity() {
            return None;
        }
        let key = entity.key();
        let mut state = self.state.lock().expect("failure book lock poisoned");
        if !state.settled_this_cycle.insert(key.clone()) {
            return None;
        }
        let previous = state.known.get(&key);
        let attempts = previous.map_or(1, |failure| failure.attempts + 1);
        let first_failed_at = previous.map_or(self.now, |failure| failure.first_failed_at);
        let given_up = attempts >= self.policy.max_attempts.max(1);
        let failure = EntityFailure {
            repo: self.repo.clone(),
            kind: entity.kind,
            run_id: entity.run_id,
            run_attempt: entity.run_attempt,
            sha: entity.sha.clone(),
            attempts,
            reason: error.reason().to_string(),
            last_error: error.to_string(),
            first_failed_at,
            next_retry_at: self.now + self.policy.retry_wait(attempts),
            given_up_at: given_up.then_some(self.now),
        };
        state.known.insert(key, failure.clone());
        let unavailable = given_up.then(|| UnavailableFacts {
            repo: self.repo.clone(),
            entity: entity.kind.as_str().to_string(),
            run_id: entity.run_id,
            run_attempt: entity.run_attempt,
            commit_sha: entity.sha.clone(),
            reason: failure.reason.clone(),
            detail: failure.last_error.clone(),
            attempts,
            first_failed_at,
        });
        Some(Recorded {
            failure,
            unavailable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found() -> GithubError {
        GithubError::NotFound {
            path: "/repos/o/r/actions/runs/1/attempts/1/jobs".into(),
        }
    }

    fn book(now: DateTime<Utc>, known: Vec<EntityFailure>) -> FailureBook {
        let policy = FailurePolicy {
            max_attempts: 3,
            ..FailurePolicy::default()
        };
        FailureBook::new(policy, "o/r".into(), now, known)
    }

    #[test]
    fn an_entity_is_retried_with_growing_waits_then_given_up_once() {
        let mut now = Utc::now();
        let jobs = Entity::jobs(1, 1);
        let mut known = Vec::new();
        let mut waits = Vec::new();
        for attempt in 1..=3 {
            let book = book(now, known.clone());
            assert_eq!(book.readiness(&jobs), Readiness::Read, "attempt {attempt}");
            let recorded = book.failed(&jobs, &not_found()).expect("an entity failure");
            assert_eq!(recorded.failure.attempts, attempt);
            assert!(
                book.failed(&jobs, &not_found()).is_none(),
                "counted once per cycle"
            );
            assert_eq!(recorded.unavailable.is_some(), attempt == 3);
            waits.push(recorded.failure.next_retry_at - now);
            now = recorded.failure.next_retry_at;
            known = vec![recorded.failure];
        }
        assert!(waits[1] > waits[0], "{waits:?}");
        let book = book(now, known);
        assert_eq!(book.readiness(&jobs), Readiness::GivenUp);
        assert!(book.due().is_empty());
    }

    #[test]
    fn a_failure_that_concerns_everything_is_not_an_entity_failure() {
        let book = book(Utc::now(), Vec::new());
        let unauthorized = GithubError::Unauthorized { path: "/x".into() };
        assert!(book.failed(&Entity::commit("abc"), &unauthorized).is_none());
        assert!(book.due().is_empty());
    }

    #[test]
    fn a_read_clears_the_failure() {
        let now = Utc::now();
        let first = book(now, Vec::new())
            .failed(&Entity::commit("abc"), &not_found())
            .unwrap()
            .failure;
        let later = book(first.next_retry_at, vec![first]);
        assert_eq!(later.due().len(), 1);
        assert_eq!(
            later.read(&Entity::commit("abc")),
            Some("commit:abc".to_string())
        );
        assert!(later.due().is_empty());
    }
}
