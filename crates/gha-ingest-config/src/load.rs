//! Loading: built-in defaults, then the `--config` file, then the environment, then validation.
//!
//! Precedence, lowest first:
//! 1. `config/default.toml`, compiled in, so the binary starts with no file at all;
//! 2. the file given with `--config` (a missing file named explicitly is an error);
//! 3. `GHA_INGEST__SECTION__KEY` variables (`__` between levels; lists comma-separated);
//! 4. the standard `GITHUB_API_URL`.
//!
//! The environment is a map passed in, never read here, so tests load configurations without
//! touching the process. Before deserializing, every key given is checked against the schema so
//! that all misspelt keys are reported at once, with where they came from; serde alone would stop
//! at the first.

use std::collections::HashMap;
use std::path::Path;

use config::{Config, FileFormat, Format, Map, Source, Value, ValueKind};

use crate::error::{ConfigError, Problems};
use crate::schema::Settings;

/// The built-in defaults: every key, its default value and a comment saying what it does.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// Prefix of the environment variables that override settings: `GHA_INGEST__PIPELINE__ENABLED`.
pub const ENV_PREFIX: &str = "GHA_INGEST";
/// Separator between the prefix and each level of an environment override's name.
pub const ENV_SEPARATOR: &str = "__";
/// Separator between the items of a list given in an environment variable.
pub const ENV_LIST_SEPARATOR: &str = ",";
/// The standard variable (set on GitHub's runners and by GHES) that overrides `github.api_url`.
pub const GITHUB_API_URL_ENV: &str = "GITHUB_API_URL";

/// Keys whose environment values are comma-separated lists.
const LIST_KEYS: [&str; 3] = [
    "pipeline.repositories",
    "pipeline.organizations",
    "github.app.installations",
];

/// Keys of the schema that have no default, so `default.toml` only shows them commented out.
const KEYS_WITHOUT_DEFAULT: [&str; 6] = [
    "github.token_file",
    "webhooks.secret_file",
    "github.app.id",
    "github.app.private_key_file",
    "queue.sqs.region",
    "queue.sqs.endpoint_url",
];

/// Keys that exist in `Settings` but must never be written: secrets are given by reference.
const INLINE_SECRET_KEYS: [(&str, &str); 6] = [
    (
        "github.app.private_key",
        "a private key cannot be written in the configuration: put it in the file named by github.app.private_key_file, or in the environment variable named by github.app.private_key_env",
    ),
    (
        "github.token",
        "a token cannot be written in the configuration: put it in the environment variable named by github.token_env, or in the file named by github.token_file",
    ),
    (
        "http.admin_token",
        "a token cannot be written in the configuration: put it in the environment variable named by http.admin_token_env",
    ),
    (
        "http.read_token",
        "a token cannot be written in the configuration: put it in the environment variable named by http.read_token_env",
    ),
    (
        "webhooks.secret",
        "a webhook secret cannot be written in the configuration: put it in the environment variable named by webhooks.secret_env, or in the file named by webhooks.secret_file",
    ),
    (
        "webhooks.previous_secret",
        "a webhook secret cannot be written in the configuration: put it in the environment variable named by webhooks.previous_secret_env",
    ),
];

/// The origin the config crate gives values that came from the environment.
const ENVIRONMENT_ORIGIN: &str = "the environment";
/// The origin given to values of the built-in defaults.
const DEFAULTS_ORIGIN: &str = "the built-in defaults";

/// Loads the configuration: built-in defaults, then the file at `path` if given, then the
/// overrides in `env`; then validates it and resolves its tokens from `env`.
pub fn load(path: Option<&Path>, env: &HashMap<String, String>) -> Result<Settings, ConfigError> {
    let merged = merge_sources(path, env)?;
    reject_unknown_keys(&merged.cache)?;
    let given = merged.cache.clone();
    let settings: Settings = merged
        .try_deserialize()
        .map_err(|error| ConfigError::new(vec![describe_source_error(&error, Some(&given))]))?;
    settings.build_and_validate(env)
}

