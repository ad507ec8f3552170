//! Structured logs: JSON lines on stdout by default (one object per line, with fields such as
//! `repo` and `run_id`), or a human format. The level comes from config, `RUST_LOG` overrides it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

impl From<gha_ingest_config::LogFormat> for Format {
    fn from(format: gha_ingest_config::LogFormat) -> Self {
        match format {
            gha_ingest_config::LogFormat::Json => Format::Json,
            gha_ingest_config::LogFormat::Text => Format::Text,
        }
    }
}

/// Logs to stdout.
pub fn init(format: Format, level: &str) {
    init_with_writer(format, level, std::io::stdout);
}

/// Logs to stderr: for commands whose stdout is machine-readable output (`sim`).
pub fn init_on_stderr(format: Format, level: &str) {
    init_with_writer(format, level, std::io::stderr);
}

fn init_with_writer<W>(format: Format, level: &str, writer: W)
where
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        Format::Text => builder.with_ansi(std::io::stdout().is_terminal()).init(),
    }
}
