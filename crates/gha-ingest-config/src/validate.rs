//! `Settings::build_and_validate`: the last step of loading, after parsing and defaults.
//!
//! It checks every value against its documented range, normalises what has several spellings
//! (repositories, the API URL) and resolves the secret references (`github.token_env`,
//! `github.token_file`, `http.admin_token_env`, `http.read_token_env`) into `Secret`s. The environment is a parameter,
//! not `std::env`, so tests can load any configuration without touching the process. Every
//! problem is collected before returning, so an operator fixes them all in one go.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::path::Path;

use url::Url;

use crate::error::{ConfigError, Problems};
use crate::repository::{is_login, normalize_repository};
use crate::schema::{
    DaemonSettings, GithubAppSettings, GithubSettings, HttpSettings, LogSettings, PipelineSettings,
    QueueBackend, QueueSettings, Settings, SqsSettings, StoreSettings, TelemetrySettings,
    WebhookSettings,
};
use crate::secret::Secret;

/// The most messages SQS accepts in one `SendMessageBatch`.
pub const MAX_PUBLISH_BATCH_SIZE: usize = 10;
/// The smallest message size limit accepted, in bytes: below it a log part would carry mostly
/// envelope.
pub const MIN_MESSAGE_BYTES: usize = 1024;
/// The largest message SQS accepts, in bytes (1 MiB).
pub const MAX_MESSAGE_BYTES: usize = 1_048_576;
/// The longest visibility timeout SQS accepts, in seconds (12 hours).
pub const MAX_VISIBILITY_TIMEOUT_SECS: u64 = 43_200;
/// The longest SQS queue name, `.fifo` suffix included.
const MAX_QUEUE_NAME_CHARS: usize = 80;

impl Settings {
    /// Validates every field, normalises repositories and the API URL, and resolves the tokens
    /// from `env` (and `github.token_file`); returns all problems found, not just the first.
    pub fn build_and_validate(
        mut self,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Problems::default();
        validate_github(&mut self.github, env, &mut problems);
        validate_pipeline(&mut self.pipeline, &self.github.api_url, &mut problems);
        validate_logs(&self.logs, &mut problems);
        validate_queue(&self.queue, &mut problems);
        validate_store(&self.store, &self.queue, &mut problems);
        validate_http(&mut self.http, env, &mut problems);
        validate_webhooks(&mut self.webhooks, &self.http, env, &mut problems);
        validate_telemetry(&self.telemetry, &mut problems);
        validate_daemon(&self.daemon, &mut problems);
        problems.into_result(self)
    }
}

fn validate_github(
    github: &mut GithubSettings,
    env: &HashMap<String, String>,
    problems: &mut Problems,
) {
    normalize_http_url(&mut github.api_url, "github.api_url", problems);
    require_env_var_name(&github.token_env, "github.token_env", problems);
    require_not_blank(&github.user_agent, "github.user_agent", problems);
    require_at_least(
        github.request_timeout_secs,
        1,
        "github.request_timeout_secs",
        problems,
    );
    require_at_least(
        github.max_concurrent_requests,
        1,
        "github.max_concurrent_requests",
        problems,
    );
    require_at_least(
        github.retry_base_delay_millis,
        1,
        "github.retry_base_delay_millis",
        problems,
    );
    require_at_least(
        github.retry_max_delay_secs,
        1,
        "github.retry_max_delay_secs",
        problems,
    );
    require_at_least(
        github.secondary_limit_wait_secs,
        1,
        "github.secondary_limit_wait_secs",
        problems,
    );
    require_at_least(
        github.points_per_minute,
        1,
        "github.points_per_minute",
        problems,
    );
    require_between(
        github.primary_reserve_percent,
        0,
        90,
        "github.primary_reserve_percent",
        problems,
    );
    require_between(
        github.catchup_burst_percent,
        1,
        100,
        "github.catchup_burst_percent",
        problems,
    );
    require_env_var_name(
        &github.app.private_key_env,
        "github.app.private_key_env",
        problems,
    );
    if github.app.id.is_some() {
        github.app.private_key = resolve_app_key(&github.app, env, problems);
    } else {
        if !github.app.installations.is_empty() {
            problems.add(
                "github.app.installations",
                "installations are only followed with an App: set github.app.id too",
            );
        }
        github.token = resolve_github_token(github, env, problems);
    }
}