/// [`load`] with the process's environment, for the binary. Variables whose name or value is not
/// UTF-8 are skipped.
pub fn load_from_process_env(path: Option<&Path>) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    load(path, &env)
}

/// Stacks the sources in precedence order; nothing is deserialized yet.
fn merge_sources(
    path: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<Config, ConfigError> {
    let mut builder = Config::builder().add_source(TomlText {
        origin: DEFAULTS_ORIGIN.to_owned(),
        text: DEFAULT_TOML.to_owned(),
    });

    if let Some(path) = path {
        // Read here rather than through `config::File`, which quietly tries other extensions
        // when the named file is missing.
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigError::new(vec![format!(
                "cannot read config file {}: {error}",
                path.display()
            )])
        })?;
        builder = builder.add_source(TomlText {
            origin: path.display().to_string(),
            text,
        });
    }

    builder = builder.add_source(environment_source(env));
    for (key, items) in list_overrides(env) {
        builder = builder
            .set_override(key, items)
            .map_err(|error| ConfigError::new(vec![describe_source_error(&error, None)]))?;
    }
    if let Some(api_url) = env
        .get(GITHUB_API_URL_ENV)
        .filter(|value| !value.trim().is_empty())
    {
        builder = builder
            .set_override("github.api_url", api_url.trim())
            .map_err(|error| ConfigError::new(vec![describe_source_error(&error, None)]))?;
    }

    builder
        .build()
        .map_err(|error| ConfigError::new(vec![describe_source_error(&error, None)]))
}

/// `GHA_INGEST__SECTION__KEY=value` overrides, with `try_parsing` so numbers and booleans
/// arrive typed, and the list keys split on commas.
fn environment_source(env: &HashMap<String, String>) -> config::Environment {
    let prefix_pattern = format!("{ENV_PREFIX}{ENV_SEPARATOR}");
    let prefixed: Map<String, String> = env
        .iter()
        .filter(|(name, _)| name.to_ascii_uppercase().starts_with(&prefix_pattern))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let mut environment = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR)
        .list_separator(ENV_LIST_SEPARATOR)
        .try_parsing(true)
        .ignore_empty(true)
        .source(Some(prefixed));
    for key in LIST_KEYS {
        environment = environment.with_list_parse_key(key);
    }
    environment
}

/// List values the environment source would get wrong, fixed as overrides: an empty value (which
/// `ignore_empty` drops) means an empty list, and a value `try_parsing` would take for a number or
/// a boolean (an organisation called `1234` or `true`) is still a list of one.
fn list_overrides(env: &HashMap<String, String>) -> Vec<(&'static str, Vec<String>)> {
    let mut overrides = Vec::new();
    for key in LIST_KEYS {
        let variable = environment_variable_name(key);
        let found = env
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&variable));
        let Some((_, value)) = found else {
            continue;
        };
        if value.is_empty() {
            overrides.push((key, Vec::new()));
        } else if looks_like_scalar(value) {
            let items = value.split(ENV_LIST_SEPARATOR).map(str::to_owned).collect();
            overrides.push((key, items));
        }
    }
    overrides
}

/// Whether `config::Environment` with `try_parsing` reads `value` as a boolean or a number.
fn looks_like_scalar(value: &str) -> bool {
    value.to_lowercase().parse::<bool>().is_ok()
        || value.parse::<i64>().is_ok()
        || value.parse::<f64>().is_ok()
}

/// The variable that overrides `key`: `pipeline.poll_interval_secs` →
/// `GHA_INGEST__PIPELINE__POLL_INTERVAL_SECS`.
pub fn environment_variable_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{ENV_SEPARATOR}{}",
        key.to_ascii_uppercase().replace('.', ENV_SEPARATOR)
    )
}

/// A TOML document with a name for messages: `config::File::from_str` would leave values without
/// an origin, and `config::File::from(path)` guesses at missing files.
#[derive(Debug, Clone)]
struct TomlText {
    origin: String,
    text: String,
}

impl Source for TomlText {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Format::parse(&FileFormat::Toml, Some(&self.origin), &self.text).map_err(|cause| {
            config::ConfigError::FileParse {
                uri: Some(self.origin.clone()),
                cause,
            }
        })
    }
}

