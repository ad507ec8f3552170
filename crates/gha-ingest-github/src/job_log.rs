//! Downloading a job's raw log, with every failure classified: the one implementation, used
//! by the log agent and by the dashboard's log viewer.
//!
//! GitHub answers the API with a redirect to a short-lived URL on another host (the blob store).
//! The redirect goes through the client's one request path (same rate-limit budget, same waits,
//! the token only to the API host); the log host is read with a client that carries no
//! credentials at all, streamed straight to a file so memory stays bounded whatever the size, and
//! hashed and checked for UTF-8 on the way. The download stops the moment the log grows past
//! `max_bytes` (before the chunk that would cross it is written), so a spool file never holds
//! more than that.
//!
//! Deciding when a log has *ended* needs to know what failed: a log host answering 404 is a log
//! that is not there, a 5xx a host that is failing, a rate limit neither of them, and a refused
//! credential is our fault, not the log's. A skipped job must cost a single GitHub request, so a
//! 404 for one is never retried.

use std::time::Duration;

use futures::StreamExt;
use gha_ingest_core::RepoName;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::client::GithubClient;
use crate::error::{ErrorClass, GithubError};

/// What was downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedLog {
    pub bytes: u64,
    pub sha256: String,
    /// Whether the whole log is valid UTF-8.
    pub is_utf8: bool,
}

/// Why a log could not be downloaded, by whose fault.
#[derive(Debug, thiserror::Error)]
pub enum LogDownloadError {
    /// 404 from the API or the log host: no log (yet, or ever: a skipped job has none).
    #[error("log not found: {0}")]
    NotFound(String),
    /// 410 from the API: past the repository's log retention. Final.
    #[error("log gone: {0}")]
    Gone(String),
    /// The log grew past the limit while streaming; the download was stopped. Final.
    #[error("log larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    /// GitHub or its log host keeps failing: 5xx, broken connections, a redirect that cannot be
    /// read. The log cannot be had now; repeated every time, it cannot be had at all.
    #[error("log download failed: {0}")]
    Transient(String),
    /// Our credential or configuration was refused (401, 403): says nothing about the log.
    #[error("log download refused: {0}")]
    Refused(String),
    /// Writing the spool file failed: says nothing about the log either.
    #[error("writing the log to the spool file failed")]
    Spool(#[from] std::io::Error),
}

/// How one download is made.
#[derive(Debug, Clone, Copy)]
pub struct LogDownload {
    /// The largest log accepted, in bytes.
    pub max_bytes: u64,
    /// The job never ran (conclusion `skipped`): a 404 is believed at once.
    pub job_skipped: bool,
}

/// Tries of redirect-and-download within one receive of a request, for a log host that fails
/// (5xx, a broken connection, an expired link). Further tries happen on later receives.
const TRIES_PER_RECEIVE: u32 = 3;
/// First pause between two tries within a receive; doubles after each.
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// How long a rate-limited log host is waited for when it names no time.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// The longest wait a log host's `retry-after` is obeyed for.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(600);

/// One log-host answer that did not give the log.
enum HostFailure {
    /// Try again with a fresh link (counts as a failed try).
    Retry(LogDownloadError),
    /// Rate limited: wait this long, then try again (not a failure).
    RateLimited(Duration),
    /// No further try can help.
    Final(LogDownloadError),
}

impl GithubClient {
    /// Downloads the log of `job_id` into `file` (truncated first), at most `max_bytes`.
    pub async fn download_job_log(
        &self,
        repo: &RepoName,
        job_id: u64,
        file: &mut tokio::fs::File,
        max_bytes: u64,
    ) -> Result<DownloadedLog, LogDownloadError> {
        let how = LogDownload {
            max_bytes,
            job_skipped: false,
        };
        self.download_job_log_with(repo, job_id, file, how).await
    }