/// The App's private key from `private_key_file` when set, else from `private_key_env`. A
/// one-line value with `\n` escapes (how some secret stores hand PEMs over) is unescaped.
fn resolve_app_key(
    app: &GithubAppSettings,
    env: &HashMap<String, String>,
    problems: &mut Problems,
) -> Option<Secret> {
    let key = match &app.private_key_file {
        Some(path) => match read_secret_file(path) {
            Ok(key) => key,
            Err(problem) => {
                problems.add("github.app.private_key_file", problem);
                return None;
            }
        },
        None => match read_secret_env(env, &app.private_key_env) {
            Some(key) => key,
            None => {
                problems.add(
                    "github.app.private_key_env",
                    format!(
                        "github.app.id is set but there is no private key: put the App's .pem in {} or name its file in github.app.private_key_file",
                        app.private_key_env
                    ),
                );
                return None;
            }
        },
    };
    let text = key.expose_secret();
    let text = match text.contains('\n') {
        false if text.contains("\\n") => Secret::new(text.replace("\\n", "\n")),
        _ => key.clone(),
    };
    if !text.expose_secret().contains("-----BEGIN") {
        problems.add(
            "github.app.private_key",
            "the App's private key is not a PEM (it should start with -----BEGIN RSA PRIVATE KEY-----)",
        );
        return None;
    }
    Some(text)
}

/// The token from `token_file` when set, else from the variable named by `token_env`.
fn resolve_github_token(
    github: &GithubSettings,
    env: &HashMap<String, String>,
    problems: &mut Problems,
) -> Option<Secret> {
    let token = match &github.token_file {
        Some(path) => match read_secret_file(path) {
            Ok(token) => Some(token),
            Err(problem) => {
                problems.add("github.token_file", problem);
                return None;
            }
        },
        None => read_secret_env(env, &github.token_env),
    };
    if token.is_none() && !github.allow_anonymous {
        problems.add(
            "github.token",
            format!(
                "no token: set {} (or github.token_env / github.token_file), or github.allow_anonymous = true for a simulator",
                github.token_env
            ),
        );
    }
    token
}

/// The trimmed content of a secret file; the error names the path, never the content.
fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let display = path.display();
    let content =
        std::fs::read_to_string(path).map_err(|error| format!("cannot read {display}: {error}"))?;
    let trimmed = content.trim();
    if trimmed.is_empty() {
        return Err(format!("{display} is empty"));
    }
    Ok(Secret::new(trimmed))
}

/// The trimmed value of `name` in `env`; unset and blank are both "no secret".
fn read_secret_env(env: &HashMap<String, String>, name: &str) -> Option<Secret> {
    env.get(name)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .map(Secret::new)
}