/// Every key given that the schema does not have, and every inline secret, as problems.
fn reject_unknown_keys(merged: &Value) -> Result<(), ConfigError> {
    let schema = Format::parse(&FileFormat::Toml, None, DEFAULT_TOML).map_err(|error| {
        ConfigError::new(vec![format!("the built-in defaults do not parse: {error}")])
    })?;
    let mut problems = Problems::default();
    if let ValueKind::Table(given) = &merged.kind {
        find_unknown_keys(given, &schema, "", &mut problems);
    }
    problems.into_result(())
}

fn find_unknown_keys(
    given: &Map<String, Value>,
    schema: &Map<String, Value>,
    prefix: &str,
    problems: &mut Problems,
) {
    let mut keys: Vec<&String> = given.keys().collect();
    keys.sort();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let value = &given[key];
        match (schema.get(key).map(|known| &known.kind), &value.kind) {
            (Some(ValueKind::Table(known_table)), ValueKind::Table(given_table)) => {
                find_unknown_keys(given_table, known_table, &path, problems);
            }
            // A value of the wrong type is the deserializer's to report.
            (Some(_), _) => {}
            (None, _) if KEYS_WITHOUT_DEFAULT.contains(&path.as_str()) => {}
            (None, _) => {
                let secret_advice = INLINE_SECRET_KEYS
                    .iter()
                    .find(|(secret_key, _)| *secret_key == path);
                match secret_advice {
                    Some((_, advice)) => problems.add(&path, advice),
                    None => problems.add_line(describe_unknown_key(&path, value)),
                }
            }
        }
    }
}

/// `unknown key "pipline" in /etc/gha-ingest.toml`, or for the environment
/// `unknown key "pipeline.pol" in the environment (GHA_INGEST__PIPELINE__POL)`.
fn describe_unknown_key(path: &str, value: &Value) -> String {
    match first_origin(value) {
        Some(ENVIRONMENT_ORIGIN) => format!(
            "unknown key {path:?} in {ENVIRONMENT_ORIGIN} ({})",
            environment_variable_name(path)
        ),
        Some(origin) => format!("unknown key {path:?} in {origin}"),
        None => format!("unknown key {path:?}"),
    }
}

/// Where a value came from. Merging gives tables no origin, so look at their leaves.
fn first_origin(value: &Value) -> Option<&str> {
    if let Some(origin) = value.origin() {
        return Some(origin);
    }
    match &value.kind {
        ValueKind::Table(table) => {
            let mut keys: Vec<&String> = table.keys().collect();
            keys.sort();
            keys.into_iter().find_map(|key| first_origin(&table[key]))
        }
        ValueKind::Array(items) => items.iter().find_map(first_origin),
        _ => None,
    }
}

/// One line for an error of the config crate, starting with the key when it names one:
/// `pipeline.poll_interval_secs: expected an unsigned 64-bit integer, got string "often" in f.toml`.
/// `given` (the merged values) supplies the origin when the error lacks one, as errors raised by
/// serde itself (an unknown enum value, a bad URL) do.
fn describe_source_error(error: &config::ConfigError, given: Option<&Value>) -> String {
    match error {
        config::ConfigError::Type {
            origin,
            unexpected,
            expected,
            key,
        } => {
            let origin = origin_or_lookup(origin.as_deref(), key.as_deref(), given);
            let described = format!("expected {expected}, got {unexpected}{}", in_origin(origin));
            with_key(key.as_deref(), described)
        }
        config::ConfigError::At { error, origin, key } => {
            let origin = origin_or_lookup(origin.as_deref(), key.as_deref(), given);
            let described = format!(
                "{}{}",
                describe_source_error(error, None),
                in_origin(origin)
            );
            with_key(key.as_deref(), described)
        }
        config::ConfigError::FileParse { uri, cause } => match uri {
            Some(uri) => format!("cannot parse {uri}: {}", one_line(&cause.to_string())),
            None => format!("cannot parse: {}", one_line(&cause.to_string())),
        },
        config::ConfigError::NotFound(key) => format!("{key}: missing"),
        other => one_line(&other.to_string()),
    }
}

