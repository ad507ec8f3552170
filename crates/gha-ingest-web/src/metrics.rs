//! `/metrics` in the Prometheus text exposition format 0.0.4, written by hand: every family gets
//! its `# HELP` and `# TYPE` lines before its samples. Names follow the project's contract,
//! `gha_ingest_<subsystem>_<name>_<unit>[_total]`; labels are bounded (destination, queue role,
//! repository — never a run or job id).
//!
//! Open by default (the Prometheus convention) because nothing here is private text: no commit
//! message, branch, workflow or job name, no error text. Repository names appear as a label only
//! with `telemetry.metrics_repo_label` (one series per repository); `http.metrics_require_token`
//! puts the endpoint behind the read token.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use gha_ingest_store::Destination;

use crate::api::queue_views;
use crate::auth::Reader;
use crate::error::ApiError;
use crate::SharedState;

const CONTENT_TYPE_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The kind of a metric family, as its `# TYPE` line names it.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// Accumulates the exposition text, one family at a time.
#[derive(Debug, Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) {
        self.family(name, kind, help, &[(Vec::new(), value)]);
    }

    /// A family with labelled samples; its HELP and TYPE lines are written even if it has none.
    fn family(&mut self, name: &str, kind: Kind, help: &str, samples: &[(Vec<(&str, &str)>, f64)]) {
        debug_assert!(is_valid_name(name), "bad metric name {name}");
        debug_assert!(
            matches!(kind, Kind::Gauge) || name.ends_with("_total"),
            "counter {name} must end in _total"
        );
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            self.text.push_str(name);
            if !labels.is_empty() {
                let rendered: Vec<String> = labels
                    .iter()
                    .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
                    .collect();
                let _ = write!(self.text, "{{{}}}", rendered.join(","));
            }
            let _ = writeln!(self.text, " {}", format_value(*value));
        }
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        value.to_string()
    }
}

fn flag(value: bool) -> f64 {
    if value {
        1.0
    } else {
        0.0
    }
}

/// Whether the caller may read the metrics: anyone, unless `metrics_require_token`.
pub(crate) struct MetricsReader;

impl axum::extract::FromRequestParts<SharedState> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        if state.access.metrics_require_token {
            Reader::from_request_parts(parts, state).await?;
        }
        Ok(MetricsReader)
    }
}

pub(crate) async fn metrics(
    State(state): State<SharedState>,
    _reader: MetricsReader,
) -> Result<Response, ApiError> {
    let text = render(&state).await?;
    let headers = [(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_0_0_4))];
    Ok((headers, text).into_response())
}

