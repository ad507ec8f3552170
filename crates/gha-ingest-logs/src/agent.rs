//! The log agent's loop: receive work, download, publish, acknowledge.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gha_ingest_core::Clock;
use gha_ingest_github::{DownloadedLog, GithubAccess, LogDownload, Priority};
use gha_ingest_queue::{MessageQueue, OutgoingMessage, ReceivedMessage, MAX_BATCH};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::ending::{decide, Attempts, Ending, UnavailableReason};
use crate::messages::{unavailable_message, LogParts};
use crate::parts::plan_parts;
use crate::request::LogRequest;
use crate::status::LogAgentStatus;
/// Tries of one `send_batch` of log parts before the request is left for later.
const PUBLISH_TRIES: u32 = 5;

/// The queues the log agent works between.
#[derive(Debug, Clone)]
pub struct LogQueues {
    /// Work: `workflow_job_completed` events queued by the pipeline agent.
    pub requests: Arc<dyn MessageQueue>,
    /// Output: `job_log_fetched` / `job_log_unavailable` events.
    pub logs: Arc<dyn MessageQueue>,
}

#[derive(Debug, Clone)]
pub struct LogAgentOptions {
    /// Logs downloaded at once.
    pub concurrency: usize,
    /// How long a received request stays hidden from other consumers; extended while working.
    pub visibility_timeout: Duration,
    /// The receive of a request on which a log that is not found (404) or not served (GitHub or
    /// its log host failing) is declared unavailable; the request is then deleted. Counted by
    /// the queue's receive count, so it holds without a redrive policy.
    pub max_attempts: u32,
    /// Largest log downloaded; the download stops as soon as a log grows past it (`too_large`).
    /// Bounds the spool to `concurrency × max_log_bytes`.
    pub max_log_bytes: u64,
    pub max_message_bytes: usize,
    /// Where logs are spooled while being split (kept on disk, not in memory).
    pub spool_dir: PathBuf,
    /// Delay before a failed request is tried again, growing with each receive.
    pub retry_delay: Duration,
    /// Long-poll wait of one receive.
    pub receive_wait: Duration,
    /// How long downloads in flight at shutdown may still run; the requests of those that do
    /// not finish return to the queue when their visibility timeout ends.
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone)]
pub struct LogAgent {
    access: GithubAccess,
    queues: LogQueues,
    options: LogAgentOptions,
    status: Arc<LogAgentStatus>,
    clock: Clock,
}

/// How one request ended.
#[derive(Debug)]
enum Handled {
    Published,
    Unavailable,
}

#[derive(Debug)]
enum Failure {
    /// Try again later (the request becomes visible again after a delay); the log has not ended.
    Retry(String),
    /// The request itself is unusable; left for the dead-letter queue.
    Poison(String),
}

impl LogAgent {
    pub fn new(
        access: GithubAccess,
        queues: LogQueues,
        options: LogAgentOptions,
        status: Arc<LogAgentStatus>,
    ) -> Self {
        LogAgent {
            access,
            queues,
            options,
            status,
            clock: Clock::wall(),
        }
    }

