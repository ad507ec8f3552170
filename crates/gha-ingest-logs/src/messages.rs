//! The log agent's messages: `job_log_fetched` parts and `job_log_unavailable`, encoded as the
//! queue will carry them.
//!
//! Bodies are written with `to_queue_json`, which escapes the characters SQS refuses (U+FFFE,
//! U+FFFF, controls) as `\uXXXX`, so a log's text reaches the consumer's JSON parser unchanged. The
//! room left for a part's content is measured on that same encoding: the envelope with an empty
//! content and the widest numbers, plus an allowance for the attributes.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use gha_ingest_core::log_facts::{
    ContentEncoding, JobLogFacts, JobLogUnavailableFacts, LogSubject,
};
use gha_ingest_core::queue_text::to_queue_json;
use gha_ingest_core::{identity, Envelope, EventType, Source, SCHEMA_VERSION};
use gha_ingest_github::DownloadedLog;
use gha_ingest_queue::OutgoingMessage;

use crate::ending::UnavailableReason;

/// Room for message attributes within the size limit.
pub(crate) const ATTRIBUTE_ALLOWANCE_BYTES: usize = 1024;

/// Builds the `job_log_fetched` messages of one downloaded log.
#[derive(Debug)]
pub(crate) struct LogParts<'a> {
    pub subject: &'a LogSubject,
    pub log: &'a DownloadedLog,
    pub fetched_at: DateTime<Utc>,
}

impl LogParts<'_> {
    /// The most encoded content bytes one part may carry in a message of `max_message_bytes`.
    pub(crate) fn content_budget(&self, max_message_bytes: usize) -> usize {
        max_message_bytes.saturating_sub(self.overhead_bytes())
    }

    /// What a part's message takes besides its content: the envelope with an empty content and
    /// the widest numbers, and the attributes.
    fn overhead_bytes(&self) -> usize {
        let widest_empty_part = self.envelope(
            String::new(),
            ContentEncoding::Base64,
            (u32::MAX, u32::MAX),
            (u64::MAX, u64::MAX),
        );
        to_queue_json(&widest_empty_part).len() + ATTRIBUTE_ALLOWANCE_BYTES
    }

    /// The message of part `part` (1-based) of `count`, holding the log's bytes `offset..` (`bytes`).
    pub(crate) fn message(
        &self,
        bytes: Vec<u8>,
        encoding: ContentEncoding,
        (part, count): (u32, u32),
        offset: u64,
    ) -> Result<OutgoingMessage, std::string::FromUtf8Error> {
        let part_bytes = bytes.len() as u64;
        let content = match encoding {
            ContentEncoding::Utf8 => String::from_utf8(bytes)?,
            ContentEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
        };
        let envelope = self.envelope(content, encoding, (part, count), (offset, part_bytes));
        Ok(outgoing(&envelope, &self.subject.repo))
    }

    fn envelope(
        &self,
        log_content: String,
        content_encoding: ContentEncoding,
        (part_index, part_count): (u32, u32),
        (part_offset, part_bytes): (u64, u64),
    ) -> Envelope<JobLogFacts> {
        let subject = self.subject;
        let facts = JobLogFacts {
            repo: subject.repo.clone(),
            run_id: subject.run_id,
            run_attempt: subject.run_attempt,
            job_id: subject.job_id,
            job_name: subject.job_name.clone(),
            content_encoding,
            log_content,
            log_bytes: self.log.bytes,
            log_sha256: self.log.sha256.clone(),
            part_index,
            part_count,
            part_offset,
            part_bytes,
            fetched_at: self.fetched_at,
        };
        let event_id = if part_count == 1 {
            identity::log_event_id(subject.job_id)
        } else {
            identity::log_part_event_id(subject.job_id, part_index, part_count)
        };
        Envelope::new(
            EventType::JobLogFetched,
            event_id,
            Source::Poll,
            self.fetched_at,
            facts,
        )
    }
}

/// The `job_log_unavailable` message of a job whose log cannot be had.
pub(crate) fn unavailable_message(
    subject: &LogSubject,
    reason: UnavailableReason,
    detail: String,
    attempts: u32,
    now: DateTime<Utc>,
) -> OutgoingMessage {
    let facts = JobLogUnavailableFacts {
        repo: subject.repo.clone(),
        run_id: subject.run_id,
        run_attempt: subject.run_attempt,
        job_id: subject.job_id,
        job_name: subject.job_name.clone(),
        reason: reason.as_str().to_string(),
        detail,
        attempts,
    };
    let envelope = Envelope::new(
        EventType::JobLogUnavailable,
        identity::log_unavailable_event_id(subject.job_id),
        Source::Poll,
        now,
        &facts,
    );
    outgoing(&envelope, &subject.repo)
}

