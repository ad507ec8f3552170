//! Loading end to end, through the public API: real files in temporary directories, and the
//! environment as a map, so each test states exactly what the daemon would see.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gha_ingest_config::{load, ConfigError, LogFormat, QueueBackend, Settings};

const TOKEN: &str = "ghp_0123456789abcdefSECRETTOKENVALUE";
const ADMIN_TOKEN: &str = "admin-SECRET-4242-long-enough-token";

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn env_with_token(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut variables = env(pairs);
    variables.insert("GITHUB_TOKEN".to_owned(), TOKEN.to_owned());
    variables
}

/// A config file in its own temporary directory (kept alive by the returned guard).
struct ConfigFile {
    _directory: tempfile::TempDir,
    path: PathBuf,
}

fn config_file(contents: &str) -> ConfigFile {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("gha-ingest.toml");
    std::fs::write(&path, contents).expect("write config file");
    ConfigFile {
        _directory: directory,
        path,
    }
}

fn load_ok(path: Option<&Path>, variables: &HashMap<String, String>) -> Settings {
    match load(path, variables) {
        Ok(settings) => settings,
        Err(error) => panic!("expected the configuration to load, got: {error}"),
    }
}

fn load_err(path: Option<&Path>, variables: &HashMap<String, String>) -> ConfigError {
    match load(path, variables) {
        Ok(settings) => panic!("expected an error, loaded: {settings:?}"),
        Err(error) => error,
    }
}

fn assert_has_problem(error: &ConfigError, expected: &str) {
    assert!(
        error.problems().iter().any(|problem| problem == expected),
        "expected the problem {expected:?} among {:#?}",
        error.problems()
    );
}

