//! The configuration schema: what an operator may set, with each field's doc comment as its doc.
//!
//! These structs are the API the other crates read. They are strict on purpose
//! (`deny_unknown_fields`): a misspelt key is an error, not a silently ignored setting. Defaults do
//! not live here but in `config/default.toml`, which is compiled in and holds every key with a
//! comment, so there is one place to read them. Durations and sizes carry their unit in the name
//! (`_secs`, `_days`, `_bytes`). Secrets are never fields a file can set: the file names an
//! environment variable or a file, and validation fills the `Secret` fields.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::Secret;

/// The whole configuration of the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How to reach the GitHub REST API and authenticate to it.
    pub github: GithubSettings,
    /// The pipeline agent: polls workflow runs and jobs and publishes events.
    pub pipeline: PipelineSettings,
    /// The log agent: downloads the log of every finished job.
    pub logs: LogSettings,
    /// The queues events, log requests and logs are published to.
    pub queue: QueueSettings,
    /// The local SQLite state: cursors, per-run state, the outbox.
    pub store: StoreSettings,
    /// The HTTP server: dashboard, health, metrics and admin endpoints.
    pub http: HttpSettings,
    /// GitHub's `workflow_run` and `workflow_job` webhooks, received on the HTTP server.
    pub webhooks: WebhookSettings,
    /// Logging of the daemon itself.
    pub telemetry: TelemetrySettings,
    /// The process as a whole: how it stops.
    pub daemon: DaemonSettings,
}

/// `[github]`: how to reach the GitHub REST API and authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSettings {
    /// Base URL of the REST API: `https://api.github.com`, or `https://HOST/api/v3` for GitHub
    /// Enterprise Server, or a simulator's address. The standard `GITHUB_API_URL` environment
    /// variable overrides it. Normalised to end with `/`, so relative paths join under it.
    pub api_url: Url,
    /// Name of the environment variable holding the token (default `GITHUB_TOKEN`).
    pub token_env: String,
    /// File holding the token (surrounding whitespace is trimmed), e.g. a mounted secret. When set
    /// it is used instead of the variable named by `token_env`.
    pub token_file: Option<PathBuf>,
    /// The token, resolved from `token_file` or `token_env` during validation; `None` only when
    /// `allow_anonymous` is true and no token was found. Cannot be set in a file.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// Allow running without a token. Anonymous clients get 60 requests an hour from GitHub, far
    /// too few for real use: this is for the simulator.
    pub allow_anonymous: bool,
    /// `User-Agent` header sent with every request (GitHub refuses requests without one).
    pub user_agent: String,
    /// Time limit of one HTTP request to GitHub, in seconds (at least 1).
    pub request_timeout_secs: u64,
    /// How many requests to GitHub may be in flight at once (at least 1). GitHub's secondary rate
    /// limits punish high concurrency.
    pub max_concurrent_requests: usize,
    /// How many times a failed request (5xx, timeout, rate limit) is retried before giving up.
    pub max_retries: u32,
    /// First wait before retrying a failed request, in milliseconds (at least 1); doubles with
    /// each failure, with jitter.
    pub retry_base_delay_millis: u64,
    /// Longest wait between two retries of a failed request, in seconds (at least 1).
    pub retry_max_delay_secs: u64,
    /// Wait after a secondary rate limit that names no `retry-after`, in seconds (at least 1).
    /// GitHub asks for at least 60.
    pub secondary_limit_wait_secs: u64,
    /// Requests each credential sends in any 60 seconds at most, 304s included (at least 1).
    /// GitHub's secondary limit is 900 points a minute and it cannot be queried: stay well under.
    pub points_per_minute: u32,
    /// Percent of each credential's hourly budget kept for fresh work (new and open runs and
    /// their jobs, the dashboard), 0 to 90: logs, commits and catch-up stop at this reserve.
    pub primary_reserve_percent: u8,
    /// Percent of the budget above the reserve that catch-up, commits and logs may spend at once
    /// (1 to 100); the rest is spread evenly until the window resets.
    pub catchup_burst_percent: u8,
    /// A GitHub App instead of a token: its installations are discovered and each reads its own
    /// repositories on its own budget.
    pub app: GithubAppSettings,
}

/// `[github.app]`: authenticate as a GitHub App (permissions: Actions read, Contents read,
/// Metadata read) instead of with a token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GithubAppSettings {
    /// The App's id (its settings page, "App ID"). When set, the App is used and no token is
    /// read; every repository of its installations is followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Name of the environment variable holding the App's private key (the PEM file's content;
    /// `\n` escapes are accepted for one-line values).
    pub private_key_env: String,
    /// File holding the App's private key (the `.pem` GitHub hands out), e.g. a mounted secret.
    /// When set it is used instead of `private_key_env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
    /// Installation ids to follow; empty: every installation of the App.
    pub installations: Vec<u64>,
    /// The private key, resolved during validation. Cannot be set in a file.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<Secret>,
}

