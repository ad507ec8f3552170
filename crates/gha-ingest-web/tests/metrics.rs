//! `/metrics` over real HTTP, checked by a small strict parser of the Prometheus text format
//! 0.0.4: every sample is `name{labels} value`, names are valid, every family has HELP and TYPE
//! before its samples, values parse as f64.

mod support;

use std::collections::{BTreeMap, HashSet};

use reqwest::StatusCode;
use support::{Harness, Setup, REPO};

#[derive(Debug, Default)]
struct Family {
    kind: String,
    /// `(labels, value)` per sample.
    samples: Vec<(BTreeMap<String, String>, f64)>,
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `{a="b",c="d"}` (after the name) and returns the labels and the rest of the line.
fn parse_labels(text: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let Some(mut rest) = text.strip_prefix('{') else {
        return (labels, text);
    };
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let (name, after_name) = rest.split_once("=\"").expect("label name followed by =\"");
        assert!(is_label_name(name), "bad label name {name:?}");
        let mut value = String::new();
        let mut chars = after_name.char_indices();
        let end = loop {
            let (index, c) = chars.next().expect("unterminated label value");
            match c {
                '\\' => match chars.next().expect("dangling escape").1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    other => panic!("bad escape \\{other}"),
                },
                '"' => break index,
                '\n' => panic!("raw newline in label value"),
                other => value.push(other),
            }
        };
        assert!(
            labels.insert(name.to_string(), value).is_none(),
            "duplicate label {name}"
        );
        rest = &after_name[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        other => other
            .parse()
            .unwrap_or_else(|_| panic!("bad value {other:?}")),
    }
}

/// Parses the exposition strictly, panicking on anything malformed.
fn parse(text: &str) -> BTreeMap<String, Family> {
    assert!(text.ends_with('\n'), "exposition ends with a newline");
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut helped = HashSet::new();
    let mut sampled = HashSet::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "no blank lines");
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, _) = help.split_once(' ').expect("HELP has a text");
            assert!(is_metric_name(name), "{name}");
            assert!(
                helped.insert(name.to_string()),
                "one HELP per family: {name}"
            );
            assert!(!sampled.contains(name), "HELP before samples: {name}");
        } else if let Some(kind) = line.strip_prefix("# TYPE ") {
            let (name, kind) = kind.split_once(' ').expect("TYPE has a kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(helped.contains(name), "HELP before TYPE: {name}");
            assert!(!sampled.contains(name), "TYPE before samples: {name}");
            let previous = families.insert(
                name.to_string(),
                Family {
                    kind: kind.to_string(),
                    ..Family::default()
                },
            );
            assert!(previous.is_none(), "one TYPE per family: {name}");
        } else {
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            let name_end = line.find(['{', ' ']).expect("sample has a value");
            let name = &line[..name_end];
            assert!(is_metric_name(name), "bad metric name {name:?}");
            let (labels, rest) = parse_labels(&line[name_end..]);
            let value = rest.strip_prefix(' ').expect("one space before the value");
            assert!(!value.contains(' '), "no timestamps expected: {line:?}");
            let family = families
                .get_mut(name)
                .unwrap_or_else(|| panic!("{name} has no TYPE before its samples"));
            family.samples.push((labels, parse_value(value)));
            sampled.insert(name.to_string());
        }
    }
    for (name, family) in &families {
        assert!(name.starts_with("gha_ingest_"), "{name}");
        if family.kind == "counter" {
            assert!(name.ends_with("_total"), "counter {name} ends in _total");
        }
    }
    families
}

