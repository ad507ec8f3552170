//! SQS's message rules, enforced before anything is sent.
//!
//! Real SQS rejects a message over its size limit (counted in bytes, attributes included), more
//! than ten attributes, or characters outside its allowed set; moto accepts all of those (it counts
//! characters, ignores attributes and allows control characters). A publisher tested only against
//! moto would therefore fail in production, so both implementations run these checks themselves and
//! report a violation per message, before any request.

use std::collections::BTreeMap;

use gha_ingest_core::queue_text::first_disallowed_char;
pub use gha_ingest_core::queue_text::is_allowed_char;

use crate::error::QueueError;
use crate::message::OutgoingMessage;

/// The most messages one [`send_batch`](crate::MessageQueue::send_batch) or receive handles.
pub const MAX_BATCH: usize = 10;

/// The most message attributes SQS accepts on one message.
pub const MAX_ATTRIBUTES: usize = 10;

/// The longest attribute name SQS accepts, in characters.
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 256;

/// The default message size limit: 256 KiB, accepted by every SQS queue, including those created
/// before August 2025 or configured with the old `MaximumMessageSize`.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 262_144;

/// The largest message SQS accepts since August 2025: 1 MiB.
pub const SQS_MAX_MESSAGE_BYTES: usize = 1_048_576;

/// The smallest `MaximumMessageSize` an SQS queue can be configured with: 1 KiB.
pub const SQS_MIN_MESSAGE_BYTES: usize = 1_024;

/// The most bytes one SendMessageBatch request may carry, all messages together.
pub const MAX_BATCH_BYTES: usize = 1_048_576;

/// The data type of every attribute this crate sends; its name counts toward the message size.
pub(crate) const STRING_DATA_TYPE: &str = "String";

/// The size limit of the queue's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLimits {
    /// The largest message in bytes, body plus attribute names, data types and values, as SQS
    /// counts it. Default [`DEFAULT_MAX_MESSAGE_BYTES`] (safe on every SQS setup); may be raised up
    /// to [`SQS_MAX_MESSAGE_BYTES`] when the target queue's `MaximumMessageSize` allows it.
    pub max_message_bytes: usize,
}

