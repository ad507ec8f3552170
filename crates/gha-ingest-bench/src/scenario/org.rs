//! `org`: an organisation's worth of repositories under GitHub's limits. Five hundred
//! repositories, each with a few runs of history for the backfill to read, one in twenty of them
//! busy all along (a run every three minutes each: some 12,000 runs a day, a large organisation), GitHub's secondary limits on and the primary hour compressed to five minutes,
//! so the backfill, the live polls and the token refreshes all compete for the same budget. Run
//! once with a personal access token (one budget for everything) and once as a GitHub App (two
//! installations, each with its own budget and tokens that expire during the run).
//!
//! What it asks: do live facts stay fresh while the backfill is under way, does the daemon stay
//! under its own ceiling of points per minute (and so never meet GitHub's secondary limit), is
//! there a stretch where a fresh request waits and none is let through (the daemon gone dark on
//! its budget: the daemon's own `gha_ingest_github_budget_longest_wait_seconds{class="fresh"}`,
//! beside the longest silence between two answers seen from the simulator), and once the
//! activity stops, does every run and job end up on the queue.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use gha_ingest_sim::{RequestLogEntry, RunSpec, SecondaryLimits, SimConfig, SimHandle, SimStats};
use serde_json::{json, Value};

use crate::consumer::{percentile, Arrival, Consumer};
use crate::daemon::Daemon;
use crate::scenario::backfill::round;
use crate::scenario::freshness::{changed_at, seconds_between};
use crate::world::{self, repo_names, History};

/// Completed runs of history per repository, within the daemon's 7-day backfill window.
const HISTORY_RUNS: usize = 3;
/// One repository in this many is busy.
const BUSY_ONE_IN: usize = 20;
/// A new run in each busy repository this often (staggered across them).
const NEW_RUN_EVERY: Duration = Duration::from_secs(180);
/// GitHub's primary budget per window, for the token and for each installation.
const RATE_LIMIT_PER_WINDOW: u32 = 5_000;
const APP_ID: u64 = 424_242;
const INSTALLATIONS: usize = 2;
/// The daemon's default `github.points_per_minute`: its own ceiling, under GitHub's 900.
const CEILING_POINTS_PER_MINUTE: u32 = 600;
/// How long the live activity is watched once the backfill is done.
const AFTER_BACKFILL: Duration = Duration::from_secs(60);
const MAX_WATCH: Duration = Duration::from_secs(25 * 60);
/// How long to wait, after the activity stopped, for every run and job to be on the queue.
const MAX_DRAIN: Duration = Duration::from_secs(15 * 60);

/// The figures that change with `--quick`.
#[derive(Debug, Clone, Copy)]
struct Size {
    repositories: usize,
    rate_limit_window: Duration,
    installation_token_ttl: Duration,
    min_watch: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Pat,
    App,
}

impl Auth {
    fn name(self) -> &'static str {
        match self {
            Auth::Pat => "pat",
            Auth::App => "app",
        }
    }
}

pub async fn run(binary: &Path, quick: bool) -> anyhow::Result<Value> {
    let size = if quick {
        Size {
            repositories: 100,
            rate_limit_window: Duration::from_secs(120),
            installation_token_ttl: Duration::from_secs(60),
            min_watch: Duration::from_secs(120),
        }
    } else {
        Size {
            repositories: 500,
            rate_limit_window: Duration::from_secs(300),
            installation_token_ttl: Duration::from_secs(120),
            min_watch: Duration::from_secs(300),
        }
    };
    let pat = measure(binary, size, Auth::Pat).await?;
    let app = measure(binary, size, Auth::App).await?;
    // The token's figures at the top, where the issue reads them; both runs side by side.
    let mut figures = pat.clone();
    figures["scenario"] = json!("org");
    figures["app"] = app.clone();
    figures["runs"] = json!([pat, app]);
    Ok(figures)
}

