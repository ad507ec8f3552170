//! Keeping every event within a queue's message size limit without losing a fact.
//!
//! A completed run nests its jobs and their steps (the requirement's shape) and its head commit's
//! metrics; a run with hundreds of jobs, or a squash merge with a commit message of hundreds of
//! kilobytes, can outgrow a 256 KiB SQS message. An event that does not fit used to be parked
//! forever, taking every fact in it along. Here it is reduced, cheapest loss first, until it fits:
//!
//! 1. nested steps are removed (`nested_steps_omitted: true`): every job travels with its steps
//!    in its own `workflow_job_*` event;
//! 2. the nested copy of the commit message (`code_metrics.commit_message`) is cut: the commit
//!    travels whole in its `commit_metrics` event;
//! 3. nested jobs are removed (`nested_jobs_omitted: true`);
//! 4. the free text itself is cut: `commit_message`, then `display_title`;
//! 5. any other string over [`LONG_TEXT_BYTES`] is cut, its JSON pointer listed in
//!    `truncated_fields`.
//!
//! A cut field keeps as much of its start as fits and says so beside it: `<field>_truncated:
//! true` and `<field>_length`, the full length in UTF-8 bytes. Sizes are those of the queue-safe
//! JSON (`queue_text`), escapes included.

use serde_json::{Map, Value};

use crate::event::Envelope;
use crate::queue_text::{json_escaped_len, to_queue_json};

/// Strings longer than this (in bytes) are cut by the last resort.
pub const LONG_TEXT_BYTES: usize = 1024;

/// The body could not be made small enough, even with every reduction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {event_id} is {bytes} bytes even reduced, over the {limit}-byte limit")]
pub struct EventTooLarge {
    pub event_id: String,
    pub bytes: usize,
    pub limit: usize,
}

/// One way of making an event smaller, in the order they are tried.
#[derive(Debug, Clone, Copy)]
enum Reduction {
    DropNestedSteps,
    CutText(&'static [&'static str]),
    DropNestedJobs,
    CutLongStrings,
}

const REDUCTIONS: [Reduction; 6] = [
    Reduction::DropNestedSteps,
    Reduction::CutText(&["code_metrics", "commit_message"]),
    Reduction::DropNestedJobs,
    Reduction::CutText(&["commit_message"]),
    Reduction::CutText(&["display_title"]),
    Reduction::CutLongStrings,
];

/// Serializes `envelope` as queue-safe JSON, reduced as needed to fit `limit` bytes.
pub fn encode_within_limit<D: serde::Serialize>(
    envelope: &Envelope<D>,
    limit: usize,
) -> Result<String, EventTooLarge> {
    let body = to_queue_json(envelope);
    if body.len() <= limit {
        return Ok(body);
    }
    let mut reduced = envelope.to_json_data();
    let mut size = body.len();
    for reduction in REDUCTIONS {
        let excess = size.saturating_sub(limit);
        if !apply(reduction, &mut reduced.data, excess) {
            continue;
        }
        let body = to_queue_json(&reduced);
        if body.len() <= limit {
            return Ok(body);
        }
        size = body.len();
    }
    Err(EventTooLarge {
        event_id: envelope.event_id.clone(),
        bytes: size,
        limit,
    })
}

/// Applies one reduction; returns whether it changed anything.
fn apply(reduction: Reduction, data: &mut Value, excess: usize) -> bool {
    match reduction {
        Reduction::DropNestedSteps => {
            let Some(jobs) = data.get_mut("jobs").and_then(Value::as_array_mut) else {
                return false;
            };
            for job in jobs.iter_mut().filter_map(Value::as_object_mut) {
                job.remove("steps");
            }
            data["nested_steps_omitted"] = Value::Bool(true);
            true
        }
        Reduction::DropNestedJobs => {
            let Some(jobs) = data.get_mut("jobs").and_then(Value::as_array_mut) else {
                return false;
            };
            jobs.clear();
            data["nested_jobs_omitted"] = Value::Bool(true);
            true
        }
        Reduction::CutText(path) => {
            let (field, parents) = path.split_last().expect("a path names a field");
            let mut object = data;
            for parent in parents {
                match object.get_mut(*parent) {
                    Some(child) if child.is_object() => object = child,
                    _ => return false,
                }
            }
            let Some(object) = object.as_object_mut() else {
                return false;
            };
            // Room for the marker fields beside the cut text.
            let marker_bytes = field.len() * 2 + 48;
            cut_field(object, field, excess + marker_bytes)
        }
        Reduction::CutLongStrings => {
            let mut cut = Vec::new();
            cut_long_strings(data, String::new(), &mut cut);
            if cut.is_empty() {
                return false;
            }
            data["truncated_fields"] = Value::from(cut);
            true
        }
    }
}

/// Cuts `object[field]` by at least `shorten_by` escaped bytes (all of it if shorter), marking it.
fn cut_field(object: &mut Map<String, Value>, field: &str, shorten_by: usize) -> bool {
    let Some(Value::String(text)) = object.get(field) else {
        return false;
    };
    if text.is_empty() {
        return false;
    }
    let escaped: usize = text.chars().map(json_escaped_len).sum();
    let keep = escaped.saturating_sub(shorten_by);
    let full_length = text.len();
    let kept = prefix_within(text, keep).to_string();
    object.insert(field.to_string(), Value::String(kept));
    object.insert(format!("{field}_truncated"), Value::Bool(true));
    object.insert(format!("{field}_length"), Value::from(full_length));
    true
}

