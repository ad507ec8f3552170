//! A job's log for the viewer, fetched from GitHub on demand: the whole log is streamed through
//! the GitHub client into an anonymous spool file (memory stays bounded whatever its size), then
//! one page of it is served as `text/plain` — the last `tail_bytes`, or `length` bytes from
//! `offset`. Headers tell the viewer where the page sits so it can ask for earlier bytes.
//!
//! Each uncached download costs a point of the GitHub budget the pipeline lives on and disk
//! space, so the viewer cannot be used to drain either:
//! - downloads are single-flighted per job: concurrent requests for one log share one download;
//! - at most `max_concurrent_downloads` run at once; one more is refused with 429 and
//!   `retry-after` rather than queued (a queue would only hide the pressure);
//! - each client may start `downloads_per_client_per_minute` downloads (GCRA, `governor`);
//! - a log is at most `max_log_bytes`; the spool (beside the state database, not `/tmp`, so it
//!   counts against the data volume the operator sized) holds at most `spool_max_bytes`, a
//!   download in progress counted at its maximum; older cached logs are evicted to make room;
//! - a request, download included, takes at most `time_limit`.
//!
//! Downloaded logs are kept a few minutes so the viewer's "load more" pages through one
//! download. Only jobs the store knows are served: the run must be stored and the job must
//! belong to it, so this endpoint cannot fetch arbitrary logs through the daemon's token.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use gha_ingest_core::RepoName;
use gha_ingest_github::LogDownloadError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::io::AsyncWriteExt;
use tokio::sync::{OnceCell, Semaphore};

use crate::api::query_u64;
use crate::auth::{ClientIp, Reader};
use crate::error::ApiError;
use crate::{LogViewerOptions, SharedState};

/// Bytes returned when neither `tail_bytes` nor `offset` is given: the last 256 KiB.
const DEFAULT_PAGE_BYTES: u64 = 256 * 1024;
/// The largest page one request may ask for.
const MAX_PAGE_BYTES: u64 = 8 * 1024 * 1024;

/// How long a downloaded log is kept for paging.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// How many downloaded logs are kept at once.
const CACHE_ENTRIES: usize = 4;
/// What a refused download asks the client to wait.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Clients the per-client limiter tracks before forgetting idle ones.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// Total size of the log, in bytes.
const TOTAL_HEADER: HeaderName = HeaderName::from_static("x-log-total-bytes");
/// Offset of the first byte of this page within the log.
const OFFSET_HEADER: HeaderName = HeaderName::from_static("x-log-offset");

/// Which bytes of the log to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Tail(u64),
    Range { offset: u64, length: u64 },
}

impl Page {
    fn from_query(query: &HashMap<String, String>) -> Result<Page, ApiError> {
        let tail = query_u64(query, "tail_bytes")?;
        let offset = query_u64(query, "offset")?;
        let length = query_u64(query, "length")?;
        let page = match (offset, tail) {
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest(
                    "give either tail_bytes or offset, not both".to_string(),
                ))
            }
            (Some(offset), None) => Page::Range {
                offset,
                length: length.unwrap_or(DEFAULT_PAGE_BYTES),
            },
            (None, _) if length.is_some() => {
                return Err(ApiError::BadRequest("length needs an offset".to_string()))
            }
            (None, tail) => Page::Tail(tail.unwrap_or(DEFAULT_PAGE_BYTES)),
        };
        let size = match page {
            Page::Tail(size) | Page::Range { length: size, .. } => size,
        };
        if size > MAX_PAGE_BYTES {
            return Err(ApiError::BadRequest(format!(
                "a page is at most {MAX_PAGE_BYTES} bytes, {size} were asked for"
            )));
        }
        Ok(page)
    }

    /// `(offset, length)` within a log of `total` bytes.
    fn bounds(self, total: u64) -> (u64, u64) {
        match self {
            Page::Tail(size) => {
                let length = size.min(total);
                (total - length, length)
            }
            Page::Range { offset, length } => {
                let start = offset.min(total);
                (start, length.min(total - start))
            }
        }
    }
}