fn origin_or_lookup<'a>(
    origin: Option<&'a str>,
    key: Option<&str>,
    given: Option<&'a Value>,
) -> Option<&'a str> {
    origin.or_else(|| origin_at(given?, key?))
}

/// The origin of the value at `key` (`pipeline.repositories[2]`) in the merged values.
fn origin_at<'a>(given: &'a Value, key: &str) -> Option<&'a str> {
    let mut current = given;
    for segment in key.split('.') {
        let (name, indexes) = segment.split_once('[').unwrap_or((segment, ""));
        if !name.is_empty() {
            let ValueKind::Table(table) = &current.kind else {
                return None;
            };
            current = table.get(name)?;
        }
        for index in indexes.split('[').filter(|index| !index.is_empty()) {
            let index: usize = index.trim_end_matches(']').parse().ok()?;
            let ValueKind::Array(items) = &current.kind else {
                return None;
            };
            current = items.get(index)?;
        }
    }
    first_origin(current)
}

fn with_key(key: Option<&str>, described: String) -> String {
    match key {
        Some(key) if !key.is_empty() => format!("{key}: {described}"),
        _ => described,
    }
}

fn in_origin(origin: Option<&str>) -> String {
    origin
        .map(|origin| format!(" in {origin}"))
        .unwrap_or_default()
}

