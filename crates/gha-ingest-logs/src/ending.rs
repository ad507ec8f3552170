//! When a log has ended without being had: the one place that decides between trying a request
//! again and publishing `job_log_unavailable`, so that every request ends, on any queue.
//!
//! The count of tries is the request's receive count, which both SQS and the embedded queue report,
//! so giving up does not depend on a redrive policy: on a queue without one, a request whose log is
//! never served would otherwise come back forever. Only failures that say something about the log
//! count (404, a failing GitHub or log host); a rate limit is waited out within the receive and a
//! failure on our side (credentials, spool disk, the logs queue) never gives a log up.

use gha_ingest_github::LogDownloadError;

/// The `reason` of a `job_log_unavailable` event (see `docs/schema/facts.schema.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnavailableReason {
    /// 404 on the request's last allowed receive, or at once for a skipped job.
    NotFound,
    /// 410: past retention.
    Gone,
    /// Larger than `logs.max_log_bytes`.
    TooLarge,
    /// GitHub or its log host failed on every allowed receive.
    Unavailable,
}

impl UnavailableReason {
    pub(crate) const ALL: [UnavailableReason; 4] = [
        UnavailableReason::NotFound,
        UnavailableReason::Gone,
        UnavailableReason::TooLarge,
        UnavailableReason::Unavailable,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UnavailableReason::NotFound => "not_found",
            UnavailableReason::Gone => "gone",
            UnavailableReason::TooLarge => "too_large",
            UnavailableReason::Unavailable => "unavailable",
        }
    }
}

/// What becomes of a request whose log could not be fetched this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Publish `job_log_unavailable`, then delete the request.
    Unavailable {
        reason: UnavailableReason,
        detail: String,
    },
    /// Leave the request on the queue to be received again later.
    TryAgain(String),
}

/// Where the request stands: how many times it has been received, and the limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempts {
    pub receive_count: u32,
    pub max_attempts: u32,
    /// The job never ran (`conclusion: skipped`): GitHub has no log for it, so a 404 is final.
    pub job_skipped: bool,
}

impl Attempts {
    fn is_last(self) -> bool {
        self.receive_count >= self.max_attempts
    }
}

pub(crate) fn decide(error: LogDownloadError, attempts: Attempts) -> Ending {
    let unavailable = |reason, detail| Ending::Unavailable { reason, detail };
    match error {
        LogDownloadError::Gone(detail) => unavailable(UnavailableReason::Gone, detail),
        LogDownloadError::TooLarge { .. } => {
            unavailable(UnavailableReason::TooLarge, error.to_string())
        }
        LogDownloadError::NotFound(detail) if attempts.job_skipped || attempts.is_last() => {
            unavailable(UnavailableReason::NotFound, detail)
        }
        LogDownloadError::Transient(detail) if attempts.is_last() => {
            unavailable(UnavailableReason::Unavailable, detail)
        }
        LogDownloadError::NotFound(_)
        | LogDownloadError::Transient(_)
        | LogDownloadError::Refused(_)
        | LogDownloadError::Spool(_) => {
            Ending::TryAgain(gha_ingest_core::error_chain(&error).to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_ends_as_the_policy_says() {
        let not_found = || LogDownloadError::NotFound("log host answered 404".into());
        let failing = || LogDownloadError::Transient("log host answered 503".into());
        let local = || {
            LogDownloadError::Refused("/repos/o/r/actions/jobs/1/logs: unauthorized (401)".into())
        };
        let at = |receive_count, job_skipped| Attempts {
            receive_count,
            max_attempts: 3,
            job_skipped,
        };
        use UnavailableReason::*;
        let cases: Vec<(LogDownloadError, Attempts, Option<UnavailableReason>)> = vec![
            (
                LogDownloadError::Gone("410".into()),
                at(1, false),
                Some(Gone),
            ),
            (
                LogDownloadError::TooLarge { limit: 1 },
                at(1, false),
                Some(TooLarge),
            ),
            (not_found(), at(1, false), None),
            (not_found(), at(2, false), None),
            (not_found(), at(3, false), Some(NotFound)),
            (not_found(), at(7, false), Some(NotFound)),
            (not_found(), at(1, true), Some(NotFound)),
            (failing(), at(2, false), None),
            (failing(), at(1, true), None),
            (failing(), at(3, false), Some(Unavailable)),
            (local(), at(3, false), None),
            (local(), at(99, true), None),
        ];
        for (error, attempts, expected) in cases {
            let described = format!("{error} at {attempts:?}");
            let reason = match decide(error, attempts) {
                Ending::Unavailable { reason, .. } => Some(reason),
                Ending::TryAgain(_) => None,
            };
            assert_eq!(reason, expected, "{described}");
        }
    }
}