pub(crate) async fn job_log(
    State(state): State<SharedState>,
    _reader: Reader,
    ClientIp(client): ClientIp,
    Path((run_id, job_id)): Path<(u64, u64)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let time_limit = state.log_viewer.options.time_limit;
    tokio::time::timeout(
        time_limit,
        serve_page(&state, client, run_id, job_id, &query),
    )
    .await
    .unwrap_or_else(|_| {
        Err(ApiError::TimedOut(format!(
            "the log of job {job_id} took longer than {}s; try again later",
            time_limit.as_secs()
        )))
    })
}

async fn serve_page(
    state: &SharedState,
    client: Option<IpAddr>,
    run_id: u64,
    job_id: u64,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let page = Page::from_query(query)?;
    let run = state
        .store
        .run_facts(run_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("run {run_id} is not known")))?;
    if !job_in_run(state, &run, job_id).await? {
        return Err(ApiError::NotFound(format!(
            "job {job_id} is not a job of run {run_id}"
        )));
    }
    let repo: RepoName = run
        .repo
        .parse()
        .map_err(|error| ApiError::Internal(format!("stored run {run_id}: {error}")))?;

    let log = state.log_viewer.log(state, &repo, job_id, client).await?;
    let total = log.bytes;
    let (offset, length) = page.bounds(total);
    let content = tokio::task::spawn_blocking(move || log.read(offset, length))
        .await
        .map_err(|error| ApiError::Internal(format!("reading the log spool file: {error}")))?
        .map_err(spool_error)?;

    let headers = [
        (
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ),
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (TOTAL_HEADER, HeaderValue::from(total)),
        (OFFSET_HEADER, HeaderValue::from(offset)),
    ];
    Ok((headers, content).into_response())
}

/// A job's whole log in an anonymous spool file, deleted when the last handle drops.
#[derive(Debug)]
struct SpooledLog {
    job_id: u64,
    fetched_at: Instant,
    bytes: u64,
    /// Locked for a seek and a read; only ever used inside `spawn_blocking`.
    file: Mutex<std::fs::File>,
}

impl SpooledLog {
    fn read(&self, offset: u64, length: u64) -> std::io::Result<Vec<u8>> {
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.seek(SeekFrom::Start(offset))?;
        let mut content = Vec::with_capacity(length as usize);
        (&mut *file).take(length).read_to_end(&mut content)?;
        Ok(content)
    }
}

/// One download shared by every request for the same job while it runs.
type SharedDownload = Arc<OnceCell<Result<Arc<SpooledLog>, Arc<ApiError>>>>;

/// The viewer's cache, downloads in progress and the limits on starting one.
#[derive(Debug)]
pub(crate) struct LogViewer {
    pub(crate) options: LogViewerOptions,
    /// The few logs downloaded last, newest at the back.
    cached: Mutex<VecDeque<Arc<SpooledLog>>>,
    in_flight: Mutex<HashMap<u64, SharedDownload>>,
    download_slots: Arc<Semaphore>,
    per_client: DefaultKeyedRateLimiter<IpAddr>,
}

