//! Keeping run events within a queue's message size limit without losing facts.
//!
//! A completed run nests its jobs and their steps (the requirement's shape). A run with hundreds
//! of jobs can outgrow a 256 KiB SQS message. Every job and its steps also travel in their own
//! `workflow_job_*` events, so the nested copies are what we drop first, saying so in `data`.

use crate::event::Envelope;

/// The body could not be made small enough.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {event_id} is {bytes} bytes even without nested jobs, over the {limit}-byte limit")]
pub struct EventTooLarge {
    pub event_id: String,
    pub bytes: usize,
    pub limit: usize,
}

/// Serializes `envelope`, omitting nested steps and then nested jobs if needed to fit `limit`.
pub fn encode_within_limit(envelope: &Envelope, limit: usize) -> Result<String, EventTooLarge> {
    let body = to_json(envelope);
    if body.len() <= limit {
        return Ok(body);
    }
    let mut reduced = envelope.clone();
    let Some(jobs) = reduced
        .data
        .get_mut("jobs")
        .and_then(|jobs| jobs.as_array_mut())
    else {
        return Err(too_large(envelope, body.len(), limit));
    };
    for job in jobs.iter_mut() {
        if let Some(job) = job.as_object_mut() {
            job.remove("steps");
        }
    }
    reduced.data["nested_steps_omitted"] = serde_json::Value::Bool(true);
    let body = to_json(&reduced);
    if body.len() <= limit {
        return Ok(body);
    }
    reduced.data["jobs"] = serde_json::Value::Array(Vec::new());
    reduced.data["nested_jobs_omitted"] = serde_json::Value::Bool(true);
    let body = to_json(&reduced);
    if body.len() <= limit {
        return Ok(body);
    }
    Err(too_large(envelope, body.len(), limit))
}

fn to_json(envelope: &Envelope) -> String {
    serde_json::to_string(envelope).expect("an envelope is plain data and always serializes")
}

fn too_large(envelope: &Envelope, bytes: usize, limit: usize) -> EventTooLarge {
    EventTooLarge {
        event_id: envelope.event_id.clone(),
        bytes,
        limit,
    }
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
}