fn validate_pipeline(pipeline: &mut PipelineSettings, api_url: &Url, problems: &mut Problems) {
    pipeline.repositories = normalize_repositories(&pipeline.repositories, api_url, problems);
    require_at_least(
        pipeline.quiet_poll_max_secs,
        pipeline.poll_interval_secs,
        "pipeline.quiet_poll_max_secs",
        problems,
    );
    require_at_least(
        pipeline.catchup_concurrency,
        1,
        "pipeline.catchup_concurrency",
        problems,
    );
    pipeline.organizations = normalize_organizations(&pipeline.organizations, problems);
    require_at_least(
        pipeline.poll_interval_secs,
        1,
        "pipeline.poll_interval_secs",
        problems,
    );
    require_at_least(
        pipeline.reconcile_interval_secs,
        1,
        "pipeline.reconcile_interval_secs",
        problems,
    );
    require_at_least(
        pipeline.reconcile_lookback_days,
        1,
        "pipeline.reconcile_lookback_days",
        problems,
    );
    require_at_least(
        pipeline.org_refresh_interval_secs,
        1,
        "pipeline.org_refresh_interval_secs",
        problems,
    );
    require_between(
        pipeline.publish_batch_size,
        1,
        MAX_PUBLISH_BATCH_SIZE,
        "pipeline.publish_batch_size",
        problems,
    );
    require_at_least(pipeline.shard_count, 1, "pipeline.shard_count", problems);
    require_at_least(
        pipeline.entity_max_attempts,
        1,
        "pipeline.entity_max_attempts",
        problems,
    );
    require_at_least(
        pipeline.entity_retry_base_secs,
        1,
        "pipeline.entity_retry_base_secs",
        problems,
    );
    require_at_least(
        pipeline.repo_backoff_max_secs,
        pipeline.poll_interval_secs,
        "pipeline.repo_backoff_max_secs",
        problems,
    );
    require_at_least(
        pipeline.max_outbox_events,
        1000,
        "pipeline.max_outbox_events",
        problems,
    );
    if pipeline.shard_count >= 1 && pipeline.shard_index >= pipeline.shard_count {
        problems.add(
            "pipeline.shard_index",
            format!(
                "must be less than pipeline.shard_count ({}), got {}",
                pipeline.shard_count, pipeline.shard_index
            ),
        );
    }
}

/// Each entry as `owner/name`; refused entries and repeats become problems.
fn normalize_repositories(
    repositories: &[String],
    api_url: &Url,
    problems: &mut Problems,
) -> Vec<String> {
    let mut normalized = Vec::with_capacity(repositories.len());
    let mut first_index_by_name: HashMap<String, usize> = HashMap::new();
    for (index, repository) in repositories.iter().enumerate() {
        let key = format!("pipeline.repositories[{index}]");
        match normalize_repository(repository, api_url) {
            Ok(name) => {
                if let Some(first_index) =
                    first_index_by_name.insert(name.to_ascii_lowercase(), index)
                {
                    problems.add(
                        key,
                        format!("{repository:?} is listed twice (also at [{first_index}])"),
                    );
                }
                normalized.push(name);
            }
            Err(error) => problems.add(key, error.to_string()),
        }
    }
    normalized
}

/// Each entry trimmed; entries that are not logins and repeats become problems.
fn normalize_organizations(organizations: &[String], problems: &mut Problems) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut normalized = Vec::with_capacity(organizations.len());
    for (index, organization) in organizations.iter().enumerate() {
        let key = format!("pipeline.organizations[{index}]");
        let login = organization.trim();
        if !is_login(login) {
            problems.add(
                key,
                format!("{organization:?} is not a GitHub organization login (e.g. rust-lang)"),
            );
        } else if !seen.insert(login.to_ascii_lowercase()) {
            problems.add(key, format!("{organization:?} is listed twice"));
        }
        normalized.push(login.to_owned());
    }
    normalized
}

fn validate_logs(logs: &LogSettings, problems: &mut Problems) {
    require_at_least(logs.concurrency, 1, "logs.concurrency", problems);
    require_between(
        logs.request_visibility_timeout_secs,
        1,
        MAX_VISIBILITY_TIMEOUT_SECS,
        "logs.request_visibility_timeout_secs",
        problems,
    );
    require_at_least(logs.max_attempts, 1, "logs.max_attempts", problems);
    require_at_least(logs.max_log_bytes, 1, "logs.max_log_bytes", problems);
    require_at_least(logs.retry_delay_secs, 1, "logs.retry_delay_secs", problems);
}