/// `[pipeline]`: the agent that polls workflow runs and jobs and publishes their events.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    /// Run the pipeline agent in this process.
    pub enabled: bool,
    /// Repositories to follow, as `owner/name` or `https://github.com/owner/name` (a trailing
    /// `/` or `.git` is fine); normalised to `owner/name`. A URL must point at github.com or at the
    /// host of `github.api_url`. May be empty: repositories can be added from the dashboard.
    pub repositories: Vec<String>,
    /// Organisations whose repositories are all followed (organisation logins, e.g. `rust-lang`).
    pub organizations: Vec<String>,
    /// Seconds between two polls of a repository's runs (at least 1). An unchanged repository
    /// costs no rate limit per poll (conditional requests).
    pub poll_interval_secs: u64,
    /// Seconds between two reconciliation passes, which re-list recent runs to catch re-runs and
    /// anything a poll missed (at least 1).
    pub reconcile_interval_secs: u64,
    /// How many days back a reconciliation pass looks (at least 1). GitHub allows re-running a
    /// run up to 30 days after it ran, hence the default of 35.
    pub reconcile_lookback_days: u32,
    /// How many days of history the first start of a repository ingests (0: only new runs).
    pub backfill_days: u32,
    /// Seconds between two refreshes of each organisation's repository list (at least 1).
    pub org_refresh_interval_secs: u64,
    /// How many messages are published in one batch (1 to 10, SQS's batch limit).
    pub publish_batch_size: usize,
    /// Which share of the repositories this replica follows when `shard_count` replicas split
    /// them deterministically between them (0-based, less than `shard_count`).
    pub shard_index: u32,
    /// How many replicas split the repositories between them (at least 1).
    pub shard_count: u32,
    /// In how many poll cycles a run, attempt, job list or commit that cannot be read (deleted,
    /// an endpoint the server lacks, a 5xx that persists) is tried before it is given up on with
    /// a `*_unavailable` event (at least 1). It never blocks anything else meanwhile.
    pub entity_max_attempts: u32,
    /// Seconds before such an entity is tried again after its first failure (at least 1); each
    /// further failure waits four times longer, at most 6 hours.
    pub entity_retry_base_secs: u64,
    /// The longest wait, in seconds, before polling again a repository whose cycles keep
    /// failing (at least `poll_interval_secs`); the wait doubles from `poll_interval_secs`.
    pub repo_backoff_max_secs: u64,
    /// Events waiting for the queue beyond which polling pauses until they are published (at
    /// least 1000): while the queue is down, the outbox on disk stays bounded.
    pub max_outbox_events: u64,
    /// The longest wait, in seconds, between two polls of a quiet repository (at least
    /// `poll_interval_secs`). A repository with open runs or a change in its last poll is polled
    /// every `poll_interval_secs`; each quiet poll doubles the wait up to this. Its look-back
    /// sweep slows down in the same proportion.
    pub quiet_poll_max_secs: u64,
    /// Repositories whose history (a first poll's backfill, a gap behind a full page, the sweep)
    /// is read at once, beside the polling of fresh runs (at least 1).
    pub catchup_concurrency: usize,
}

/// `[logs]`: the agent that downloads the log of every finished job.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Run the log agent in this process.
    pub enabled: bool,
    /// How many logs are downloaded at once (at least 1).
    pub concurrency: usize,
    /// Largest log fetched, in bytes (at least 1; default 1 GiB). The download stops as soon as a
    /// log grows past it and a `job_log_unavailable` event with reason `too_large` is published
    /// instead; the log spool thus never holds more than `concurrency × max_log_bytes`.
    pub max_log_bytes: u64,
    /// Seconds a received log request stays invisible to other log agents while this one works on
    /// it (1 to 43200, SQS's limit).
    pub request_visibility_timeout_secs: u64,
    /// On which receive a log request whose log is not found (404) or not served (GitHub or its
    /// log host failing) is given up on with a `job_log_unavailable` event and deleted (at least
    /// 1). Counted by the queue, so it holds without a dead-letter redrive policy.
    pub max_attempts: u32,
    /// Seconds before a failed log request is tried again, multiplied by the number of tries so
    /// far (at least 1); capped by `request_visibility_timeout_secs`.
    pub retry_delay_secs: u64,
}

