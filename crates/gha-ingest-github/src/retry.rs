//! The retry policy: one place decides what a failed answer means and how long to wait.
//!
//! Following GitHub's guidance: a `retry-after` header is obeyed; a spent primary budget
//! (`x-ratelimit-remaining: 0`) waits for `x-ratelimit-reset`; any other secondary-limit answer
//! waits at least a minute; 5xx, timeouts and garbled bodies back off exponentially with jitter so
//! that many replicas do not retry in step.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use rand::Rng;

use crate::error::GithubError;
use crate::ratelimit::{header_u64, until_reset, MAX_RATE_LIMIT_WAIT};

/// Waits and retry counts, set from configuration (shortened in tests).
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// GitHub: "wait at least one minute" after a secondary limit that names no wait.
    pub secondary_limit_wait: Duration,
}

/// What to do about one unsuccessful response.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Rate limited: wait as GitHub said; does not count as a failure of the request.
    WaitForRateLimit(Duration),
    /// A failure that may pass: back off and try again, up to `max_retries`.
    RetryAfterFailure(String),
    /// Retrying cannot help.
    Fail(GithubError),
}

impl RetryPolicy {
    /// Exponential backoff with "equal jitter": half the step is fixed, half random.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
            .min(self.max_delay);
        let half = step / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }

    pub(crate) fn classify(
        &self,
        path: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Verdict {
        let message = github_message(body);
        match status.as_u16() {
            403 | 429 => {
                if let Some(seconds) = header_u64(headers, "retry-after") {
                    let wait = Duration::from_secs(seconds.max(1)).min(MAX_RATE_LIMIT_WAIT);
                    return Verdict::WaitForRateLimit(wait);
                }
                if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
                    return Verdict::WaitForRateLimit(until_reset(headers));
                }
                if status == StatusCode::TOO_MANY_REQUESTS
                    || message.to_ascii_lowercase().contains("rate limit")
                {
                    return Verdict::WaitForRateLimit(self.secondary_limit_wait);
                }
                Verdict::Fail(GithubError::Forbidden {
                    path: path.to_string(),
                    message,
                })
            }
            401 => Verdict::Fail(GithubError::Unauthorized {
                path: path.to_string(),
            }),
            404 => Verdict::Fail(GithubError::NotFound {
                path: path.to_string(),
            }),
            410 => Verdict::Fail(GithubError::Gone {
                path: path.to_string(),
            }),
            408 | 500..=599 => {
                Verdict::RetryAfterFailure(format!("status {}: {message}", status.as_u16()))
            }
            code => Verdict::Fail(GithubError::Status {
                path: path.to_string(),
                status: code,
                message,
            }),
        }
    }
}

/// GitHub's error bodies are `{"message": "...", "documentation_url": "..."}`; keep the message
/// short and free of anything but text.
pub(crate) fn github_message(body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|value| value.get("message"))
        .and_then(|message| message.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    message
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            secondary_limit_wait: Duration::from_secs(60),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn retry_after_is_obeyed() {
        let verdict = policy().classify(
            "/x",
            StatusCode::FORBIDDEN,
            &headers(&[("retry-after", "7")]),
            b"{}",
        );
        assert!(
            matches!(verdict, Verdict::WaitForRateLimit(wait) if wait == Duration::from_secs(7))
        );
    }

    #[test]
    fn a_huge_retry_after_is_capped() {
        let verdict = policy().classify(
            "/x",
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "9999999")]),
            b"{}",
        );
        assert!(matches!(verdict, Verdict::WaitForRateLimit(wait) if wait == MAX_RATE_LIMIT_WAIT));
    }

    #[test]
    fn secondary_limit_without_header_waits_a_minute() {
        let body = br#"{"message":"You have exceeded a secondary rate limit"}"#;
        let verdict = policy().classify("/x", StatusCode::FORBIDDEN, &HeaderMap::new(), body);
        assert!(
            matches!(verdict, Verdict::WaitForRateLimit(wait) if wait == Duration::from_secs(60))
        );
    }

    #[test]
    fn plain_forbidden_and_not_found_are_final() {
        let verdict = policy().classify(
            "/x",
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            br#"{"message":"Resource not accessible"}"#,
        );
        assert!(matches!(
            verdict,
            Verdict::Fail(GithubError::Forbidden { .. })
        ));
        let verdict = policy().classify("/x", StatusCode::NOT_FOUND, &HeaderMap::new(), b"");
        assert!(matches!(
            verdict,
            Verdict::Fail(GithubError::NotFound { .. })
        ));
    }

    #[test]
    fn server_errors_are_retried_with_growing_jittered_waits() {
        let verdict = policy().classify("/x", StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"oops");
        assert!(matches!(verdict, Verdict::RetryAfterFailure(_)));
        let first = policy().backoff(1);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let capped = policy().backoff(20);
        assert!(capped >= Duration::from_millis(500) && capped <= Duration::from_secs(1));
    }
}
