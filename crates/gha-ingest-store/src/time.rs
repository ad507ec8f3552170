//! Timestamps are stored as RFC 3339 text in UTC, which sorts correctly as text.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::StoreError;

pub(crate) fn to_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The UTC day of `time`, `2026-06-01`: a prefix of [`to_text`], so days compare as text too.
pub(crate) fn day_text(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d").to_string()
}

pub(crate) fn from_text(text: &str, operation: &'static str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|err| StoreError::Corrupt {
            operation,
            detail: format!("timestamp {text:?}: {err}"),
        })
}

pub(crate) fn optional_from_text(
    text: Option<String>,
    operation: &'static str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.map(|text| from_text(&text, operation)).transpose()
}