/// `[queue]`: where events, log requests and logs are published.
///
/// Each queue is given by name or as a full SQS queue URL. The three queues must differ: the log
/// agent consumes log requests from their own queue so the metrics queue reaches downstream
/// consumers complete.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// `embedded` (a SQLite file, nothing to install) or `sqs` (AWS SQS or a compatible server).
    pub backend: QueueBackend,
    /// Queue receiving every run, job and commit event, for downstream consumers.
    pub metrics_queue: String,
    /// Work queue of "fetch this job's log" requests, consumed by the log agent.
    pub log_requests_queue: String,
    /// Queue receiving job logs.
    pub logs_queue: String,
    /// Largest message body sent, in bytes (1024 to 1048576). SQS accepts 1 MiB; some setups
    /// (and moto) still enforce the older 256 KiB. Larger logs are split into parts.
    pub max_message_bytes: usize,
    /// Settings of the `embedded` backend.
    pub embedded: EmbeddedQueueSettings,
    /// Settings of the `sqs` backend.
    pub sqs: SqsSettings,
}

/// Which queue implementation carries the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum QueueBackend {
    /// A SQLite-backed queue in a local file: the zero-setup default.
    Embedded,
    /// AWS SQS, or a server speaking its API (moto, LocalStack).
    Sqs,
}

impl QueueBackend {
    /// The name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Sqs => "sqs",
        }
    }
}

impl TryFrom<String> for QueueBackend {
    type Error = String;

    /// Parses the configuration's name, ignoring case (`SQS` from an environment variable).
    fn try_from(name: String) -> Result<Self, Self::Error> {
        match name.to_ascii_lowercase().as_str() {
            "embedded" => Ok(Self::Embedded),
            "sqs" => Ok(Self::Sqs),
            _ => Err(format!(
                "unknown value {name:?}, expected \"embedded\" or \"sqs\""
            )),
        }
    }
}

impl fmt::Display for QueueBackend {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// `[queue.embedded]`: the SQLite-backed queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedQueueSettings {
    /// SQLite file holding the queues (relative paths are relative to the working directory).
    pub path: PathBuf,
    /// How many times a message is delivered before it is moved aside as dead (at least 1).
    pub max_receive_count: u32,
    /// Days a message is kept when nobody consumes it (1 to 14, like SQS's retention).
    pub retention_days: u32,
    /// Bytes of messages one queue keeps at most (at least 1 MiB); past it the oldest are
    /// dropped, with a warning and `gha_ingest_queue_dropped_messages_total`.
    pub max_bytes: u64,
}

/// `[queue.sqs]`: AWS SQS. Credentials come from the standard AWS chain (environment, profile,
/// instance role), never from this file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SqsSettings {
    /// AWS region; when unset, the standard AWS chain decides (`AWS_REGION`, profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Endpoint of an SQS-compatible server (e.g. `http://127.0.0.1:5000` for moto); when unset,
    /// AWS's own endpoint for the region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<Url>,
}

/// `[store]`: the local SQLite state (cursors, per-run state, the outbox).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// SQLite file holding the state (relative paths are relative to the working directory).
    pub path: PathBuf,
    /// How many finished runs per repository are kept for the dashboard (at least 1).
    pub recent_runs_retained: u32,
    /// Finished runs older than this many days are dropped from the dashboard's history
    /// (at least 1).
    pub recent_runs_max_age_days: u32,
}