    /// Downloads the log of `job_id` into `spool` (truncated first), as `how` says.
    pub async fn download_job_log_with(
        &self,
        repo: &RepoName,
        job_id: u64,
        spool: &mut tokio::fs::File,
        how: LogDownload,
    ) -> Result<DownloadedLog, LogDownloadError> {
        let path = format!("/repos/{repo}/actions/jobs/{job_id}/logs");
        let mut failed_tries = 0u32;
        loop {
            let location = self
                .get_redirect_location(&path)
                .await
                .map_err(classify_api_error)?;
            let failure = match self.stream_to_spool(&location, spool, how.max_bytes).await {
                Ok(log) => return Ok(log),
                Err(failure) => failure,
            };
            match failure {
                HostFailure::Final(error) => return Err(error),
                HostFailure::Retry(error @ LogDownloadError::NotFound(_)) if how.job_skipped => {
                    return Err(error)
                }
                HostFailure::RateLimited(wait) => {
                    tracing::warn!(%repo, job_id, wait_secs = wait.as_secs(), "log host rate limited; waiting as told");
                    tokio::time::sleep(wait).await;
                }
                HostFailure::Retry(error) => {
                    failed_tries += 1;
                    if failed_tries >= TRIES_PER_RECEIVE {
                        return Err(error);
                    }
                    let pause = FIRST_RETRY_PAUSE.saturating_mul(1 << (failed_tries - 1));
                    tracing::warn!(%repo, job_id, try_number = failed_tries, pause_ms = pause.as_millis() as u64, cause = %error, "log download failed; retrying with a fresh link");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    async fn stream_to_spool(
        &self,
        location: &str,
        spool: &mut tokio::fs::File,
        max_bytes: u64,
    ) -> Result<DownloadedLog, HostFailure> {
        spool.set_len(0).await.map_err(spool_failure)?;
        spool.rewind().await.map_err(spool_failure)?;
        let response = self.log_http.get(location).send().await.map_err(|error| {
            HostFailure::Retry(LogDownloadError::Transient(format!(
                "request to the log host failed: {}",
                without_url(&error)
            )))
        })?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            404 | 410 => {
                return Err(HostFailure::Retry(LogDownloadError::NotFound(format!(
                    "log host answered {status}"
                ))))
            }
            429 => return Err(HostFailure::RateLimited(retry_after(response.headers()))),
            _ => {
                // 403 is an expired or bad link (a fresh redirect may work); 5xx a failing host.
                return Err(HostFailure::Retry(LogDownloadError::Transient(format!(
                    "log host answered {status}"
                ))));
            }
        }
        let too_large = || HostFailure::Final(LogDownloadError::TooLarge { limit: max_bytes });
        if response
            .content_length()
            .is_some_and(|length| length > max_bytes)
        {
            return Err(too_large());
        }
        let mut hasher = Sha256::new();
        let mut utf8 = Utf8Tracker::default();
        let mut bytes = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|error| {
                HostFailure::Retry(LogDownloadError::Transient(format!(
                    "log body interrupted: {}",
                    without_url(&error)
                )))
            })?;
            bytes += chunk.len() as u64;
            if bytes > max_bytes {
                return Err(too_large());
            }
            hasher.update(&chunk);
            utf8.feed(&chunk);
            spool.write_all(&chunk).await.map_err(spool_failure)?;
        }
        spool.flush().await.map_err(spool_failure)?;
        spool.sync_data().await.map_err(spool_failure)?;
        Ok(DownloadedLog {
            bytes,
            sha256: hex::encode(hasher.finalize()),
            is_utf8: utf8.finish(),
        })
    }
}

/// What an error of the API's redirect means for the log. Rate limits never arrive here: the
/// client waits them out.
fn classify_api_error(error: GithubError) -> LogDownloadError {
    match (error.class(), error) {
        (_, GithubError::Gone { path }) => LogDownloadError::Gone(path),
        (ErrorClass::NotFound, error) => LogDownloadError::NotFound(error.to_string()),
        // GitHub failing, or refusing this one request whatever we do: the log cannot be had now.
        (ErrorClass::Transient | ErrorClass::Rejected, error) => {
            LogDownloadError::Transient(error.to_string())
        }
        // Our token or our configuration: fixing it fixes these, so no log is given up for them.
        (ErrorClass::Fatal, error) => LogDownloadError::Refused(error.to_string()),
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(|seconds| Duration::from_secs(seconds.max(1)))
        .unwrap_or(DEFAULT_RATE_LIMIT_WAIT)
        .min(MAX_RATE_LIMIT_WAIT)
}

fn spool_failure(error: std::io::Error) -> HostFailure {
    HostFailure::Final(LogDownloadError::Spool(error))
}

/// The HTTP client for log hosts: no default headers, no credentials, bounded connect and read.
pub(crate) fn log_host_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
}

/// The blob URL is a bearer credential for a minute: keep it out of errors and logs.
fn without_url(error: &reqwest::Error) -> String {
    let mut error_text = error.to_string();
    if let Some(url) = error.url() {
        error_text = error_text.replace(url.as_str(), "<log url>");
    }
    error_text
}

/// Checks UTF-8 validity of a byte stream chunk by chunk; a character may span two chunks.
#[derive(Debug, Default)]
struct Utf8Tracker {
    invalid: bool,
    carry: Vec<u8>,
}

impl Utf8Tracker {
    fn feed(&mut self, chunk: &[u8]) {
        if self.invalid {
            return;
        }
        let joined;
        let data = if self.carry.is_empty() {
            chunk
        } else {
            joined = [self.carry.as_slice(), chunk].concat();
            &joined
        };
        match std::str::from_utf8(data) {
            Ok(_) => self.carry.clear(),
            Err(error) if error.error_len().is_none() => {
                self.carry = data[error.valid_up_to()..].to_vec()
            }
            Err(_) => self.invalid = true,
        }
    }