#[test]
fn defaults_load_with_no_file() {
    let settings = load_ok(None, &env_with_token(&[]));

    assert_eq!(settings.github.api_url.as_str(), "https://api.github.com/");
    assert_eq!(settings.github.token_env, "GITHUB_TOKEN");
    assert_eq!(settings.github.token_file, None);
    assert_eq!(
        settings
            .github
            .token
            .as_ref()
            .map(|token| token.expose_secret()),
        Some(TOKEN)
    );
    assert!(!settings.github.allow_anonymous);
    assert_eq!(settings.github.user_agent, "gha-ingest");
    assert_eq!(settings.github.request_timeout_secs, 30);
    assert_eq!(settings.github.max_concurrent_requests, 4);
    assert_eq!(settings.github.max_retries, 5);

    assert!(settings.pipeline.enabled);
    assert!(settings.pipeline.repositories.is_empty());
    assert!(settings.pipeline.organizations.is_empty());
    assert_eq!(settings.pipeline.poll_interval_secs, 30);
    assert_eq!(settings.pipeline.reconcile_interval_secs, 600);
    assert_eq!(settings.pipeline.reconcile_lookback_days, 35);
    assert_eq!(settings.pipeline.backfill_days, 7);
    assert_eq!(settings.pipeline.org_refresh_interval_secs, 3600);
    assert_eq!(settings.pipeline.publish_batch_size, 10);
    assert_eq!(settings.pipeline.shard_index, 0);
    assert_eq!(settings.pipeline.shard_count, 1);

    assert!(settings.logs.enabled);
    assert_eq!(settings.logs.concurrency, 4);
    assert_eq!(settings.logs.max_log_bytes, 1024 * 1024 * 1024);
    assert_eq!(settings.logs.request_visibility_timeout_secs, 300);
    assert_eq!(settings.logs.max_attempts, 5);

    assert_eq!(settings.queue.backend, QueueBackend::Embedded);
    assert_eq!(settings.queue.metrics_queue, "gha-ingest-metrics");
    assert_eq!(settings.queue.log_requests_queue, "gha-ingest-log-requests");
    assert_eq!(settings.queue.logs_queue, "gha-ingest-logs");
    assert_eq!(settings.queue.max_message_bytes, 262_144);
    assert_eq!(
        settings.queue.embedded.path,
        PathBuf::from("data/queue.sqlite")
    );
    assert_eq!(settings.queue.embedded.max_receive_count, 5);
    assert_eq!(settings.queue.sqs.region, None);
    assert_eq!(settings.queue.sqs.endpoint_url, None);

    assert_eq!(settings.store.path, PathBuf::from("data/state.sqlite"));
    assert_eq!(settings.store.recent_runs_retained, 500);
    assert_eq!(settings.store.recent_runs_max_age_days, 14);

    assert!(settings.http.enabled);
    assert_eq!(settings.http.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(settings.http.admin_token_env, "GHA_INGEST_ADMIN_TOKEN");
    assert_eq!(settings.http.admin_token, None);

    assert_eq!(settings.telemetry.log_format, LogFormat::Json);
    assert_eq!(settings.telemetry.log_level, "info");
}

#[test]
fn file_overrides_defaults_and_keeps_the_rest() {
    let file = config_file(
        r#"
[pipeline]
poll_interval_secs = 12
repositories = ["rust-lang/rust"]

[queue]
backend = "sqs"

[queue.sqs]
region = "eu-west-1"
endpoint_url = "http://127.0.0.1:5000"

[telemetry]
log_format = "text"
"#,
    );
    let settings = load_ok(Some(&file.path), &env_with_token(&[]));

    assert_eq!(settings.pipeline.poll_interval_secs, 12);
    assert_eq!(settings.pipeline.repositories, vec!["rust-lang/rust"]);
    assert_eq!(settings.queue.backend, QueueBackend::Sqs);
    assert_eq!(settings.queue.sqs.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        settings
            .queue
            .sqs
            .endpoint_url
            .as_ref()
            .map(|url| url.as_str()),
        Some("http://127.0.0.1:5000/")
    );
    assert_eq!(settings.telemetry.log_format, LogFormat::Text);
    // untouched keys of the same sections keep their defaults
    assert_eq!(settings.pipeline.reconcile_interval_secs, 600);
    assert_eq!(settings.queue.metrics_queue, "gha-ingest-metrics");
}

#[test]
fn environment_overrides_file() {
    let file = config_file(
        r#"
[pipeline]
poll_interval_secs = 12
enabled = true

[queue]
backend = "embedded"
"#,
    );
    let variables = env_with_token(&[
        ("GHA_INGEST__PIPELINE__POLL_INTERVAL_SECS", "10"),
        ("GHA_INGEST__PIPELINE__ENABLED", "false"),
        ("GHA_INGEST__QUEUE__BACKEND", "sqs"),
        ("GHA_INGEST__QUEUE__EMBEDDED__MAX_RECEIVE_COUNT", "9"),
        ("GHA_INGEST__HTTP__LISTEN", "0.0.0.0:9090"),
        ("GHA_INGEST_READ_TOKEN", "read-token-of-at-least-24-chars"),
        ("GHA_INGEST__TELEMETRY__LOG_LEVEL", "debug,hyper=info"),
    ]);
    let settings = load_ok(Some(&file.path), &variables);

    assert_eq!(settings.pipeline.poll_interval_secs, 10);
    assert!(!settings.pipeline.enabled);
    assert_eq!(settings.queue.backend, QueueBackend::Sqs);
    assert_eq!(settings.queue.embedded.max_receive_count, 9);
    assert_eq!(settings.http.listen.to_string(), "0.0.0.0:9090");
    assert_eq!(settings.telemetry.log_level, "debug,hyper=info");
}

#[test]
fn github_api_url_variable_overrides_file_and_prefixed_variable() {
    let file = config_file(
        r#"
[github]
api_url = "https://ghe.example.com/api/v3"
"#,
    );
    let from_file = load_ok(Some(&file.path), &env_with_token(&[]));
    // normalised with a trailing slash so relative paths join under /api/v3/
    assert_eq!(
        from_file.github.api_url.as_str(),
        "https://ghe.example.com/api/v3/"
    );
    assert_eq!(
        from_file.github.api_url.join("repos/a/b").unwrap().as_str(),
        "https://ghe.example.com/api/v3/repos/a/b"
    );

    let variables = env_with_token(&[
        ("GHA_INGEST__GITHUB__API_URL", "http://127.0.0.1:1111"),
        ("GITHUB_API_URL", "http://127.0.0.1:2222"),
    ]);
    let settings = load_ok(Some(&file.path), &variables);
    assert_eq!(settings.github.api_url.as_str(), "http://127.0.0.1:2222/");

    let blank = env_with_token(&[("GITHUB_API_URL", "  ")]);
    assert_eq!(
        load_ok(Some(&file.path), &blank).github.api_url.as_str(),
        "https://ghe.example.com/api/v3/"
    );
}

#[test]
fn lists_come_from_comma_separated_variables() {
    let file = config_file(
        r#"
[pipeline]
repositories = ["from/file"]
organizations = ["from-file"]
"#,
    );
    let variables = env_with_token(&[
        (
            "GHA_INGEST__PIPELINE__REPOSITORIES",
            "a/b,https://github.com/c/d.git, e/f",
        ),
        ("GHA_INGEST__PIPELINE__ORGANIZATIONS", "rust-lang,tokio-rs"),
    ]);
    let settings = load_ok(Some(&file.path), &variables);
    assert_eq!(settings.pipeline.repositories, vec!["a/b", "c/d", "e/f"]);
    assert_eq!(
        settings.pipeline.organizations,
        vec!["rust-lang", "tokio-rs"]
    );

    // a single item is a list of one, even when it looks like a number or a boolean
    let variables = env_with_token(&[
        ("GHA_INGEST__PIPELINE__REPOSITORIES", "only/one"),
        ("GHA_INGEST__PIPELINE__ORGANIZATIONS", "1234"),
    ]);
    let settings = load_ok(Some(&file.path), &variables);
    assert_eq!(settings.pipeline.repositories, vec!["only/one"]);
    assert_eq!(settings.pipeline.organizations, vec!["1234"]);

    // an empty value empties the list the file gave
    let variables = env_with_token(&[("GHA_INGEST__PIPELINE__REPOSITORIES", "")]);
    let settings = load_ok(Some(&file.path), &variables);
    assert!(settings.pipeline.repositories.is_empty());
    assert_eq!(settings.pipeline.organizations, vec!["from-file"]);
}

#[test]
fn unknown_keys_in_a_file_are_all_named_with_the_file() {
    let file = config_file(
        r#"
[pipline]
poll_interval_secs = 10

[github]
api_ulr = "https://api.github.com"
"#,
    );
    let error = load_err(Some(&file.path), &env_with_token(&[]));
    let path = file.path.display();
    assert_eq!(
        error.problems(),
        [
            format!("unknown key \"github.api_ulr\" in {path}"),
            format!("unknown key \"pipline\" in {path}"),
        ]
    );
}

#[test]
fn unknown_keys_in_the_environment_name_the_variable() {
    let variables = env_with_token(&[("GHA_INGEST__PIPELINE__POLL_INTERVAL", "10")]);
    let error = load_err(None, &variables);
    assert_eq!(
        error.to_string(),
        "unknown key \"pipeline.poll_interval\" in the environment (GHA_INGEST__PIPELINE__POLL_INTERVAL)"
    );
}

#[test]
fn a_token_written_in_the_file_is_refused_without_being_echoed() {
    let file = config_file(&format!(
        r#"
[github]
token = "{TOKEN}"

[http]
admin_token = "{ADMIN_TOKEN}"
"#
    ));
    let error = load_err(Some(&file.path), &env_with_token(&[]));
    let message = error.to_string();
    assert!(!message.contains(TOKEN), "{message}");
    assert!(!message.contains(ADMIN_TOKEN), "{message}");
    assert_has_problem(
        &error,
        "github.token: a token cannot be written in the configuration: put it in the environment variable named by github.token_env, or in the file named by github.token_file",
    );
    assert_eq!(error.problems().len(), 2);
}

#[test]
fn every_validation_problem_is_reported_at_once() {
    let file = config_file(
        r#"
[pipeline]
poll_interval_secs = 0
publish_batch_size = 11
repositories = ["rust-lang/rust", "https://github.com/tokio-rs/tokio", "foo", "https://gitlab.com/a/b", "Rust-Lang/Rust"]
organizations = ["ok-org", "not an org"]
shard_index = 2
shard_count = 2

[logs]
concurrency = 0

[queue]
max_message_bytes = 5
logs_queue = "gha-ingest-metrics"
log_requests_queue = "has spaces"

[telemetry]
log_level = " "
"#,
    );
    let error = load_err(Some(&file.path), &env_with_token(&[]));
    let expected = [
        "pipeline.poll_interval_secs: must be at least 1, got 0",
        "pipeline.publish_batch_size: must be between 1 and 10, got 11",
        r#"pipeline.repositories[2]: "foo" is not a GitHub repository (expected owner/name or https://github.com/owner/name)"#,
        r#"pipeline.repositories[3]: "https://gitlab.com/a/b" is on gitlab.com, not on github.com or on api.github.com (the host of github.api_url)"#,
        r#"pipeline.repositories[4]: "Rust-Lang/Rust" is listed twice (also at [0])"#,
        r#"pipeline.organizations[1]: "not an org" is not a GitHub organization login (e.g. rust-lang)"#,
        "pipeline.shard_index: must be less than pipeline.shard_count (2), got 2",
        "logs.concurrency: must be at least 1, got 0",
        "queue.max_message_bytes: must be between 1024 and 1048576, got 5",
        r#"queue.logs_queue: must differ from queue.metrics_queue, both are "gha-ingest-metrics""#,
        r#"queue.log_requests_queue: "has spaces" is not an SQS queue name or URL (1 to 80 letters, digits, '-' or '_', optionally ending in .fifo)"#,
        "telemetry.log_level: must not be empty",
    ];
    for problem in expected {
        assert_has_problem(&error, problem);
    }
    assert_eq!(error.problems().len(), expected.len(), "{error}");
    assert_eq!(error.to_string(), error.problems().join("; "));
    assert!(!error.to_string().contains('\n'));
}

#[test]
fn repositories_are_normalised_to_owner_and_name() {
    let file = config_file(
        r#"
[pipeline]
repositories = [
    "rust-lang/rust",
    "https://github.com/tokio-rs/tokio",
    "https://github.com/serde-rs/serde.git",
    "https://github.com/owner/trailing/",
    "github.com/owner/bare",
    "https://ghe.example.com/team/service",
]

[github]
api_url = "https://ghe.example.com/api/v3"
"#,
    );
    let settings = load_ok(Some(&file.path), &env_with_token(&[]));
    assert_eq!(
        settings.pipeline.repositories,
        vec![
            "rust-lang/rust",
            "tokio-rs/tokio",
            "serde-rs/serde",
            "owner/trailing",
            "owner/bare",
            "team/service",
        ]
    );
}

#[test]
fn the_token_comes_from_a_file_trimmed_and_before_the_variable() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let token_path = directory.path().join("token");
    std::fs::write(&token_path, format!("  {TOKEN}\n\n")).expect("write token");
    let file = config_file(&format!(
        "[github]\ntoken_file = {:?}\n",
        token_path.display().to_string()
    ));

    let variables = env(&[("GITHUB_TOKEN", "from-the-variable")]);
    let settings = load_ok(Some(&file.path), &variables);
    assert_eq!(
        settings
            .github
            .token
            .as_ref()
            .map(|token| token.expose_secret()),
        Some(TOKEN)
    );

    // also through the environment, with no variable holding the token
    let variables = env(&[(
        "GHA_INGEST__GITHUB__TOKEN_FILE",
        token_path.to_str().unwrap(),
    )]);
    let settings = load_ok(None, &variables);
    assert_eq!(
        settings
            .github
            .token
            .as_ref()
            .map(|token| token.expose_secret()),
        Some(TOKEN)
    );
}