fn validate_queue(queue: &QueueSettings, problems: &mut Problems) {
    let queues = [
        ("queue.metrics_queue", &queue.metrics_queue),
        ("queue.log_requests_queue", &queue.log_requests_queue),
        ("queue.logs_queue", &queue.logs_queue),
    ];
    for (key, value) in queues {
        validate_queue_reference(value, key, problems);
    }
    for (later_index, (later_key, later_value)) in queues.iter().enumerate() {
        let earlier = queues[..later_index]
            .iter()
            .find(|(_, earlier_value)| earlier_value.trim() == later_value.trim());
        if let Some((earlier_key, _)) = earlier {
            if !later_value.trim().is_empty() {
                problems.add(
                    later_key,
                    format!("must differ from {earlier_key}, both are {later_value:?}"),
                );
            }
        }
    }
    require_between(
        queue.max_message_bytes,
        MIN_MESSAGE_BYTES,
        MAX_MESSAGE_BYTES,
        "queue.max_message_bytes",
        problems,
    );
    require_not_blank_path(&queue.embedded.path, "queue.embedded.path", problems);
    require_at_least(
        queue.embedded.max_receive_count,
        1,
        "queue.embedded.max_receive_count",
        problems,
    );
    require_between(
        queue.embedded.retention_days,
        1,
        14,
        "queue.embedded.retention_days",
        problems,
    );
    require_at_least(
        queue.embedded.max_bytes,
        1_048_576,
        "queue.embedded.max_bytes",
        problems,
    );
    validate_sqs(&queue.sqs, problems);
}

/// A queue is an SQS queue name or a full queue URL.
fn validate_queue_reference(value: &str, key: &str, problems: &mut Problems) {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        problems.add(key, "must not be empty");
        return;
    }
    if value.starts_with("https://") || value.starts_with("http://") {
        match Url::parse(value) {
            Ok(url) if has_credentials(&url) => {
                problems.add(key, "must not contain credentials");
            }
            Ok(url) if url.host_str().is_some() && url.path().len() > 1 => {}
            _ => problems.add(key, format!("{value:?} is not an SQS queue URL")),
        }
        return;
    }
    let base_name = value.strip_suffix(".fifo").unwrap_or(value);
    let valid_name = !base_name.is_empty()
        && value.len() <= MAX_QUEUE_NAME_CHARS
        && base_name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_'));
    if !valid_name {
        problems.add(
            key,
            format!(
                "{value:?} is not an SQS queue name or URL (1 to 80 letters, digits, '-' or '_', optionally ending in .fifo)"
            ),
        );
    }
}

fn validate_sqs(sqs: &SqsSettings, problems: &mut Problems) {
    if let Some(region) = &sqs.region {
        require_not_blank(region, "queue.sqs.region", problems);
    }
    if let Some(endpoint_url) = &sqs.endpoint_url {
        let mut endpoint_url = endpoint_url.clone();
        normalize_http_url(&mut endpoint_url, "queue.sqs.endpoint_url", problems);
    }
}

fn validate_store(store: &StoreSettings, queue: &QueueSettings, problems: &mut Problems) {
    require_not_blank_path(&store.path, "store.path", problems);
    require_at_least(
        store.recent_runs_retained,
        1,
        "store.recent_runs_retained",
        problems,
    );
    require_at_least(
        store.recent_runs_max_age_days,
        1,
        "store.recent_runs_max_age_days",
        problems,
    );
    let shares_file = queue.backend == QueueBackend::Embedded
        && !store.path.as_os_str().is_empty()
        && store.path == queue.embedded.path;
    if shares_file {
        problems.add(
            "queue.embedded.path",
            format!(
                "must differ from store.path, both are {:?}",
                store.path.display().to_string()
            ),
        );
    }
}

/// The shortest token the HTTP server accepts: long enough that guessing, even unthrottled,
/// is hopeless (24 random characters), short enough to paste.
pub const MIN_HTTP_TOKEN_CHARS: usize = 24;