async fn measure(binary: &Path, size: Size, auth: Auth) -> anyhow::Result<Value> {
    let repos = repo_names(size.repositories);
    let busy: Vec<String> = repos.iter().step_by(BUSY_ONE_IN).cloned().collect();
    eprintln!(
        "==> org ({}): {} repositories x {HISTORY_RUNS} runs of history, {} busy (a new run each every {} s), primary window {} s, secondary limits on",
        auth.name(),
        repos.len(),
        busy.len(),
        NEW_RUN_EVERY.as_secs(),
        size.rate_limit_window.as_secs(),
    );
    let config = SimConfig {
        installation_rate_limit_per_hour: RATE_LIMIT_PER_WINDOW,
        rate_limit_window: size.rate_limit_window,
        secondary: SecondaryLimits::default(),
        installation_token_ttl: size.installation_token_ttl,
        ..world::config(RATE_LIMIT_PER_WINDOW)
    };
    // The request log is dated from the simulator's start: this instant, give or take the
    // binding of two sockets.
    let sim_started = Instant::now();
    let sim = world::simulator_with(
        History {
            repositories: repos.len(),
            runs: HISTORY_RUNS,
            rerun_every: 0,
            long_runs: 0,
        },
        config,
    )
    .await?;
    let handle = sim.handle();
    // Events carry GitHub's times, 7 hours ahead of the wall clock the consumer dates arrivals
    // by (see `world::simulator`).
    let sim_ahead = handle.now() - Utc::now();
    let history = Expected::of(&handle, &repos);

    let (installations, env) = match auth {
        Auth::Pat => (
            0,
            vec![("GHA_INGEST__PIPELINE__REPOSITORIES", repos.join(","))],
        ),
        Auth::App => {
            let keys = world::install_app(&handle, APP_ID, &repos, INSTALLATIONS);
            // No repository list: the daemon finds them through the installations. The token
            // `Daemon::start` sets is not read once an App id is.
            (
                INSTALLATIONS,
                vec![
                    ("GHA_INGEST__GITHUB__APP__ID", APP_ID.to_string()),
                    ("GITHUB_APP_PRIVATE_KEY", keys.private_pem.clone()),
                ],
            )
        }
    };
    let dir = tempfile::tempdir()?;
    // Its HTTP server on, for `/metrics`: the scheduler's own account of how long fresh work
    // waited.
    let http = free_loopback_address()?;
    let mut env = env;
    env.push(("GHA_INGEST__HTTP__ENABLED", "true".to_owned()));
    env.push(("GHA_INGEST__HTTP__LISTEN", http.to_string()));
    // The activity is under way when the daemon joins: each busy repository has a run going
    // (a busy repository whose last run is days old is, to the daemon, a dormant one waking up:
    // its first run is seen up to `quiet_poll_max_secs` late, by design).
    for repo in &busy {
        handle.create_run(repo, live_run(0));
    }
    let mut daemon = Daemon::start_pipeline(binary, &sim.api_url(), dir.path(), &env)?;
    let started = Instant::now();
    let activity_from_ms = millis(sim_started.elapsed());
    let activity = tokio::spawn(keep_busy(handle.clone(), busy.clone()));

    let metrics = Consumer::of_daemon(&mut daemon, dir.path(), "gha-ingest-metrics").await?;
    let mut seen = Seen::new(sim_ahead);
    let mut answered = Answered::default();
    let mut backfill_done: Option<Duration> = None;
    let mut log_taken = Instant::now();
    let mut reported = Instant::now();
    loop {
        daemon.check_alive()?;
        for arrival in metrics.take(Duration::from_millis(200)).await? {
            seen.note(&arrival, backfill_done.is_none());
        }
        if log_taken.elapsed() >= Duration::from_secs(1) {
            answered.note(handle.take_request_log());
            log_taken = Instant::now();
        }
        let elapsed = started.elapsed();
        if backfill_done.is_none() && history.missing_runs(&seen) == 0 {
            backfill_done = Some(elapsed);
            eprintln!("    backfill done after {:.0} s", elapsed.as_secs_f64());
        }
        if reported.elapsed() >= Duration::from_secs(60) {
            reported = Instant::now();
            eprintln!(
                "    {:.0} s: {} of {} history runs in, {} fresh events (p95 {:?} s), {} requests",
                elapsed.as_secs_f64(),
                history.runs.len() - history.missing_runs(&seen),
                history.runs.len(),
                seen.fresh_whole_run.len(),
                percentile(&seen.fresh_whole_run, 95.0).map(round),
                handle.stats().requests_total,
            );
        }
        let watched_enough = backfill_done
            .is_some_and(|done| elapsed >= (done + AFTER_BACKFILL).max(size.min_watch));
        if watched_enough || elapsed >= MAX_WATCH {
            break;
        }
    }
    activity.abort();
    // Cancelled: no run is created after this.
    let _ = activity.await;
    let watched = started.elapsed();
    let activity_to_ms = millis(sim_started.elapsed());
    answered.note(handle.take_request_log());
    let dark = answered.darkness(activity_from_ms, activity_to_ms);

    // Every run the simulator has and every job of its latest attempt, then on the queue?
    let everything = Expected::of(&handle, &repos);
    eprintln!(
        "    activity stopped after {:.0} s; waiting for {} runs and {} jobs",
        watched.as_secs_f64(),
        everything.runs.len(),
        everything.jobs.len()
    );
    let drain_started = Instant::now();
    loop {
        daemon.check_alive()?;
        for arrival in metrics.take(Duration::from_millis(200)).await? {
            seen.note(&arrival, backfill_done.is_none());
        }
        if backfill_done.is_none() && history.missing_runs(&seen) == 0 {
            backfill_done = Some(started.elapsed());
        }
        if everything.missing_runs(&seen) + everything.missing_jobs(&seen) == 0
            || drain_started.elapsed() > MAX_DRAIN
        {
            break;
        }
    }
    let (lost_runs, lost_jobs) = (
        everything.missing_runs(&seen),
        everything.missing_jobs(&seen),
    );
    let drained = drain_started.elapsed();
    if std::env::var_os("GHA_INGEST_BENCH_KEEP").is_some() {
        eprintln!("    kept {}", dir.keep().display());
    }
    let usage = daemon.usage()?;
    let fresh_waits = fresh_waits(&http).await.unwrap_or_else(|error| {
        eprintln!("    cannot read the daemon's fresh waits: {error:#}");
        FreshWaits::default()
    });
    let stats = handle.stats();
    daemon.stop()?;
    sim.shutdown().await;

    let limits = Limits::of(&stats);
    let most =
        |figures: &BTreeMap<String, f64>| round(figures.values().copied().fold(0.0, f64::max));
    let dark_secs = most(&fresh_waits.dark);
    let figures = json!({
        "auth": auth.name(),
        "repositories": repos.len(),
        "busy_repositories": busy.len(),
        "installations": installations,
        "history_runs": history.runs.len(),
        "runs_total": everything.runs.len(),
        "jobs_total": everything.jobs.len(),
        "rate_limit_window_secs": size.rate_limit_window.as_secs(),
        "fresh_events": seen.fresh_during_backfill.len(),
        "fresh_event_p50_secs": percentile(&seen.fresh_during_backfill, 50.0).map(round),
        "fresh_event_p95_secs": percentile(&seen.fresh_during_backfill, 95.0).map(round),
        "fresh_events_whole_run": seen.fresh_whole_run.len(),
        "fresh_event_p50_secs_whole_run": percentile(&seen.fresh_whole_run, 50.0).map(round),
        "fresh_event_p95_secs_whole_run": percentile(&seen.fresh_whole_run, 95.0).map(round),
        "fresh_event_max_secs_whole_run": seen.fresh_whole_run.iter().copied().reduce(f64::max).map(round),
        "backfill_done_secs": backfill_done.map(|done| round(done.as_secs_f64())),
        "max_points_per_minute": limits.max_points_per_minute,
        "max_points_per_minute_of": "the token or installation tokens (not the App's JWT)",
        "points_per_minute_by_credential": limits.points_per_minute,
        "ceiling_points_per_minute": CEILING_POINTS_PER_MINUTE,
        "secondary_rate_limited": limits.secondary_rate_limited,
        "primary_rate_limited": limits.primary_rate_limited,
        "dark_secs": dark_secs,
        "dark_secs_by_credential": fresh_waits.dark,
        "answered_per_10s": dark.timeline,
        "token_refreshes": stats.installation_tokens_issued_total.saturating_sub(installations as u64),
        "installation_tokens_issued": stats.installation_tokens_issued_total,
        "lost": lost_runs + lost_jobs,
        "lost_runs": lost_runs,
        "lost_jobs": lost_jobs,
        "complete": lost_runs + lost_jobs == 0,
        "drain_secs": round(drained.as_secs_f64()),
        "watched_secs": round(watched.as_secs_f64()),
        "cpu_secs": round(usage.cpu_secs),
        "peak_rss_mib": round(usage.peak_rss_mib),
        "requests": stats.requests_total,
        "requests_by_credential": limits.requests,
        "requests_by_status": stats.by_status,
        "unauthorized": stats.unauthorized_total,
        "request_log_dropped": stats.request_log_dropped_total,
    });
    let mut figures = figures;
    figures["dark_secs_is"] = json!("the longest stretch in which fresh work waited and the credential's scheduler let nothing through (gha_ingest_github_budget_longest_dark_seconds)");
    figures["fresh_wait_max_secs"] = json!(most(&fresh_waits.longest));
    figures["fresh_wait_max_secs_by_credential"] = json!(fresh_waits.longest);
    figures["longest_silence_secs_is"] = json!("the longest stretch without an answered request, seen from the simulator: at most a poll interval when all is well");
    figures["requests_by_route"] = json!(stats.by_route);
    figures["longest_silence_secs"] = json!(round(dark.all));
    figures["longest_silence_secs_by_credential"] = json!(dark.by_credential);
    figures["silences_over_10s"] = json!(dark.stretches);
    eprintln!(
        "    fresh p50 {:?} s / p95 {:?} s during the backfill ({} events), p95 {:?} s overall; backfill {:?} s; max {} points/min; {} secondary, {} primary limits; dark {} s (longest silence {:.1} s); {} token refreshes; lost {}",
        figures["fresh_event_p50_secs"],
        figures["fresh_event_p95_secs"],
        figures["fresh_events"],
        figures["fresh_event_p95_secs_whole_run"],
        figures["backfill_done_secs"],
        limits.max_points_per_minute,
        limits.secondary_rate_limited,
        limits.primary_rate_limited,
        figures["dark_secs"],
        dark.all,
        figures["token_refreshes"],
        figures["lost"],
    );
    Ok(figures)
}

