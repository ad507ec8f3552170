//! A job's log for the viewer, fetched from GitHub on demand: the whole log is streamed through
//! the GitHub client into an anonymous temporary file (memory stays bounded whatever its size),
//! then one page of it is served as `text/plain` — the last `tail_bytes`, or `length` bytes from
//! `offset`. Headers tell the viewer where the page sits so it can ask for earlier bytes.
//!
//! The spooled file is kept for a few minutes (a handful of logs at most), so the viewer's "load
//! more" pages through one download instead of fetching the log again for every page.
//!
//! Only jobs the store knows are served: the run must be stored and the job must belong to it,
//! so this endpoint cannot be used to fetch arbitrary logs through the daemon's token.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use gha_ingest_core::RepoName;
use gha_ingest_github::LogDownloadError;
use tokio::io::AsyncWriteExt;

use crate::api::query_u64;
use crate::error::ApiError;
use crate::SharedState;

/// Bytes returned when neither `tail_bytes` nor `offset` is given: the last 256 KiB.
const DEFAULT_PAGE_BYTES: u64 = 256 * 1024;
/// The largest page one request may ask for.
const MAX_PAGE_BYTES: u64 = 8 * 1024 * 1024;
/// Logs larger than this are not spooled for the viewer.
const MAX_LOG_BYTES: u64 = 1024 * 1024 * 1024;

/// How long a downloaded log is kept for paging.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// How many downloaded logs are kept at once; each is an anonymous temporary file.
const CACHE_ENTRIES: usize = 4;

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
    Path((run_id, job_id)): Path<(u64, u64)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = Page::from_query(&query)?;
    let run = state
        .store
        .run_facts(run_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("run {run_id} is not known")))?;
    if !job_in_run(&state, &run, job_id).await? {
        return Err(ApiError::NotFound(format!(
            "job {job_id} is not a job of run {run_id}"
        )));
    }
    let repo: RepoName = run
        .repo
        .parse()
        .map_err(|error| ApiError::Internal(format!("stored run {run_id}: {error}")))?;

    let log = match state.log_cache.get(job_id) {
        Some(log) => log,
        None => {
            let log = Arc::new(download(&state, &repo, job_id).await?);
            state.log_cache.insert(log.clone());
            log
        }
    };
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

/// A job's whole log in an anonymous temporary file, deleted when the last handle drops.
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

/// The few logs downloaded last, newest at the back.
#[derive(Debug, Default)]
pub(crate) struct LogCache {
    entries: Mutex<VecDeque<Arc<SpooledLog>>>,
}

impl LogCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<SpooledLog>>> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|log| log.fetched_at.elapsed() < CACHE_TTL);
        entries
    }

    fn get(&self, job_id: u64) -> Option<Arc<SpooledLog>> {
        self.entries()
            .iter()
            .find(|log| log.job_id == job_id)
            .cloned()
    }

    fn insert(&self, log: Arc<SpooledLog>) {
        let mut entries = self.entries();
        entries.retain(|cached| cached.job_id != log.job_id);
        entries.push_back(log);
        while entries.len() > CACHE_ENTRIES {
            entries.pop_front();
        }
    }
}

/// Streams the job's log from GitHub into a new temporary file.
async fn download(
    state: &SharedState,
    repo: &RepoName,
    job_id: u64,
) -> Result<SpooledLog, ApiError> {
    let spool = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(|error| ApiError::Internal(format!("creating a spool file: {error}")))?
        .map_err(spool_error)?;
    let mut file = tokio::fs::File::from_std(spool);
    let downloaded = state
        .github
        .download_job_log(repo, job_id, &mut file, MAX_LOG_BYTES)
        .await
        .map_err(|error| download_error(job_id, error))?;
    file.flush().await.map_err(spool_error)?;
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
