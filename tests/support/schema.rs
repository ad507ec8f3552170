//! Checking message bodies against the published JSON Schemas in `docs/schema/`.
//!
//! The schemas are the contract with downstream consumers; every end-to-end test runs each
//! message it drains through [`validate_event`]. The schema files are compiled into the test
//! binary with `include_str!` and compiled into validators once per process. They reference each
//! other by `$id` (`envelope.schema.json`, `facts.schema.json#/$defs/...`), and `jsonschema` is
//! built without remote resolution, so the shared files are registered as in-memory resources
//! under their `$id`s. Formats (`date-time`) are asserted, not just annotated.

use std::sync::OnceLock;

use jsonschema::{Resource, Validator};
use serde_json::Value;

macro_rules! schema_file {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../docs/schema/",
                $name
            )),
        )
    };
}

/// Schemas other schemas refer to; registered as resources under their `$id`.
const SHARED: [(&str, &str); 2] = [
    schema_file!("envelope.schema.json"),
    schema_file!("facts.schema.json"),
];

/// The schema of each kind of event, in the order of [`EventKind`].
const EVENT_SCHEMAS: [(&str, &str); 6] = [
    schema_file!("workflow_run.schema.json"),
    schema_file!("workflow_job.schema.json"),
    schema_file!("commit_metrics.schema.json"),
    schema_file!("job_log_fetched.schema.json"),
    schema_file!("job_log_unavailable.schema.json"),
    schema_file!("entity_unavailable.schema.json"),
];

#[derive(Debug, Clone, Copy)]
enum EventKind {
    WorkflowRun = 0,
    WorkflowJob = 1,
    CommitMetrics = 2,
    JobLogFetched = 3,
    JobLogUnavailable = 4,
    EntityUnavailable = 5,
}

impl EventKind {
    /// The schema covering `event_type`; `None` for a type that has no schema (yet).
    fn for_event_type(event_type: &str) -> Option<Self> {
        match event_type {
            "workflow_run_requested"
            | "workflow_run_waiting"
            | "workflow_run_pending"
            | "workflow_run_queued"
            | "workflow_run_in_progress"
            | "workflow_run_completed"
            | "workflow_run_updated" => Some(Self::WorkflowRun),
            "workflow_job_waiting"
            | "workflow_job_pending"
            | "workflow_job_queued"
            | "workflow_job_in_progress"
            | "workflow_job_completed"
            | "workflow_job_updated" => Some(Self::WorkflowJob),
            "commit_metrics" => Some(Self::CommitMetrics),
            "job_log_fetched" => Some(Self::JobLogFetched),
            "job_log_unavailable" => Some(Self::JobLogUnavailable),
            "workflow_run_unavailable"
            | "workflow_jobs_unavailable"
            | "commit_metrics_unavailable" => Some(Self::EntityUnavailable),
            _ => None,
        }
    }
}

/// The file name of the schema that covers `event_type`, if any.
pub fn schema_file_for(event_type: &str) -> Option<&'static str> {
    EventKind::for_event_type(event_type).map(|kind| EVENT_SCHEMAS[kind as usize].0)
}

/// Checks one message body against the schema of its `event_type`.
///
/// `Err` carries every violation, one per line, each prefixed by the JSON pointer of the
/// offending value (`/data/jobs/0/run_id: ...`); also when the body is not JSON, has no string
/// `event_type`, or its `event_type` has no schema.
pub fn validate_event(body: &str) -> Result<(), String> {
    let event: Value =
        serde_json::from_str(body).map_err(|error| format!("body is not JSON: {error}"))?;
    let event_type = event
        .get("event_type")
        .and_then(Value::as_str)
        .ok_or_else(|| "body has no string `event_type`".to_string())?;
    let kind = EventKind::for_event_type(event_type)
        .ok_or_else(|| format!("unknown event_type {event_type:?}: no schema in docs/schema/"))?;
    let validator = &validators()?[kind as usize];
    let errors: Vec<String> = validator
        .iter_errors(&event)
        .map(|error| {
            let path = error.instance_path.as_str();
            let path = if path.is_empty() { "(root)" } else { path };
            format!("{path}: {}", shorten(&error.to_string()))
        })
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    let event_id = event.get("event_id").and_then(Value::as_str).unwrap_or("?");
    Err(format!(
        "{event_type} event {event_id} does not match {}:\n  {}",
        EVENT_SCHEMAS[kind as usize].0,
        errors.join("\n  ")
    ))
}

/// The compiled validators, in the order of [`EVENT_SCHEMAS`]; built on first use.
fn validators() -> Result<&'static [Validator], String> {
    static VALIDATORS: OnceLock<Result<Vec<Validator>, String>> = OnceLock::new();
    VALIDATORS
        .get_or_init(compile_all)
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