async fn render(state: &SharedState) -> Result<String, ApiError> {
    use Kind::{Counter, Gauge};
    let mut out = Exposition::default();

    if let Some(status) = &state.pipeline_status {
        let pipeline = status.snapshot();
        out.single(
            "gha_ingest_pipeline_running",
            Gauge,
            "Whether the pipeline agent is running (1) or not (0).",
            flag(pipeline.running),
        );
        out.single(
            "gha_ingest_pipeline_cycles_total",
            Counter,
            "Poll cycles the pipeline agent completed.",
            pipeline.cycles_total as f64,
        );
        out.single(
            "gha_ingest_pipeline_events_queued_total",
            Counter,
            "Events written to the outbox.",
            pipeline.events_queued_total as f64,
        );
        out.single(
            "gha_ingest_pipeline_events_published_total",
            Counter,
            "Events the queue confirmed.",
            pipeline.events_published_total as f64,
        );
        let by_type: Vec<(Vec<(&str, &str)>, f64)> = pipeline
            .events_published_by_type
            .iter()
            .map(|(event_type, count)| (vec![("event_type", event_type.as_str())], *count as f64))
            .collect();
        out.family(
            "gha_ingest_pipeline_events_published_by_type_total",
            Counter,
            "Events the queue confirmed, by event type.",
            &by_type,
        );
        out.single(
            "gha_ingest_pipeline_publish_failures_total",
            Counter,
            "Failed publish attempts.",
            pipeline.publish_failures_total as f64,
        );
        out.single(
            "gha_ingest_pipeline_messages_parked_total",
            Counter,
            "Messages the queue refused for good and that were parked in the outbox.",
            pipeline.messages_parked_total as f64,
        );
        out.single(
            "gha_ingest_pipeline_repo_poll_errors_total",
            Counter,
            "Repository polls that failed.",
            pipeline.repo_poll_errors_total as f64,
        );
        if let Some(finished) = pipeline.last_cycle_finished_at {
            out.single(
                "gha_ingest_pipeline_last_cycle_timestamp_seconds",
                Gauge,
                "Unix time the last poll cycle finished.",
                finished.timestamp() as f64,
            );
        }
    }

    if let Some(status) = &state.log_status {
        let logs = status.snapshot();
        out.single(
            "gha_ingest_logs_running",
            Gauge,
            "Whether the log agent is running (1) or not (0).",
            flag(logs.running),
        );
        out.single(
            "gha_ingest_logs_published_logs_total",
            Counter,
            "Job logs published in full.",
            logs.logs_published_total as f64,
        );
        out.single(
            "gha_ingest_logs_published_messages_total",
            Counter,
            "Log messages (parts) published.",
            logs.log_messages_published_total as f64,
        );
        out.single(
            "gha_ingest_logs_published_bytes_total",
            Counter,
            "Bytes of job logs published.",
            logs.log_bytes_published_total as f64,
        );
        out.single(
            "gha_ingest_logs_unavailable_total",
            Counter,
            "Jobs whose log GitHub did not have.",
            logs.logs_unavailable_total as f64,
        );
        out.single(
            "gha_ingest_logs_failures_total",
            Counter,
            "Log requests that failed.",
            logs.failures_total as f64,
        );
    }

    let counters = state.github.counters();
    out.single(
        "gha_ingest_github_requests_sent_total",
        Counter,
        "Requests sent to the GitHub API, retries included.",
        counters.sent.load(Relaxed) as f64,
    );
    out.single(
        "gha_ingest_github_requests_not_modified_total",
        Counter,
        "Conditional requests GitHub answered 304 Not Modified.",
        counters.not_modified.load(Relaxed) as f64,
    );
    out.single(
        "gha_ingest_github_request_failures_total",
        Counter,
        "Request attempts that failed and were retried or given up.",
        counters.failed_attempts.load(Relaxed) as f64,
    );
    out.single(
        "gha_ingest_github_rate_limit_waits_total",
        Counter,
        "Times a request waited for the rate limit to reset.",
        counters.rate_limit_waits.load(Relaxed) as f64,
    );
    let statuses: Vec<(String, f64)> = counters
        .responses_by_status
        .lock()
        .expect("counter lock poisoned")
        .iter()
        .map(|(status, count)| (status.to_string(), *count as f64))
        .collect();
    let by_status: Vec<(Vec<(&str, &str)>, f64)> = statuses
        .iter()
        .map(|(status, count)| (vec![("status", status.as_str())], *count))
        .collect();
    out.family(
        "gha_ingest_github_responses_total",
        Counter,
        "Responses from the GitHub API, by HTTP status (304s cost no rate limit).",
        &by_status,
    );
    let rate_limit = state.github.rate_limit();
    let remaining: Vec<(Vec<(&str, &str)>, f64)> = rate_limit
        .remaining
        .map(|remaining| (Vec::new(), remaining as f64))
        .into_iter()
        .collect();
    out.family(
        "gha_ingest_github_rate_limit_remaining_requests",
        Gauge,
        "Requests left in the current rate-limit window, as GitHub last reported.",
        &remaining,
    );

    let mut backlog = Vec::new();
    for destination in Destination::ALL {
        let depth = state.store.outbox_depth(destination).await?;
        backlog.push((vec![("destination", destination.as_str())], depth as f64));
    }
    out.family(
        "gha_ingest_store_outbox_backlog_messages",
        Gauge,
        "Events in the outbox not yet confirmed by the queue, by destination.",
        &backlog,
    );
    out.single(
        "gha_ingest_store_parked_messages",
        Gauge,
        "Messages parked in the outbox after the queue refused them.",
        state.store.parked_count().await? as f64,
    );

    let queues = queue_views(state).await;
    let mut depths = Vec::new();
    for queue in &queues {
        if let (Some(visible), Some(in_flight)) = (queue.visible, queue.in_flight) {
            depths.push((
                vec![("role", queue.role.as_str()), ("state", "visible")],
                visible as f64,
            ));
            depths.push((
                vec![("role", queue.role.as_str()), ("state", "in_flight")],
                in_flight as f64,
            ));
        }
    }
    out.family("gha_ingest_queue_depth_messages", Gauge, "Approximate messages in each queue, waiting (visible) or received and not yet deleted (in_flight).", &depths);
    let dropped: Vec<(Vec<(&str, &str)>, f64)> = state
        .queues
        .iter()
        .map(|(role, queue)| (vec![("role", role.as_str())], queue.dropped_total() as f64))
        .collect();
    out.family("gha_ingest_queue_dropped_messages_total", Counter, "Messages the embedded queue dropped to stay within its retention and size cap (nobody consumed them).", &dropped);

    let (retrying, given_up) = state.store.failure_counts().await?;
    out.family(
        "gha_ingest_pipeline_unreadable_entities",
        Gauge,
        "Runs, attempts, job lists and commits GitHub would not serve: being retried, or given up on with a *_unavailable event.",
        &[
            (vec![("state", "retrying")], retrying as f64),
            (vec![("state", "given_up")], given_up as f64),
        ],
    );

    let repositories = state.store.repositories().await?;
    let mut last_ok = Vec::new();
    let mut names = Vec::with_capacity(repositories.len());
    for entry in &repositories {
        let cursor = state.store.cursor(&entry.repo).await?;
        names.push((entry.repo.to_string(), cursor.last_poll_ok_at));
    }
    let labelled = if state.metrics_repo_label {
        names.as_slice()
    } else {
        &[]
    };
    for (name, polled) in labelled {
        if let Some(polled) = polled {
            last_ok.push((vec![("repo", name.as_str())], polled.timestamp() as f64));
        }
    }
    out.single(
        "gha_ingest_pipeline_repositories",
        Gauge,
        "Repositories configured for collection.",
        repositories.len() as f64,
    );
    out.family(
        "gha_ingest_pipeline_repo_last_successful_poll_timestamp_seconds",
        Gauge,
        "Unix time of the last successful poll of each repository.",
        &last_ok,
    );

    Ok(out.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_and_type_before_samples() {
        let mut out = Exposition::default();
        out.family(
            "gha_ingest_test_depth_messages",
            Kind::Gauge,
            "a test\nwith a newline",
            &[(vec![("repo", "a\"b\\c")], 2.0)],
        );
        assert_eq!(
            out.text,
            "# HELP gha_ingest_test_depth_messages a test\\nwith a newline\n\
             # TYPE gha_ingest_test_depth_messages gauge\n\
             gha_ingest_test_depth_messages{repo=\"a\\\"b\\\\c\"} 2\n"
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(is_valid_name("gha_ingest_x_total"));
        assert!(!is_valid_name("9x"));
        assert!(!is_valid_name("a-b"));
    }
}
