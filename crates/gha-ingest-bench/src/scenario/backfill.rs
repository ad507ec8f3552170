//! `backfill`: a whole history ingested from scratch, rate limit lifted. Wall time until every
//! run is stored completed and the outbox is empty, the daemon's CPU and peak RSS, requests by
//! endpoint against the physical minimum, events per second; at two sizes, to show how cost
//! grows.

use std::path::Path;
use std::time::Instant;

use gha_ingest_queue::{EmbeddedQueue, MessageQueue};
use serde_json::{json, Value};

use crate::daemon::ingest_history;
use crate::world::{minimum_requests, repo_names, simulator, History};

/// The history of the comparison with the peers: 5 repositories × 200 runs.
pub const BASE: History = History {
    repositories: 5,
    runs: 200,
    rerun_every: 0,
    long_runs: 0,
};

/// Ten times larger, with re-runs and long runs.
pub const LARGER: History = History {
    repositories: 50,
    runs: 200,
    rerun_every: 10,
    long_runs: 2,
};

pub async fn run(binary: &Path, quick: bool) -> anyhow::Result<Value> {
    let base = measure(binary, BASE).await?;
    let larger_history = if quick {
        History {
            repositories: 10,
            ..LARGER
        }
    } else {
        LARGER
    };
    let larger = measure(binary, larger_history).await?;
    let mut figures = base;
    let growth = |key: &str| {
        let (small, large) = (figures[key].as_f64(), larger[key].as_f64());
        match (small, large) {
            (Some(small), Some(large)) if small > 0.0 => json!(large / small),
            _ => Value::Null,
        }
    };
    let growth = json!({
        "history": (larger["history"]["runs"].as_f64().unwrap_or(0.0)
            / figures["history"]["runs"].as_f64().unwrap_or(1.0)),
        "wall": growth("wall_secs"),
        "cpu": growth("cpu_secs"),
        "requests": growth("requests"),
    });
    figures["larger"] = larger;
    figures["growth"] = growth;
    figures["scenario"] = json!("backfill");
    Ok(figures)
}

async fn measure(binary: &Path, history: History) -> anyhow::Result<Value> {
    eprintln!(
        "==> backfill: {} repositories x {} runs (re-run every {}, {} long runs each)",
        history.repositories, history.runs, history.rerun_every, history.long_runs
    );
    let sim = simulator(history, u32::MAX).await?;
    let handle = sim.handle();
    let minimum = minimum_requests(&handle, history.repositories);
    let expected_runs = minimum.runs;
    let dir = tempfile::tempdir()?;
    let repos = repo_names(history.repositories);
    handle.reset_stats();
    let started = Instant::now();
    let daemon = ingest_history(
        binary,
        &sim.api_url(),
        dir.path(),
        &repos,
        expected_runs,
        // The daemon at its defaults, as a new user runs it: a shorter poll interval only
        // polls the fresh lane more often while the history is read.
        &[],
    )
    .await?;
    let wall = started.elapsed();
    let usage = daemon.usage()?;
    let stats = handle.stats();
    daemon.stop()?;
    let queue = EmbeddedQueue::open(
        &dir.path().join("queue.sqlite"),
        "gha-ingest-metrics",
        Default::default(),
    )
    .await?;
    let messages = queue.approximate_depth().await?.visible;
    let requests = stats.requests_total;
    let figures = json!({
        "history": {
            "repositories": history.repositories,
            "runs": minimum.runs,
            "attempts": minimum.attempts,
            "commits": minimum.commits,
        },
        "wall_secs": round(wall.as_secs_f64()),
        "cpu_secs": round(usage.cpu_secs),
        "peak_rss_mib": round(usage.peak_rss_mib),
        "requests": requests,
        "requests_by_endpoint": stats.by_route,
        "requests_minimum": minimum.requests,
        "requests_ratio_to_minimum": round(requests as f64 / minimum.requests as f64),
        "messages": messages,
        "events_per_sec": round(messages as f64 / wall.as_secs_f64()),
    });
    eprintln!(
        "    {} runs, {} messages in {:.2} s wall, {:.2} s CPU, {:.1} MiB peak; {} requests ({:.3} x the minimum {})",
        minimum.runs, messages, wall.as_secs_f64(), usage.cpu_secs, usage.peak_rss_mib,
        requests, requests as f64 / minimum.requests as f64, minimum.requests
    );
    sim.shutdown().await;
    Ok(figures)
}

/// Three decimals: the report's precision, well under the machine's noise.
pub fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