fn validate_http(http: &mut HttpSettings, env: &HashMap<String, String>, problems: &mut Problems) {
    require_env_var_name(&http.admin_token_env, "http.admin_token_env", problems);
    require_env_var_name(&http.read_token_env, "http.read_token_env", problems);
    http.admin_token = read_secret_env(env, &http.admin_token_env);
    http.read_token = read_secret_env(env, &http.read_token_env);
    for (token, variable, key) in [
        (
            &http.admin_token,
            &http.admin_token_env,
            "http.admin_token_env",
        ),
        (
            &http.read_token,
            &http.read_token_env,
            "http.read_token_env",
        ),
    ] {
        if let Some(token) = token {
            if token.char_count() < MIN_HTTP_TOKEN_CHARS {
                problems.add(
                    key,
                    format!(
                        "the token in {variable} has {} characters, at least {MIN_HTTP_TOKEN_CHARS} are required (e.g. openssl rand -hex 16)",
                        token.char_count()
                    ),
                );
            }
        }
    }
    if http.admin_token.is_some() && http.admin_token == http.read_token {
        problems.add(
            "http.read_token_env",
            "the read token must differ from the admin token (a reader could change the configuration)",
        );
    }
    let reads_open = http.read_token.is_none();
    if http.enabled && reads_open && !http.listen.ip().is_loopback() && !http.allow_open_reads {
        problems.add(
            "http.read_token_env",
            format!(
                "reads would be open to anyone on {}: set a read token in {} (at least {MIN_HTTP_TOKEN_CHARS} characters), listen on a loopback address, or set http.allow_open_reads = true",
                http.listen, http.read_token_env
            ),
        );
    }
    for (index, host) in http.allowed_hosts.iter().enumerate() {
        let valid = !host.trim().is_empty()
            && !host.contains("://")
            && !host.contains('/')
            && !host.contains(char::is_whitespace);
        if !valid {
            problems.add(
                format!("http.allowed_hosts[{index}]"),
                format!("{host:?} is not a host name (e.g. gha-ingest.example.com or gha-ingest.example.com:8080)"),
            );
        }
    }
    require_at_least(
        http.log_downloads_max_concurrent,
        1,
        "http.log_downloads_max_concurrent",
        problems,
    );
    require_at_least(http.log_max_bytes, 1, "http.log_max_bytes", problems);
    require_at_least(
        http.log_spool_max_bytes,
        http.log_max_bytes,
        "http.log_spool_max_bytes",
        problems,
    );
}

/// The fewest characters a webhook secret may have.
pub const MIN_WEBHOOK_SECRET_CHARS: usize = 16;
/// Paths the server already serves, which the receiver's path must not shadow.
const RESERVED_PATHS: [&str; 6] = ["/", "/api", "/assets", "/healthz", "/readyz", "/metrics"];

fn validate_webhooks(
    webhooks: &mut WebhookSettings,
    http: &HttpSettings,
    env: &HashMap<String, String>,
    problems: &mut Problems,
) {
    require_env_var_name(&webhooks.secret_env, "webhooks.secret_env", problems);
    require_env_var_name(
        &webhooks.previous_secret_env,
        "webhooks.previous_secret_env",
        problems,
    );
    webhooks.secret = match &webhooks.secret_file {
        Some(path) => match read_secret_file(path) {
            Ok(secret) => Some(secret),
            Err(problem) => {
                problems.add("webhooks.secret_file", problem);
                None
            }
        },
        None => read_secret_env(env, &webhooks.secret_env),
    };
    webhooks.previous_secret = read_secret_env(env, &webhooks.previous_secret_env);
    let reserved = RESERVED_PATHS.iter().any(|reserved| {
        webhooks.path == *reserved
            || (*reserved != "/" && webhooks.path.starts_with(&format!("{reserved}/")))
    });
    let valid_path = webhooks.path.starts_with('/')
        && webhooks.path.len() > 1
        && !webhooks.path.ends_with('/')
        && webhooks
            .path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
    if !valid_path || reserved {
        problems.add(
            "webhooks.path",
            format!(
                "{:?} is not a path of its own (e.g. /webhooks/github; not under {})",
                webhooks.path,
                RESERVED_PATHS.join(", ")
            ),
        );
    }
    require_between(
        webhooks.max_body_bytes,
        1024,
        100 * 1024 * 1024,
        "webhooks.max_body_bytes",
        problems,
    );
    require_at_least(
        webhooks.redeliver_after_secs,
        1,
        "webhooks.redeliver_after_secs",
        problems,
    );
    require_between(
        u64::from(webhooks.poll_slowdown),
        1,
        60,
        "webhooks.poll_slowdown",
        problems,
    );
    if !webhooks.enabled {
        return;
    }
    if !http.enabled {
        problems.add(
            "webhooks.enabled",
            "webhooks are received by the HTTP server: set http.enabled = true",
        );
    }
    match &webhooks.secret {
        None if webhooks.secret_file.is_none() => problems.add(
            "webhooks.secret_env",
            format!(
                "no webhook secret: set {} (or webhooks.secret_file) to the webhook's secret; unsigned deliveries are never accepted",
                webhooks.secret_env
            ),
        ),
        None => {}
        Some(secret) => {
            for (secret, key) in [
                (Some(secret), "webhooks.secret_env"),
                (webhooks.previous_secret.as_ref(), "webhooks.previous_secret_env"),
            ] {
                if let Some(secret) = secret {
                    if secret.char_count() < MIN_WEBHOOK_SECRET_CHARS {
                        problems.add(
                            key,
                            format!(
                                "the webhook secret has {} characters, at least {MIN_WEBHOOK_SECRET_CHARS} are required (e.g. openssl rand -hex 32)",
                                secret.char_count()
                            ),
                        );
                    }
                }
            }
        }
    }
}