    fn finish(self) -> bool {
        !self.invalid && self.carry.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_when_fed_in_pieces(bytes: &[u8], piece: usize) -> bool {
        let mut tracker = Utf8Tracker::default();
        for chunk in bytes.chunks(piece) {
            tracker.feed(chunk);
        }
        tracker.finish()
    }

    #[test]
    fn utf8_is_tracked_across_chunk_boundaries() {
        let text = "é✓🚀 \u{1b}[36;1mrun\u{1b}[0m \u{fffe}\u{ffff}".repeat(50);
        for piece in 1..9 {
            assert!(
                valid_when_fed_in_pieces(text.as_bytes(), piece),
                "piece {piece}"
            );
        }
        assert!(!valid_when_fed_in_pieces(b"ok \xff\xfe bytes", 3));
        let cut = "ends mid-char 🚀".as_bytes().split_last().unwrap().1;
        assert!(!valid_when_fed_in_pieces(cut, 4));
        assert!(valid_when_fed_in_pieces(b"", 1));
    }

    #[test]
    fn api_errors_are_classified_by_whose_fault_they_are() {
        let path = || "/repos/o/r/actions/jobs/1/logs".to_string();
        let cases = [
            (GithubError::NotFound { path: path() }, "not_found"),
            (GithubError::Gone { path: path() }, "gone"),
            (
                GithubError::RetriesExhausted {
                    path: path(),
                    attempts: 6,
                    last_error: "status 503".into(),
                },
                "server",
            ),
            (
                GithubError::Malformed {
                    path: path(),
                    detail: "status 302 without a location".into(),
                },
                "server",
            ),
            (GithubError::Unauthorized { path: path() }, "local"),
            (
                GithubError::Forbidden {
                    path: path(),
                    message: "Resource not accessible by integration".into(),
                },
                "local",
            ),
        ];
        for (error, expected) in cases {
            let described = error.to_string();
            let class = match classify_api_error(error) {
                LogDownloadError::NotFound(_) => "not_found",
                LogDownloadError::Gone(_) => "gone",
                LogDownloadError::Transient(_) => "server",
                LogDownloadError::Refused(_) | LogDownloadError::Spool(_) => "local",
                LogDownloadError::TooLarge { .. } => "too_large",
            };
            assert_eq!(class, expected, "{described}");
        }
    }

    #[test]
    fn retry_after_is_obeyed_within_bounds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), DEFAULT_RATE_LIMIT_WAIT);
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Duration::from_secs(7));
        headers.insert(reqwest::header::RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(retry_after(&headers), MAX_RATE_LIMIT_WAIT);
    }
}
