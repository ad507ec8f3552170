//! `freshness`: live activity at the default poll settings. For every state change the
//! simulator makes, how long until its event is on the metrics queue; for every job that
//! completes, how long until its log is on the logs queue. Percentiles over the whole watch.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gha_ingest_sim::{ClockMode, RunSpec, SimConfig, Simulator};
use serde_json::{json, Value};

use crate::consumer::{percentile, Arrival, Consumer};
use crate::daemon::{Daemon, TOKEN};
use crate::scenario::backfill::round;
use crate::world::repo_names;

const REPOSITORIES: usize = 10;
/// A new run in each repository this often (staggered across repositories).
const NEW_RUN_EVERY: Duration = Duration::from_secs(20);

pub async fn run(binary: &Path, quick: bool) -> anyhow::Result<Value> {
    let watch = if quick {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(300)
    };
    eprintln!(
        "==> freshness: {REPOSITORIES} repositories, a new run in each every {} s, watched {} s at the default poll settings",
        NEW_RUN_EVERY.as_secs(),
        watch.as_secs()
    );
    let config = SimConfig {
        token: Some(TOKEN.to_owned()),
        clock: ClockMode::RealTime { speed: 1.0 },
        ..SimConfig::default()
    };
    let loopback = "127.0.0.1:0".parse()?;
    let sim = Simulator::start(config, loopback, loopback).await?;
    let handle = sim.handle();
    let repos = repo_names(REPOSITORIES);
    for repo in &repos {
        let (owner, name) = repo.split_once('/').expect("owner/name");
        handle.add_repo(owner, name);
        // A run of its own just before the start: the daemon starts a repository with no recent
        // run at its slowest cadence (`quiet_poll_max_secs`), as dormant, and these are active.
        handle.create_run(repo, RunSpec::default());
    }
    let dir = tempfile::tempdir()?;
    let mut daemon = Daemon::start(
        binary,
        &sim.api_url(),
        dir.path(),
        &[],
        &[("GHA_INGEST__PIPELINE__REPOSITORIES", repos.join(","))],
    )?;
    let activity = {
        let handle = handle.clone();
        let repos = repos.clone();
        tokio::spawn(async move {
            let stagger = NEW_RUN_EVERY / REPOSITORIES as u32;
            let mut tick = 0u64;
            loop {
                for repo in &repos {
                    tokio::time::sleep(stagger).await;
                    handle.create_run(
                        repo,
                        RunSpec {
                            jobs: 1 + (tick as usize % 3),
                            queue_secs: 5,
                            run_secs: 20 + (tick % 4) * 10,
                            ..RunSpec::default()
                        },
                    );
                }
                tick += 1;
            }
        })
    };
    let metrics = Consumer::of_daemon(&mut daemon, dir.path(), "gha-ingest-metrics").await?;
    let logs = Consumer::of_daemon(&mut daemon, dir.path(), "gha-ingest-logs").await?;
    let mut event_lags = Vec::new();
    let mut log_lags = Vec::new();
    // Logs of jobs the simulator cannot date are counted, not measured.
    let mut logs_unmatched = 0u64;
    // Every message of the logs queue by type and reason: a log that ended unavailable is a
    // fact too, not a lag.
    let mut log_endings: std::collections::BTreeMap<String, u64> = Default::default();
    let started = Instant::now();
    while started.elapsed() < watch {
        daemon.check_alive()?;
        for arrival in metrics.take(Duration::from_millis(200)).await? {
            if let Some(changed) = changed_at(&arrival) {
                event_lags.push(seconds_between(changed, arrival.at));
            }
        }
        for arrival in logs.take(Duration::from_millis(200)).await? {
            let data = arrival.data();
            let ending = match data["reason"].as_str() {
                Some(reason) => format!("{} ({reason})", arrival.event_type()),
                None => arrival.event_type().to_owned(),
            };
            *log_endings.entry(ending).or_default() += 1;
            let last_part = data["part_index"].as_u64() == data["part_count"].as_u64();
            if arrival.event_type() == "job_log_fetched" && last_part {
                // GitHub's (the simulator's) own record of when the job ended: the metrics
                // consumer may not have read the job's event yet when its log arrives.
                let completed = data["job_id"].as_u64().and_then(|id| {
                    let job = handle.job_json(id);
                    let text = job["completed_at"].as_str()?.to_owned();
                    DateTime::parse_from_rfc3339(&text).ok()
                });
                match completed {
                    Some(done) => {
                        log_lags.push(seconds_between(done.with_timezone(&Utc), arrival.at))
                    }
                    None => logs_unmatched += 1,
                }
            }
        }
    }
    activity.abort();
    if std::env::var_os("GHA_INGEST_BENCH_KEEP").is_some() {
        eprintln!("    kept {}", dir.keep().display());
    }
    let usage = daemon.usage()?;
    daemon.stop()?;
    sim.shutdown().await;
    let summary = |lags: &[f64]| {
        json!({
            "count": lags.len(),
            "p50_secs": percentile(lags, 50.0).map(round),
            "p95_secs": percentile(lags, 95.0).map(round),
            "p99_secs": percentile(lags, 99.0).map(round),
        })
    };
    eprintln!(
        "    events: {} (p50 {:?} s, p95 {:?} s); logs: {} (p50 {:?} s, p95 {:?} s)",
        event_lags.len(),
        percentile(&event_lags, 50.0).map(round),
        percentile(&event_lags, 95.0).map(round),
        log_lags.len(),
        percentile(&log_lags, 50.0).map(round),
        percentile(&log_lags, 95.0).map(round),
    );
    Ok(json!({
        "scenario": "freshness",
        "repositories": REPOSITORIES,
        "watched_secs": watch.as_secs(),
        "poll_interval_secs": 30,
        "events": summary(&event_lags),
        "logs": summary(&log_lags),
        "logs_unmatched": logs_unmatched,
        "log_messages_by_type": log_endings,
        "event_lags_secs": event_lags.iter().map(|lag| round(*lag)).collect::<Vec<_>>(),
        "log_lags_secs": log_lags.iter().map(|lag| round(*lag)).collect::<Vec<_>>(),
        "cpu_secs": round(usage.cpu_secs),
        "peak_rss_mib": round(usage.peak_rss_mib),
    }))
}

/// When GitHub changed what a live event reports: a run's `updated_at`; a job's start, end or
/// creation by its status. Backfilled history is not a change the daemon could have seen.
pub(crate) fn changed_at(arrival: &Arrival) -> Option<DateTime<Utc>> {
    if !matches!(arrival.body["source"].as_str(), Some("poll" | "webhook")) {
        return None;
    }
    let event_type = arrival.event_type();
    if event_type.starts_with("workflow_run_") && !event_type.ends_with("_unavailable") {
        return arrival.time("updated_at");
    }
    match event_type {
        "workflow_job_completed" => arrival.time("completed_at"),
        "workflow_job_in_progress" => arrival.time("started_at"),
        "workflow_job_queued" | "workflow_job_waiting" | "workflow_job_pending" => {
            arrival.time("created_at")
        }
        _ => None,
    }
}

pub(crate) fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}