fn validate_telemetry(telemetry: &TelemetrySettings, problems: &mut Problems) {
    // A full check needs tracing-subscriber's parser; the binary reports what it rejects.
    require_not_blank(&telemetry.log_level, "telemetry.log_level", problems);
}

/// The longest shutdown grace accepted, in seconds: past it an orchestrator would long have
/// killed the process.
pub const MAX_SHUTDOWN_GRACE_SECS: u64 = 600;

fn validate_daemon(daemon: &DaemonSettings, problems: &mut Problems) {
    if !(1..=MAX_SHUTDOWN_GRACE_SECS).contains(&daemon.shutdown_grace_secs) {
        problems.add(
            "daemon.shutdown_grace_secs",
            format!(
                "must be between 1 and {MAX_SHUTDOWN_GRACE_SECS}, got {}",
                daemon.shutdown_grace_secs
            ),
        );
    }
}

/// Checks an http(s) base URL and makes its path end with `/`, so that `join` appends to it
/// rather than replacing its last segment (`/api/v3` + `repos` must give `/api/v3/repos`).
/// Messages never quote the URL: it could carry credentials.
fn normalize_http_url(url: &mut Url, key: &str, problems: &mut Problems) {
    if has_credentials(url) {
        problems.add(
            key,
            "must not contain credentials (use the token settings instead)",
        );
        return;
    }
    if !matches!(url.scheme(), "http" | "https") {
        problems.add(
            key,
            format!(
                "must be an http or https URL, got scheme {:?}",
                url.scheme()
            ),
        );
        return;
    }
    if url.host_str().is_none_or(str::is_empty) {
        problems.add(key, "must have a host");
        return;
    }
    if url.query().is_some() || url.fragment().is_some() {
        problems.add(key, "must not have a query or a fragment");
        return;
    }
    if !url.path().ends_with('/') {
        let path_with_slash = format!("{}/", url.path());
        url.set_path(&path_with_slash);
    }
}

fn has_credentials(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

fn require_at_least<T: PartialOrd + Display>(
    value: T,
    minimum: T,
    key: &str,
    problems: &mut Problems,
) {
    if value < minimum {
        problems.add(key, format!("must be at least {minimum}, got {value}"));
    }
}

fn require_between<T: PartialOrd + Display>(
    value: T,
    minimum: T,
    maximum: T,
    key: &str,
    problems: &mut Problems,
) {
    if value < minimum || value > maximum {
        problems.add(
            key,
            format!("must be between {minimum} and {maximum}, got {value}"),
        );
    }
}

fn require_not_blank(value: &str, key: &str, problems: &mut Problems) {
    if value.trim().is_empty() {
        problems.add(key, "must not be empty");
    }
}

fn require_not_blank_path(path: &Path, key: &str, problems: &mut Problems) {
    if path.as_os_str().is_empty() {
        problems.add(key, "must not be empty");
    }
}

fn require_env_var_name(name: &str, key: &str, problems: &mut Problems) {
    if name.trim().is_empty() || name.contains('=') || name.contains('\0') {
        problems.add(key, format!("{name:?} is not an environment variable name"));
    }
}
