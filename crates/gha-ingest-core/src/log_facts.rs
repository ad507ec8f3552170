//! The facts of `job_log_fetched` and `job_log_unavailable` events.
//!
//! A log is published whole and byte-exact. One that fits a message keeps the requirement's shape
//! (`log_content` holds it all, `part_count` is 1). A larger one is split into ordered parts,
//! each carrying its byte offset and length, the part number and count, and the SHA-256 and size
//! of the whole log, so a consumer can reassemble it and verify nothing is missing.
//!
//! `content_encoding` says how to turn `log_content` back into bytes: `utf-8` (the text as is,
//! ANSI escapes and all, JSON-escaped) when the whole log is valid UTF-8, else `base64` for every
//! part, so that no byte is replaced.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How `log_content` encodes the log's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContentEncoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "base64")]
    Base64,
}

/// The job a log belongs to, as named in the work request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSubject {
    pub repo: String,
    pub run_id: u64,
    pub run_attempt: u32,
    pub job_id: u64,
    pub job_name: Option<String>,
}

/// One message's worth of a job's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobLogFacts {
    pub repo: String,
    pub run_id: u64,
    pub run_attempt: u32,
    pub job_id: u64,
    pub job_name: Option<String>,
    pub content_encoding: ContentEncoding,
    /// This part of the log (all of it when `part_count` is 1).
    pub log_content: String,
    /// Size of the whole log in bytes.
    pub log_bytes: u64,
    /// SHA-256 of the whole log's bytes, lowercase hex.
    pub log_sha256: String,
    /// 1-based.
    pub part_index: u32,
    pub part_count: u32,
    /// Byte offset of this part within the log.
    pub part_offset: u64,
    /// Bytes of the log in this part (before encoding).
    pub part_bytes: u64,
    #[serde(with = "crate::event::rfc3339_utc")]
    pub fetched_at: DateTime<Utc>,
}

/// A job whose log could not be had, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobLogUnavailableFacts {
    pub repo: String,
    pub run_id: u64,
    pub run_attempt: u32,
    pub job_id: u64,
    pub job_name: Option<String>,
    /// `not_found` (404 after every attempt: never produced, e.g. a skipped job), `gone` (410:
    /// past retention) or `too_large` (over `logs.max_log_bytes`).
    pub reason: String,
    pub detail: String,
    /// How many times the request was tried.
    pub attempts: u32,
}