#[test]
fn an_unreadable_or_empty_token_file_names_the_path_not_the_content() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let missing = directory.path().join("missing-token");
    let variables = env(&[("GHA_INGEST__GITHUB__TOKEN_FILE", missing.to_str().unwrap())]);
    let error = load_err(None, &variables);
    assert_eq!(error.problems().len(), 1, "{error}");
    let expected_start = format!("github.token_file: cannot read {}: ", missing.display());
    assert!(error.problems()[0].starts_with(&expected_start), "{error}");

    let empty = directory.path().join("empty-token");
    std::fs::write(&empty, "\n").expect("write token");
    let variables = env(&[("GHA_INGEST__GITHUB__TOKEN_FILE", empty.to_str().unwrap())]);
    let error = load_err(None, &variables);
    assert_eq!(
        error.to_string(),
        format!("github.token_file: {} is empty", empty.display())
    );
}

#[test]
fn a_missing_token_says_how_to_give_one() {
    let error = load_err(None, &env(&[]));
    assert_eq!(
        error.to_string(),
        "github.token: no token: set GITHUB_TOKEN (or github.token_env / github.token_file), or github.allow_anonymous = true for a simulator"
    );

    // the message names the configured variable, and a blank one counts as missing
    let variables = env(&[
        ("GHA_INGEST__GITHUB__TOKEN_ENV", "MY_GH_TOKEN"),
        ("MY_GH_TOKEN", "   "),
        ("GITHUB_TOKEN", TOKEN),
    ]);
    let error = load_err(None, &variables);
    assert_eq!(
        error.to_string(),
        "github.token: no token: set MY_GH_TOKEN (or github.token_env / github.token_file), or github.allow_anonymous = true for a simulator"
    );
}

