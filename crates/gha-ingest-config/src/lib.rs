//! Configuration of gha-ingest: the schema, loading, validation and redaction.
//!
//! Only the binary reads configuration; the other crates receive these plain structs (or parts of
//! them). Loading is `defaults → --config file → GHA_INGEST__* variables → GITHUB_API_URL`, then
//! [`Settings::build_and_validate`], which reports every problem at once and resolves tokens from
//! references (an environment variable or a file), never from inline values. The environment is
//! passed in as a map so loading is testable; [`load_from_process_env`] is the binary's entry.

mod error;
mod load;
mod redact;
mod repository;
mod schema;
mod secret;
mod validate;

pub use error::ConfigError;
pub use load::{
    environment_variable_name, load, load_from_process_env, DEFAULT_TOML, ENV_LIST_SEPARATOR,
    ENV_PREFIX, ENV_SEPARATOR, GITHUB_API_URL_ENV,
};
pub use repository::{is_login, normalize_repository, InvalidRepository, GITHUB_WEB_HOSTS};
pub use schema::{
    DaemonSettings, EmbeddedQueueSettings, GithubAppSettings, GithubSettings, HttpSettings,
    LogFormat, LogSettings, PipelineSettings, QueueBackend, QueueSettings, Settings, SqsSettings,
    StoreSettings, TelemetrySettings, WebhookSettings,
};
pub use secret::{Secret, REDACTED};
pub use validate::{
    MAX_MESSAGE_BYTES, MAX_PUBLISH_BATCH_SIZE, MAX_SHUTDOWN_GRACE_SECS,
    MAX_VISIBILITY_TIMEOUT_SECS, MIN_HTTP_TOKEN_CHARS, MIN_MESSAGE_BYTES, MIN_WEBHOOK_SECRET_CHARS,
};
