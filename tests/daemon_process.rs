//! The `gha-ingest` binary as ops run it: a child process configured by environment variables,
//! killed with SIGKILL at awkward moments, stopped with SIGTERM, and given bad configuration.

use std::collections::{BTreeMap, HashSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gha_ingest_core::RepoName;
use gha_ingest_queue::testing::{free_loopback_port, unique_queue_name, MotoServer};
use gha_ingest_queue::{MessageLimits, MessageQueue};
use gha_ingest_store::{Destination, StateStore};
use gha_ingest_tests::process::{base_command, stop_gracefully, wait_until, DaemonChild};
use gha_ingest_tests::*;

/// The daemon binary configured for the simulator at `sim_url`, with its files and its output
/// (appended to `log`) where the test says; each test adds its queue settings.
fn daemon_command(sim_url: &str, state: &std::path::Path, log: &std::path::Path) -> Command {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut command = base_command();
    command
        .arg("run")
        .env("GITHUB_API_URL", sim_url)
        .env("GITHUB_TOKEN", TEST_TOKEN)
        .env("GHA_INGEST__PIPELINE__REPOSITORIES", REPO)
        .env("GHA_INGEST__PIPELINE__POLL_INTERVAL_SECS", "1")
        // Every poll each second: the generated history is hours old, and at the default slow
        // cadence a restarted daemon would wait minutes before polling the dormant repository.
        .env("GHA_INGEST__PIPELINE__QUIET_POLL_MAX_SECS", "1")
        .env("GHA_INGEST__HTTP__LISTEN", "127.0.0.1:0")
        .env("GHA_INGEST__STORE__PATH", state)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    command
}

/// The daemon publishing metrics to an SQS queue on moto (no log agent).
fn spawn_daemon(
    sim_url: &str,
    state: &std::path::Path,
    queue_url: &str,
    moto: &MotoServer,
) -> DaemonChild {
    let mut command = daemon_command(sim_url, state, &state.with_extension("log"));
    command
        .env("GHA_INGEST__GITHUB__RETRY_BASE_DELAY_MILLIS", "20")
        .env("GHA_INGEST__QUEUE__BACKEND", "sqs")
        .env("GHA_INGEST__QUEUE__METRICS_QUEUE", queue_url)
        .env("GHA_INGEST__QUEUE__SQS__ENDPOINT_URL", moto.endpoint_url())
        .env("GHA_INGEST__LOGS__ENABLED", "false");
    for (key, value) in moto.env_vars() {
        command.env(key, value);
    }
    DaemonChild::spawn(&mut command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_polling_and_publishing_loses_nothing() {
    let sim = start_realtime_sim().await;
    let handle = sim.handle();
    handle.add_repo("acme", "webapp");
    handle.generate_history(REPO, 40, Duration::from_secs(86_400));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let moto = MotoServer::shared();
    let name = unique_queue_name("kill9");
    // The queue does not exist yet: the daemon polls, records its events, and cannot publish.
    let queue_url = format!("{}/123456789012/{name}", moto.endpoint_url());
    let repo: RepoName = REPO.parse().unwrap();

    let mut daemon = spawn_daemon(&sim.api_url(), &state, &queue_url, &moto);
    let store = StateStore::open(&state).await.unwrap();
    wait_until(
        "the first poll recorded events",
        &state.with_extension("log"),
        Duration::from_secs(60),
        || async {
            store.count_runs(&repo).await.unwrap_or(0) == 40
                && store.outbox_depth(Destination::Metrics).await.unwrap_or(0) > 0
        },
    )
    .await;
    daemon.kill().unwrap(); // SIGKILL: no chance to clean up
    daemon.wait().unwrap();
    let stranded = store.outbox_depth(Destination::Metrics).await.unwrap();
    assert!(
        stranded > 40,
        "events should be waiting in the outbox, found {stranded}"
    );

    // The queue comes back; more runs arrive; the daemon is killed again in the middle of work.
    assert_eq!(moto.create_queue(&name, None).await, queue_url);
    handle.generate_history(REPO, 60, Duration::from_secs(600));
    let mut daemon = spawn_daemon(&sim.api_url(), &state, &queue_url, &moto);
    tokio::time::sleep(Duration::from_millis(700)).await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    let mut daemon = spawn_daemon(&sim.api_url(), &state, &queue_url, &moto);
    wait_until(
        "everything is ingested and published",
        &state.with_extension("log"),
        Duration::from_secs(120),
        || async {
            store.count_runs(&repo).await.unwrap_or(0) == 100
                && store.outbox_depth(Destination::Metrics).await.unwrap_or(1) == 0
        },
    )
    .await;
    stop_gracefully(&mut daemon);

    let queue = moto.connect(&name, MessageLimits::default()).await;
    let messages = drain(&queue).await;
    let mut bodies_by_id: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for message in &messages {
        bodies_by_id
            .entry(message.event_id().to_string())
            .or_default()
            .insert(message.body["data"].to_string());
    }
    // Duplicates are allowed after a crash, but only as the same fact under the same id.
    let conflicting: Vec<&String> = bodies_by_id
        .iter()
        .filter(|(_, bodies)| bodies.len() > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(
        conflicting.is_empty(),
        "same event id, different facts: {conflicting:?}"
    );
    let completed = completed_run_ids(&messages);
    let all_runs: HashSet<u64> = handle.list_run_ids(REPO).into_iter().collect();
    assert_eq!(completed, all_runs, "some runs were lost");
    store.close().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_starts_while_sqs_is_unreachable_and_publishes_once_it_answers() {
    let sim = start_realtime_sim().await;
    let handle = sim.handle();
    handle.add_repo("acme", "webapp");
    handle.generate_history(REPO, 20, Duration::from_secs(86_400));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let log = state.with_extension("log");
    let repo: RepoName = REPO.parse().unwrap();
    // Nothing listens here yet: connection refused, as when the network or a VPC endpoint is
    // still coming up. The queue is given by name, so even its URL cannot be resolved.
    let port = free_loopback_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let name = unique_queue_name("late");
    let mut command = daemon_command(&sim.api_url(), &state, &log);
    command
        .env("GHA_INGEST__QUEUE__BACKEND", "sqs")
        .env("GHA_INGEST__QUEUE__METRICS_QUEUE", &name)
        .env("GHA_INGEST__QUEUE__SQS__ENDPOINT_URL", &endpoint)
        .env("GHA_INGEST__LOGS__ENABLED", "false")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("NO_PROXY", "127.0.0.1,localhost");
    let mut daemon = DaemonChild::spawn(&mut command);
    let store = StateStore::open(&state).await.unwrap();
    wait_until(
        "the daemon collected into its outbox while SQS is down",
        &log,
        Duration::from_secs(60),
        || async {
            store.count_runs(&repo).await.unwrap_or(0) == 20
                && store.outbox_depth(Destination::Metrics).await.unwrap_or(0) > 20
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon exited while SQS was unreachable:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let moto = MotoServer::start_on(port).expect("moto starts on the port the daemon waits for");
    moto.create_queue(&name, None).await;
    wait_until(
        "the outbox is published once SQS answers",
        &log,
        Duration::from_secs(120),
        || async { store.outbox_depth(Destination::Metrics).await.unwrap_or(1) == 0 },
    )
    .await;
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon never exits"
    );
    stop_gracefully(&mut daemon);

    let queue = moto.connect(&name, MessageLimits::default()).await;
    let messages = drain(&queue).await;
    let all_runs: HashSet<u64> = handle.list_run_ids(REPO).into_iter().collect();
    assert_eq!(completed_run_ids(&messages), all_runs);
    store.close().await;
    sim.shutdown().await;
}

#[test]
fn a_bad_configuration_is_one_clear_line_and_exit_code_2() {
    let output = base_command()
        .args(["run"])
        .env("GITHUB_TOKEN", "x")
        .env("GHA_INGEST__PIPELINE__POLL_INTERVAL_SECS", "0")
        .env("GHA_INGEST__PIPELINE__REPOSITORIES", "not a repo")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("pipeline.poll_interval_secs"), "{stderr}");
    assert!(stderr.contains("pipeline.repositories"), "{stderr}");
}

#[test]
fn a_missing_token_for_real_github_is_an_error_not_anonymous_mode() {
    let output = base_command().args(["run"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("github.token") && stderr.contains("GITHUB_TOKEN"),
        "{stderr}"
    );
}

#[test]
fn check_config_prints_the_effective_configuration_without_the_token() {
    let secret = "ghp_supersecretvalue123";
    let output = base_command()
        .args(["check-config"])
        .env("GITHUB_TOKEN", secret)
        .env(
            "GHA_INGEST__PIPELINE__REPOSITORIES",
            "https://github.com/acme/webapp",
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("acme/webapp"), "{stdout}");
    assert!(!stdout.contains(secret), "the token leaked: {stdout}");
}

/// Peak resident memory of a process so far, from the kernel (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Both agents on the embedded queue in `dir`, state and output (`daemon.log`) there too.
fn embedded_daemon_command(sim_url: &str, dir: &std::path::Path) -> Command {
    let mut command = daemon_command(sim_url, &dir.join("state.sqlite"), &dir.join("daemon.log"));
    command.env(
        "GHA_INGEST__QUEUE__EMBEDDED__PATH",
        dir.join("queue.sqlite"),
    );
    command
}

/// Both agents on the embedded queue in `dir`, with short log-request timeouts.
fn spawn_embedded_daemon(sim_url: &str, dir: &std::path::Path) -> DaemonChild {
    DaemonChild::spawn(
        embedded_daemon_command(sim_url, dir)
            .env("GHA_INGEST__LOGS__REQUEST_VISIBILITY_TIMEOUT_SECS", "4")
            .env("GHA_INGEST__LOGS__RETRY_DELAY_SECS", "1"),
    )
}

fn largest_spool_file(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir.join("log-spool"))
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.metadata().ok())
                .map(|meta| meta.len())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_log_download_killed_midway_completes_after_restart_in_bounded_memory() {
    use base64::Engine;
    const LOG_BYTES: u64 = 200 * 1024 * 1024;
    let sim = start_realtime_sim().await;
    let handle = sim.handle();
    handle.add_repo("acme", "webapp");
    let run_id = handle.generate_history(REPO, 1, Duration::from_secs(600))[0];
    let job_id = handle.job_ids(run_id, 1)[0];
    for other in handle.job_ids(run_id, 1).into_iter().skip(1) {
        handle.set_job_log(other, gha_ingest_sim::LogSpec::Bytes(b"small\n".to_vec()));
    }
    handle.set_job_log(
        job_id,
        gha_ingest_sim::LogSpec::Generated {
            bytes: LOG_BYTES,
            line_len: 200,
        },
    );
    let (expected_length, expected_digest) = handle.job_log_digest(job_id).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("daemon.log");

    let mut daemon = spawn_embedded_daemon(&sim.api_url(), dir.path());
    wait_until(
        "the download is under way",
        &log_file,
        Duration::from_secs(120),
        || async { largest_spool_file(dir.path()) > 20 * 1024 * 1024 },
    )
    .await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    let mut daemon = spawn_embedded_daemon(&sim.api_url(), dir.path());
    let logs = gha_ingest_queue::EmbeddedQueue::open(
        &dir.path().join("queue.sqlite"),
        "gha-ingest-logs",
        Default::default(),
    )
    .await
    .unwrap();
    let mut parts: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut part_count = u64::MAX;
    let mut peak_kib = 0;
    let deadline = Instant::now() + Duration::from_secs(400);
    while (parts.len() as u64) < part_count {
        peak_kib = peak_kib.max(peak_rss_kib(daemon.id()).unwrap_or(0));
        if Instant::now() > deadline {
            panic!(
                "the log did not arrive: {} of {part_count} parts\n{}",
                parts.len(),
                std::fs::read_to_string(&log_file).unwrap_or_default()
            );
        }
        for message in logs
            .receive(10, Duration::from_millis(200), Duration::from_secs(60))
            .await
            .unwrap()
        {
            let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
            let data = &body["data"];
            if data["job_id"] == job_id {
                part_count = data["part_count"].as_u64().unwrap();
                let content = data["log_content"].as_str().unwrap();
                let bytes = match data["content_encoding"].as_str().unwrap() {
                    "base64" => base64::engine::general_purpose::STANDARD
                        .decode(content)
                        .unwrap(),
                    _ => content.as_bytes().to_vec(),
                };
                parts.insert(data["part_index"].as_u64().unwrap(), bytes);
            }
            logs.delete(&message.receipt).await.unwrap();
        }
    }
    peak_kib = peak_kib.max(peak_rss_kib(daemon.id()).unwrap_or(0));
    stop_gracefully(&mut daemon);

    let log: Vec<u8> = parts.into_values().flatten().collect();
    assert_eq!(
        (log.len() as u64, sha256_hex(&log)),
        (expected_length, expected_digest)
    );
    println!(
        "peak RSS of the daemon while moving a {} MiB log: {:.1} MiB",
        LOG_BYTES >> 20,
        peak_kib as f64 / 1024.0
    );
    assert!(
        peak_kib < 64 * 1024,
        "peak RSS {peak_kib} KiB is over 64 MiB"
    );
    sim.shutdown().await;
}

#[test]
fn check_config_refuses_reads_open_on_a_reachable_address_unless_forced() {
    let reachable = || {
        let mut command = base_command();
        command
            .args(["check-config"])
            .env("GITHUB_TOKEN", "x")
            .env("GHA_INGEST__HTTP__LISTEN", "0.0.0.0:8080");
        command
    };
    let refused = reachable().output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("reads would be open to anyone on 0.0.0.0:8080")
            && stderr.contains("GHA_INGEST_READ_TOKEN")
            && stderr.contains("http.allow_open_reads"),
        "{stderr}"
    );

    let forced = reachable()
        .env("GHA_INGEST__HTTP__ALLOW_OPEN_READS", "true")
        .output()
        .unwrap();
    assert_eq!(forced.status.code(), Some(0), "{forced:?}");
    let with_token = reachable()
        .env("GHA_INGEST_READ_TOKEN", "a-read-token-of-24-chars-or-more")
        .output()
        .unwrap();
    assert_eq!(with_token.status.code(), Some(0), "{with_token:?}");
    let stdout = String::from_utf8(with_token.stdout).unwrap();
    assert!(
        !stdout.contains("a-read-token-of-24-chars-or-more"),
        "{stdout}"
    );
}

/// The metric names a file of `deploy/` uses: every `gha_ingest_…` word outside YAML comments
/// (a word ending in `_` is a prefix mentioned in prose, not a name).
fn metric_names_used_in(relative_path: &str) -> BTreeMap<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative_path);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut names = BTreeMap::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("gha_ingest_") {
            let word: String = rest[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[start + word.len()..];
            if !word.ends_with('_') {
                names.insert(word, relative_path.to_owned());
            }
        }
    }
    names
}

/// The series names a `/metrics` answer can hold: every declared family, with a histogram's
/// `_bucket`, `_sum` and `_count` (a family with no sample yet is declared all the same).
fn served_series(exposition: &str) -> HashSet<String> {
    let mut served = HashSet::new();
    for line in exposition.lines() {
        if let Some(declaration) = line.strip_prefix("# TYPE ") {
            let (name, kind) = declaration.split_once(' ').unwrap();
            served.insert(name.to_owned());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    served.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_the_alerts_use_is_served() {
    let sim = start_realtime_sim().await;
    let handle = sim.handle();
    handle.add_repo("acme", "webapp");
    handle.generate_history(REPO, 2, Duration::from_secs(600));
    let dir = tempfile::tempdir().unwrap();
    let port = free_loopback_port();
    let mut daemon = DaemonChild::spawn(
        embedded_daemon_command(&sim.api_url(), dir.path())
            .env("GHA_INGEST__HTTP__LISTEN", format!("127.0.0.1:{port}")),
    );
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let scrape = || async {
        match reqwest::get(&metrics_url).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    };
    // Both agents have done real work: an event published and a log published.
    wait_until(
        "a log is published",
        &dir.path().join("daemon.log"),
        Duration::from_secs(60),
        || async {
            scrape().await.lines().any(|line| {
                line.starts_with("gha_ingest_logs_published_total ") && !line.ends_with(" 0")
            })
        },
    )
    .await;
    let served = served_series(&scrape().await);
    let mut used = metric_names_used_in("deploy/grafana/gha-ingest.json");
    used.extend(metric_names_used_in("deploy/prometheus/alerts.yml"));
    assert!(
        used.len() >= 10,
        "the dashboard and alerts name only {} metrics: {used:?}",
        used.len()
    );
    let missing: Vec<String> = used
        .iter()
        .filter(|(name, _)| !served.contains(*name))
        .map(|(name, file)| format!("{name} (in {file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics used by deploy/ but not served by /metrics: {missing:#?}"
    );
    stop_gracefully(&mut daemon);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_within_the_shutdown_grace_even_with_a_log_download_in_flight() {
    const GRACE_SECS: u64 = 3;
    let sim = start_realtime_sim().await;
    let handle = sim.handle();
    handle.add_repo("acme", "webapp");
    handle.generate_history(REPO, 1, Duration::from_secs(600));
    // GitHub takes a minute to answer the log requests: downloads are in flight at SIGTERM.
    handle.inject_fault(gha_ingest_sim::Fault {
        route_contains: Some("/logs".to_owned()),
        kind: gha_ingest_sim::FaultKind::Delay(Duration::from_secs(60)),
        times: 100,
    });
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("daemon.log");
    let mut daemon = DaemonChild::spawn(embedded_daemon_command(&sim.api_url(), dir.path()).env(
        "GHA_INGEST__DAEMON__SHUTDOWN_GRACE_SECS",
        GRACE_SECS.to_string(),
    ));
    wait_until(
        "log downloads are under way",
        &log_file,
        Duration::from_secs(60),
        || async { handle.stats().faults_fired_total > 0 },
    )
    .await;
    let asked = Instant::now();
    stop_gracefully(&mut daemon);
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(GRACE_SECS + 2),
        "SIGTERM took {took:?} with a {GRACE_SECS} s grace"
    );
    let output = std::fs::read_to_string(&log_file).unwrap();
    assert!(
        output.contains("their requests will be retried"),
        "the unfinished downloads were left for later, not waited for:\n{output}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_takes_the_simulators_webhook_deliveries_and_queues_their_events() {
    gha_ingest_github::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = free_loopback_port();
    let log = dir.path().join("demo.log");
    let output = std::fs::File::create(&log).unwrap();
    let mut demo = DaemonChild::spawn(
        base_command()
            .arg("demo")
            .arg("--data-dir")
            .arg(dir.path())
            .env("GHA_INGEST__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::from(output.try_clone().unwrap()))
            .stderr(Stdio::from(output)),
    );
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let ingested = |exposition: &str| {
        exposition.lines().any(|line| {
            line.starts_with("gha_ingest_pipeline_webhook_deliveries_total{")
                && line.contains(r#"outcome="ingested""#)
                && !line.ends_with(" 0")
        })
    };
    // The demo's activity starts runs at once; their first job changes within seconds.
    wait_until(
        "the demo ingests a webhook delivery",
        &log,
        Duration::from_secs(90),
        || async {
            match reqwest::get(&metrics_url).await {
                Ok(response) => ingested(&response.text().await.unwrap_or_default()),
                Err(_) => false,
            }
        },
    )
    .await;
    let metrics = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused = metrics
        .lines()
        .filter(|line| line.contains(r#"outcome="refused""#) && !line.ends_with(" 0"));
    assert_eq!(refused.count(), 0, "deliveries were refused:\n{metrics}");
    stop_gracefully(&mut demo);
    let queue = embedded_queue(dir.path(), "gha-ingest-metrics").await;
    let messages = drain(queue.as_ref()).await;
    assert!(
        messages
            .iter()
            .any(|message| message.body["source"] == "webhook"),
        "no event from a webhook among {} on the demo's queue",
        messages.len()
    );
}