/// One new run every `NEW_RUN_EVERY` in each busy repository, the repositories taking turns at
/// even intervals (see `live_run`).
pub(crate) async fn keep_busy(handle: SimHandle, busy: Vec<String>) {
    let stagger = NEW_RUN_EVERY / busy.len().max(1) as u32;
    let mut created = 0u64;
    loop {
        for repo in &busy {
            tokio::time::sleep(stagger).await;
            handle.create_run(repo, live_run(created));
            created += 1;
        }
    }
}

/// A loopback address with a port free now, for the daemon's HTTP server.
pub(crate) fn free_loopback_address() -> anyhow::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// What the daemon's schedulers say of fresh work, by credential, from its `/metrics`.
#[derive(Debug, Default)]
struct FreshWaits {
    /// `gha_ingest_github_budget_longest_dark_seconds`.
    dark: BTreeMap<String, f64>,
    /// `gha_ingest_github_budget_longest_wait_seconds{class="fresh"}`.
    longest: BTreeMap<String, f64>,
}

async fn fresh_waits(http: &std::net::SocketAddr) -> anyhow::Result<FreshWaits> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(http).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let mut waits = FreshWaits::default();
    for line in answer.lines() {
        let Some((name_and_labels, value)) = line.split_once("} ") else {
            continue;
        };
        let Some((name, labels)) = name_and_labels.split_once('{') else {
            continue;
        };
        let figures = match name {
            "gha_ingest_github_budget_longest_dark_seconds" => &mut waits.dark,
            "gha_ingest_github_budget_longest_wait_seconds"
                if labels.contains("class=\"fresh\"") =>
            {
                &mut waits.longest
            }
            _ => continue,
        };
        let credential = labels
            .split(',')
            .find_map(|label| label.strip_prefix("credential=\""))
            .map(|rest| rest.trim_end_matches('"').to_owned())
            .unwrap_or_default();
        figures.insert(credential, value.trim().parse()?);
    }
    anyhow::ensure!(
        !waits.dark.is_empty(),
        "the daemon's /metrics has no longest dark stretch"
    );
    Ok(waits)
}