#[test]
fn anonymous_access_needs_no_token() {
    let variables = env(&[("GHA_INGEST__GITHUB__ALLOW_ANONYMOUS", "true")]);
    let settings = load_ok(None, &variables);
    assert!(settings.github.allow_anonymous);
    assert_eq!(settings.github.token, None);
}

#[test]
fn no_printed_or_serialized_form_contains_a_token() {
    let variables = env_with_token(&[("GHA_INGEST_ADMIN_TOKEN", ADMIN_TOKEN)]);
    let settings = load_ok(None, &variables);
    assert_eq!(
        settings
            .http
            .admin_token
            .as_ref()
            .map(|token| token.expose_secret()),
        Some(ADMIN_TOKEN)
    );

    let forms = [
        format!("{settings:?}"),
        format!("{settings:#?}"),
        settings.redacted_toml(),
    ];
    for form in &forms {
        assert!(!form.contains(TOKEN), "token leaked in: {form}");
        assert!(!form.contains(ADMIN_TOKEN), "admin token leaked in: {form}");
        assert!(form.contains("[redacted]"), "{form}");
    }
    let redacted = settings.redacted_toml();
    assert!(redacted.contains("token = \"[redacted]\""), "{redacted}");
    assert!(
        redacted.contains("admin_token = \"[redacted]\""),
        "{redacted}"
    );
}