impl LogViewer {
    /// Creates the spool folder; the viewer refuses to start without it.
    pub(crate) fn new(options: &LogViewerOptions) -> std::io::Result<Self> {
        std::fs::create_dir_all(&options.spool_dir)?;
        let per_minute =
            NonZeroU32::new(options.downloads_per_client_per_minute.max(1)).expect("at least one");
        Ok(LogViewer {
            options: options.clone(),
            cached: Mutex::default(),
            in_flight: Mutex::default(),
            download_slots: Arc::new(Semaphore::new(options.max_concurrent_downloads.max(1))),
            per_client: RateLimiter::keyed(Quota::per_minute(per_minute)),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<SpooledLog>>> {
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cached.retain(|log| log.fetched_at.elapsed() < CACHE_TTL);
        cached
    }

    /// The job's log: cached, joined to a download in progress, or downloaded now.
    async fn log(
        &self,
        state: &SharedState,
        repo: &RepoName,
        job_id: u64,
        client: Option<IpAddr>,
    ) -> Result<Arc<SpooledLog>, ApiError> {
        if let Some(log) = self.cache().iter().find(|log| log.job_id == job_id) {
            return Ok(log.clone());
        }
        let download: SharedDownload = self
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(job_id)
            .or_default()
            .clone();
        let outcome = download
            .get_or_init(|| self.download(state, repo, job_id, client))
            .await
            .clone();
        // The first waiter to get here retires the shared download; later requests use the cache.
        {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if in_flight
                .get(&job_id)
                .is_some_and(|current| Arc::ptr_eq(current, &download))
            {
                in_flight.remove(&job_id);
            }
        }
        outcome.map_err(|error| error.duplicate())
    }

    /// Checks every limit, then streams the log into a new spool file and caches it.
    async fn download(
        &self,
        state: &SharedState,
        repo: &RepoName,
        job_id: u64,
        client: Option<IpAddr>,
    ) -> Result<Arc<SpooledLog>, Arc<ApiError>> {
        if let Some(client) = client {
            if self.per_client.len() > MAX_TRACKED_CLIENTS {
                self.per_client.retain_recent();
            }
            if let Err(not_until) = self.per_client.check_key(&client) {
                let retry_after = not_until.wait_time_from(DefaultClock::default().now());
                tracing::warn!(%client, job_id, "log download refused: client over its rate");
                return Err(Arc::new(ApiError::TooManyRequests {
                    message: format!(
                        "at most {} log downloads per minute per client",
                        self.options.downloads_per_client_per_minute
                    ),
                    retry_after,
                }));
            }
        }
        let Ok(_slot) = self.download_slots.clone().try_acquire_owned() else {
            tracing::warn!(job_id, "log download refused: every download slot is busy");
            return Err(Arc::new(ApiError::TooManyRequests {
                message: format!(
                    "{} log downloads are already running; try again shortly",
                    self.options.max_concurrent_downloads
                ),
                retry_after: BUSY_RETRY_AFTER,
            }));
        };
        self.make_room_for_a_download()?;
        let log = Arc::new(
            spool(state, &self.options, repo, job_id)
                .await
                .map_err(Arc::new)?,
        );
        let mut cached = self.cache();
        cached.retain(|entry| entry.job_id != job_id);
        cached.push_back(log.clone());
        while cached.len() > CACHE_ENTRIES {
            cached.pop_front();
        }
        Ok(log)
    }

    /// Evicts cached logs, oldest first, until the spool can take every running download (this
    /// one included) at its maximum size.
    fn make_room_for_a_download(&self) -> Result<(), Arc<ApiError>> {
        let running = self
            .options
            .max_concurrent_downloads
            .max(1)
            .saturating_sub(self.download_slots.available_permits()) as u64;
        let reserved = running.saturating_mul(self.options.max_log_bytes);
        let mut cached = self.cache();
        while !cached.is_empty()
            && cached.iter().map(|log| log.bytes).sum::<u64>() + reserved
                > self.options.spool_max_bytes
        {
            cached.pop_front();
        }
        if reserved > self.options.spool_max_bytes {
            return Err(Arc::new(ApiError::TooManyRequests {
                message: "the log spool is full; try again shortly".to_string(),
                retry_after: BUSY_RETRY_AFTER,
            }));
        }
        Ok(())
    }
}

/// Streams the job's log from GitHub into a new anonymous file in the spool folder.
async fn spool(
    state: &SharedState,
    options: &LogViewerOptions,
    repo: &RepoName,
    job_id: u64,
) -> Result<SpooledLog, ApiError> {
    let spool_dir: PathBuf = options.spool_dir.clone();
    let spool = tokio::task::spawn_blocking(move || tempfile::tempfile_in(spool_dir))
        .await
        .map_err(|error| ApiError::Internal(format!("creating a spool file: {error}")))?
        .map_err(spool_error)?;
    let mut file = tokio::fs::File::from_std(spool);
    let client = state.github.client_for(repo).ok_or_else(|| {
        ApiError::NotFound(format!("no credential of this daemon can read {repo}"))
    })?;
    let downloaded = client
        .download_job_log(repo, job_id, &mut file, options.max_log_bytes)
        .await
        .map_err(|error| download_error(job_id, error))?;
    file.flush().await.map_err(spool_error)?;
    tracing::info!(%repo, job_id, bytes = downloaded.bytes, "job log downloaded for the viewer");
    Ok(SpooledLog {
        job_id,
        fetched_at: Instant::now(),
        bytes: downloaded.bytes,
        file: Mutex::new(file.into_std().await),
    })
}

/// Whether `job_id` belongs to the run, in its latest attempt or an earlier one.
async fn job_in_run(
    state: &SharedState,
    run: &gha_ingest_core::facts::RunFacts,
    job_id: u64,
) -> Result<bool, ApiError> {
    if run.jobs.iter().any(|job| job.job_id == job_id) {
        return Ok(true);
    }
    for attempt in 1..=run.run_attempt {
        let jobs = state.store.attempt_jobs(run.run_id, attempt).await?;
        if jobs.iter().any(|job| job.job_id == job_id) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn download_error(job_id: u64, error: LogDownloadError) -> ApiError {
    match error {
        LogDownloadError::NotFound(_) => {
            ApiError::NotFound(format!("github has no log for job {job_id} (yet)"))
        }
        LogDownloadError::Gone(_) => {
            ApiError::Gone(format!("the log of job {job_id} is past its retention"))
        }
        LogDownloadError::TooLarge { limit } => ApiError::Upstream(format!(
            "the log of job {job_id} is larger than the viewer's {limit}-byte limit"
        )),
        LogDownloadError::Transient(detail) | LogDownloadError::Refused(detail) => {
            ApiError::Upstream(format!("downloading the log of job {job_id}: {detail}"))
        }
        LogDownloadError::Spool(error) => spool_error(error),
    }
}

fn spool_error(error: std::io::Error) -> ApiError {
    ApiError::Internal(format!("log spool file: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn pages_default_to_the_tail() {
        assert_eq!(
            Page::from_query(&query(&[])).unwrap(),
            Page::Tail(DEFAULT_PAGE_BYTES)
        );
        assert_eq!(
            Page::from_query(&query(&[("tail_bytes", "10")])).unwrap(),
            Page::Tail(10)
        );
        assert_eq!(
            Page::from_query(&query(&[("offset", "5"), ("length", "7")])).unwrap(),
            Page::Range {
                offset: 5,
                length: 7
            }
        );
    }

    #[test]
    fn contradictory_or_oversized_pages_are_refused() {
        assert!(Page::from_query(&query(&[("offset", "1"), ("tail_bytes", "1")])).is_err());
        assert!(Page::from_query(&query(&[("length", "1")])).is_err());
        assert!(Page::from_query(&query(&[("tail_bytes", "-1")])).is_err());
        assert!(Page::from_query(&query(&[("tail_bytes", "999999999999")])).is_err());
    }

    #[test]
    fn bounds_stay_inside_the_log() {
        assert_eq!(Page::Tail(10).bounds(100), (90, 10));
        assert_eq!(Page::Tail(1000).bounds(100), (0, 100));
        assert_eq!(
            Page::Range {
                offset: 95,
                length: 10
            }
            .bounds(100),
            (95, 5)
        );
        assert_eq!(
            Page::Range {
                offset: 500,
                length: 10
            }
            .bounds(100),
            (100, 0)
        );
    }
}
