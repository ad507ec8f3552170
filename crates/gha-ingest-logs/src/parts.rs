//! Splitting a spooled log into parts whose encoded content fits a message.
//!
//! Sizes are measured after encoding, because that is what counts against the queue's limit:
//! a UTF-8 log's characters are measured as serde_json escapes them (an ANSI `ESC` becomes the six
//! characters `\u001b`), a base64 log's bytes as 4/3. Parts end on character boundaries, so each
//! part of a UTF-8 log is itself valid UTF-8.

use gha_ingest_core::queue_text::json_escaped_len;
use std::io::{self, Read};

use gha_ingest_core::log_facts::ContentEncoding;

const READ_CHUNK: usize = 64 * 1024;

/// Where each part ends, as byte offsets into the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartPlan {
    pub encoding: ContentEncoding,
    /// Ascending; the last is the log's size. An empty log has one empty part.
    pub ends: Vec<u64>,
}

impl PartPlan {
    pub fn count(&self) -> u32 {
        self.ends.len() as u32
    }

    /// `[start, end)` of part `index` (0-based).
    pub fn range(&self, index: usize) -> (u64, u64) {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        (start, self.ends[index])
    }
}

/// Plans the parts of a log of `total` bytes read from `log`, each at most `budget` encoded bytes.
pub fn plan_parts(
    log: impl Read,
    total: u64,
    is_utf8: bool,
    budget: usize,
) -> io::Result<PartPlan> {
    let budget = budget.max(8);
    if !is_utf8 {
        let per_part = (budget / 4 * 3) as u64;
        let mut ends: Vec<u64> = (1..)
            .map(|part| part * per_part)
            .take_while(|end| *end < total)
            .collect();
        ends.push(total);
        return Ok(PartPlan {
            encoding: ContentEncoding::Base64,
            ends,
        });
    }
    let mut ends = Vec::new();
    let mut reader = io::BufReader::with_capacity(READ_CHUNK, log);
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut carry: Vec<u8> = Vec::new();
    let mut offset = 0u64;
    let mut part_encoded = 0usize;
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        carry.extend_from_slice(&buffer[..read]);
        let valid_up_to = match std::str::from_utf8(&carry) {
            Ok(text) => text.len(),
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        };
        let text = std::str::from_utf8(&carry[..valid_up_to]).expect("checked just above");
        for character in text.chars() {
            let encoded = json_escaped_len(character);
            if part_encoded + encoded > budget && part_encoded > 0 {
                ends.push(offset);
                part_encoded = 0;
            }
            part_encoded += encoded;
            offset += character.len_utf8() as u64;
        }
        carry.drain(..valid_up_to);
    }
    if !carry.is_empty() || offset != total {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "log changed or ended mid-character while planning",
        ));
    }
    ends.push(total);
    Ok(PartPlan {
        encoding: ContentEncoding::Utf8,
        ends,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded_len(text: &str) -> usize {
        gha_ingest_core::queue_text::to_queue_json(text).len() - 2
    }

    #[test]
    fn escaped_lengths_match_serde_json() {
        for character in [
            'a', '"', '\\', '\n', '\t', '\u{1b}', '\u{0}', '\u{7f}', '/', 'é', '✓', '🚀',
            '\u{fffe}', '\u{ffff}',
        ] {
            assert_eq!(
                json_escaped_len(character),
                encoded_len(&character.to_string()),
                "{character:?}"
            );
        }
    }

    #[test]
    fn utf8_parts_fit_the_budget_and_cover_the_log() {
        let log =
            "2026-06-01T00:00:00.0000000Z \u{1b}[36;1mecho \"héllo\"\u{1b}[0m 🚀\n".repeat(500);
        let budget = 1000;
        let plan = plan_parts(log.as_bytes(), log.len() as u64, true, budget).unwrap();
        assert!(plan.count() > 1);
        let mut rebuilt = String::new();
        for index in 0..plan.count() as usize {
            let (start, end) = plan.range(index);
            let part = &log[start as usize..end as usize];
            assert!(
                encoded_len(part) <= budget,
                "part {index} is {} encoded",
                encoded_len(part)
            );
            rebuilt.push_str(part);
        }
        assert_eq!(rebuilt, log);
    }

    #[test]
    fn binary_logs_split_into_base64_sized_parts_and_empty_logs_have_one_part() {
        let plan = plan_parts(&[0u8; 10][..], 10, false, 8).unwrap();
        assert_eq!(plan.encoding, ContentEncoding::Base64);
        assert_eq!(plan.ends, vec![6, 10]);
        let empty = plan_parts(&b""[..], 0, true, 100).unwrap();
        assert_eq!(empty.ends, vec![0]);
        assert_eq!(empty.range(0), (0, 0));
    }
}