/// `[http]`: the HTTP server (dashboard, `/healthz`, `/metrics`, admin endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Serve HTTP at all.
    pub enabled: bool,
    /// Address and port to listen on, e.g. `127.0.0.1:8080`, or `0.0.0.0:8080` in a container.
    pub listen: SocketAddr,
    /// Name of the environment variable holding the bearer token that admin endpoints (those
    /// that change state, such as adding a repository) require.
    pub admin_token_env: String,
    /// The admin token, read from the variable named by `admin_token_env` during validation;
    /// `None` when that variable is unset or empty, and then admin endpoints are refused. Cannot
    /// be set in a file.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<Secret>,
    /// Name of the environment variable holding the bearer token that every route reading data
    /// requires (the dashboard's data, the JSON API, job logs); the admin token reads too. At
    /// least 24 characters. `/healthz` never needs a token, `/metrics` only with
    /// `metrics_require_token`.
    pub read_token_env: String,
    /// The read token, read from the variable named by `read_token_env` during validation;
    /// `None` when that variable is unset or empty, and then reads are open to anyone who can
    /// reach the port (refused on a non-loopback `listen` unless `allow_open_reads`). Cannot be
    /// set in a file.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub read_token: Option<Secret>,
    /// Serve reads without a token on a non-loopback address (no read token set). Run and job
    /// ids, workflow names and logs of private repositories become readable by anyone who can
    /// reach the port: only for a port that is otherwise protected (a private network, an
    /// authenticating proxy).
    pub allow_open_reads: bool,
    /// Require the read token on `/metrics` too. Off by default, the Prometheus convention: the
    /// metrics carry counters and repository names (see `telemetry.metrics_repo_label`), never
    /// commit messages, branches, job names or error text.
    pub metrics_require_token: bool,
    /// Host names (and optional `:port`) the server answers to besides the loopback names
    /// (`localhost`, `127.0.0.1`, `[::1]`), e.g. `gha-ingest.internal.example.com`. Any other
    /// `Host` header is refused with 421, so a DNS-rebinding page cannot read the API through a
    /// browser on the same machine.
    pub allowed_hosts: Vec<String>,
    /// Job logs the viewer downloads from GitHub at the same time (at least 1); one more is
    /// refused with 429 and `retry-after`. Each download costs a GitHub rate-limit point.
    pub log_downloads_max_concurrent: usize,
    /// Largest job log the viewer downloads, in bytes (at least 1).
    pub log_max_bytes: u64,
    /// Bytes the viewer's spool of downloaded logs may hold in all (at least `log_max_bytes`);
    /// the spool lives beside the state database (`<store dir>/viewer-spool`), not in `/tmp`.
    pub log_spool_max_bytes: u64,
}

/// `[webhooks]`: GitHub's `workflow_run` and `workflow_job` deliveries, received on the HTTP
/// server at `path` (the webhook's payload URL is `https://HOST{path}`, content type JSON).
/// Polling goes on beside them: it publishes whatever a delivery that never came carried.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Receive webhooks (needs `http.enabled` and a secret).
    pub enabled: bool,
    /// The receiver's path on the HTTP server, e.g. `/webhooks/github`.
    pub path: String,
    /// Name of the environment variable holding the webhook's secret (the "Secret" of the
    /// webhook's settings on GitHub; at least 16 characters). Every delivery must be signed with
    /// it (`X-Hub-Signature-256`).
    pub secret_env: String,
    /// File holding the secret instead, e.g. a mounted secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Name of the environment variable holding the previous secret while it is being rotated:
    /// deliveries signed with either are accepted. Unset it once GitHub uses the new one.
    pub previous_secret_env: String,
    /// Largest body accepted, in bytes (GitHub sends at most 25 MB); larger ones get 413.
    pub max_body_bytes: u64,
    /// With a GitHub App: seconds between two reads of the App's delivery list, asking GitHub to
    /// send again every delivery that failed (GitHub never does by itself); 0 turns it off.
    pub redeliver_interval_secs: u64,
    /// A failed delivery is asked for again once its last attempt is this many seconds old
    /// (at least 1).
    pub redeliver_after_secs: u64,
    /// While webhooks are healthy, every poll wait (the interval and the quiet maximum) is this
    /// many times longer; 1 never slows polling down (1 to 60).
    pub poll_slowdown: u32,
    /// The secret, resolved during validation. Cannot be set in a file.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// The previous secret, resolved during validation. Cannot be set in a file.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<Secret>,
}

/// `[telemetry]`: how the daemon logs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `json` (one object per line, for log collectors) or `text` (for a terminal).
    pub log_format: LogFormat,
    /// Which log lines are written, as a `tracing` filter directive: `info`, `debug`,
    /// `info,gha_ingest_github=debug`.
    pub log_level: String,
    /// Label per-repository metrics with the repository name (`repo="owner/name"`). One series
    /// per repository: fine for tens or hundreds of repositories, turn it off for an organisation
    /// with thousands (Prometheus keeps every label value as its own series).
    pub metrics_repo_label: bool,
}

/// `[daemon]`: the process as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSettings {
    /// Seconds between SIGTERM and exit: in-flight work (the outbox drain, log uploads, HTTP
    /// requests) gets this long, what is still running then is left to be re-done after the next
    /// start. Keep it under the orchestrator's grace (Kubernetes: 30 s by default).
    pub shutdown_grace_secs: u64,
}

/// Shape of the daemon's own log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

impl LogFormat {
    /// The name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
        }
    }
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    /// Parses the configuration's name, ignoring case (`SQS` from an environment variable).
    fn try_from(name: String) -> Result<Self, Self::Error> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            _ => Err(format!(
                "unknown value {name:?}, expected \"json\" or \"text\""
            )),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}