/// The `created`-th live run: 1 to 3 jobs, queued 5 s, running 20 to 50 s.
fn live_run(created: u64) -> RunSpec {
    RunSpec {
        jobs: 1 + (created % 3) as usize,
        queue_secs: 5,
        run_secs: 20 + (created % 4) * 10,
        ..RunSpec::default()
    }
}

fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// What the consumer keeps of the metrics queue: ids and lags, never bodies.
#[derive(Debug)]
pub(crate) struct Seen {
    /// Run id → the latest attempt whose `workflow_run_completed` arrived.
    runs: HashMap<u64, u32>,
    /// Jobs whose `workflow_job_completed` arrived.
    pub(crate) jobs: HashSet<u64>,
    fresh_during_backfill: Vec<f64>,
    pub(crate) fresh_whole_run: Vec<f64>,
    /// GitHub's clock minus the wall clock.
    sim_ahead: TimeDelta,
}

impl Seen {
    pub(crate) fn new(sim_ahead: TimeDelta) -> Seen {
        Seen {
            runs: HashMap::new(),
            jobs: HashSet::new(),
            fresh_during_backfill: Vec::new(),
            fresh_whole_run: Vec::new(),
            sim_ahead,
        }
    }

    pub(crate) fn note(&mut self, arrival: &Arrival, backfilling: bool) {
        let data = arrival.data();
        match arrival.event_type() {
            "workflow_run_completed" => {
                if let (Some(run_id), Some(attempt)) =
                    (data["run_id"].as_u64(), data["run_attempt"].as_u64())
                {
                    let latest = self.runs.entry(run_id).or_default();
                    *latest = (*latest).max(u32::try_from(attempt).unwrap_or(u32::MAX));
                }
            }
            "workflow_job_completed" => {
                if let Some(job_id) = data["job_id"].as_u64() {
                    self.jobs.insert(job_id);
                }
            }
            _ => {}
        }
        if let Some(changed) = changed_at(arrival) {
            let lag = seconds_between(changed, arrival.at + self.sim_ahead);
            self.fresh_whole_run.push(lag);
            if backfilling {
                self.fresh_during_backfill.push(lag);
            }
        }
    }
}

