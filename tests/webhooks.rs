//! GitHub's webhooks as they reach a running daemon: signed deliveries POSTed over HTTP to the
//! binary, events read back from SQS on moto, polling of the simulator beside them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use gha_ingest_core::RepoName;
use gha_ingest_queue::testing::{free_loopback_port, unique_queue_name, MotoServer};
use gha_ingest_queue::MessageLimits;
use gha_ingest_sim::{AppKeyPair, RunSpec, WebhookFaults};
use gha_ingest_store::StateStore;
use gha_ingest_tests::process::{base_command, stop_gracefully, wait_until, DaemonChild};
use gha_ingest_tests::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &str = "webhook-secret-0123456789";
const PREVIOUS_SECRET: &str = "webhook-secret-previous-987";
/// Long enough that the deliveries of a test land between two polls of its repository.
const POLL_INTERVAL_SECS: u64 = 15;

/// Sends deliveries as GitHub does: JSON, `X-GitHub-Event`, `X-GitHub-Delivery`, and
/// `X-Hub-Signature-256` over the exact bytes sent.
struct Sender {
    url: String,
    http: reqwest::Client,
}

impl Sender {
    async fn deliver(&self, event: &str, id: &str, payload: &Value) -> (u16, Value) {
        self.deliver_signed(event, id, payload, Some(SECRET)).await
    }