#[test]
fn the_redacted_toml_loads_back_to_the_same_settings() {
    let file = config_file(
        r#"
[github]
allow_anonymous = true

[pipeline]
repositories = ["a/b"]

[queue.sqs]
region = "eu-west-1"
"#,
    );
    let settings = load_ok(Some(&file.path), &env(&[]));
    let round_trip = config_file(&settings.redacted_toml());
    assert_eq!(load_ok(Some(&round_trip.path), &env(&[])), settings);
}

#[test]
fn a_missing_config_file_named_explicitly_is_an_error() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let missing = directory.path().join("nope.toml");
    let error = load_err(Some(&missing), &env_with_token(&[]));
    assert_eq!(error.problems().len(), 1);
    let expected_start = format!("cannot read config file {}: ", missing.display());
    assert!(error.problems()[0].starts_with(&expected_start), "{error}");
}

#[test]
fn wrong_types_name_the_key_and_the_source() {
    let file = config_file("[pipeline]\npoll_interval_secs = \"often\"\n");
    let error = load_err(Some(&file.path), &env_with_token(&[]));
    let message = error.to_string();
    assert!(
        message.starts_with("pipeline.poll_interval_secs: "),
        "{message}"
    );
    assert!(message.contains("often"), "{message}");
    assert!(
        message.ends_with(&format!("in {}", file.path.display())),
        "{message}"
    );

    let variables = env_with_token(&[("GHA_INGEST__QUEUE__BACKEND", "kafka")]);
    assert_eq!(
        load_err(None, &variables).to_string(),
        r#"queue.backend: unknown value "kafka", expected "embedded" or "sqs" in the environment"#
    );

    let file = config_file("[http]\nlisten = \"localhost\"\n");
    let message = load_err(Some(&file.path), &env_with_token(&[])).to_string();
    assert!(message.starts_with("http.listen: "), "{message}");
    assert!(
        message.ends_with(&format!("in {}", file.path.display())),
        "{message}"
    );
}

#[test]
fn enum_values_ignore_case() {
    let variables = env_with_token(&[
        ("GHA_INGEST__QUEUE__BACKEND", "SQS"),
        ("GHA_INGEST__TELEMETRY__LOG_FORMAT", "Text"),
    ]);
    let settings = load_ok(None, &variables);
    assert_eq!(settings.queue.backend, QueueBackend::Sqs);
    assert_eq!(settings.telemetry.log_format, LogFormat::Text);
}

