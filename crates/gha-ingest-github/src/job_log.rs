//! Downloading a job's raw log: GitHub answers with a redirect to a short-lived URL on another
//! host (the blob store). That URL is fetched with a separate HTTP client that carries no token,
//! streamed straight to a file so memory stays bounded whatever the size, and hashed and checked
//! for UTF-8 on the way. An expired or failing link is retried with a fresh redirect.

use std::time::Duration;

use futures::StreamExt;
use gha_ingest_core::RepoName;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::client::GithubClient;
use crate::error::GithubError;

/// What was downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedLog {
    pub bytes: u64,
    pub sha256: String,
    /// Whether the whole log is valid UTF-8.
    pub is_utf8: bool,
}

/// Why a log could not be downloaded.
#[derive(Debug, thiserror::Error)]
pub enum LogDownloadError {
    /// 404: the job has no log (yet, or ever: a skipped job). Worth a few later tries.
    #[error("log not found: {0}")]
    NotFound(String),
    /// 410: past the repository's retention. Final.
    #[error("log gone: {0}")]
    Gone(String),
    #[error("log larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    /// Anything that may pass: 5xx, timeouts, rate limits that outlasted the retries.
    #[error("log download failed: {0}")]
    Transient(String),
    #[error("writing the log to the spool file failed: {0}")]
    Spool(#[from] std::io::Error),
}

impl GithubClient {
    /// Downloads the log of `job_id` into `file` (truncated first). `max_bytes` of 0 is no limit.
    pub async fn download_job_log(
        &self,
        repo: &RepoName,
        job_id: u64,
        file: &mut tokio::fs::File,
        max_bytes: u64,
    ) -> Result<DownloadedLog, LogDownloadError> {
        let path = format!("/repos/{repo}/actions/jobs/{job_id}/logs");
        let mut failures = 0u32;
        loop {
            let location = match self.get_redirect_location(&path).await {
                Ok(location) => location,
                Err(GithubError::NotFound { path }) => {
                    return Err(LogDownloadError::NotFound(path))
                }
                Err(GithubError::Gone { path }) => return Err(LogDownloadError::Gone(path)),
                Err(error) => return Err(LogDownloadError::Transient(error.to_string())),
            };
            match self.stream_to_file(&location, file, max_bytes).await {
                Ok(log) => return Ok(log),
                Err(StreamFailure::Final(error)) => return Err(error),
                Err(StreamFailure::Retry(reason)) => {
                    failures += 1;
                    if failures > self.policy.max_retries {
                        return Err(LogDownloadError::Transient(format!(
                            "{path}: log host still failing after {failures} attempts: {reason}"
                        )));
                    }
                    let wait = self.policy.backoff(failures);
                    tracing::warn!(%repo, job_id, attempt = failures, wait_ms = wait.as_millis() as u64, cause = %reason, "log download failed; retrying with a fresh link");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn stream_to_file(
        &self,
        location: &str,
        file: &mut tokio::fs::File,
        max_bytes: u64,
    ) -> Result<DownloadedLog, StreamFailure> {
        file.set_len(0).await.map_err(spool_error)?;
        file.rewind().await.map_err(spool_error)?;
        // The token never goes to the log host: this client has no credentials at all.
        let response = self.log_http.get(location).send().await.map_err(|err| {
            StreamFailure::Retry(format!(
                "request to the log host failed: {}",
                without_url(&err)
            ))
        })?;
        let status = response.status();
        if !status.is_success() {
            // 403/404 from the blob host mean an expired or bad link: a fresh redirect may work.
            return Err(StreamFailure::Retry(format!(
                "log host answered {}",
                status.as_u16()
            )));
        }
        let mut hasher = Sha256::new();
        let mut utf8 = Utf8Tracker::default();
        let mut bytes = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|err| {
                StreamFailure::Retry(format!("log body interrupted: {}", without_url(&err)))
            })?;
            bytes += chunk.len() as u64;
            if max_bytes > 0 && bytes > max_bytes {
                return Err(StreamFailure::Final(LogDownloadError::TooLarge {
                    limit: max_bytes,
                }));
            }
            hasher.update(&chunk);
            utf8.feed(&chunk);
            file.write_all(&chunk).await.map_err(spool_error)?;
        }
        file.flush().await.map_err(spool_error)?;
        file.sync_data().await.map_err(spool_error)?;
        Ok(DownloadedLog {
            bytes,
            sha256: hex::encode(hasher.finalize()),
            is_utf8: utf8.finish(),
        })
    }
}

enum StreamFailure {
    Retry(String),
    Final(LogDownloadError),
}

fn spool_error(error: std::io::Error) -> StreamFailure {
    StreamFailure::Final(LogDownloadError::Spool(error))
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
pub(crate) struct Utf8Tracker {
    invalid: bool,
    carry: Vec<u8>,
}

impl Utf8Tracker {
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
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

    pub(crate) fn finish(self) -> bool {
        !self.invalid && self.carry.is_empty()
    }
}

/// The HTTP client for log hosts: no default headers, no credentials, bounded connect and read.
pub(crate) fn log_host_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
}

#[cfg(test)]
mod tests {
    use super::Utf8Tracker;

    fn valid_when_fed_in_pieces(bytes: &[u8], piece: usize) -> bool {
        let mut tracker = Utf8Tracker::default();
        for chunk in bytes.chunks(piece) {
            tracker.feed(chunk);
        }
        tracker.finish()
    }

    #[test]
    fn multibyte_characters_split_across_chunks_are_valid() {
        let text = "é✓🚀 \u{1b}[36;1mrun\u{1b}[0m".repeat(50);
        for piece in 1..9 {
            assert!(
                valid_when_fed_in_pieces(text.as_bytes(), piece),
                "piece {piece}"
            );
        }
    }

    #[test]
    fn invalid_or_truncated_bytes_are_not() {
        assert!(!valid_when_fed_in_pieces(b"ok \xff\xfe bytes", 3));
        assert!(!valid_when_fed_in_pieces(
            "ends mid-char 🚀".as_bytes().split_last().unwrap().1,
            4
        ));
        assert!(valid_when_fed_in_pieces(b"", 1));
    }
}
