//! `idle`: many repositories where nothing happens, at the default poll settings. After the
//! first cycle has read them all (the budget lifted, to get there quickly), the daemon is
//! restarted with every default, GitHub's secondary limits on: what does keeping watch cost?
//! Requests per minute (under the default ceiling of 600), and rate-limit points (the target is
//! 0: every poll is a conditional request answered 304).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use gha_ingest_sim::SecondaryLimits;

use crate::daemon::{ingest_history, Daemon};
use crate::scenario::backfill::round;
use crate::world::{self, repo_names, History};

pub async fn run(binary: &Path, quick: bool) -> anyhow::Result<Value> {
    let repositories = if quick { 200 } else { 1000 };
    let watch = if quick {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(600)
    };
    eprintln!(
        "==> idle: {repositories} unchanged repositories, watched for {} s at the defaults",
        watch.as_secs()
    );
    let history = History {
        repositories,
        runs: 1,
        rerun_every: 0,
        long_runs: 0,
    };
    // Secondary limits lifted while the state is prepared, GitHub's during the watch.
    let config = world::config(u32::MAX);
    let sim = world::simulator_with(history, config).await?;
    let handle = sim.handle();
    let dir = tempfile::tempdir()?;
    let repos = repo_names(repositories);
    // Polled every second while ingesting, until each repository's lists have all been read
    // once and answer 304: a first poll skips the queued/in-progress lists, so without this the
    // watch would measure every repository's one-off first read of them, not the idle state.
    let every_second = [
        ("GHA_INGEST__PIPELINE__POLL_INTERVAL_SECS", "1".to_owned()),
        ("GHA_INGEST__PIPELINE__QUIET_POLL_MAX_SECS", "1".to_owned()),
    ];
    let mut ingesting = ingest_history(
        binary,
        &sim.api_url(),
        dir.path(),
        &repos,
        repositories as u64,
        &every_second,
    )
    .await?;
    handle.reset_stats();
    let settling = Instant::now();
    while handle.stats().not_modified_total < 3 * repositories as u64 {
        ingesting.check_alive()?;
        anyhow::ensure!(
            settling.elapsed() < Duration::from_secs(300),
            "the lists did not settle into 304s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ingesting.stop()?;
    handle.set_secondary_limits(SecondaryLimits::default());
    let mut daemon = Daemon::start_pipeline(
        binary,
        &sim.api_url(),
        dir.path(),
        &[("GHA_INGEST__PIPELINE__REPOSITORIES", repos.join(","))],
    )?;
    eprintln!("    every list read once; restarted at the defaults; watching");
    handle.reset_stats();
    let started = Instant::now();
    while started.elapsed() < watch {
        daemon.check_alive()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let stats = handle.stats();
    let usage = daemon.usage()?;
    daemon.stop()?;
    sim.shutdown().await;
    let figures = json!({
        "scenario": "idle",
        "repositories": repositories,
        "watched_secs": round(minutes * 60.0),
        "requests": stats.requests_total,
        "requests_per_minute": round(stats.requests_total as f64 / minutes),
        "not_modified": stats.not_modified_total,
        "rate_limit_points": stats.rate_limit_points_used,
        "secondary_rate_limited": stats.secondary_rate_limited_total,
        "requests_by_endpoint": stats.by_route,
        "cpu_secs_total": round(usage.cpu_secs),
        "peak_rss_mib": round(usage.peak_rss_mib),
    });
    eprintln!(
        "    {:.0} requests/min, {} rate-limit points in {:.1} min",
        stats.requests_total as f64 / minutes,
        stats.rate_limit_points_used,
        minutes
    );
    Ok(figures)
}
