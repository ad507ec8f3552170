//! The simulated GitHub a scenario runs against: in this process, on loopback, with the history
//! the scenario asks for. The daemon is a separate process, so nothing here is measured as its
//! cost.

use std::collections::HashSet;
use std::time::Duration;

use gha_ingest_sim::{
    ClockMode, RunSpec, RunningSim, SecondaryLimits, SimConfig, SimHandle, Simulator,
};

use crate::daemon::TOKEN;

/// A history: `repositories` × `runs` completed runs, some of them re-run, some long.
#[derive(Debug, Clone, Copy)]
pub struct History {
    pub repositories: usize,
    pub runs: usize,
    /// Every `rerun_every`-th run is re-run once (0: none).
    pub rerun_every: usize,
    /// Runs per repository that ran for six hours (created on top of `runs`).
    pub long_runs: usize,
}

/// Starts a simulator with `history` in it, every run completed; the primary rate limit is
/// lifted unless `rate_limit_per_hour` says otherwise. Its clock is the wall clock moved 7 hours
/// ahead, past the end of every re-run and long run: the history lies within the daemon's
/// backfill window, and nothing is left running.
pub async fn simulator(history: History, rate_limit_per_hour: u32) -> anyhow::Result<RunningSim> {
    simulator_with(history, config(rate_limit_per_hour)).await
}

/// The settings of every scenario's simulator: the bench token with `rate_limit_per_hour`, a
/// clock that flows at the wall clock's pace, the secondary limits lifted (`org` puts GitHub's
/// back: it is the scenario about limits); GitHub's figures for everything else.
pub(crate) fn config(rate_limit_per_hour: u32) -> SimConfig {
    SimConfig {
        token: Some(TOKEN.to_owned()),
        rate_limit_per_hour,
        clock: ClockMode::RealTime { speed: 1.0 },
        secondary: SecondaryLimits::disabled(),
        ..SimConfig::default()
    }
}

/// `simulator` with the scenario's own settings (from `config`, for a clock that flows).
pub(crate) async fn simulator_with(
    history: History,
    config: SimConfig,
) -> anyhow::Result<RunningSim> {
    let loopback = "127.0.0.1:0".parse()?;
    let sim = Simulator::start(config, loopback, loopback).await?;
    let handle = sim.handle();
    for repo in repo_names(history.repositories) {
        let (owner, name) = repo.split_once('/').expect("owner/name");
        handle.add_repo(owner, name);
        let ids = handle.generate_history(&repo, history.runs, Duration::from_secs(3 * 24 * 3600));
        if history.rerun_every > 0 {
            for id in ids.iter().step_by(history.rerun_every) {
                handle.rerun(&repo, *id);
            }
        }
        for _ in 0..history.long_runs {
            handle.create_run(
                &repo,
                RunSpec {
                    jobs: 3,
                    run_secs: 6 * 3600,
                    ..RunSpec::default()
                },
            );
        }
    }
    // Past every re-run and long run: the whole history is completed when the daemon starts.
    handle.advance(Duration::from_secs(7 * 3600));
    Ok(sim)
}

pub fn repo_names(count: usize) -> Vec<String> {
    (1..=count)
        .map(|index| format!("bench/repo{index}"))
        .collect()
}

/// GitHub lists a commit's files 300 to a page, up to 3,000 files ("Get a commit", REST docs).
const COMMIT_FILES_PER_PAGE: u64 = 300;
const COMMIT_FILES_LISTED_AT_MOST: u64 = 3_000;

/// The fewest requests that can read every fact of the history: each repository's run list
/// (100 a page), each earlier attempt of a re-run (the list shows only the latest), each
/// attempt's jobs (one page: under 100 jobs), and per distinct commit its details (300 files a
/// page) and its pull requests.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Minimum {
    pub runs: u64,
    pub attempts: u64,
    pub commits: u64,
    pub requests: u64,
}

pub fn minimum_requests(handle: &SimHandle, repositories: usize) -> Minimum {
    let (mut runs, mut attempts, mut requests, mut commits) = (0u64, 0u64, 0u64, 0u64);
    for repo in repo_names(repositories) {
        let ids = handle.list_run_ids(&repo);
        requests += (ids.len() as u64).div_ceil(100).max(1);
        let mut shas = HashSet::new();
        for id in &ids {
            let run = handle.run_json(&repo, *id);
            let run_attempts = run["run_attempt"].as_u64().unwrap_or(1);
            runs += 1;
            attempts += run_attempts;
            // Earlier attempts' runs, then every attempt's jobs.
            requests += (run_attempts - 1) + run_attempts;
            if let Some(sha) = run["head_sha"].as_str() {
                shas.insert(sha.to_owned());
            }
        }
        for sha in &shas {
            let files = handle
                .commit_stats(&repo, sha)
                .map_or(0, |(files, _, _)| files as u64)
                .min(COMMIT_FILES_LISTED_AT_MOST);
            requests += files.div_ceil(COMMIT_FILES_PER_PAGE).max(1) + 1;
        }
        commits += shas.len() as u64;
    }
    Minimum {
        runs,
        attempts,
        commits,
        requests,
    }
}

/// Installs the App `app_id` (a new key pair, returned) on `repos`, split evenly across
/// `installations`. GitHub installs an App once per account; the simulator does not check, and
/// the daemon routes by repository, so this splits `bench` as that many organisations would.
pub(crate) fn install_app(
    handle: &SimHandle,
    app_id: u64,
    repos: &[String],
    installations: usize,
) -> gha_ingest_sim::AppKeyPair {
    let keys = gha_ingest_sim::AppKeyPair::generate();
    handle.add_app(app_id, &keys.public_pem);
    for part in repos.chunks(repos.len().div_ceil(installations.max(1)).max(1)) {
        let names: Vec<&str> = part.iter().map(String::as_str).collect();
        handle.add_installation(app_id, "bench", &names);
    }
    keys
}