impl Default for MessageLimits {
    fn default() -> Self {
        MessageLimits {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

impl MessageLimits {
    /// Checks that the limit is one an SQS queue can have.
    pub fn validate(&self) -> Result<(), String> {
        if (SQS_MIN_MESSAGE_BYTES..=SQS_MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            Ok(())
        } else {
            Err(format!(
                "max_message_bytes is {}, it must be between {SQS_MIN_MESSAGE_BYTES} and {SQS_MAX_MESSAGE_BYTES}",
                self.max_message_bytes
            ))
        }
    }

    /// Checks one message against every SQS rule and this limit; returns its size in bytes.
    pub fn check(&self, message: &OutgoingMessage) -> Result<usize, QueueError> {
        check_attributes(&message.attributes)?;
        if message.body.is_empty() {
            return Err(QueueError::InvalidMessage("the body is empty".to_owned()));
        }
        if let Some(position) = first_disallowed_char(&message.body) {
            return Err(QueueError::InvalidMessage(format!(
                "the body contains a character SQS does not allow at byte {position}"
            )));
        }
        let bytes = message_size(message);
        if bytes > self.max_message_bytes {
            return Err(QueueError::MessageTooLarge {
                bytes,
                limit: self.max_message_bytes,
            });
        }
        Ok(bytes)
    }
}

/// A message's size as SQS counts it: the body plus, per attribute, its name, its data type and
/// its value, all in UTF-8 bytes.
pub fn message_size(message: &OutgoingMessage) -> usize {
    let attributes: usize = message
        .attributes
        .iter()
        .map(|(name, value)| name.len() + STRING_DATA_TYPE.len() + value.len())
        .sum();
    message.body.len() + attributes
}

fn check_attributes(attributes: &BTreeMap<String, String>) -> Result<(), QueueError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(QueueError::InvalidMessage(format!(
            "{} attributes, SQS allows at most {MAX_ATTRIBUTES}",
            attributes.len()
        )));
    }
    for (name, value) in attributes {
        check_attribute_name(name)?;
        if value.is_empty() {
            return Err(QueueError::InvalidMessage(format!(
                "attribute {name} has an empty value"
            )));
        }
        if let Some(position) = first_disallowed_char(value) {
            return Err(QueueError::InvalidMessage(format!(
                "attribute {name} contains a character SQS does not allow at byte {position}"
            )));
        }
    }
    Ok(())
}

/// SQS attribute names: 1 to 256 of `A-Za-z0-9_-.`, no leading, trailing or doubled period, and
/// no `AWS.` or `Amazon.` prefix in any case.
fn check_attribute_name(name: &str) -> Result<(), QueueError> {
    let invalid = |reason: &str| {
        Err(QueueError::InvalidMessage(format!(
            "attribute name {name:?} {reason}"
        )))
    };
    if name.is_empty() || name.chars().count() > MAX_ATTRIBUTE_NAME_CHARS {
        return invalid("must have 1 to 256 characters");
    }
    if !name
        .chars()
        .all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.'))
    {
        return invalid("may only contain letters, digits, '-', '_' and '.'");
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return invalid("may not start or end with a period or contain two in a row");
    }
    let lowercase = name.to_ascii_lowercase();
    if lowercase.starts_with("aws.") || lowercase.starts_with("amazon.") {
        return invalid("may not start with the reserved prefixes AWS. or Amazon.");
    }
    Ok(())
}

/// Rejects a batch of more than [`MAX_BATCH`] messages as a whole.
pub(crate) fn check_batch_len(queue: &str, len: usize) -> Result<(), QueueError> {
    if len > MAX_BATCH {
        return Err(QueueError::InvalidMessage(format!(
            "a batch for queue {queue} has {len} messages, at most {MAX_BATCH} are allowed"
        )));
    }
    Ok(())
}

/// Splits `(index, size)` entries, in order, into consecutive groups whose sizes add up to at most
/// `max_group_bytes` each. Every entry must fit alone (validation guarantees it).
pub(crate) fn split_by_bytes(
    entries: &[(usize, usize)],
    max_group_bytes: usize,
) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut current_bytes = 0;
    for &(index, bytes) in entries {
        debug_assert!(
            bytes <= max_group_bytes,
            "a validated message fits a batch alone"
        );
        if !current.is_empty() && current_bytes + bytes > max_group_bytes {
            groups.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current.push(index);
        current_bytes += bytes;
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str, attributes: &[(&str, &str)]) -> OutgoingMessage {
        OutgoingMessage {
            body: body.to_owned(),
            attributes: attributes
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            deduplication_id: "id".to_owned(),
        }
    }

    #[test]
    fn size_counts_bytes_and_attributes() {
        // "é" is two bytes; the attribute counts name + "String" + value.
        let sized = message("éa", &[("repo", "o/r")]);
        assert_eq!(message_size(&sized), 3 + 4 + 6 + 3);
    }

    #[test]
    fn limit_is_checked_in_bytes_not_characters() {
        let limits = MessageLimits {
            max_message_bytes: 1_024,
        };
        let fits = message(&"é".repeat(512), &[]);
        assert_eq!(limits.check(&fits), Ok(1_024));
        let too_large = message(&"é".repeat(513), &[]);
        assert_eq!(
            limits.check(&too_large),
            Err(QueueError::MessageTooLarge {
                bytes: 1_026,
                limit: 1_024
            })
        );
        let too_large_by_attributes = message(&"a".repeat(1_020), &[("k", "v")]);
        assert!(matches!(
            limits.check(&too_large_by_attributes),
            Err(QueueError::MessageTooLarge { bytes: 1_028, .. })
        ));
    }

    #[test]
    fn allowed_characters_follow_sqs() {
        for allowed in [
            '\t', '\n', '\r', ' ', 'é', '\u{D7FF}', '\u{E000}', '\u{FFFD}', '😀',
        ] {
            assert!(is_allowed_char(allowed), "{allowed:?}");
        }
        for disallowed in ['\0', '\u{1B}', '\u{8}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'] {
            assert!(!is_allowed_char(disallowed), "{disallowed:?}");
        }
        let limits = MessageLimits::default();
        assert!(matches!(
            limits.check(&message("ansi \u{1B}[31m red", &[])),
            Err(QueueError::InvalidMessage(_))
        ));
        assert!(matches!(
            limits.check(&message("ok", &[("k", "\u{FFFF}")])),
            Err(QueueError::InvalidMessage(_))
        ));
    }

    #[test]
    fn attribute_rules_follow_sqs() {
        let limits = MessageLimits::default();
        let names: Vec<String> = (0..11).map(|index| format!("a{index}")).collect();
        let ten: Vec<(&str, &str)> = names[..10]
            .iter()
            .map(|name| (name.as_str(), "v"))
            .collect();
        let eleven: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "v")).collect();
        assert!(limits.check(&message("ok", &ten)).is_ok());
        assert!(matches!(
            limits.check(&message("ok", &eleven)),
            Err(QueueError::InvalidMessage(_))
        ));
        for bad_name in ["", ".a", "a.", "a..b", "AWS.x", "amazon.x", "a b", "é"] {
            assert!(
                matches!(
                    limits.check(&message("ok", &[(bad_name, "v")])),
                    Err(QueueError::InvalidMessage(_))
                ),
                "{bad_name:?}"
            );
        }
        assert!(limits
            .check(&message(
                "ok",
                &[("event_type", "x"), ("schema.version-1", "1")]
            ))
            .is_ok());
        assert!(limits.check(&message("ok", &[("k", "")])).is_err());
        assert!(limits.check(&message("", &[])).is_err());
    }

    #[test]
    fn limits_must_be_possible_on_sqs() {
        assert!(MessageLimits::default().validate().is_ok());
        assert!(MessageLimits {
            max_message_bytes: SQS_MAX_MESSAGE_BYTES
        }
        .validate()
        .is_ok());
        assert!(MessageLimits {
            max_message_bytes: SQS_MAX_MESSAGE_BYTES + 1
        }
        .validate()
        .is_err());
        assert!(MessageLimits {
            max_message_bytes: 0
        }
        .validate()
        .is_err());
    }

    #[test]
    fn batches_split_by_total_bytes_in_order() {
        let entries = [(0, 400), (1, 400), (3, 400), (4, 100), (7, 1_000)];
        assert_eq!(
            split_by_bytes(&entries, 1_000),
            vec![vec![0, 1], vec![3, 4], vec![7]]
        );
        assert_eq!(split_by_bytes(&entries[..2], 1_000), vec![vec![0, 1]]);
        assert!(split_by_bytes(&[], 1_000).is_empty());
    }
}