#[test]
fn toml_syntax_errors_are_one_line_naming_the_file() {
    let file = config_file("[pipeline\npoll_interval_secs = 3\n");
    let error = load_err(Some(&file.path), &env_with_token(&[]));
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot parse {}: ", file.path.display())),
        "{message}"
    );
    assert!(message.contains("line 1"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn api_url_must_be_http_without_credentials() {
    let variables = env_with_token(&[(
        "GITHUB_API_URL",
        "https://user:hunter2@ghe.example.com/api/v3",
    )]);
    let error = load_err(None, &variables);
    assert_eq!(
        error.to_string(),
        "github.api_url: must not contain credentials (use the token settings instead)"
    );

    let variables = env_with_token(&[("GITHUB_API_URL", "ftp://ghe.example.com/")]);
    let error = load_err(None, &variables);
    assert_eq!(
        error.to_string(),
        "github.api_url: must be an http or https URL, got scheme \"ftp\""
    );
}

#[test]
fn queues_may_be_full_sqs_urls() {
    let variables = env_with_token(&[
        ("GHA_INGEST__QUEUE__BACKEND", "sqs"),
        (
            "GHA_INGEST__QUEUE__METRICS_QUEUE",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/ci-metrics",
        ),
        ("GHA_INGEST__QUEUE__LOGS_QUEUE", "ci-logs.fifo"),
    ]);
    let settings = load_ok(None, &variables);
    assert_eq!(
        settings.queue.metrics_queue,
        "https://sqs.eu-west-1.amazonaws.com/123456789012/ci-metrics"
    );
    assert_eq!(settings.queue.logs_queue, "ci-logs.fifo");
}

#[test]
fn the_shipped_files_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let defaults = load_ok(Some(&root.join("default.toml")), &env_with_token(&[]));
    assert_eq!(defaults, load_ok(None, &env_with_token(&[])));

    // The example listens on 0.0.0.0, so it needs a read token.
    let example = load_ok(
        Some(&root.join("example.toml")),
        &env_with_token(&[("GHA_INGEST_READ_TOKEN", "read-token-of-at-least-24-chars")]),
    );
    assert_eq!(example.queue.backend, QueueBackend::Sqs);
    assert_eq!(
        example.pipeline.repositories,
        vec!["rust-lang/rust", "tokio-rs/tokio"]
    );
}

#[test]
fn reads_open_on_a_reachable_address_are_refused_unless_forced() {
    let reachable = [("GHA_INGEST__HTTP__LISTEN", "0.0.0.0:8080")];
    let error = load_err(None, &env_with_token(&reachable));
    assert_eq!(error.problems().len(), 1, "{error}");
    let problem = &error.problems()[0];
    assert!(
        problem.starts_with("http.read_token_env: reads would be open to anyone on 0.0.0.0:8080")
            && problem.contains("GHA_INGEST_READ_TOKEN")
            && problem.contains("http.allow_open_reads"),
        "{problem}"
    );

    let forced = load_ok(
        None,
        &env_with_token(&[reachable[0], ("GHA_INGEST__HTTP__ALLOW_OPEN_READS", "true")]),
    );
    assert!(forced.http.read_token.is_none());
    let with_token = load_ok(
        None,
        &env_with_token(&[
            reachable[0],
            ("GHA_INGEST_READ_TOKEN", "r".repeat(24).as_str()),
        ]),
    );
    assert_eq!(
        with_token.http.read_token.map(|token| token.char_count()),
        Some(24)
    );
    // Loopback: open reads are the zero-setup default.
    assert!(load_ok(None, &env_with_token(&[]))
        .http
        .read_token
        .is_none());
}

#[test]
fn http_tokens_are_long_and_distinct() {
    let short = load_err(
        None,
        &env_with_token(&[
            ("GHA_INGEST_ADMIN_TOKEN", "short"),
            ("GHA_INGEST_READ_TOKEN", "also-short"),
        ]),
    );
    assert_has_problem(
        &short,
        "http.admin_token_env: the token in GHA_INGEST_ADMIN_TOKEN has 5 characters, at least 24 are required (e.g. openssl rand -hex 16)",
    );
    assert!(
        short.problems().iter().any(
            |p| p.starts_with("http.read_token_env: the token in GHA_INGEST_READ_TOKEN has 10")
        ),
        "{short}"
    );
    assert!(!short.to_string().contains("also-short"), "{short}");

    let same = "x".repeat(30);
    let shared = load_err(
        None,
        &env_with_token(&[
            ("GHA_INGEST_ADMIN_TOKEN", &same),
            ("GHA_INGEST_READ_TOKEN", &same),
        ]),
    );
    assert!(
        shared
            .to_string()
            .contains("must differ from the admin token"),
        "{shared}"
    );
}

const APP_KEY: &str =
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAtestonly\n-----END RSA PRIVATE KEY-----";

#[test]
fn a_github_app_needs_no_token_and_takes_its_key_from_the_environment_even_on_one_line() {
    // Secret stores often hand a PEM over on one line, with `\n` escapes.
    let one_line = APP_KEY.replace('\n', "\\n");
    let settings = load_ok(
        None,
        &env(&[
            ("GHA_INGEST__GITHUB__APP__ID", "4242"),
            ("GHA_INGEST__GITHUB__APP__INSTALLATIONS", "7,9"),
            ("GITHUB_APP_PRIVATE_KEY", &one_line),
        ]),
    );
    let app = &settings.github.app;
    assert_eq!(
        (app.id, app.installations.clone()),
        (Some(4242), vec![7, 9])
    );
    assert_eq!(
        app.private_key.as_ref().map(|key| key.expose_secret()),
        Some(APP_KEY)
    );
    assert!(
        settings.github.token.is_none(),
        "no token is read with an App"
    );
    let printed = format!("{settings:?}");
    assert!(!printed.contains("BEGIN RSA"), "the key never prints");
}

#[test]
fn a_github_app_without_its_key_or_installations_without_an_app_are_named() {
    let error = load_err(None, &env(&[("GHA_INGEST__GITHUB__APP__ID", "4242")]));
    assert_names_key(&error, "github.app.private_key_env");
    let error = load_err(
        None,
        &env(&[
            ("GHA_INGEST__GITHUB__APP__ID", "4242"),
            ("GITHUB_APP_PRIVATE_KEY", "not a pem"),
        ]),
    );
    assert_names_key(&error, "github.app.private_key");
    let error = load_err(
        None,
        &env_with_token(&[("GHA_INGEST__GITHUB__APP__INSTALLATIONS", "7")]),
    );
    assert_names_key(&error, "github.app.installations");
    let error = load_err(
        None,
        &env_with_token(&[
            ("GHA_INGEST__GITHUB__POINTS_PER_MINUTE", "0"),
            ("GHA_INGEST__GITHUB__PRIMARY_RESERVE_PERCENT", "95"),
            ("GHA_INGEST__PIPELINE__QUIET_POLL_MAX_SECS", "5"),
        ]),
    );
    for key in [
        "github.points_per_minute",
        "github.primary_reserve_percent",
        "pipeline.quiet_poll_max_secs",
    ] {
        assert_names_key(&error, key);
    }
}

/// A problem is reported for `key` (whatever its wording).
fn assert_names_key(error: &ConfigError, key: &str) {
    assert!(
        error
            .problems()
            .iter()
            .any(|problem| problem.starts_with(&format!("{key}: "))),
        "expected a problem with {key} among {:#?}",
        error.problems()
    );
}

#[test]
fn webhooks_need_a_long_secret_and_a_path_of_their_own() {
    let error = load_err(
        None,
        &env_with_token(&[("GHA_INGEST__WEBHOOKS__ENABLED", "true")]),
    );
    assert!(
        error.problems().iter().any(|problem| problem
            .starts_with("webhooks.secret_env: no webhook secret: set GHA_INGEST_WEBHOOK_SECRET")),
        "{error}"
    );
    let error = load_err(
        None,
        &env_with_token(&[
            ("GHA_INGEST__WEBHOOKS__ENABLED", "true"),
            ("GHA_INGEST_WEBHOOK_SECRET", "short-secret"),
            ("GHA_INGEST__WEBHOOKS__PATH", "/api/hooks"),
            ("GHA_INGEST__HTTP__ENABLED", "false"),
        ]),
    );
    for key in ["webhooks.secret_env", "webhooks.path", "webhooks.enabled"] {
        assert_names_key(&error, key);
    }
    assert!(!error.to_string().contains("short-secret"), "{error}");

    let secret = "a-webhook-secret-long-enough";
    let settings = load_ok(
        None,
        &env_with_token(&[
            ("GHA_INGEST__WEBHOOKS__ENABLED", "true"),
            ("GHA_INGEST_WEBHOOK_SECRET", secret),
        ]),
    );
    let webhooks = &settings.webhooks;
    assert_eq!(webhooks.path, "/webhooks/github");
    assert_eq!(
        webhooks
            .secret
            .as_ref()
            .map(|secret| secret.expose_secret()),
        Some(secret)
    );
    assert!(webhooks.previous_secret.is_none());
    assert!(!format!("{settings:?}").contains(secret));
    assert!(!settings.redacted_toml().contains(secret));
}