/// Folds a multi-line message (TOML parse errors draw the offending line) into its first and last
/// lines: where, and what.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    match lines.as_slice() {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [first, .., last] => format!("{}: {last}", first.trim_end_matches(':')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{
        DaemonSettings, EmbeddedQueueSettings, GithubAppSettings, GithubSettings, HttpSettings,
        LogFormat, LogSettings, PipelineSettings, QueueBackend, QueueSettings, SqsSettings,
        StoreSettings, TelemetrySettings, WebhookSettings,
    };
    use crate::secret::Secret;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    /// A `Settings` with every optional field set, so serializing it shows every key.
    fn every_field_set() -> Settings {
        Settings {
            github: GithubSettings {
                api_url: "https://api.github.com/".parse().unwrap(),
                token_env: "GITHUB_TOKEN".to_owned(),
                token_file: Some(PathBuf::from("/token")),
                token: Some(Secret::new("t")),
                allow_anonymous: false,
                user_agent: "ua".to_owned(),
                request_timeout_secs: 1,
                max_concurrent_requests: 1,
                max_retries: 1,
                retry_base_delay_millis: 1,
                retry_max_delay_secs: 1,
                secondary_limit_wait_secs: 1,
                points_per_minute: 1,
                primary_reserve_percent: 1,
                catchup_burst_percent: 1,
                app: GithubAppSettings {
                    id: Some(1),
                    private_key_env: "GITHUB_APP_PRIVATE_KEY".to_owned(),
                    private_key_file: Some(PathBuf::from("/key.pem")),
                    installations: vec![1],
                    private_key: Some(Secret::new("k")),
                },
            },
            pipeline: PipelineSettings {
                enabled: true,
                repositories: vec![],
                organizations: vec![],
                poll_interval_secs: 1,
                reconcile_interval_secs: 1,
                reconcile_lookback_days: 1,
                backfill_days: 1,
                org_refresh_interval_secs: 1,
                publish_batch_size: 1,
                shard_index: 0,
                shard_count: 1,
                entity_max_attempts: 1,
                entity_retry_base_secs: 1,
                repo_backoff_max_secs: 1,
                max_outbox_events: 1000,
                quiet_poll_max_secs: 1,
                catchup_concurrency: 1,
            },
            logs: LogSettings {
                enabled: true,
                concurrency: 1,
                max_log_bytes: 1,
                request_visibility_timeout_secs: 1,
                max_attempts: 1,
                retry_delay_secs: 1,
            },
            queue: QueueSettings {
                backend: QueueBackend::Sqs,
                metrics_queue: "m".to_owned(),
                log_requests_queue: "r".to_owned(),
                logs_queue: "l".to_owned(),
                max_message_bytes: 1024,
                embedded: EmbeddedQueueSettings {
                    path: PathBuf::from("q"),
                    max_receive_count: 1,
                    retention_days: 1,
                    max_bytes: 1_048_576,
                },
                sqs: SqsSettings {
                    region: Some("r".to_owned()),
                    endpoint_url: Some("http://localhost/".parse().unwrap()),
                },
            },
            store: StoreSettings {
                path: PathBuf::from("s"),
                recent_runs_retained: 1,
                recent_runs_max_age_days: 1,
            },
            http: HttpSettings {
                enabled: true,
                listen: "127.0.0.1:1".parse().unwrap(),
                admin_token_env: "A".to_owned(),
                admin_token: Some(Secret::new("a")),
                read_token_env: "R".to_owned(),
                read_token: Some(Secret::new("r")),
                allow_open_reads: false,
                metrics_require_token: false,
                allowed_hosts: vec!["h".to_owned()],
                log_downloads_max_concurrent: 1,
                log_max_bytes: 1,
                log_spool_max_bytes: 1,
            },
            webhooks: WebhookSettings {
                enabled: true,
                path: "/p".to_owned(),
                secret_env: "W".to_owned(),
                secret_file: Some("/w".into()),
                previous_secret_env: "P".to_owned(),
                max_body_bytes: 1,
                redeliver_interval_secs: 1,
                redeliver_after_secs: 1,
                poll_slowdown: 1,
                secret: Some(Secret::new("w")),
                previous_secret: Some(Secret::new("p")),
            },
            telemetry: TelemetrySettings {
                log_format: LogFormat::Text,
                log_level: "info".to_owned(),
                metrics_repo_label: true,
            },
            daemon: DaemonSettings {
                shutdown_grace_secs: 1,
            },
        }
    }

    fn leaf_keys(table: &toml::Table, prefix: &str, keys: &mut BTreeSet<String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(inner) => leaf_keys(inner, &path, keys),
                _ => {
                    keys.insert(path);
                }
            }
        }
    }

    /// `default.toml` and the two key lists here must describe exactly the fields of `Settings`:
    /// otherwise a new field would be refused as unknown, or an old key silently accepted.
    #[test]
    fn default_toml_has_every_key_of_the_schema() {
        let serialized: toml::Table = toml::from_str(&every_field_set().redacted_toml()).unwrap();
        let mut schema_keys = BTreeSet::new();
        leaf_keys(&serialized, "", &mut schema_keys);

        let defaults: toml::Table = toml::from_str(DEFAULT_TOML).unwrap();
        let mut documented_keys = BTreeSet::new();
        leaf_keys(&defaults, "", &mut documented_keys);
        documented_keys.extend(KEYS_WITHOUT_DEFAULT.iter().map(|key| (*key).to_owned()));
        documented_keys.extend(INLINE_SECRET_KEYS.iter().map(|(key, _)| (*key).to_owned()));

        assert_eq!(documented_keys, schema_keys);
    }

    #[test]
    fn default_toml_comments_every_key() {
        let mut previous_line = "";
        for line in DEFAULT_TOML.lines() {
            let is_key = !line.starts_with('#')
                && !line.starts_with('[')
                && !line.trim().is_empty()
                && line.contains(" = ");
            let after_comment_or_key =
                previous_line.starts_with('#') || previous_line.contains(" = ");
            if is_key {
                assert!(after_comment_or_key, "no comment above {line:?}");
            }
            previous_line = line;
        }
    }

    #[test]
    fn variable_names() {
        assert_eq!(
            environment_variable_name("queue.embedded.path"),
            "GHA_INGEST__QUEUE__EMBEDDED__PATH"
        );
    }

    #[test]
    fn one_line_keeps_where_and_what() {
        assert_eq!(one_line("single"), "single");
        assert_eq!(
            one_line("TOML parse error at line 1, column 9\n  |\n1 | [pipeline\n  |         ^\ninvalid table header\n"),
            "TOML parse error at line 1, column 9: invalid table header"
        );
    }
}
