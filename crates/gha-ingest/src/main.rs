//! `gha-ingest`: the command line. Parses arguments, loads configuration, and hands over to the
//! part that does the work; exit codes are 0 (clean stop), 1 (failure at run time) and 2 (bad
//! configuration or usage), so container supervisors can tell a crash from a mistake.

mod app;
mod demo;
mod healthcheck;
mod shutdown;
mod sim_command;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Turns GitHub Actions into a complete, de-duplicated stream of events on AWS SQS.
#[derive(Debug, Parser)]
#[command(name = "gha-ingest", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        /// Configuration file (layered over the built-in defaults; GHA_INGEST__* variables override it).
        #[arg(long, short, env = "GHA_INGEST_CONFIG")]
        config: Option<PathBuf>,
        /// Which agents this process runs (log agents can be scaled on their own: `--agents logs`).
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "pipeline,logs"
        )]
        agents: Vec<Agent>,
        /// Human-readable logs instead of JSON lines.
        #[arg(long)]
        text_logs: bool,
    },
    /// The simulator, the daemon and its embedded queue together: nothing to install or configure.
    Demo {
        /// Where the demo keeps its state and queue files.
        #[arg(long, default_value = "demo-data")]
        data_dir: PathBuf,
        /// JSON log lines instead of the human format.
        #[arg(long)]
        json_logs: bool,
    },
    /// The GitHub API simulator alone; prints its base URLs and serves until stopped.
    Sim(sim_command::SimArgs),
    /// Exit 0 if a running daemon's /healthz answers 200 (a container's HEALTHCHECK).
    Healthcheck {
        /// URL to probe; default: /healthz on the configured http.listen address.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, short, env = "GHA_INGEST_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validate a configuration and print the effective one, with secrets redacted.
    CheckConfig {
        #[arg(long, short, env = "GHA_INGEST_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Agent {
    /// Polls GitHub and publishes run, job, step and commit events.
    Pipeline,
    /// Downloads each finished job's log and publishes it.
    Logs,
}

fn main() -> ExitCode {
    gha_ingest_github::install_crypto_provider();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(dispatch(cli.command))
}

async fn dispatch(command: Command) -> ExitCode {
    match command {
        Command::CheckConfig { config } => {
            match gha_ingest_config::load_from_process_env(config.as_deref()) {
                Ok(settings) => {
                    print!("{}", settings.redacted_toml());
                    ExitCode::SUCCESS
                }
                Err(error) => config_error(&error),
            }
        }
        Command::Run {
            config,
            agents,
            text_logs,
        } => {
            let settings = match gha_ingest_config::load_from_process_env(config.as_deref()) {
                Ok(settings) => settings,
                Err(error) => return config_error(&error),
            };
            let format = if text_logs {
                telemetry::Format::Text
            } else {
                settings.telemetry.log_format.into()
            };
            telemetry::init(format, &settings.telemetry.log_level);
            let selection = app::Agents {
                pipeline: agents.contains(&Agent::Pipeline),
                logs: agents.contains(&Agent::Logs),
            };
            exit_code(app::run(settings, selection, shutdown::on_signal()).await)
        }
        Command::Demo {
            data_dir,
            json_logs,
        } => {
            telemetry::init(
                if json_logs {
                    telemetry::Format::Json
                } else {
                    telemetry::Format::Text
                },
                "info",
            );
            exit_code(demo::run(&data_dir).await)
        }
        Command::Healthcheck { url, config } => healthcheck::run(url, config.as_deref()).await,
        Command::Sim(args) => {
            telemetry::init_on_stderr(telemetry::Format::Text, "info");
            exit_code(sim_command::run(args).await)
        }
    }
}

fn config_error(error: &gha_ingest_config::ConfigError) -> ExitCode {
    eprintln!("error: invalid configuration: {error}");
    ExitCode::from(2)
}

fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                cause = format!("{error:#}"),
                "gha-ingest stopped on an error"
            );
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