/// Facts the simulator holds: every run (at its latest attempt) and every job of that attempt.
#[derive(Debug)]
pub(crate) struct Expected {
    pub(crate) runs: Vec<(u64, u32)>,
    pub(crate) jobs: Vec<u64>,
}

impl Expected {
    pub(crate) fn of(handle: &SimHandle, repos: &[String]) -> Expected {
        let mut expected = Expected {
            runs: Vec::new(),
            jobs: Vec::new(),
        };
        for repo in repos {
            for run_id in handle.list_run_ids(repo) {
                let attempt = handle.run_json(repo, run_id)["run_attempt"]
                    .as_u64()
                    .and_then(|attempt| u32::try_from(attempt).ok())
                    .unwrap_or(1);
                expected.runs.push((run_id, attempt));
                expected.jobs.extend(handle.job_ids(run_id, attempt));
            }
        }
        expected
    }

    pub(crate) fn missing_runs(&self, seen: &Seen) -> usize {
        self.runs
            .iter()
            .filter(|(run_id, attempt)| seen.runs.get(run_id).is_none_or(|got| got < attempt))
            .count()
    }

    pub(crate) fn missing_jobs(&self, seen: &Seen) -> usize {
        self.jobs
            .iter()
            .filter(|job_id| !seen.jobs.contains(job_id))
            .count()
    }
}

