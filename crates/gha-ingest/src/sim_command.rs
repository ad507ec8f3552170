//! `gha-ingest sim`: the GitHub API simulator as its own process, for tests that run the daemon
//! as a child process, for trying the daemon by hand, and for benchmarks.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use gha_ingest_sim::{ClockMode, RunSpec, SimConfig, SimHandle, Simulator};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address of the API origin.
    #[arg(long, default_value = "127.0.0.1:0")]
    api_addr: SocketAddr,
    /// Address of the log origin (the host log downloads are redirected to).
    #[arg(long, default_value = "127.0.0.1:0")]
    log_addr: SocketAddr,
    /// Seed of the generated world.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Repositories to create, owner/name.
    #[arg(long = "repo", default_value = "acme/webapp")]
    repos: Vec<String>,
    /// Completed runs to generate per repository, spread over the last three days.
    #[arg(long, default_value_t = 50)]
    history: usize,
    /// Start a new run in each repository this often, in seconds (0: never).
    #[arg(long, default_value_t = 30)]
    new_run_every_secs: u64,
    /// Require this bearer token on API requests.
    #[arg(long, env = "GHA_INGEST_SIM_TOKEN")]
    token: Option<String>,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = SimConfig {
        seed: args.seed,
        token: args.token.clone(),
        clock: ClockMode::RealTime { speed: 1.0 },
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, args.api_addr, args.log_addr).await?;
    let handle = sim.handle();
    populate(&handle, &args.repos, args.history)?;
    println!(
        "{}",
        serde_json::json!({"api_url": sim.api_url(), "log_url": sim.log_url()})
    );
    let shutdown = crate::shutdown::on_signal();
    keep_busy(
        handle,
        args.repos.clone(),
        args.new_run_every_secs,
        shutdown.clone(),
    )
    .await;
    sim.shutdown().await;
    Ok(())
}

/// Creates the repositories and their generated history.
pub fn populate(handle: &SimHandle, repos: &[String], history: usize) -> anyhow::Result<()> {
    for repo in repos {
        let (owner, name) = repo
            .split_once('/')
            .ok_or_else(|| anyhow::anyhow!("--repo {repo:?}: expected owner/name"))?;
        handle.add_repo(owner, name);
        if history > 0 {
            handle.generate_history(repo, history, Duration::from_secs(3 * 24 * 3600));
        }
    }
    Ok(())
}

/// Starts a new run in each repository every `every_secs` and now and then re-runs an old one,
/// until `shutdown`: live, moving data for the demo and manual tests.
pub async fn keep_busy(
    handle: SimHandle,
    repos: Vec<String>,
    every_secs: u64,
    shutdown: tokio_util::sync::CancellationToken,
) {
    if every_secs == 0 {
        shutdown.cancelled().await;
        return;
    }
    let mut tick = 0u64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(every_secs)) => {}
            _ = shutdown.cancelled() => return,
        }
        tick += 1;
        for repo in &repos {
            let spec = RunSpec {
                jobs: 1 + (tick as usize % 3),
                queue_secs: 5,
                run_secs: 20 + (tick % 4) * 10,
                ..RunSpec::default()
            };
            let run_id = handle.create_run(repo, spec);
            tracing::info!(repo, run_id, "simulator started a new run");
            if tick.is_multiple_of(5) {
                let runs = handle.list_run_ids(repo);
                if let Some(old) = runs.get(runs.len() / 3) {
                    let attempt = handle.rerun(repo, *old);
                    tracing::info!(repo, run_id = *old, attempt, "simulator re-ran an old run");
                }
            }
        }
    }
}