fn single(families: &BTreeMap<String, Family>, name: &str) -> f64 {
    let family = families
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing"));
    assert_eq!(family.samples.len(), 1, "{name}");
    family.samples[0].1
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let harness = Harness::start(Setup::default()).await;
    let repo = REPO.parse().unwrap();
    harness.store.add_repository(&repo, "config").await.unwrap();
    harness.store.record_poll(&repo, None, None).await.unwrap();
    harness.completed_run_in_store(1).await;
    // A log download makes the github counters and the rate limit move.
    let runs: serde_json::Value = harness.get("/api/runs").await.json().await.unwrap();
    let run_id = runs["runs"][0]["run_id"].as_u64().unwrap();
    let job_id = runs["runs"][0]["jobs"][0]["job_id"].as_u64().unwrap();
    let log = harness
        .get(&format!("/api/runs/{run_id}/jobs/{job_id}/log"))
        .await;
    assert_eq!(log.status(), StatusCode::OK);

    let response = harness.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let families = parse(&text);

    for counter in [
        "gha_ingest_pipeline_cycles_total",
        "gha_ingest_pipeline_events_queued_total",
        "gha_ingest_pipeline_events_published_total",
        "gha_ingest_pipeline_publish_failures_total",
        "gha_ingest_pipeline_messages_parked_total",
        "gha_ingest_pipeline_repo_poll_errors_total",
        "gha_ingest_logs_published_bytes_total",
        "gha_ingest_logs_failures_total",
        "gha_ingest_github_requests_not_modified_total",
        "gha_ingest_github_rate_limit_waits_total",
    ] {
        assert_eq!(families[counter].kind, "counter", "{counter}");
        assert_eq!(single(&families, counter), 0.0, "{counter}");
    }
    assert!(single(&families, "gha_ingest_github_requests_sent_total") >= 1.0);
    let unreadable = &families["gha_ingest_pipeline_unreadable_entities"];
    assert_eq!(unreadable.kind, "gauge");
    assert_eq!(unreadable.samples.len(), 2, "retrying and given_up");
    let dropped = &families["gha_ingest_queue_dropped_messages_total"];
    assert_eq!(dropped.kind, "counter");
    assert_eq!(dropped.samples.len(), 3, "one per queue role");
    let responses = &families["gha_ingest_github_responses_total"];
    assert_eq!(responses.kind, "counter");
    let ok_responses: f64 = responses
        .samples
        .iter()
        .filter(|(labels, _)| labels["status"] == "302")
        .map(|(_, value)| *value)
        .sum();
    assert_eq!(
        ok_responses, 1.0,
        "the log download's redirect is counted by status"
    );
    assert_eq!(
        families["gha_ingest_pipeline_events_published_by_type_total"].kind,
        "counter"
    );
    let remaining = single(&families, "gha_ingest_github_rate_limit_remaining_requests");
    assert!(remaining > 0.0 && remaining < 5000.0, "{remaining}");
    assert_eq!(single(&families, "gha_ingest_pipeline_repositories"), 1.0);

    let backlog = &families["gha_ingest_store_outbox_backlog_messages"];
    let destinations: Vec<&str> = backlog
        .samples
        .iter()
        .map(|(labels, _)| labels["destination"].as_str())
        .collect();
    assert_eq!(destinations, ["metrics", "log_requests"]);

    let depths = &families["gha_ingest_queue_depth_messages"];
    assert_eq!(
        depths.samples.len(),
        6,
        "visible and in_flight for three queues"
    );
    assert!(depths
        .samples
        .iter()
        .all(|(labels, value)| labels.contains_key("role") && *value == 0.0));

    let polled = &families["gha_ingest_pipeline_repo_last_successful_poll_timestamp_seconds"];
    assert_eq!(polled.samples.len(), 1);
    assert_eq!(polled.samples[0].0["repo"], REPO);
    let now = chrono::Utc::now().timestamp() as f64;
    assert!((now - polled.samples[0].1).abs() < 120.0);
    assert!(!text.contains(support::ADMIN_TOKEN) && !text.contains(support::SIM_TOKEN));
    harness.stop().await;
}

#[test]
fn the_parser_rejects_what_prometheus_rejects() {
    let bad = [
        "gha_ingest_x_total 1\n",                                    // no TYPE
        "# TYPE gha_ingest_x_total counter\ngha_ingest_x_total 1\n", // no HELP
        "# HELP gha_ingest_x h\n# TYPE gha_ingest_x gauge\ngha_ingest_x one\n", // bad value
        "# HELP gha_ingest_x h\n# TYPE gha_ingest_x gauge\ngha_ingest_x{a=\"b} 1\n", // open label
        "# HELP 1x h\n# TYPE 1x gauge\n1x 1\n",                      // bad name
    ];
    for text in bad {
        assert!(std::panic::catch_unwind(|| parse(text)).is_err(), "{text}");
    }
    let good = "# HELP gha_ingest_x h\n# TYPE gha_ingest_x gauge\ngha_ingest_x{a=\"q\\\"\"} 1.5\n";
    assert_eq!(parse(good)["gha_ingest_x"].samples[0].0["a"], "q\"");
}
