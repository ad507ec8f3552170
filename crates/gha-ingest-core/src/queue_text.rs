//! JSON text that every queue accepts, character for character.
//!
//! SQS allows only `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF` in a body.
//! serde_json escapes the control characters below U+0020, but writes the noncharacters U+FFFE
//! and U+FFFF raw: they are legal UTF-8, and GitHub stores them in commit messages, branch and
//! job names and logs. A body holding one is refused by SQS for good, which used to park every
//! event of that run. Here such characters are written as JSON `\uXXXX` escapes instead, which
//! any JSON parser turns back into the same character: lossless, and always within SQS's set.
//! Sizes are measured on this output, so the escaped length is what counts against a limit.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

/// Whether SQS allows `character` in a message body or attribute value.
pub fn is_allowed_char(character: char) -> bool {
    matches!(
        character,
        '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}'
    )
}

/// The byte offset of the first character SQS does not allow, if any.
pub fn first_disallowed_char(text: &str) -> Option<usize> {
    let start = first_suspect_byte(text)?;
    text[start..]
        .char_indices()
        .find(|(_, character)| !is_allowed_char(*character))
        .map(|(position, _)| start + position)
}

/// Where a character SQS refuses may begin: every one of them starts with a byte below 0x20
/// (the control characters) or with 0xEF (U+FFFE and U+FFFF; surrogates are never in a `str`).
/// Text with no such byte, nearly all text, is passed over without decoding its characters.
fn first_suspect_byte(text: &str) -> Option<usize> {
    /// Bytes checked at once: without an early exit inside a chunk, the compiler checks it with
    /// vector instructions, not a byte at a time.
    const CHUNK: usize = 32;
    let suspect = |byte: u8| (byte < 0x20) | (byte == 0xEF);
    let mut offset = 0;
    for chunk in text.as_bytes().chunks(CHUNK) {
        if chunk
            .iter()
            .fold(false, |found, &byte| found | suspect(byte))
        {
            return chunk
                .iter()
                .position(|&byte| suspect(byte))
                .map(|position| offset + position);
        }
        offset += chunk.len();
    }
    None
}

/// Serializes `value` as compact JSON in which every character SQS refuses is a `\u` escape.
pub fn to_queue_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, QueueSafeFormatter);
    value
        .serialize(&mut serializer)
        .expect("plain data always serializes to JSON");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The length in bytes that `text` takes as the contents of a JSON string in
/// [`to_queue_json`]'s output (quotes excluded).
pub fn json_string_len(text: &str) -> usize {
    text.chars().map(json_escaped_len).sum()
}

/// The length in bytes of `character` inside a JSON string in [`to_queue_json`]'s output.
pub fn json_escaped_len(character: char) -> usize {
    match character {
        '"' | '\\' | '\u{8}' | '\u{C}' | '\n' | '\r' | '\t' => 2,
        '\u{0}'..='\u{1F}' => 6,
        other if !is_allowed_char(other) => 6,
        other => other.len_utf8(),
    }
}

/// serde_json's compact output, with the characters SQS refuses escaped as `\uXXXX`.
struct QueueSafeFormatter;

impl Formatter for QueueSafeFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let Some(start) = first_suspect_byte(fragment) else {
            return writer.write_all(fragment.as_bytes());
        };
        let mut clean_from = 0;
        for (position, character) in fragment[start..]
            .char_indices()
            .map(|(position, character)| (start + position, character))
        {
            if is_allowed_char(character) {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[clean_from..position])?;
            write!(writer, "\\u{:04X}", u32::from(character))?;
            clean_from = position + character.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[clean_from..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        CompactFormatter.write_char_escape(writer, char_escape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noncharacters_are_escaped_and_parse_back() {
        let text = "fix: \u{FFFE}odd\u{FFFF} \u{1b}[31mred\u{7f} \"q\" é 😀";
        let json = to_queue_json(&serde_json::json!({ "message": text }));
        assert_eq!(first_disallowed_char(&json), None, "{json}");
        assert!(
            json.contains("\\uFFFE") && json.contains("\\uFFFF"),
            "{json}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["message"], text);
    }

    #[test]
    fn escaped_length_matches_the_output() {
        for text in [
            "",
            "plain",
            "\u{0}\u{1f}\t\n\"\\",
            "\u{FFFE}\u{FFFF}\u{FFFD}",
            "é😀",
        ] {
            let json = to_queue_json(text);
            assert_eq!(json.len(), json_string_len(text) + 2, "{text:?} -> {json}");
        }
    }

    proptest::proptest! {
        /// Any text GitHub can hold goes through the queue's character check and comes back
        /// from a JSON parser unchanged, and its accounted length is its escaped length.
        #[test]
        fn any_string_survives_the_queue_unchanged(text in proptest::prelude::any::<String>()) {
            let json = to_queue_json(&serde_json::json!({ "text": text }));
            proptest::prop_assert_eq!(first_disallowed_char(&json), None);
            let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
            proptest::prop_assert_eq!(parsed["text"].as_str(), Some(text.as_str()));
            proptest::prop_assert_eq!(to_queue_json(&text).len(), json_string_len(&text) + 2);
        }

        /// Noncharacters and controls, densely: the cases a uniform `String` rarely draws.
        #[test]
        fn noncharacter_heavy_strings_survive(
            text in "[\\u{0}-\\u{1f}\\u{7f}\\u{fffe}\\u{ffff}\\u{fffd}a\"\\\\é😀]{0,64}"
        ) {
            let json = to_queue_json(&text);
            proptest::prop_assert_eq!(first_disallowed_char(&json), None);
            let parsed: String = serde_json::from_str(&json).unwrap();
            proptest::prop_assert_eq!(parsed, text);
        }

        /// The check that skips bytes finds the very character a decoding scan finds.
        #[test]
        fn the_byte_scan_finds_the_first_disallowed_character(
            text in "[\u{0}-\u{1f}\u{7f}\u{fffe}\u{ffff}\u{fffd}\u{efbf}a\t\n\ré😀]{0,64}",
            plain in "[a-z é]{0,100}"
        ) {
            // Past a chunk boundary or two of plain text.
            let text = format!("{plain}{text}");
            let decoded = text
                .char_indices()
                .find(|(_, character)| !is_allowed_char(*character))
                .map(|(position, _)| position);
            proptest::prop_assert_eq!(first_disallowed_char(&text), decoded);
        }
    }
}
