//! `/metrics` over real HTTP, read back with a real parser of the Prometheus text format
//! (`prometheus-parse`), and in OpenMetrics when the scraper asks for it.

mod support;

use prometheus_parse::{Sample, Scrape, Value};
use reqwest::StatusCode;
use support::{Harness, Setup, REPO};

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("a readable exposition")
}

fn samples<'a>(scrape: &'a Scrape, name: &str) -> Vec<&'a Sample> {
    let found: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .collect();
    assert!(!found.is_empty(), "{name} missing from /metrics");
    found
}

fn value(sample: &Sample) -> f64 {
    match &sample.value {
        Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => *value,
        other => panic!("{} is not a single value: {other:?}", sample.metric),
    }
}

fn single(scrape: &Scrape, name: &str) -> f64 {
    let found = samples(scrape, name);
    assert_eq!(found.len(), 1, "{name}");
    value(found[0])
}

#[tokio::test]
async fn metrics_are_served_in_the_prometheus_text_format_and_in_openmetrics() {
    let harness = Harness::start(Setup::default()).await;
    let repo = REPO.parse().unwrap();
    harness.store.add_repository(&repo, "config").await.unwrap();
    harness
        .store
        .record_poll(&repo, None, None, None)
        .await
        .unwrap();
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
    let scrape = parse(&text);

    for sample in &scrape.samples {
        assert!(
            sample.metric.starts_with("gha_ingest_"),
            "{}",
            sample.metric
        );
    }
    for counter in [
        "gha_ingest_pipeline_poll_cycles_total",
        "gha_ingest_pipeline_publish_failures_total",
        "gha_ingest_pipeline_messages_parked_total",
        "gha_ingest_logs_published_total",
        "gha_ingest_logs_published_bytes_total",
        "gha_ingest_logs_failures_total",
        "gha_ingest_github_request_failures_total",
    ] {
        let found = samples(&scrape, counter);
        assert!(
            matches!(found[0].value, Value::Counter(0.0)),
            "{counter}: {:?}",
            found[0].value
        );
    }
    let redirects: f64 = samples(&scrape, "gha_ingest_github_requests_total")
        .iter()
        .filter(|sample| sample.labels.get("status") == Some("302"))
        .inspect(|sample| assert_eq!(sample.labels.get("endpoint"), Some("log")))
        .map(|sample| value(sample))
        .sum();
    assert_eq!(
        redirects, 1.0,
        "the log download's redirect is counted by endpoint class and status"
    );
    let latency = samples(&scrape, "gha_ingest_github_request_duration_seconds");
    let Value::Histogram(buckets) = &latency[0].value else {
        panic!("request latency is a histogram: {:?}", latency[0].value);
    };
    assert_eq!(
        buckets
            .last()
            .map(|bucket| (bucket.less_than, bucket.count)),
        Some((f64::INFINITY, 1.0)),
        "one request in the +Inf bucket"
    );
    let remaining = samples(&scrape, "gha_ingest_github_rate_limit_remaining_points");
    assert_eq!(remaining[0].labels.get("credential"), Some("token"));
    assert!(value(remaining[0]) > 0.0 && value(remaining[0]) < 5000.0);

    let unreadable = samples(&scrape, "gha_ingest_pipeline_unreadable_entities");
    assert_eq!(unreadable.len(), 2, "retrying and given_up");
    assert_eq!(single(&scrape, "gha_ingest_pipeline_repositories"), 1.0);
    assert_eq!(single(&scrape, "gha_ingest_pipeline_open_runs"), 0.0);
    let now = chrono::Utc::now().timestamp() as f64;
    let oldest = single(
        &scrape,
        "gha_ingest_pipeline_oldest_repo_poll_timestamp_seconds",
    );
    assert!((now - oldest).abs() < 120.0, "{oldest}");
    let polled = samples(
        &scrape,
        "gha_ingest_pipeline_repo_last_successful_poll_timestamp_seconds",
    );
    assert_eq!(polled.len(), 1);
    assert_eq!(polled[0].labels.get("repo"), Some(REPO));
    assert_eq!(value(polled[0]), oldest);

    let mut destinations: Vec<&str> = samples(&scrape, "gha_ingest_store_outbox_backlog_messages")
        .iter()
        .filter_map(|sample| sample.labels.get("destination"))
        .collect();
    destinations.sort();
    assert_eq!(destinations, ["log_requests", "metrics"]);
    let depths = samples(&scrape, "gha_ingest_queue_depth_messages");
    assert_eq!(depths.len(), 6, "visible and in_flight for three queues");
    assert!(depths.iter().all(|sample| value(sample) == 0.0));
    let dead = samples(&scrape, "gha_ingest_queue_dead_letter_messages");
    assert_eq!(dead.len(), 3, "the embedded queues have dead-letter queues");
    assert_eq!(
        samples(&scrape, "gha_ingest_queue_dropped_messages_total").len(),
        3
    );
    let build = samples(&scrape, "gha_ingest_build_info");
    assert_eq!(
        build[0].labels.get("version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert!(!text.contains(support::ADMIN_TOKEN) && !text.contains(support::SIM_TOKEN));

    // OpenMetrics on request: same families, `# EOF` at the end.
    let openmetrics = reqwest::Client::new()
        .get(harness.url("/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(openmetrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = openmetrics.text().await.unwrap();
    assert!(
        text.ends_with("# EOF\n"),
        "{}",
        &text[text.len().saturating_sub(40)..]
    );
    assert!(text.contains("# TYPE gha_ingest_pipeline_poll_cycles counter"));
    harness.stop().await;
}
