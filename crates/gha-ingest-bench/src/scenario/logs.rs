//! `logs`: one 200 MB log among many small ones, from a standing start. How fast the log agent
//! moves bytes from GitHub's log host to the logs queue, and what it holds in memory meanwhile
//! (a log is streamed through a spool file, never held whole).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use gha_ingest_sim::LogSpec;
use serde_json::{json, Value};

use crate::consumer::Consumer;
use crate::daemon::{Daemon, LIFTED_BUDGET};
use crate::scenario::backfill::round;
use crate::world::{repo_names, simulator, History};

const LARGE_LOG_BYTES: u64 = 200 * 1024 * 1024;

pub async fn run(binary: &Path, quick: bool) -> anyhow::Result<Value> {
    let runs = if quick { 20 } else { 100 };
    eprintln!("==> logs: a 200 MiB log and the logs of {runs} runs' jobs");
    let history = History {
        repositories: 1,
        runs,
        rerun_every: 0,
        long_runs: 0,
    };
    let sim = simulator(history, u32::MAX).await?;
    let handle = sim.handle();
    let repo = &repo_names(1)[0];
    let mut jobs = Vec::new();
    for run_id in handle.list_run_ids(repo) {
        jobs.extend(handle.job_ids(run_id, 1));
    }
    let large_job = *jobs
        .first()
        .ok_or_else(|| anyhow::anyhow!("no job in the history"))?;
    handle.set_job_log(
        large_job,
        LogSpec::Generated {
            bytes: LARGE_LOG_BYTES,
            line_len: 200,
        },
    );
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    // The request budget lifted, as in `backfill`: this measures how fast logs move, and 238
    // downloads beside the history's reads are about a minute of a token's default ceiling.
    let mut env = vec![
        ("GHA_INGEST__PIPELINE__REPOSITORIES", repo.clone()),
        ("GHA_INGEST__PIPELINE__POLL_INTERVAL_SECS", "1".to_owned()),
    ];
    env.extend(LIFTED_BUDGET.map(|(key, value)| (key, value.to_owned())));
    let mut daemon = Daemon::start(binary, &sim.api_url(), dir.path(), &[], &env)?;
    let logs = Consumer::of_daemon(&mut daemon, dir.path(), "gha-ingest-logs").await?;
    // Parts seen per job, and each job's part count; a job is done with all its parts or an
    // unavailable event.
    let mut parts: HashMap<u64, HashSet<u64>> = HashMap::new();
    let mut ended: HashSet<u64> = HashSet::new();
    let mut bytes = 0u64;
    let mut peak_rss_mib: f64 = 0.0;
    let mut large_done = None;
    let deadline = Instant::now() + Duration::from_secs(900);
    // Re-runs in the history add jobs of later attempts: wait for every first-attempt job (the
    // large log among them), counting whatever else arrives meanwhile.
    while !jobs.iter().all(|job| ended.contains(job)) {
        daemon.check_alive()?;
        peak_rss_mib = peak_rss_mib.max(daemon.usage()?.peak_rss_mib);
        if Instant::now() > deadline {
            anyhow::bail!(
                "{} of {} logs arrived in 15 minutes:\n{}",
                jobs.iter().filter(|job| ended.contains(job)).count(),
                jobs.len(),
                daemon.output_tail()
            );
        }
        for arrival in logs.take(Duration::from_millis(200)).await? {
            let data = arrival.data();
            let Some(job_id) = data["job_id"].as_u64() else {
                continue;
            };
            if arrival.event_type() != "job_log_fetched" {
                if job_id == large_job {
                    anyhow::bail!("the 200 MiB log ended unavailable: {}", arrival.body);
                }
                ended.insert(job_id);
                continue;
            }
            bytes += data["part_bytes"].as_u64().unwrap_or(0);
            let seen = parts.entry(job_id).or_default();
            seen.insert(data["part_index"].as_u64().unwrap_or(1));
            if seen.len() as u64 >= data["part_count"].as_u64().unwrap_or(1) {
                ended.insert(job_id);
                if job_id == large_job {
                    large_done = Some(started.elapsed());
                }
            }
        }
    }
    let wall = started.elapsed();
    if large_done.is_none() {
        anyhow::bail!(
            "the 200 MiB log did not arrive whole:\n{}",
            daemon.output_tail()
        );
    }
    let usage = daemon.usage()?;
    let peak_rss_mib = peak_rss_mib.max(usage.peak_rss_mib);
    daemon.stop()?;
    sim.shutdown().await;
    let mib_per_sec = bytes as f64 / (1024.0 * 1024.0) / wall.as_secs_f64();
    eprintln!(
        "    {} logs, {:.1} MiB in {:.2} s ({:.1} MiB/s), {:.2} s CPU, peak RSS {:.1} MiB",
        ended.len(),
        bytes as f64 / (1024.0 * 1024.0),
        wall.as_secs_f64(),
        mib_per_sec,
        usage.cpu_secs,
        peak_rss_mib
    );
    Ok(json!({
        "scenario": "logs",
        "logs": ended.len(),
        "large_log_bytes": LARGE_LOG_BYTES,
        "bytes": bytes,
        "wall_secs": round(wall.as_secs_f64()),
        "large_log_secs": large_done.map(|elapsed| round(elapsed.as_secs_f64())),
        "bytes_per_sec": round(bytes as f64 / wall.as_secs_f64()),
        "mib_per_sec": round(mib_per_sec),
        "cpu_secs": round(usage.cpu_secs),
        "peak_rss_mib": round(peak_rss_mib),
    }))
}
