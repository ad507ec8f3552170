//! `gha-ingest-bench`: the benchmarks behind `scripts/bench` and `docs/performance.md`.
//!
//! Each scenario runs the release daemon as a separate process against the project's GitHub
//! simulator (in this process, on loopback) and the embedded queue, measures what the issue
//! asks of it, prints progress on stderr and, as its last line on stdout, one JSON object with
//! its figures; the same object is written to `bench/results/<scenario>.json`, where the plots
//! and the performance report are made from. These are measurements, not tests: nothing here
//! passes or fails on a figure, and ratios measured in one sitting are what to compare.

mod consumer;
mod daemon;
mod scenario;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

#[derive(Debug, Parser)]
#[command(about = "Benchmarks of gha-ingest on the simulator; see docs/performance.md")]
struct Cli {
    /// Scenarios to run, in order (default: backfill idle freshness logs).
    #[arg(value_enum)]
    scenarios: Vec<Scenario>,
    /// The daemon binary (a release build).
    #[arg(long, default_value = "target/release/gha-ingest")]
    daemon: PathBuf,
    /// Shorter watches and smaller histories, to try the scenarios out (not for the report).
    #[arg(long)]
    quick: bool,
    /// Where each scenario's figures are written as `<scenario>.json`.
    #[arg(long, default_value = "bench/results")]
    results: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Backfill,
    Idle,
    Freshness,
    Logs,
    Peers,
    Org,
    Webhooks,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Backfill => "backfill",
            Scenario::Idle => "idle",
            Scenario::Freshness => "freshness",
            Scenario::Logs => "logs",
            Scenario::Peers => "peers",
            Scenario::Org => "org",
            Scenario::Webhooks => "webhooks",
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let scenarios = if cli.scenarios.is_empty() {
        vec![
            Scenario::Backfill,
            Scenario::Idle,
            Scenario::Freshness,
            Scenario::Logs,
        ]
    } else {
        cli.scenarios.clone()
    };
    if !cli.daemon.is_file() {
        eprintln!(
            "error: no daemon binary at {} (cargo build --release -p gha-ingest)",
            cli.daemon.display()
        );
        return ExitCode::from(2);
    }
    let mut failed = false;
    for scenario in scenarios {
        let figures = match scenario {
            Scenario::Backfill => scenario::backfill::run(&cli.daemon, cli.quick).await,
            Scenario::Idle => scenario::idle::run(&cli.daemon, cli.quick).await,
            Scenario::Freshness => scenario::freshness::run(&cli.daemon, cli.quick).await,
            Scenario::Logs => scenario::logs::run(&cli.daemon, cli.quick).await,
            Scenario::Peers => scenario::peers::run(&cli.daemon),
            Scenario::Org => scenario::org::run(&cli.daemon, cli.quick).await,
            Scenario::Webhooks => scenario::webhooks::run(&cli.daemon, cli.quick).await,
        };
        match figures.and_then(|figures| record(&cli.results, scenario.name(), figures, cli.quick))
        {
            Ok(line) => println!("{line}"),
            Err(error) => {
                eprintln!("error: scenario {} failed: {error:#}", scenario.name());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes a scenario's figures to `<results>/<name>.json`; returns them as one line.
/// `quick` marks figures from shortened runs, which the report must not use.
fn record(
    results: &std::path::Path,
    name: &str,
    mut figures: serde_json::Value,
    quick: bool,
) -> anyhow::Result<String> {
    figures["scenario"] = serde_json::json!(name);
    figures["quick"] = serde_json::json!(quick);
    std::fs::create_dir_all(results)?;
    std::fs::write(
        results.join(format!("{name}.json")),
        serde_json::to_string_pretty(&figures)? + "\n",
    )?;
    Ok(serde_json::to_string(&figures)?)
}
