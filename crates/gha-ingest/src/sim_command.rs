//! `gha-ingest sim`: the GitHub API simulator as its own process, for tests that run the daemon
//! as a child process, for trying the daemon by hand, and for benchmarks. Its limits default to
//! GitHub's published figures; flags compress the hour, change the budgets, turn the secondary
//! limits off, and register a GitHub App with one installation per owner.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use gha_ingest_sim::{
    ClockMode, RunSpec, SecondaryLimits, SimConfig, SimHandle, Simulator,
    DEFAULT_INSTALLATION_RATE_LIMIT_PER_HOUR, DEFAULT_RATE_LIMIT_PER_HOUR,
    DEFAULT_SECONDARY_MAX_CONCURRENT, DEFAULT_SECONDARY_POINTS_PER_MINUTE,
};

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
    /// Without --token: accept any presented token (other than a GitHub App credential) as the
    /// token, instead of answering 401; for third-party clients that insist on sending one.
    #[arg(long, conflicts_with = "token")]
    accept_any_token: bool,
    /// Primary rate limit per window of the token (or of anonymous requests).
    #[arg(long, default_value_t = DEFAULT_RATE_LIMIT_PER_HOUR)]
    rate_limit_per_hour: u32,
    /// Primary rate limit per window of each GitHub App installation.
    #[arg(long, default_value_t = DEFAULT_INSTALLATION_RATE_LIMIT_PER_HOUR)]
    installation_rate_limit_per_hour: u32,
    /// Length of the primary rate-limit window, in seconds (GitHub's is an hour).
    #[arg(long, default_value_t = 3_600, value_parser = clap::value_parser!(u64).range(1..))]
    rate_limit_window_secs: u64,
    /// Secondary limit: points per credential over a sliding minute (GET 1, POST 5); 0 disables.
    #[arg(long, default_value_t = DEFAULT_SECONDARY_POINTS_PER_MINUTE)]
    secondary_points_per_minute: u32,
    /// Secondary limit: requests per credential being answered at once; 0 disables.
    #[arg(long, default_value_t = DEFAULT_SECONDARY_MAX_CONCURRENT)]
    secondary_max_concurrent: u32,
    /// Register a GitHub App with this id (with --app-public-key-file).
    #[arg(long, requires = "app_public_key_file")]
    app_id: Option<u64>,
    /// The App's public key: an SPKI "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY" PEM file.
    #[arg(long, requires = "app_id")]
    app_public_key_file: Option<PathBuf>,
    /// Install the App on this owner, with every --repo of that owner (repeatable; one
    /// installation per owner). Its id is printed under "installations".
    #[arg(long = "installation", value_name = "OWNER", requires = "app_id")]
    installations: Vec<String>,
    /// How long installation tokens live, in seconds (GitHub's live an hour).
    #[arg(long, default_value_t = 3_600)]
    installation_token_ttl_secs: u64,
}

/// `Some(limit)`, or `None` for 0 (the flag's way to say "off").
fn limit_or_off(limit: u32) -> Option<u32> {
    (limit > 0).then_some(limit)
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = SimConfig {
        seed: args.seed,
        token: args.token.clone(),
        accept_any_token: args.accept_any_token,
        rate_limit_per_hour: args.rate_limit_per_hour,
        installation_rate_limit_per_hour: args.installation_rate_limit_per_hour,
        rate_limit_window: Duration::from_secs(args.rate_limit_window_secs),
        secondary: SecondaryLimits {
            points_per_minute: limit_or_off(args.secondary_points_per_minute),
            max_concurrent: limit_or_off(args.secondary_max_concurrent),
        },
        installation_token_ttl: Duration::from_secs(args.installation_token_ttl_secs),
        clock: ClockMode::RealTime { speed: 1.0 },
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, args.api_addr, args.log_addr).await?;
    let handle = sim.handle();
    populate(&handle, &args.repos, args.history)?;
    let installations = install_app(&handle, &args)?;
    println!(
        "{}",
        serde_json::json!({
            "api_url": sim.api_url(),
            "log_url": sim.log_url(),
            "installations": installations,
        })
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

/// Registers the App of `--app-id` and installs it on each `--installation` owner with that
/// owner's `--repo`s; returns owner → installation id.
fn install_app(handle: &SimHandle, args: &SimArgs) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut installations = BTreeMap::new();
    let (Some(app_id), Some(key_file)) = (args.app_id, args.app_public_key_file.as_ref()) else {
        return Ok(installations);
    };
    let public_key_pem = std::fs::read_to_string(key_file)
        .with_context(|| format!("reading --app-public-key-file {}", key_file.display()))?;
    handle
        .try_add_app(app_id, &public_key_pem)
        .with_context(|| format!("--app-public-key-file {}", key_file.display()))?;
    for owner in &args.installations {
        let owned: Vec<&str> = args
            .repos
            .iter()
            .map(String::as_str)
            .filter(|repo| {
                repo.split_once('/')
                    .is_some_and(|(repo_owner, _)| repo_owner.eq_ignore_ascii_case(owner))
            })
            .collect();
        if owned.is_empty() {
            tracing::warn!(owner, "--installation names an owner without any --repo");
        }
        let installation_id = handle
            .try_add_installation(app_id, owner, &owned)
            .with_context(|| format!("--installation {owner}"))?;
        installations.insert(owner.clone(), installation_id);
    }
    Ok(installations)
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