fn compile_all() -> Result<Vec<Validator>, String> {
    let mut shared = Vec::new();
    for (name, text) in SHARED {
        let contents = parse_schema(name, text)?;
        let id = contents
            .get("$id")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("docs/schema/{name} has no `$id`"))?
            .to_string();
        let resource = Resource::from_contents(contents)
            .map_err(|error| format!("docs/schema/{name} is not a usable schema: {error}"))?;
        shared.push((id, resource));
    }
    EVENT_SCHEMAS
        .iter()
        .map(|(name, text)| {
            let schema = parse_schema(name, text)?;
            let mut options = jsonschema::options();
            options.should_validate_formats(true);
            for (id, resource) in &shared {
                options.with_resource(id.clone(), resource.clone());
            }
            options
                .build(&schema)
                .map_err(|error| format!("docs/schema/{name} does not compile: {error}"))
        })
        .collect()
}

fn parse_schema(name: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|error| format!("docs/schema/{name} is not JSON: {error}"))
}

/// Messages such as "... is not valid under any of the schemas" quote the whole offending
/// value, which for a run is its every job; keep them readable.
fn shorten(message: &str) -> String {
    const LIMIT: usize = 400;
    if message.chars().count() <= LIMIT {
        return message.to_string();
    }
    let cut: String = message.chars().take(LIMIT).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gha_ingest_core::facts::{CommitFacts, JobFacts, RunFacts};
    use gha_ingest_core::github::{Commit, WorkflowJob, WorkflowRun};
    use gha_ingest_core::log_facts::{ContentEncoding, JobLogFacts, JobLogUnavailableFacts};
    use gha_ingest_core::size::encode_within_limit;
    use gha_ingest_core::{identity, Envelope, EventType, Source};
    use serde_json::json;

    const REPO: &str = "acme/webapp";
    const SHA: &str = "acb5820ced9479c074f688cc328bf03f341a511d";

    /// A completed job as GitHub sends it, with the looseness it really has: a null
    /// `head_branch`, step times with offsets and milliseconds, step numbers that skip.
    fn github_job() -> WorkflowJob {
        serde_json::from_value(json!({
            "id": 399444496, "run_id": 30433642, "run_attempt": 1, "head_sha": SHA,
            "head_branch": null, "workflow_name": "Build",
            "html_url": "https://github.com/acme/webapp/actions/runs/30433642/job/399444496",
            "status": "completed", "conclusion": "success", "name": "build",
            "created_at": "2020-01-20T17:42:10Z", "started_at": "2020-01-20T17:42:40Z",
            "completed_at": "2020-01-20T17:44:39Z",
            "labels": ["ubuntu-latest"], "runner_id": 1, "runner_name": "my runner",
            "runner_group_id": 2, "runner_group_name": "my runner group",
            "steps": [
                {"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1,
                 "started_at": "2020-01-20T09:42:40.000-08:00",
                 "completed_at": "2020-01-20T09:42:41.250-08:00"},
                {"name": "Run tests", "status": "completed", "conclusion": "success", "number": 16,
                 "started_at": "2020-01-20T17:42:41Z", "completed_at": "2020-01-20T17:44:39Z"},
                {"name": "Post step", "status": "queued", "conclusion": null, "number": 17}
            ]
        }))
        .expect("job fixture decodes")
    }

    fn github_run() -> WorkflowRun {
        serde_json::from_value(json!({
            "id": 30433642, "name": "Build", "head_branch": "main", "head_sha": SHA,
            "path": ".github/workflows/build.yml", "run_number": 562, "event": "push",
            "display_title": "Update README.md", "status": "completed", "conclusion": "success",
            "workflow_id": 159038, "html_url": "https://github.com/acme/webapp/actions/runs/30433642",
            "pull_requests": [{"id": 1, "number": 7}],
            "created_at": "2020-01-20T17:42:10Z", "updated_at": "2020-01-20T17:44:50Z",
            "run_started_at": "2020-01-20T17:42:10Z", "run_attempt": 1,
            "actor": {"login": "octocat", "id": 1}, "triggering_actor": {"login": "octocat", "id": 1}
        }))
        .expect("run fixture decodes")
    }

    fn commit_facts() -> CommitFacts {
        let commit: Commit = serde_json::from_value(json!({
            "sha": SHA,
            "commit": {
                "message": "Fix all the bugs",
                "author": {"name": "Monalisa Octocat", "email": "mona@github.com",
                           "date": "2020-01-20T17:00:00Z"},
                "committer": {"name": "GitHub", "email": "noreply@github.com",
                              "date": "2020-01-20T17:01:00+01:00"}
            },
            "author": {"login": "octocat", "id": 1},
            "stats": {"additions": 104, "deletions": 4, "total": 108},
            "files": [{"filename": "README.md"}]
        }))
        .expect("commit fixture decodes");
        CommitFacts::from_commit(REPO, &commit, 1, &[(7, 1_000_007)])
    }

    fn job_facts() -> JobFacts {
        JobFacts::from_job(REPO, 1, &github_job())
    }

    fn run_facts() -> RunFacts {
        RunFacts::from_run(REPO, &github_run(), vec![job_facts()], Some(commit_facts()))
    }

    /// A body exactly as the pipeline builds it, with the event's timestamp taken from the facts
    /// (so no clock and no chrono dependency is needed here).
    fn run_envelope(facts: &RunFacts) -> Envelope<&RunFacts> {
        Envelope::new(
            EventType::for_run_status(&facts.status),
            identity::run_event_id(facts.run_id, facts.run_attempt, &facts.status),
            Source::Poll,
            facts.updated_at,
            facts,
        )
    }

    fn run_completed() -> Value {
        serde_json::to_value(run_envelope(&run_facts())).unwrap()
    }

    fn job_completed() -> Value {
        let facts = job_facts();
        let envelope = Envelope::new(
            EventType::for_job_status(&facts.status),
            identity::job_event_id(facts.job_id, &facts.status),
            Source::Backfill,
            facts.completed_at.unwrap(),
            &facts,
        );
        serde_json::to_value(envelope).unwrap()
    }

    fn commit_metrics() -> Value {
        let facts = commit_facts();
        let envelope = Envelope::new(
            EventType::CommitMetrics,
            identity::commit_event_id(&facts.repo, &facts.commit_sha),
            Source::Poll,
            facts.committed_at.unwrap(),
            &facts,
        );
        serde_json::to_value(envelope).unwrap()
    }

    const JOB_ID: u64 = 399444496;

    /// A log as GitHub serves it: ANSI colours, tabs, CRLF, quotes and non-ASCII text.
    const UTF8_LOG: &str = "2020-01-20T17:42:41.0000000Z \u{1b}[36;1mcargo test\u{1b}[0m\r\n\
        \tCompiling gha-ingest \"v0.1.0\" \u{2014} \u{2713} ok \u{1f680}\n\
        2020-01-20T17:44:39.0000000Z Gr\u{fc}\u{df}e, \u{65e5}\u{672c}\u{8a9e}\n";

    /// A log that is not UTF-8 (a stray Latin-1 byte and raw binary).
    fn binary_log(len: usize) -> Vec<u8> {
        let mut log = b"caf\xe9 \xff\xfe\x00".to_vec();
        log.extend((0..len.saturating_sub(log.len())).map(|i| (i * 7 % 256) as u8));
        log.truncate(len);
        log
    }

    fn fetched_at() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2020-01-20T17:45:01.250Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes))
    }

    /// The `job_log_fetched` events of `log` as the log agent builds them, split into parts
    /// that end at the byte offsets `ends` (ascending, the last one `log.len()`).
    fn log_events_of(
        log: &[u8],
        encoding: ContentEncoding,
        ends: &[usize],
        job_name: Option<&str>,
    ) -> Vec<Value> {
        use base64::Engine;
        let count = ends.len() as u32;
        let mut start = 0;
        let mut events = Vec::new();
        for (index, &end) in ends.iter().enumerate() {
            let bytes = &log[start..end];
            let log_content = match encoding {
                ContentEncoding::Utf8 => std::str::from_utf8(bytes)
                    .expect("parts end on character boundaries")
                    .to_string(),
                ContentEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
            };
            let part_index = index as u32 + 1;
            let facts = JobLogFacts {
                repo: REPO.to_string(),
                run_id: 30433642,
                run_attempt: 1,
                job_id: JOB_ID,
                job_name: job_name.map(String::from),
                content_encoding: encoding,
                log_content,
                log_bytes: log.len() as u64,
                log_sha256: sha256_hex(log),
                part_index,
                part_count: count,
                part_offset: start as u64,
                part_bytes: (end - start) as u64,
                fetched_at: fetched_at(),
            };
            let event_id = if count == 1 {
                identity::log_event_id(facts.job_id)
            } else {
                identity::log_part_event_id(facts.job_id, part_index, count)
            };
            let envelope = Envelope::new(
                EventType::JobLogFetched,
                event_id,
                Source::Poll,
                facts.fetched_at,
                &facts,
            );
            events.push(serde_json::to_value(envelope).unwrap());
            start = end;
        }
        events
    }

    fn log_events(log: &[u8], encoding: ContentEncoding, ends: &[usize]) -> Vec<Value> {
        log_events_of(log, encoding, ends, Some("build"))
    }

    /// The whole `UTF8_LOG` in one event.
    fn log_fetched() -> Value {
        let log = UTF8_LOG.as_bytes();
        log_events(log, ContentEncoding::Utf8, &[log.len()]).remove(0)
    }

    /// One part of a base64 log (the second of two, so its `part_offset` is not 0).
    fn log_part_base64() -> Value {
        let log = binary_log(100);
        log_events(&log, ContentEncoding::Base64, &[60, 100]).remove(1)
    }

    fn log_unavailable_of(reason: &str, job_name: Option<&str>) -> Value {
        let facts = JobLogUnavailableFacts {
            repo: REPO.to_string(),
            run_id: 30433642,
            run_attempt: 1,
            job_id: JOB_ID,
            job_name: job_name.map(String::from),
            reason: reason.to_string(),
            detail: "GitHub answered 410 Gone: logs past retention".to_string(),
            attempts: 3,
        };
        let envelope = Envelope::new(
            EventType::JobLogUnavailable,
            identity::log_unavailable_event_id(facts.job_id),
            Source::Poll,
            fetched_at(),
            &facts,
        );
        serde_json::to_value(envelope).unwrap()
    }

    fn log_unavailable() -> Value {
        log_unavailable_of("gone", Some("build"))
    }

    /// Rebuilds a log from its events exactly as docs/schema/README.md tells consumers to:
    /// order by `part_index`, decode each `log_content` per `content_encoding`, concatenate,
    /// check the length against `log_bytes` and the SHA-256 against `log_sha256`.
    fn reassemble(events: &[Value]) -> Vec<u8> {
        use base64::Engine;
        let mut parts: Vec<&Value> = events.iter().map(|event| &event["data"]).collect();
        parts.sort_by_key(|data| data["part_index"].as_u64().unwrap());
        let count = parts[0]["part_count"].as_u64().unwrap();
        let indexes: Vec<u64> = parts
            .iter()
            .map(|data| data["part_index"].as_u64().unwrap())
            .collect();
        assert_eq!(indexes, (1..=count).collect::<Vec<_>>(), "every part, once");
        let mut log = Vec::new();
        for data in parts {
            let content = data["log_content"].as_str().unwrap();
            let bytes = match data["content_encoding"].as_str().unwrap() {
                "utf-8" => content.as_bytes().to_vec(),
                "base64" => base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .unwrap(),
                other => panic!("unknown content_encoding {other}"),
            };
            assert_eq!(data["part_offset"].as_u64().unwrap(), log.len() as u64);
            assert_eq!(data["part_bytes"].as_u64().unwrap(), bytes.len() as u64);
            log.extend(bytes);
        }
        assert_eq!(
            log.len() as u64,
            events[0]["data"]["log_bytes"].as_u64().unwrap()
        );
        assert_eq!(
            sha256_hex(&log),
            events[0]["data"]["log_sha256"].as_str().unwrap()
        );
        log
    }

    fn check(event: &Value) -> Result<(), String> {
        validate_event(&event.to_string())
    }

    fn assert_invalid(event: &Value, expected_in_error: &str) {
        let error = check(event).expect_err("the event must be rejected");
        assert!(
            error.contains(expected_in_error),
            "expected {expected_in_error:?} in:\n{error}"
        );
    }

    #[test]
    fn every_schema_compiles() {
        validators().unwrap();
    }

    #[test]
    fn real_run_job_and_commit_events_are_valid() {
        let run = run_completed();
        assert_eq!(run["event_type"], "workflow_run_completed");
        assert_eq!(run["data"]["jobs"][0]["steps"][2]["number"], 17);
        check(&run).unwrap();

        let job = job_completed();
        assert_eq!(job["event_type"], "workflow_job_completed");
        assert_eq!(job["source"], "backfill");
        check(&job).unwrap();

        let commit = commit_metrics();
        assert_eq!(commit["data"]["committed_at"], "2020-01-20T16:01:00Z");
        check(&commit).unwrap();
    }

    #[test]
    fn events_of_every_status_and_mostly_null_facts_are_valid() {
        for status in ["requested", "queued", "in_progress", "frozen"] {
            let mut run = github_run();
            run.status = Some(status.to_string());
            run.conclusion = None;
            run.head_branch = None;
            run.run_started_at = None;
            let job: WorkflowJob = serde_json::from_value(json!({
                "id": 5, "run_id": 30433642, "status": status
            }))
            .unwrap();
            let job_facts = JobFacts::from_job(REPO, 1, &job);
            let facts = RunFacts::from_run(REPO, &run, vec![job_facts.clone()], None);
            let envelope = run_envelope(&facts);
            check(&serde_json::to_value(&envelope).unwrap())
                .unwrap_or_else(|error| panic!("run {status}: {error}"));

            let envelope = Envelope::new(
                EventType::for_job_status(status),
                identity::job_event_id(5, status),
                Source::Poll,
                facts.created_at,
                &job_facts,
            );
            check(&serde_json::to_value(&envelope).unwrap())
                .unwrap_or_else(|error| panic!("job {status}: {error}"));
        }
    }

    #[test]
    fn run_events_reduced_to_fit_the_size_limit_are_valid() {
        let mut facts = run_facts();
        facts.jobs = vec![job_facts(); 40];
        let envelope = run_envelope(&facts);
        let whole = serde_json::to_string(&envelope).unwrap();

        let without_steps = encode_within_limit(&envelope, whole.len() - 1).unwrap();
        let decoded: Value = serde_json::from_str(&without_steps).unwrap();
        assert_eq!(decoded["data"]["nested_steps_omitted"], true);
        assert!(decoded["data"]["jobs"][0].get("steps").is_none());
        validate_event(&without_steps).unwrap();

        let without_jobs = encode_within_limit(&envelope, 4_000).unwrap();
        let decoded: Value = serde_json::from_str(&without_jobs).unwrap();
        assert_eq!(decoded["data"]["nested_jobs_omitted"], true);
        validate_event(&without_jobs).unwrap();
    }

    #[test]
    fn every_emitted_event_type_has_a_schema_and_no_other_does() {
        let mut emitted: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        emitted.sort();
        let envelope: Value = serde_json::from_str(SHARED[0].1).unwrap();
        let mut listed: Vec<&str> = envelope["properties"]["event_type"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|value| value.as_str().unwrap())
            .collect();
        listed.sort();
        assert_eq!(
            listed, emitted,
            "the envelope lists exactly the emitted event types"
        );
        assert_eq!(listed.len(), 19);

        // Each event schema's `event_type` enum and `schema_file_for` agree, both ways.
        let mut covered = Vec::new();
        for (name, text) in EVENT_SCHEMAS {
            let schema: Value = serde_json::from_str(text).unwrap();
            for event_type in schema["properties"]["event_type"]["enum"]
                .as_array()
                .unwrap()
            {
                let event_type = event_type.as_str().unwrap();
                assert_eq!(schema_file_for(event_type), Some(name), "{event_type}");
                covered.push(event_type.to_string());
            }
        }
        covered.sort();
        assert_eq!(
            covered, emitted,
            "the event schemas cover exactly the emitted event types"
        );
        for event_type in EventType::ALL {
            assert!(
                schema_file_for(event_type.as_str()).is_some(),
                "{event_type}"
            );
        }
        assert_eq!(
            schema_file_for("job_log_fetched"),
            Some("job_log_fetched.schema.json")
        );
        assert_eq!(
            schema_file_for("job_log_unavailable"),
            Some("job_log_unavailable.schema.json")
        );
        for unknown in ["job_log", "workflow_run_exploded", "commit_metric", ""] {
            assert_eq!(schema_file_for(unknown), None, "{unknown}");
        }
    }

    fn chrono_now() -> chrono::DateTime<chrono::Utc> {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    /// Names of `value`'s keys, sorted.
    fn keys(value: &Value) -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    /// `$defs/<name>` of facts.schema.json: its `required` list and its `properties` names,
    /// sorted.
    fn documented(name: &str) -> (Vec<String>, Vec<String>) {
        let facts: Value = serde_json::from_str(SHARED[1].1).unwrap();
        let definition = &facts["$defs"][name];
        let mut required: Vec<String> = definition["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|name| name.as_str().unwrap().to_string())
            .collect();
        required.sort();
        let properties = match definition.get("properties") {
            Some(properties) => keys(properties),
            None => Vec::new(),
        };
        (required, properties)
    }

    /// Every field the structs serialize is required and typed in the schema, and the schema
    /// documents no field the structs lack: a field added to `facts.rs` must be added here too.
    #[test]
    fn schemas_list_exactly_the_fields_the_structs_serialize() {
        let run = run_completed();
        let (required, properties) = documented("run");
        assert_eq!(keys(&run["data"]), required);
        // Present only when they say something: size reductions and unreadable jobs.
        let optional_markers = [
            "nested_jobs_omitted",
            "nested_steps_omitted",
            "jobs_unavailable",
            "display_title_truncated",
            "display_title_length",
            "truncated_fields",
        ];
        let mut expected = required.clone();
        expected.extend(optional_markers.map(String::from));
        expected.sort();
        assert_eq!(properties, expected);

        let job = &job_completed()["data"];
        let (mut required, properties) = documented("job_without_steps");
        required.push("steps".to_string());
        required.sort();
        assert_eq!(keys(job), required);
        assert_eq!(properties, required);
        assert_eq!(documented("job").0, vec!["steps".to_string()]);
        assert_eq!(keys(&run["data"]["jobs"][0]), required);

        let (required, properties) = documented("step");
        assert_eq!(keys(&job["steps"][0]), required);
        assert_eq!(properties, required);

        let commit = &commit_metrics()["data"];
        let (required, properties) = documented("commit");
        assert_eq!(keys(commit), required);
        let truncation_markers = [
            "commit_message_truncated",
            "commit_message_length",
            "truncated_fields",
        ];
        let mut expected = required.clone();
        expected.extend(truncation_markers.map(String::from));
        expected.sort();
        assert_eq!(properties, expected);
        assert_eq!(keys(&run["data"]["code_metrics"]), required);

        let unavailable = gha_ingest_core::facts::UnavailableFacts {
            repo: "o/r".into(),
            entity: "jobs".into(),
            run_id: Some(1),
            run_attempt: Some(1),
            commit_sha: None,
            reason: "not_found".into(),
            detail: "gone".into(),
            attempts: 5,
            first_failed_at: chrono_now(),
        };
        let (required, properties) = documented("entity_unavailable");
        assert_eq!(keys(&serde_json::to_value(&unavailable).unwrap()), required);
        assert_eq!(properties, required);

        let (required, properties) = documented("commit_author");
        assert_eq!(keys(&commit["commit_author"]), required);
        assert_eq!(properties, required);

        let (required, properties) = documented("job_log");
        assert_eq!(keys(&log_fetched()["data"]), required);
        assert_eq!(keys(&log_part_base64()["data"]), required);
        assert_eq!(properties, required);

        let (required, properties) = documented("job_log_unavailable");
        assert_eq!(keys(&log_unavailable()["data"]), required);
        assert_eq!(properties, required);
    }

    #[test]
    fn missing_run_id_is_rejected() {
        let mut run = run_completed();
        run["data"].as_object_mut().unwrap().remove("run_id");
        assert_invalid(&run, "/data: \"run_id\" is a required property");

        let mut run = run_completed();
        run["data"]["jobs"][0]
            .as_object_mut()
            .unwrap()
            .remove("run_id");
        assert_invalid(&run, "/data/jobs/0");

        let mut job = job_completed();
        job["data"].as_object_mut().unwrap().remove("run_id");
        assert_invalid(&job, "\"run_id\" is a required property");
    }

    #[test]
    fn wrong_types_are_rejected() {
        let mut run = run_completed();
        run["data"]["run_id"] = json!("30433642");
        assert_invalid(&run, "/data/run_id");

        let mut job = job_completed();
        job["data"]["steps"][0]["duration_seconds"] = json!("1.25");
        assert_invalid(&job, "/data/steps/0/duration_seconds");

        let mut job = job_completed();
        job["data"]["labels"] = json!("ubuntu-latest");
        assert_invalid(&job, "/data/labels");

        let mut commit = commit_metrics();
        commit["data"]["additions"] = json!(-1);
        assert_invalid(&commit, "/data/additions");

        let mut commit = commit_metrics();
        commit["data"]["commit_author"]["login"] = json!(7);
        assert_invalid(&commit, "/data/commit_author/login");

        let mut run = run_completed();
        run["data"]["code_metrics"]["deletions"] = json!(4.5);
        assert_invalid(&run, "/data/code_metrics/deletions");

        let mut run = run_completed();
        run["data"]["code_metrics"] = json!("acb5820");
        assert_invalid(&run, "/data/code_metrics");

        let mut run = run_completed();
        run["schema_version"] = json!(2);
        assert_invalid(&run, "/schema_version");
    }

    #[test]
    fn unknown_event_types_are_rejected() {
        let mut run = run_completed();
        run["event_type"] = json!("workflow_run_exploded");
        assert_invalid(&run, "unknown event_type \"workflow_run_exploded\"");

        let mut log = log_fetched();
        log["event_type"] = json!("job_log_exploded");
        assert_invalid(&log, "unknown event_type \"job_log_exploded\"");

        // A known type is checked against its own schema, not waved through.
        let mut log = run_completed();
        log["event_type"] = json!("job_log_fetched");
        assert_invalid(
            &log,
            "job_log_fetched event run-30433642-1-completed does not match job_log_fetched.schema.json",
        );
        let mut unavailable = log_fetched();
        unavailable["event_type"] = json!("job_log_unavailable");
        assert_invalid(&unavailable, "/data: \"reason\" is a required property");

        assert!(validate_event("{\"data\": {}}").is_err());
        assert!(validate_event("not json").is_err());
    }

    #[test]
    fn timestamps_must_be_utc_with_a_z() {
        let mut run = run_completed();
        assert_eq!(run["timestamp"], "2020-01-20T17:44:50Z");
        run["timestamp"] = json!("2020-01-20T17:44:50+00:00");
        assert_invalid(&run, "/timestamp");

        let mut run = run_completed();
        run["timestamp"] = json!("2020-01-20 17:44:50Z");
        assert_invalid(&run, "/timestamp");

        let mut job = job_completed();
        job["data"]["started_at"] = json!("2020-01-20T17:42:40");
        assert_invalid(&job, "/data/started_at");

        let mut commit = commit_metrics();
        commit["data"]["committed_at"] = json!("2020-02-30T00:00:00Z");
        assert_invalid(
            &commit,
            "/data/committed_at: \"2020-02-30T00:00:00Z\" is not a \"date-time\"",
        );
    }

    #[test]
    fn the_envelope_is_closed_but_data_is_open() {
        let mut run = run_completed();
        run["extra"] = json!(1);
        assert_invalid(&run, "(root): Additional properties are not allowed");

        let mut run = run_completed();
        run["data"]["added_later"] = json!({"any": "shape"});
        run["data"]["jobs"][0]["steps"][0]["added_later"] = json!(true);
        check(&run).unwrap();
    }

    #[test]
    fn event_type_status_and_event_id_must_agree() {
        let mut run = run_completed();
        run["event_type"] = json!("workflow_run_in_progress");
        assert_invalid(&run, "/data/status");

        let mut job = job_completed();
        job["event_type"] = json!("workflow_job_updated");
        assert_invalid(&job, "/data/status");

        let mut job = job_completed();
        job["event_id"] = json!("run-30433642-1-completed");
        assert_invalid(&job, "/event_id");

        let mut commit = commit_metrics();
        commit["event_id"] = json!("commit with spaces");
        assert_invalid(&commit, "/event_id");
    }

    #[test]
    fn nested_jobs_keep_their_steps_unless_omitted() {
        let mut run = run_completed();
        run["data"]["jobs"][0]
            .as_object_mut()
            .unwrap()
            .remove("steps");
        assert_invalid(&run, "/data/jobs/0");

        run["data"]["nested_steps_omitted"] = json!(true);
        check(&run).unwrap();

        run["data"]["nested_jobs_omitted"] = json!(true);
        assert_invalid(&run, "/data/jobs");
    }

    #[test]
    fn all_errors_are_reported() {
        let mut run = run_completed();
        run["source"] = json!("carrier-pigeon");
        run["data"]["run_attempt"] = json!(1.5);
        let error = check(&run).unwrap_err();
        assert!(error.contains("/source"), "{error}");
        assert!(error.contains("/data/run_attempt"), "{error}");
        assert!(
            error.starts_with("workflow_run_completed event run-30433642-1-completed"),
            "{error}"
        );
    }

    #[test]
    fn real_log_events_are_valid() {
        let event = log_fetched();
        assert_eq!(event["event_type"], "job_log_fetched");
        assert_eq!(event["event_id"], "log-399444496");
        assert_eq!(event["timestamp"], "2020-01-20T17:45:01.250Z");
        assert_eq!(event["data"]["content_encoding"], "utf-8");
        assert_eq!(event["data"]["log_content"], UTF8_LOG);
        assert_eq!(event["data"]["part_count"], 1);
        check(&event).unwrap();

        let event = log_part_base64();
        assert_eq!(event["event_id"], "log-399444496-part-2-of-2");
        assert_eq!(event["data"]["content_encoding"], "base64");
        assert_eq!(event["data"]["part_offset"], 60);
        check(&event).unwrap();

        let nameless = log_events_of(b"ok\n", ContentEncoding::Utf8, &[3], None);
        assert_eq!(nameless[0]["data"]["job_name"], Value::Null);
        check(&nameless[0]).unwrap();

        for encoding in [ContentEncoding::Utf8, ContentEncoding::Base64] {
            let empty = log_events(b"", encoding, &[0]);
            assert_eq!(empty[0]["data"]["log_content"], "");
            assert_eq!(
                empty[0]["data"]["log_sha256"],
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            );
            check(&empty[0]).unwrap_or_else(|error| panic!("{encoding:?}: {error}"));
            assert_eq!(reassemble(&empty), b"");
        }

        let event = log_unavailable();
        assert_eq!(event["event_type"], "job_log_unavailable");
        assert_eq!(event["event_id"], "log-unavailable-399444496");
        check(&event).unwrap();
        // Today's reasons, and one added later: the set is open.
        for reason in ["not_found", "gone", "too_large", "rate_limited"] {
            check(&log_unavailable_of(reason, None))
                .unwrap_or_else(|error| panic!("{reason}: {error}"));
        }
    }

    #[test]
    fn split_logs_are_valid_and_reassemble_as_documented() {
        // UTF-8, cut on character boundaries (mid-escape-sequence and right after a 4-byte
        // character), so every part is valid UTF-8 on its own.
        let log = UTF8_LOG.as_bytes();
        let rocket = UTF8_LOG.find('\u{1f680}').unwrap() + 4;
        let ends = [5, 31, rocket, log.len() - 1, log.len()];
        assert!(ends.iter().all(|&end| UTF8_LOG.is_char_boundary(end)));
        let events = log_events(log, ContentEncoding::Utf8, &ends);
        assert_eq!(events.len(), 5);
        for event in &events {
            check(event).unwrap_or_else(|error| panic!("{error}"));
        }
        assert_eq!(events[2]["event_id"], "log-399444496-part-3-of-5");
        let mut shuffled = events.clone();
        shuffled.reverse();
        assert_eq!(reassemble(&shuffled), log);

        // Not UTF-8: base64, each part encoded on its own; parts that are not last hold a
        // multiple of 3 bytes (as the agent plans them), the last one may be padded. Large
        // parts check that the base64 pattern copes with a message-sized string.
        let log = binary_log(400_001);
        let events = log_events(&log, ContentEncoding::Base64, &[196_608, 393_216, 400_001]);
        assert!(events[2]["data"]["log_content"]
            .as_str()
            .unwrap()
            .ends_with('='));
        for event in &events {
            check(event).unwrap_or_else(|error| panic!("{error}"));
        }
        assert_eq!(events[0]["event_id"], "log-399444496-part-1-of-3");
        assert_eq!(reassemble(&events), log);
    }

    #[test]
    fn invalid_log_facts_are_rejected() {
        let mut event = log_fetched();
        event["data"]["content_encoding"] = json!("gzip");
        assert_invalid(&event, "/data/content_encoding");

        let mut event = log_fetched();
        event["data"]["content_encoding"] = json!("UTF-8");
        assert_invalid(&event, "/data/content_encoding");

        let digest = log_fetched()["data"]["log_sha256"]
            .as_str()
            .unwrap()
            .to_string();
        for bad in [
            digest.to_uppercase(),
            format!("{}zz", &digest[..62]),
            digest[..63].to_string(),
            format!("{digest}0"),
            String::new(),
        ] {
            let mut event = log_fetched();
            event["data"]["log_sha256"] = json!(bad);
            assert_invalid(&event, "/data/log_sha256");
        }

        let mut event = log_part_base64();
        event["data"]["part_index"] = json!(0);
        assert_invalid(&event, "/data/part_index");

        let mut event = log_part_base64();
        event["data"]["part_count"] = json!(0);
        assert_invalid(&event, "/data/part_count");

        let mut event = log_fetched();
        event["data"]["part_index"] = json!(2);
        assert_invalid(&event, "/data/part_index");

        let mut event = log_fetched();
        event["data"]["part_offset"] = json!(5);
        assert_invalid(&event, "/data/part_offset");

        let mut event = log_part_base64();
        event["data"]["part_bytes"] = json!(-1);
        assert_invalid(&event, "/data/part_bytes");

        let mut event = log_fetched();
        event["data"].as_object_mut().unwrap().remove("job_id");
        assert_invalid(&event, "/data: \"job_id\" is a required property");

        let mut event = log_unavailable();
        event["data"].as_object_mut().unwrap().remove("job_id");
        assert_invalid(&event, "/data: \"job_id\" is a required property");

        let mut event = log_fetched();
        event["data"].as_object_mut().unwrap().remove("job_name");
        assert_invalid(&event, "/data: \"job_name\" is a required property");

        let mut event = log_part_base64();
        event["data"]["log_content"] = json!("not base64!");
        assert_invalid(&event, "/data/log_content");
        let mut event = log_part_base64();
        event["data"]["log_content"] = json!("QUJD\nREVG");
        assert_invalid(&event, "/data/log_content");
        // The same text is a fine utf-8 log.
        let mut event = log_fetched();
        event["data"]["log_content"] = json!("not base64!");
        check(&event).unwrap();

        let mut event = log_fetched();
        event["data"]["log_content"] = Value::Null;
        assert_invalid(&event, "/data/log_content");

        let mut event = log_fetched();
        event["data"]["fetched_at"] = json!("2020-01-20T17:45:01+00:00");
        assert_invalid(&event, "/data/fetched_at");

        let mut event = log_unavailable();
        event["data"]["reason"] = json!(404);
        assert_invalid(&event, "/data/reason");

        let mut event = log_unavailable();
        event["data"]["attempts"] = json!(-1);
        assert_invalid(&event, "/data/attempts");

        let mut event = log_unavailable();
        event["data"].as_object_mut().unwrap().remove("detail");
        assert_invalid(&event, "/data: \"detail\" is a required property");

        // Open to fields added later.
        let mut event = log_fetched();
        event["data"]["added_later"] = json!({"any": "shape"});
        check(&event).unwrap();
        let mut event = log_unavailable();
        event["data"]["added_later"] = json!(1);
        check(&event).unwrap();
    }

    #[test]
    fn log_event_ids_must_match_their_parts() {
        let mut event = log_fetched();
        event["event_id"] = json!("log-399444496-part-1-of-1");
        assert_invalid(&event, "/event_id");

        let mut event = log_part_base64();
        event["event_id"] = json!("log-399444496");
        assert_invalid(&event, "/event_id");

        let mut event = log_fetched();
        event["event_id"] = json!("log-unavailable-399444496");
        assert_invalid(&event, "/event_id");

        let mut event = log_fetched();
        event["event_id"] = json!("job-399444496-completed");
        assert_invalid(&event, "/event_id");

        let mut event = log_unavailable();
        event["event_id"] = json!("log-399444496");
        assert_invalid(&event, "/event_id");
    }
}