fn outgoing<D: serde::Serialize>(envelope: &Envelope<D>, repo: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: to_queue_json(envelope),
        attributes: BTreeMap::from([
            (
                "event_type".to_string(),
                envelope.event_type.as_str().to_string(),
            ),
            ("repo".to_string(), repo.to_string()),
            ("schema_version".to_string(), SCHEMA_VERSION.to_string()),
        ]),
        deduplication_id: envelope.event_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parts::plan_parts;
    use gha_ingest_core::queue_text::is_allowed_char;
    use proptest::prelude::*;
    use sha2::Digest;

    fn subject() -> LogSubject {
        LogSubject {
            repo: "acme/webapp".into(),
            run_id: 5,
            run_attempt: 1,
            job_id: 7,
            job_name: Some("build \u{fffe} \"x\"".into()),
        }
    }

    fn downloaded(bytes: &[u8]) -> DownloadedLog {
        DownloadedLog {
            bytes: bytes.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(bytes)),
            is_utf8: std::str::from_utf8(bytes).is_ok(),
        }
    }

    /// Plans, encodes and sends `log` through JSON as a consumer reads it: returns the bytes put
    /// back together, after checking every message against the queue's rules.
    fn round_trip(log: &[u8], content_budget: usize) -> Vec<u8> {
        let subject = subject();
        let downloaded = downloaded(log);
        let parts = LogParts {
            subject: &subject,
            log: &downloaded,
            fetched_at: "2026-06-01T00:00:00.123Z".parse().unwrap(),
        };
        let max_message_bytes = parts.overhead_bytes() + content_budget;
        assert_eq!(parts.content_budget(max_message_bytes), content_budget);

        let plan = plan_parts(log, downloaded.bytes, downloaded.is_utf8, content_budget).unwrap();
        let mut rebuilt = Vec::new();
        for index in 0..plan.ends.len() {
            let (start, end) = plan.range(index);
            let bytes = log[start as usize..end as usize].to_vec();
            let message = parts
                .message(
                    bytes,
                    plan.encoding,
                    (index as u32 + 1, plan.count()),
                    start,
                )
                .unwrap();
            let attribute_bytes: usize = message
                .attributes
                .iter()
                .map(|(name, value)| name.len() + value.len())
                .sum();
            assert!(attribute_bytes <= ATTRIBUTE_ALLOWANCE_BYTES);
            assert!(
                message.body.len() + ATTRIBUTE_ALLOWANCE_BYTES <= max_message_bytes,
                "part {index}: {} bytes over a {max_message_bytes}-byte limit",
                message.body.len() + ATTRIBUTE_ALLOWANCE_BYTES
            );
            if let Some(refused) = message.body.chars().find(|c| !is_allowed_char(*c)) {
                panic!("part {index} carries {refused:?}, which SQS refuses");
            }
            let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
            let data = &body["data"];
            assert_eq!(data["part_offset"], rebuilt.len() as u64);
            let content = data["log_content"].as_str().unwrap();
            match data["content_encoding"].as_str().unwrap() {
                "utf-8" => rebuilt.extend_from_slice(content.as_bytes()),
                "base64" => rebuilt.extend(
                    base64::engine::general_purpose::STANDARD
                        .decode(content)
                        .unwrap(),
                ),
                other => panic!("unknown encoding {other}"),
            }
        }
        rebuilt
    }

    #[test]
    fn noncharacters_controls_and_ansi_survive_byte_identical() {
        let log =
            "\u{fffe}start\u{ffff}\r\n\u{0}\u{1b}[31mred\u{1b}[0m é 🚀 \u{7f}\u{fffd}\n".repeat(40);
        assert_eq!(round_trip(log.as_bytes(), 64), log.as_bytes());
        let mut latin1 = log.into_bytes();
        latin1.push(0xff);
        assert_eq!(round_trip(&latin1, 64), latin1);
    }

    /// Bytes that are often UTF-8 text with the awkward characters in it, sometimes not.
    fn log_bytes() -> impl Strategy<Value = Vec<u8>> {
        let awkward_text = proptest::collection::vec(
            prop_oneof![
                Just('\u{fffe}'),
                Just('\u{ffff}'),
                Just('\u{0}'),
                Just('\u{1b}'),
                Just('\r'),
                Just('\n'),
                Just('"'),
                Just('\\'),
                Just('🚀'),
                any::<char>(),
            ],
            0..300,
        )
        .prop_map(|characters| characters.into_iter().collect::<String>().into_bytes());
        prop_oneof![awkward_text, proptest::collection::vec(any::<u8>(), 0..600)]
    }

    proptest! {
        #[test]
        fn any_log_reassembles_from_messages_within_the_limit(
            log in log_bytes(),
            content_budget in 8usize..200,
        ) {
            prop_assert_eq!(round_trip(&log, content_budget), log);
        }
    }
}