    async fn deliver_signed(
        &self,
        event: &str,
        id: &str,
        payload: &Value,
        secret: Option<&str>,
    ) -> (u16, Value) {
        let body = serde_json::to_vec(payload).unwrap();
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/test")
            .header("x-github-event", event)
            .header("x-github-delivery", id);
        if let Some(secret) = secret {
            request = request.header("x-hub-signature-256", signature(secret, &body));
        }
        let response = request.body(body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The payload URL of the receiver of the daemon at `port`.
fn hook_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/webhooks/github")
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn run_payload(action: &str, run: Value) -> Value {
    json!({"action": action, "workflow_run": run, "repository": {"full_name": REPO},
           "sender": {"login": "octocat"}})
}

fn job_payload(action: &str, job: Value) -> Value {
    json!({"action": action, "workflow_job": job, "repository": {"full_name": REPO},
           "sender": {"login": "octocat"}})
}

/// The daemon with webhooks on at `port`, polling the simulator every `poll_interval_secs`,
/// publishing to `queue_url` on moto, with `env` (the credential, and any other setting).
fn spawn_daemon(
    sim_url: &str,
    dir: &Path,
    port: u16,
    queue_url: &str,
    poll_interval_secs: u64,
    env: &[(&str, &str)],
) -> DaemonChild {
    // Appended to: a restarted daemon's output follows the first one's.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("daemon.log"))
        .unwrap();
    let moto = MotoServer::shared();
    let mut command: Command = base_command();
    command
        .arg("run")
        .env("GITHUB_API_URL", sim_url)
        .env(
            "GHA_INGEST__PIPELINE__POLL_INTERVAL_SECS",
            poll_interval_secs.to_string(),
        )
        .env("GHA_INGEST__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("GHA_INGEST__STORE__PATH", dir.join("state.sqlite"))
        .env("GHA_INGEST__QUEUE__BACKEND", "sqs")
        .env("GHA_INGEST__QUEUE__METRICS_QUEUE", queue_url)
        .env("GHA_INGEST__QUEUE__SQS__ENDPOINT_URL", moto.endpoint_url())
        .env("GHA_INGEST__LOGS__ENABLED", "false")
        .env("GHA_INGEST__WEBHOOKS__ENABLED", "true")
        .env("GHA_INGEST_WEBHOOK_SECRET", SECRET)
        .env("GHA_INGEST_WEBHOOK_PREVIOUS_SECRET", PREVIOUS_SECRET)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    for (key, value) in moto.env_vars() {
        command.env(key, value);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    DaemonChild::spawn(&mut command)
}

/// A token and the one repository, for tests that need no App.
fn token_credential() -> [(&'static str, &'static str); 2] {
    [
        ("GITHUB_TOKEN", TEST_TOKEN),
        ("GHA_INGEST__PIPELINE__REPOSITORIES", REPO),
    ]
}

/// The daemon's state in `dir`, once its first poll of [`REPO`] is recorded: from then on the
/// repository is followed and a poll is an interval away.
async fn after_the_first_poll(dir: &Path) -> StateStore {
    let store = StateStore::open(&dir.join("state.sqlite")).await.unwrap();
    let repo: RepoName = REPO.parse().unwrap();
    wait_until(
        "the first poll",
        &dir.join("daemon.log"),
        Duration::from_secs(60),
        || async {
            store
                .cursor(&repo)
                .await
                .is_ok_and(|cursor| cursor.last_poll_ok_at.is_some())
        },
    )
    .await;
    store
}

/// The simulator on the wall clock with [`REPO`], and the daemon beside it authenticated by a
/// token, webhooks on, publishing to a queue of its own on moto; ready once its first poll is
/// recorded.
struct TokenWorld {
    sim: gha_ingest_sim::RunningSim,
    /// Held for the test's length: the shared moto server stops with its last holder.
    moto: std::sync::Arc<MotoServer>,
    dir: tempfile::TempDir,
    queue_name: String,
    port: u16,
    daemon: DaemonChild,
    store: StateStore,
}

impl TokenWorld {
    /// The daemon polls every `poll_interval_secs`, with `env` beside the token.
    async fn start(queue_prefix: &str, poll_interval_secs: u64, env: &[(&str, &str)]) -> Self {
        let sim = start_realtime_sim().await;
        sim.handle().add_repo("acme", "webapp");
        let dir = tempfile::tempdir().unwrap();
        let moto = MotoServer::shared();
        let queue_name = unique_queue_name(queue_prefix);
        let queue_url = moto.create_queue(&queue_name, None).await;
        let port = free_loopback_port();
        let mut settings = token_credential().to_vec();
        settings.extend_from_slice(env);
        let api_url = sim.api_url();
        let daemon = spawn_daemon(
            &api_url,
            dir.path(),
            port,
            &queue_url,
            poll_interval_secs,
            &settings,
        );
        let store = after_the_first_poll(dir.path()).await;
        TokenWorld {
            sim,
            moto,
            dir,
            queue_name,
            port,
            daemon,
            store,
        }
    }

    fn log(&self) -> std::path::PathBuf {
        self.dir.path().join("daemon.log")
    }

    async fn queue(&self) -> gha_ingest_queue::SqsQueue {
        self.moto
            .connect(&self.queue_name, MessageLimits::default())
            .await
    }

    async fn stop(mut self) {
        stop_gracefully(&mut self.daemon);
        self.store.close().await;
        self.sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_are_the_facts_polling_derives_and_forged_or_late_ones_change_nothing() {
    // Polling at its own pace although the deliveries make webhooks healthy: the poll that
    // brings the lost job comes one interval after them.
    let world = TokenWorld::start(
        "webhooks",
        POLL_INTERVAL_SECS,
        &[("GHA_INGEST__WEBHOOKS__POLL_SLOWDOWN", "1")],
    )
    .await;
    let handle = world.sim.handle();
    let (port, log, store) = (world.port, world.log(), &world.store);
    let sender = Sender {
        url: hook_url(port),
        http: reqwest::Client::new(),
    };

    // A run starts: GitHub says so at once.
    let run_id = handle.create_run(
        REPO,
        RunSpec {
            jobs: 3,
            queue_secs: 1,
            run_secs: 1,
            ..RunSpec::default()
        },
    );
    let requested = run_payload("requested", handle.run_json(REPO, run_id));
    assert_eq!(
        sender
            .deliver("workflow_run", "d-run-requested", &requested)
            .await,
        (200, json!({"outcome": "ingested"}))
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let jobs: Vec<Value> = handle
        .job_ids(run_id, 1)
        .into_iter()
        .map(|job_id| handle.job_json(job_id))
        .collect();
    assert!(jobs.iter().all(|job| job["status"] == "completed"));
    let completed_job = job_payload("completed", jobs[0].clone());

    // Forged: unsigned, or signed with another secret. Refused, and nothing of it is kept, not
    // even its delivery id.
    for secret in [None, Some("not-the-webhook-secret")] {
        let (status, _) = sender
            .deliver_signed("workflow_job", "d-job-0", &completed_job, secret)
            .await;
        assert_eq!(status, 401, "secret {secret:?}");
    }
    assert_eq!(
        store
            .job_status(jobs[0]["id"].as_u64().unwrap())
            .await
            .unwrap(),
        None,
        "a refused delivery stored its job"
    );

    // Genuine: the first two jobs' completions (the third one's delivery is lost), one signed
    // with the previous secret (a rotation in progress), then the run's completion.
    assert_eq!(
        sender
            .deliver("workflow_job", "d-job-0", &completed_job)
            .await,
        (200, json!({"outcome": "ingested"}))
    );
    let second_job = job_payload("completed", jobs[1].clone());
    assert_eq!(
        sender
            .deliver_signed(
                "workflow_job",
                "d-job-1",
                &second_job,
                Some(PREVIOUS_SECRET)
            )
            .await,
        (200, json!({"outcome": "ingested"}))
    );
    let completed = run_payload("completed", handle.run_json(REPO, run_id));
    assert_eq!(
        sender
            .deliver("workflow_run", "d-run-completed", &completed)
            .await,
        (200, json!({"outcome": "ingested"}))
    );

    // Replayed, late, elsewhere, or of no use: taken, but nothing changes.
    assert_eq!(
        sender
            .deliver("workflow_run", "d-run-completed", &completed)
            .await,
        (200, json!({"outcome": "duplicate"}))
    );
    let mut older = jobs[0].clone();
    older["status"] = json!("in_progress");
    older["conclusion"] = Value::Null;
    older["completed_at"] = Value::Null;
    assert_eq!(
        sender
            .deliver(
                "workflow_job",
                "d-job-0-late",
                &job_payload("in_progress", older)
            )
            .await,
        (200, json!({"outcome": "stale"}))
    );
    assert_eq!(
        store
            .job_status(jobs[0]["id"].as_u64().unwrap())
            .await
            .unwrap()
            .as_deref(),
        Some("completed"),
        "a late delivery moved the job back"
    );
    let mut elsewhere = completed.clone();
    elsewhere["repository"]["full_name"] = json!("someone/else");
    assert_eq!(
        sender
            .deliver("workflow_run", "d-elsewhere", &elsewhere)
            .await,
        (200, json!({"outcome": "not_followed"}))
    );
    assert_eq!(
        sender
            .deliver(
                "ping",
                "d-ping",
                &json!({"zen": "Keep it logically awesome."})
            )
            .await,
        (200, json!({"outcome": "ignored"}))
    );
    assert_eq!(
        sender
            .deliver("workflow_run", "d-bad", &json!({"action": "completed"}))
            .await
            .0,
        400
    );

    // What the deliveries carried is on the queue before any poll, as webhook facts; then the
    // next poll (the deliveries made the repository active) brings the lost job's completion
    // and the commit, which no webhook carries.
    let queue = world.queue().await;
    let mut messages = Vec::new();
    let job_ids: Vec<u64> = jobs.iter().map(|job| job["id"].as_u64().unwrap()).collect();
    let run_completed = format!("run-{run_id}-1-completed");
    let all_there = |messages: &[Received]| {
        let ids: HashSet<&str> = messages.iter().map(Received::event_id).collect();
        job_ids
            .iter()
            .all(|job_id| ids.contains(format!("job-{job_id}-completed").as_str()))
            && ids.contains(run_completed.as_str())
            && messages.iter().any(|m| m.event_type() == "commit_metrics")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !all_there(&messages) {
        assert!(
            std::time::Instant::now() < deadline,
            "not every fact of the run arrived: {:?}; daemon output:\n{}",
            messages.iter().map(Received::event_id).collect::<Vec<_>>(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        messages.extend(drain(&queue).await);
    }

    let by_id: BTreeMap<&str, &Received> = messages
        .iter()
        .map(|message| (message.event_id(), message))
        .collect();
    let source = |id: &str| by_id[id].body["source"].as_str().unwrap().to_string();
    assert_eq!(source(&run_completed), "webhook");
    assert_eq!(source(&format!("job-{}-completed", job_ids[0])), "webhook");
    assert_eq!(source(&format!("job-{}-completed", job_ids[1])), "webhook");
    assert_eq!(
        source(&format!("job-{}-completed", job_ids[2])),
        "poll",
        "the lost delivery's fact came from polling"
    );
    assert!(
        !by_id.contains_key(format!("job-{}-in_progress", job_ids[0]).as_str()),
        "the late delivery produced an event"
    );
    let run_event = &by_id[run_completed.as_str()].body["data"];
    assert_eq!(run_event["conclusion"], "success");
    assert_eq!(
        run_event["jobs"].as_array().unwrap().len(),
        2,
        "the run's completion carries the jobs delivered before it"
    );
    // One fact, one id: a fact seen both ways was published once.
    assert!(
        duplicate_ids(&messages).is_empty(),
        "{:?}",
        duplicate_ids(&messages)
    );
    assert!(
        !messages
            .iter()
            .any(|m| m.body["data"]["repo"] == "someone/else"),
        "a repository not followed got events"
    );

    for (labels, count) in [
        (r#"event="workflow_job",outcome="refused""#, 2),
        (r#"event="workflow_job",outcome="ingested""#, 2),
        (r#"event="workflow_run",outcome="ingested""#, 2),
        (r#"event="workflow_run",outcome="duplicate""#, 1),
        (r#"event="workflow_job",outcome="stale""#, 1),
        (r#"event="workflow_run",outcome="not_followed""#, 1),
        (r#"event="ping",outcome="ignored""#, 1),
        (r#"event="workflow_run",outcome="malformed""#, 1),
    ] {
        let series = format!("gha_ingest_pipeline_webhook_deliveries_total{{{labels}}}");
        assert_eq!(metric(port, &series).await, Some(count.into()), "{series}");
    }
    // The lost job's completion reached the queue through the poll: one missed delivery.
    let missed = r#"gha_ingest_pipeline_webhook_missed_total{event="workflow_job"}"#;
    assert_eq!(metric(port, missed).await, Some(1.0));
    world.stop().await;
}

/// A GitHub App installed on [`REPO`] in a simulator on the wall clock, and what a daemon
/// authenticated as it needs: its files, its queue on moto, the port of its receiver.
struct AppWorld {
    sim: gha_ingest_sim::RunningSim,
    /// Held for the test's length: the shared moto server stops with its last holder.
    moto: std::sync::Arc<MotoServer>,
    key: AppKeyPair,
    dir: tempfile::TempDir,
    queue_name: String,
    queue_url: String,
    port: u16,
}

impl AppWorld {
    const APP_ID: u64 = 4_242;

    async fn start() -> AppWorld {
        let sim = start_realtime_sim().await;
        let handle = sim.handle();
        // GitHub's clock is not the host's: here it runs a day ahead, and a delivery's age is
        // measured on it (the App's answers carry its `Date`).
        handle.advance(Duration::from_secs(86_400));
        handle.add_repo("acme", "webapp");
        let key = AppKeyPair::generate();
        handle.add_app(Self::APP_ID, &key.public_pem);
        handle.add_installation(Self::APP_ID, "acme", &[REPO]);
        let queue_name = unique_queue_name("app-webhooks");
        let moto = MotoServer::shared();
        let queue_url = moto.create_queue(&queue_name, None).await;
        AppWorld {
            sim,
            moto,
            key,
            dir: tempfile::tempdir().unwrap(),
            queue_name,
            queue_url,
            port: free_loopback_port(),
        }
    }

    /// The daemon as the App, asking for failed deliveries every second; polls ten minutes
    /// apart, so whatever arrives within a test came by webhook.
    fn spawn_daemon(&self) -> DaemonChild {
        let app_id = Self::APP_ID.to_string();
        spawn_daemon(
            &self.sim.api_url(),
            self.dir.path(),
            self.port,
            &self.queue_url,
            600,
            &[
                ("GHA_INGEST__GITHUB__APP__ID", app_id.as_str()),
                ("GITHUB_APP_PRIVATE_KEY", self.key.private_pem.as_str()),
                ("GHA_INGEST__WEBHOOKS__REDELIVER_INTERVAL_SECS", "1"),
                ("GHA_INGEST__WEBHOOKS__REDELIVER_AFTER_SECS", "1"),
            ],
        )
    }

    fn log(&self) -> std::path::PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// `count` runs of two jobs each, done in about three seconds; the ids of the completions
    /// they will produce.
    fn create_runs(&self, count: usize) -> HashSet<String> {
        let handle = self.sim.handle();
        let mut expected = HashSet::new();
        for _ in 0..count {
            let run_id = handle.create_run(
                REPO,
                RunSpec {
                    jobs: 2,
                    queue_secs: 1,
                    run_secs: 2,
                    ..RunSpec::default()
                },
            );
            expected.insert(format!("run-{run_id}-1-completed"));
            for job_id in handle.job_ids(run_id, 1) {
                expected.insert(format!("job-{job_id}-completed"));
            }
        }
        expected
    }

    /// Every message of the queue until each of `expected` is among them (90 s at most).
    async fn wait_for_events(&self, expected: &HashSet<String>) -> Vec<Received> {
        let queue = self
            .moto
            .connect(&self.queue_name, MessageLimits::default())
            .await;
        let mut messages = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            messages.extend(drain(&queue).await);
            let ids: HashSet<String> = messages.iter().map(|m| m.event_id().to_string()).collect();
            if expected.is_subset(&ids) {
                return messages;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "missing {:?}; webhook stats {:?}; daemon output:\n{}",
                expected.difference(&ids).collect::<Vec<_>>(),
                self.sim.handle().webhook_stats(),
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
        }
    }

    /// `gha_ingest_pipeline_webhook_redeliveries_total{outcome="asked"}` of the running daemon.
    async fn redeliveries_asked(&self) -> u64 {
        let series = r#"gha_ingest_pipeline_webhook_redeliveries_total{outcome="asked"}"#;
        metric(self.port, series).await.unwrap_or(0.0) as u64
    }
}

/// The value of one series on the `/metrics` of the daemon at `port`, if it is there.
async fn metric(port: u16, series: &str) -> Option<f64> {
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

/// Every message came by webhook, and each fact once.
fn all_by_webhook_and_once(messages: &[Received]) {
    for message in messages {
        assert_eq!(
            message.body["source"],
            "webhook",
            "{} came from a poll",
            message.event_id()
        );
    }
    assert!(
        duplicate_ids(messages).is_empty(),
        "{:?}",
        duplicate_ids(messages)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_failed_deliveries_are_asked_for_again_and_bring_every_fact_before_any_poll() {
    let world = AppWorld::start().await;
    let handle = world.sim.handle();
    let mut daemon = world.spawn_daemon();
    let store = after_the_first_poll(world.dir.path()).await;

    // GitHub loses a third of the deliveries and sends some twice.
    handle.set_webhook(&hook_url(world.port), SECRET);
    handle.set_webhook_faults(WebhookFaults {
        seed: 11,
        drop_ratio: 0.34,
        duplicate_ratio: 0.2,
        ..WebhookFaults::default()
    });
    let expected = world.create_runs(4);
    let messages = world.wait_for_events(&expected).await;
    let stats = handle.webhook_stats();
    assert!(stats.dropped > 0 && stats.duplicated > 0, "{stats:?}");
    assert!(stats.redelivered > 0, "nothing was redelivered: {stats:?}");
    all_by_webhook_and_once(&messages);
    assert!(
        world.redeliveries_asked().await > 0,
        "no redelivery was asked for"
    );
    stop_gracefully(&mut daemon);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_while_deliveries_flow_gets_them_all_back_after_its_restart() {
    let world = AppWorld::start().await;
    let handle = world.sim.handle();
    let mut daemon = world.spawn_daemon();
    let store = after_the_first_poll(world.dir.path()).await;
    handle.set_webhook(&hook_url(world.port), SECRET);

    // SIGKILL in the middle of the runs' deliveries: a delivery being received is never
    // answered, and those sent while the daemon is down find no one. GitHub records them all as
    // failed; the restarted daemon asks for them again.
    let expected = world.create_runs(4);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let failed_while_down = handle.webhook_stats().failed;
    assert!(
        failed_while_down > 0,
        "no delivery failed while the daemon was down: {:?}",
        handle.webhook_stats()
    );
    let mut daemon = world.spawn_daemon();
    // The restart's first poll of the repository (made due by the deliveries taken before the
    // kill) may bring some facts first; redelivery brings the rest. Each fact once either way.
    let messages = world.wait_for_events(&expected).await;
    assert!(
        duplicate_ids(&messages).is_empty(),
        "{:?}",
        duplicate_ids(&messages)
    );
    assert!(handle.webhook_stats().redelivered > 0);
    assert!(world.redeliveries_asked().await > 0);
    stop_gracefully(&mut daemon);
    store.close().await;
}

/// Requests for [`REPO`]'s run lists (the newest runs, queued, in progress: three a poll) made
/// over the next `watch`.
async fn run_list_requests_during(handle: &gha_ingest_sim::SimHandle, watch: Duration) -> usize {
    handle.take_request_log();
    tokio::time::sleep(watch).await;
    handle
        .take_request_log()
        .iter()
        .filter(|entry| entry.route == "GET /repos/{owner}/{repo}/actions/runs")
        .count()
}

/// Waits until the daemon at `port` says webhooks are `healthy` (or not).
async fn until_webhooks_are(healthy: bool, port: u16, log: &Path, timeout: Duration) {
    let what = format!("webhooks healthy is {healthy}");
    let series = "gha_ingest_pipeline_webhooks_healthy";
    let expected = Some(f64::from(u8::from(healthy)));
    wait_until(&what, log, timeout, || async {
        metric(port, series).await == expected
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_slows_down_while_webhooks_bring_every_change_and_not_once_they_stop() {
    // Polled every second on its own; every 20 s while webhooks are healthy.
    let world = TokenWorld::start(
        "slowdown",
        1,
        &[
            ("GHA_INGEST__PIPELINE__QUIET_POLL_MAX_SECS", "1"),
            ("GHA_INGEST__WEBHOOKS__POLL_SLOWDOWN", "20"),
        ],
    )
    .await;
    let handle = world.sim.handle();
    let (port, log) = (world.port, world.log());
    let short_run = RunSpec {
        jobs: 1,
        queue_secs: 1,
        run_secs: 1,
        ..RunSpec::default()
    };

    // No delivery yet proves that webhooks reach the daemon: polling keeps its pace.
    let unproven = run_list_requests_during(&handle, Duration::from_secs(4)).await;
    assert!(unproven >= 6, "{unproven} run-list requests in 4 s");
    until_webhooks_are(false, port, &log, Duration::ZERO).await;

    // Deliveries bring a run's every change: polling slows down to confirming.
    handle.set_webhook(&hook_url(port), SECRET);
    handle.create_run(REPO, short_run.clone());
    until_webhooks_are(true, port, &log, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let slowed = run_list_requests_during(&handle, Duration::from_secs(8)).await;
    assert!(
        slowed <= 6,
        "{slowed} run-list requests in 8 s with healthy webhooks (two polls are six)"
    );
    let interval = "gha_ingest_pipeline_poll_interval_seconds";
    assert_eq!(metric(port, interval).await, Some(20.0));

    // The webhook is removed on GitHub's side: the next run is found by a poll first, and
    // polling is back at its own pace at once.
    handle.clear_webhook();
    handle.create_run(REPO, short_run);
    until_webhooks_are(false, port, &log, Duration::from_secs(40)).await;
    let recovered = run_list_requests_during(&handle, Duration::from_secs(4)).await;
    assert!(
        recovered >= 6,
        "{recovered} run-list requests in 4 s after a missed delivery"
    );
    let missed = r#"gha_ingest_pipeline_webhook_missed_total{event="workflow_run"}"#;
    assert!(metric(port, missed).await.unwrap_or(0.0) >= 1.0);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_github_sends_no_webhook_for_still_produce_every_event_through_polling() {
    let world = TokenWorld::start(
        "unsent",
        1,
        &[("GHA_INGEST__PIPELINE__QUIET_POLL_MAX_SECS", "1")],
    )
    .await;
    let handle = world.sim.handle();
    let (port, log) = (world.port, world.log());
    handle.set_webhook(&hook_url(port), SECRET);

    // A plain run, whose changes are all delivered; a run that fails at start-up (GitHub sends
    // nothing for it, ever); a run whose jobs are skipped before they start (no job ever shows
    // a state other than completed).
    let short = |conclusion: Option<&str>| RunSpec {
        jobs: 2,
        queue_secs: 1,
        run_secs: 1,
        conclusion: conclusion.map(str::to_owned),
        ..RunSpec::default()
    };
    let runs = [None, Some("startup_failure"), Some("skipped")]
        .map(|conclusion| handle.create_run(REPO, short(conclusion)));
    let mut expected: HashSet<String> = HashSet::new();
    for run_id in runs {
        expected.insert(format!("run-{run_id}-1-completed"));
        for job_id in handle.job_ids(run_id, 1) {
            expected.insert(format!("job-{job_id}-completed"));
        }
    }

    let queue = world.queue().await;
    let mut messages = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        messages.extend(drain(&queue).await);
        let ids: HashSet<String> = messages.iter().map(|m| m.event_id().to_string()).collect();
        if expected.is_subset(&ids) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "missing {:?}; webhook stats {:?}; daemon output:\n{}",
            expected.difference(&ids).collect::<Vec<_>>(),
            handle.webhook_stats(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let stats = handle.webhook_stats();
    assert_eq!(stats.startup_failures_unsent, 1, "{stats:?}");
    let startup_failed = format!("run-{}-1-completed", runs[1]);
    let by_id: BTreeMap<&str, &Received> = messages.iter().map(|m| (m.event_id(), m)).collect();
    let event = &by_id[startup_failed.as_str()].body;
    assert_eq!(event["source"], "poll");
    assert_eq!(event["data"]["conclusion"], "startup_failure");
    let plain = format!("run-{}-1-completed", runs[0]);
    assert_eq!(by_id[plain.as_str()].body["source"], "webhook");
    assert!(
        duplicate_ids(&messages).is_empty(),
        "{:?}",
        duplicate_ids(&messages)
    );
    world.stop().await;
}