/// When each credential's requests were answered (status under 400), in milliseconds since the
/// simulator started. The App's JWT is left out: it mints tokens, it reads no repository.
#[derive(Debug, Default)]
struct Answered {
    at_ms: BTreeMap<String, Vec<u64>>,
}

/// The longest stretch without an answered request, over all credentials and per credential;
/// how many stretches lasted `DARK_STRETCH` or more; answers per `TIMELINE_STEP`, to see when.
#[derive(Debug)]
struct Dark {
    all: f64,
    by_credential: BTreeMap<String, f64>,
    stretches: usize,
    timeline: Vec<usize>,
}

const DARK_STRETCH: Duration = Duration::from_secs(10);
const TIMELINE_STEP: Duration = Duration::from_secs(10);

impl Answered {
    fn note(&mut self, entries: Vec<RequestLogEntry>) {
        for entry in entries {
            if entry.status < 400 && !entry.credential.starts_with("app:") {
                self.at_ms
                    .entry(entry.credential)
                    .or_default()
                    .push(entry.at_ms_since_start);
            }
        }
    }

    /// Gaps within `[from_ms, to_ms]`: between consecutive answers, and from the last one to
    /// `to_ms` (a daemon that went quiet for good is dark too). The start of the daemon, before
    /// its first answer, is not a gap.
    fn darkness(&self, from_ms: u64, to_ms: u64) -> Dark {
        let gaps = |times: &[u64]| -> Vec<u64> {
            let mut times: Vec<u64> = times
                .iter()
                .copied()
                .filter(|at| (from_ms..=to_ms).contains(at))
                .collect();
            times.sort_unstable();
            match times.last() {
                None => vec![to_ms - from_ms],
                Some(last) => times
                    .windows(2)
                    .map(|pair| pair[1] - pair[0])
                    .chain([to_ms - last])
                    .collect(),
            }
        };
        let longest = |gaps: &[u64]| round(gaps.iter().copied().max().unwrap_or(0) as f64 / 1000.0);
        let all: Vec<u64> = self.at_ms.values().flatten().copied().collect();
        let all_gaps = gaps(&all);
        let step = millis(TIMELINE_STEP);
        let mut timeline = vec![0; usize::try_from((to_ms - from_ms).div_ceil(step)).unwrap_or(0)];
        for at in all.iter().filter(|at| (from_ms..to_ms).contains(at)) {
            timeline[usize::try_from((at - from_ms) / step).unwrap_or(0)] += 1;
        }
        Dark {
            all: longest(&all_gaps),
            by_credential: self
                .at_ms
                .iter()
                .map(|(credential, times)| (credential.clone(), longest(&gaps(times))))
                .collect(),
            stretches: all_gaps
                .iter()
                .filter(|gap| **gap >= millis(DARK_STRETCH))
                .count(),
            timeline,
        }
    }
}

/// What the simulator counted against the limits, per credential.
#[derive(Debug)]
struct Limits {
    /// The most points the token or an installation spent in a sliding minute.
    max_points_per_minute: u32,
    points_per_minute: BTreeMap<String, u32>,
    secondary_rate_limited: u64,
    primary_rate_limited: u64,
    requests: BTreeMap<String, u64>,
}

impl Limits {
    fn of(stats: &SimStats) -> Limits {
        let credentials = &stats.credentials;
        Limits {
            max_points_per_minute: credentials
                .iter()
                .filter(|(credential, _)| !credential.starts_with("app:"))
                .map(|(_, counted)| counted.max_points_per_minute)
                .max()
                .unwrap_or(0),
            points_per_minute: credentials
                .iter()
                .map(|(credential, counted)| (credential.clone(), counted.max_points_per_minute))
                .collect(),
            secondary_rate_limited: credentials
                .values()
                .map(|counted| counted.secondary_rate_limited)
                .sum(),
            primary_rate_limited: credentials
                .values()
                .map(|counted| counted.primary_rate_limited)
                .sum(),
            requests: credentials
                .iter()
                .map(|(credential, counted)| (credential.clone(), counted.requests))
                .collect(),
        }
    }
}