    /// Takes "now" (`fetched_at`, event timestamps) from `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Receives and handles requests until `shutdown`; in-flight downloads are given a grace
    /// period, and any left unfinished return to the queue when their visibility expires.
    pub async fn run(self, shutdown: CancellationToken) {
        if let Err(error) = std::fs::create_dir_all(&self.options.spool_dir) {
            tracing::error!(spool_dir = %self.options.spool_dir.display(), cause = %error, "cannot create the log spool directory");
            self.status.failed(format!("spool directory: {error}"));
            return;
        }
        remove_orphaned_spool_files(&self.options.spool_dir);
        self.status.set_running(true);
        let permits = Arc::new(Semaphore::new(self.options.concurrency.max(1)));
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            while in_flight.try_join_next().is_some() {}
            let first_permit = tokio::select! {
                permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                _ = shutdown.cancelled() => break,
            };
            let wanted = (1 + permits.available_permits()).min(MAX_BATCH) as u32;
            let received = tokio::select! {
                received = self.queues.requests.receive(wanted, self.options.receive_wait, self.options.visibility_timeout) => received,
                _ = shutdown.cancelled() => break,
            };
            let messages = match received {
                Ok(messages) => messages,
                Err(error) => {
                    self.status
                        .failed(format!("receiving log requests: {error}"));
                    tracing::warn!(queue = self.queues.requests.name(), cause = %error, "cannot receive log requests; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            };
            let mut first_permit = Some(first_permit);
            for message in messages {
                let permit = match first_permit.take() {
                    Some(permit) => permit,
                    None => permits
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed"),
                };
                in_flight.spawn(self.clone().handle(message, permit));
            }
        }
        if tokio::time::timeout(self.options.shutdown_grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!(
                "log downloads still running at shutdown; their requests will be retried"
            );
            in_flight.abort_all();
        }
        self.status.set_running(false);
        tracing::info!("log agent stopped");
    }

    /// Handles one request, keeping it invisible to other consumers while working on it.
    pub async fn handle(self, message: ReceivedMessage, _permit: OwnedSemaphorePermit) {
        let heartbeat = CancellationToken::new();
        tokio::spawn(keep_invisible(
            self.queues.requests.clone(),
            message.clone(),
            self.options.visibility_timeout,
            heartbeat.clone(),
        ));
        let outcome = self.fetch_and_publish(&message).await;
        heartbeat.cancel();
        match outcome {
            Ok(_) => {
                if let Err(error) = self.queues.requests.delete(&message.receipt).await {
                    tracing::warn!(cause = %error, "log published but its request could not be deleted; it will be handled again");
                }
            }
            Err(Failure::Retry(reason)) => {
                self.status.failed(reason.clone());
                let delay = self
                    .options
                    .retry_delay
                    .saturating_mul(message.receive_count.max(1))
                    .min(self.options.visibility_timeout);
                tracing::warn!(receive_count = message.receive_count, delay_secs = delay.as_secs(), cause = %reason, "log request failed; will be retried");
                let _ = self
                    .queues
                    .requests
                    .extend_visibility(&message.receipt, delay)
                    .await;
            }
            Err(Failure::Poison(reason)) => {
                self.status.failed(reason.clone());
                tracing::error!(message_id = %message.message_id, cause = %reason, "unusable log request; leaving it for the dead-letter queue");
            }
        }
    }

    async fn fetch_and_publish(&self, message: &ReceivedMessage) -> Result<Handled, Failure> {
        let request = LogRequest::parse(&message.body).map_err(Failure::Poison)?;
        let spool = tempfile::Builder::new()
            .prefix("log-")
            .suffix(".spool")
            .tempfile_in(&self.options.spool_dir)
            .map_err(|error| Failure::Retry(format!("cannot create a spool file: {error}")))?;
        let mut file = tokio::fs::File::from_std(
            spool
                .reopen()
                .map_err(|error| Failure::Retry(format!("spool file: {error}")))?,
        );
        let (repo, job_id) = (&request.repo, request.subject.job_id);
        let how = LogDownload {
            max_bytes: self.options.max_log_bytes,
            job_skipped: request.job_skipped,
        };
        // Until the App's installation that can read the repository is discovered, the request
        // waits its turn again rather than being decided on.
        let client = self.access.client_for(repo).ok_or_else(|| {
            Failure::Retry(format!(
                "{repo}: no installation of the GitHub App can read this repository (yet)"
            ))
        })?;
        let fetched = client
            .at(Priority::Logs)
            .download_job_log_with(repo, job_id, &mut file, how)
            .await;
        let error = match fetched {
            Ok(log) => {
                self.publish_log(&request, &mut file, &log).await?;
                tracing::info!(%repo, run_id = request.subject.run_id, job_id, bytes = log.bytes, "job log published");
                return Ok(Handled::Published);
            }
            Err(error) => error,
        };
        let attempts = Attempts {
            receive_count: message.receive_count,
            max_attempts: self.options.max_attempts,
            job_skipped: request.job_skipped,
        };
        match decide(error, attempts) {
            Ending::TryAgain(cause) => {
                Err(Failure::Retry(format!("{repo}: job {job_id}: {cause}")))
            }
            Ending::Unavailable { reason, detail } => {
                self.publish_unavailable(&request, reason, detail, message.receive_count)
                    .await?;
                tracing::warn!(%repo, job_id, reason = reason.as_str(), receive_count = message.receive_count, "job log unavailable");
                Ok(Handled::Unavailable)
            }
        }
    }

    async fn publish_log(
        &self,
        request: &LogRequest,
        file: &mut tokio::fs::File,
        log: &DownloadedLog,
    ) -> Result<(), Failure> {
        let parts = LogParts {
            subject: &request.subject,
            log,
            fetched_at: self.clock.now(),
        };
        let budget = parts.content_budget(self.options.max_message_bytes);
        let planning_file = file
            .try_clone()
            .await
            .map_err(|error| Failure::Retry(format!("spool file: {error}")))?
            .into_std()
            .await;
        let (total, is_utf8) = (log.bytes, log.is_utf8);
        let plan =
            // The clone shares the file position, left at the end by the download: rewind first.
            tokio::task::spawn_blocking(move || {
                let mut planning_file = planning_file;
                std::io::Seek::rewind(&mut planning_file)?;
                plan_parts(planning_file, total, is_utf8, budget)
            })
                .await
                .expect("planning does not panic")
                .map_err(|error| Failure::Retry(format!("planning log parts: {error}")))?;
        let count = plan.count();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        for index in 0..plan.ends.len() {
            let (start, end) = plan.range(index);
            let mut bytes = vec![0u8; (end - start) as usize];
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(spool_failure)?;
            file.read_exact(&mut bytes).await.map_err(spool_failure)?;
            let part = index as u32 + 1;
            let message = parts
                .message(bytes, plan.encoding, (part, count), start)
                .map_err(|error| Failure::Retry(format!("part is not UTF-8: {error}")))?;
            batch.push(message);
            if batch.len() == MAX_BATCH {
                self.send(&mut batch).await?;
            }
        }
        self.send(&mut batch).await?;
        let since_completion = request
            .completed_at
            .and_then(|completed| (self.clock.now() - completed).to_std().ok());
        self.status
            .published(u64::from(count), log.bytes, since_completion);
        Ok(())
    }

    async fn publish_unavailable(
        &self,
        request: &LogRequest,
        reason: UnavailableReason,
        detail: String,
        attempts: u32,
    ) -> Result<(), Failure> {
        let message =
            unavailable_message(&request.subject, reason, detail, attempts, self.clock.now());
        self.send(&mut vec![message]).await?;
        self.status.unavailable(reason);
        Ok(())
    }

    /// Sends `batch`, retrying the entries that failed; empties it on success.
    async fn send(&self, batch: &mut Vec<OutgoingMessage>) -> Result<(), Failure> {
        let mut tries = 0;
        while !batch.is_empty() {
            tries += 1;
            let failed: Vec<usize> = match self.queues.logs.send_batch(batch).await {
                Ok(outcome) => {
                    if let Some((_, error)) = outcome
                        .failed
                        .iter()
                        .find(|(_, error)| !error.is_retryable())
                    {
                        return Err(Failure::Retry(format!(
                            "logs queue refused a message: {error}"
                        )));
                    }
                    outcome.failed.iter().map(|(index, _)| *index).collect()
                }
                Err(error) if tries < PUBLISH_TRIES && error.is_retryable() => {
                    (0..batch.len()).collect()
                }
                Err(error) => {
                    return Err(Failure::Retry(format!(
                        "logs queue {}: {error}",
                        self.queues.logs.name()
                    )))
                }
            };
            if failed.is_empty() {
                batch.clear();
                break;
            }
            if tries >= PUBLISH_TRIES {
                return Err(Failure::Retry(format!(
                    "logs queue {}: {} messages still failing",
                    self.queues.logs.name(),
                    failed.len()
                )));
            }
            let keep: Vec<OutgoingMessage> =
                failed.iter().map(|index| batch[*index].clone()).collect();
            *batch = keep;
            tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
        }
        Ok(())
    }
}

/// Spool files a killed process left behind (a running process's files are younger than this).
const ORPHANED_SPOOL_AGE: Duration = Duration::from_secs(3600);

fn remove_orphaned_spool_files(spool_dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(spool_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_spool = path
            .extension()
            .is_some_and(|extension| extension == "spool");
        let age = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok());
        if is_spool && age.is_some_and(|age| age > ORPHANED_SPOOL_AGE) {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed an orphaned log spool file")
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), cause = %error, "cannot remove an orphaned log spool file")
                }
            }
        }
    }
}

/// Extends the request's visibility every half timeout until `done`.
async fn keep_invisible(
    queue: Arc<dyn MessageQueue>,
    message: ReceivedMessage,
    timeout: Duration,
    done: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(timeout / 2) => {}
            _ = done.cancelled() => return,
        }
        if let Err(error) = queue.extend_visibility(&message.receipt, timeout).await {
            tracing::warn!(cause = %error, "cannot extend the visibility of a log request");
        }
    }
}

fn spool_failure(error: std::io::Error) -> Failure {
    Failure::Retry(format!("reading the spool file: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_spool_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("log-old.spool");
        let fresh = dir.path().join("log-fresh.spool");
        let other = dir.path().join("notes.txt");
        for path in [&old, &fresh, &other] {
            std::fs::write(path, b"x").unwrap();
        }
        let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
        for path in [&old, &other] {
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(two_hours_ago)
                .unwrap();
        }
        remove_orphaned_spool_files(dir.path());
        assert!(!old.exists());
        assert!(fresh.exists() && other.exists());
    }
}