/// Cuts every string longer than [`LONG_TEXT_BYTES`], recording each one's JSON pointer.
fn cut_long_strings(value: &mut Value, pointer: String, cut: &mut Vec<String>) {
    match value {
        Value::String(text) if text.len() > LONG_TEXT_BYTES => {
            *text = prefix_within(text, LONG_TEXT_BYTES).to_string();
            cut.push(pointer);
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                cut_long_strings(item, format!("{pointer}/{index}"), cut);
            }
        }
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                let escaped_name = name.replace('~', "~0").replace('/', "~1");
                cut_long_strings(field, format!("{pointer}/{escaped_name}"), cut);
            }
        }
        _ => {}
    }
}

/// The longest prefix of `text`, on a character boundary, whose escaped length is at most `budget`.
fn prefix_within(text: &str, budget: usize) -> &str {
    let mut used = 0;
    for (position, character) in text.char_indices() {
        used += json_escaped_len(character);
        if used > budget {
            return &text[..position];
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventType, Source};
    use serde_json::json;

    fn envelope_with_jobs(jobs: usize, steps: usize) -> Envelope {
        let job = json!({"job_id": 1, "steps": vec![json!({"number": 1, "step_name": "x".repeat(100)}); steps]});
        Envelope::new(
            EventType::WorkflowRunCompleted,
            "run-1-1-completed".into(),
            Source::Poll,
            chrono::Utc::now(),
            json!({"run_id": 1, "jobs": vec![job; jobs]}),
        )
    }

    #[test]
    fn small_events_are_untouched() {
        let envelope = envelope_with_jobs(2, 2);
        let body = encode_within_limit(&envelope, 10_000).unwrap();
        assert_eq!(serde_json::from_str::<Envelope>(&body).unwrap(), envelope);
    }

    #[test]
    fn nested_steps_go_first_then_nested_jobs() {
        let envelope = envelope_with_jobs(50, 20);
        let body = encode_within_limit(&envelope, 10_000).unwrap();
        let decoded: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(decoded["data"]["nested_steps_omitted"], true);
        assert_eq!(decoded["data"]["jobs"].as_array().unwrap().len(), 50);
        assert!(body.len() <= 10_000);

        let body = encode_within_limit(&envelope, 600).unwrap();
        let decoded: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(decoded["data"]["nested_jobs_omitted"], true);
        assert!(encode_within_limit(&envelope, 50).is_err());
    }

    fn commit_event(message: &str) -> Envelope {
        Envelope::new(
            EventType::CommitMetrics,
            "commit-abc-123".into(),
            Source::Poll,
            chrono::Utc::now(),
            json!({"commit_sha": "abc", "commit_message": message, "files_changed_count": 3}),
        )
    }

    #[test]
    fn a_huge_commit_message_is_cut_with_a_marker_and_the_rest_kept() {
        let message = "squash: ".to_string() + &"é\u{FFFE}".repeat(100_000);
        let envelope = commit_event(&message);
        let body = encode_within_limit(&envelope, 10_000).unwrap();
        assert!(body.len() <= 10_000, "{}", body.len());
        let decoded: serde_json::Value = serde_json::from_str(&body).unwrap();
        let kept = decoded["data"]["commit_message"].as_str().unwrap();
        assert!(message.starts_with(kept), "the kept text is a prefix");
        assert!(
            body.len() > 9_000,
            "the cut keeps what fits: {}",
            body.len()
        );
        assert_eq!(decoded["data"]["commit_message_truncated"], true);
        assert_eq!(decoded["data"]["commit_message_length"], message.len());
        assert_eq!(decoded["data"]["files_changed_count"], 3);
    }

    #[test]
    fn a_run_loses_its_nested_copies_before_its_own_text() {
        let mut envelope = envelope_with_jobs(5, 5);
        envelope.data["display_title"] = json!("t".repeat(3_000));
        envelope.data["code_metrics"] = json!({"commit_message": "m".repeat(50_000)});
        let body = encode_within_limit(&envelope, 8_000).unwrap();
        let decoded: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            decoded["data"]["code_metrics"]["commit_message_truncated"],
            true
        );
        assert_eq!(
            decoded["data"]["code_metrics"]["commit_message_length"],
            50_000
        );
        assert_eq!(decoded["data"]["nested_steps_omitted"], true);
        assert_eq!(decoded["data"].get("nested_jobs_omitted"), None);
        assert_eq!(
            decoded["data"]["display_title"].as_str().unwrap().len(),
            3_000
        );
    }

    #[test]
    fn any_other_long_text_is_cut_last_and_listed() {
        let envelope = Envelope::new(
            EventType::WorkflowJobCompleted,
            "job-1-completed".into(),
            Source::Poll,
            chrono::Utc::now(),
            json!({"job_id": 1, "labels": ["x".repeat(20_000)], "job_name": "n/a"}),
        );
        let body = encode_within_limit(&envelope, 4_000).unwrap();
        let decoded: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(decoded["data"]["truncated_fields"], json!(["/labels/0"]));
        assert_eq!(
            decoded["data"]["labels"][0].as_str().unwrap().len(),
            LONG_TEXT_BYTES
        );
    }
}
