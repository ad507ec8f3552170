//! The log agent end to end: every finished job's log on the logs queue, byte-identical to what
//! GitHub (the simulator) served, whatever its size or bytes; the metrics queue stays whole for
//! its own consumers; every log ends: one GitHub will not serve ends in a `job_log_unavailable`
//! event after `max_attempts` receives, on queues without a redrive policy too.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gha_ingest_core::Clock;
use gha_ingest_github::GithubAccess;
use gha_ingest_logs::{LogAgent, LogAgentOptions, LogAgentStatus, LogQueues};
use gha_ingest_pipeline::{PipelineOptions, QueueSet};
use gha_ingest_queue::{MessageQueue, OutgoingMessage, ReceivedMessage};
use gha_ingest_sim::{Fault, FaultKind, LogSpec, RunSpec};
use gha_ingest_tests::*;
use tokio_util::sync::CancellationToken;

struct Queues {
    metrics: Arc<dyn MessageQueue>,
    requests: Arc<dyn MessageQueue>,
    logs: Arc<dyn MessageQueue>,
}

/// Three queues on moto, created without a redrive policy (no dead-letter queue).
async fn moto_queues() -> (Arc<gha_ingest_queue::testing::MotoServer>, Queues) {
    let (moto, metrics) = moto_queue("metrics").await;
    let (_, requests) = moto_queue("log-requests").await;
    let (_, logs) = moto_queue("logs").await;
    (
        moto,
        Queues {
            metrics,
            requests,
            logs,
        },
    )
}

/// The log agent's `max_attempts` in these tests.
const MAX_ATTEMPTS: u32 = 2;

fn pipeline_options() -> PipelineOptions {
    PipelineOptions {
        emit_log_requests: true,
        ..test_options()
    }
}

fn start_log_agent(
    world: &World,
    queues: &Queues,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let options = LogAgentOptions {
        concurrency: 2,
        visibility_timeout: Duration::from_secs(30),
        max_attempts: MAX_ATTEMPTS,
        max_log_bytes: 1024 * 1024 * 1024,
        max_message_bytes: 262_144,
        spool_dir: world.dir.path().join("spool"),
        retry_delay: Duration::from_secs(1),
        receive_wait: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(5),
    };
    let agent = LogAgent::new(
        GithubAccess::token(world.client()),
        LogQueues {
            requests: queues.requests.clone(),
            logs: queues.logs.clone(),
        },
        options,
        Arc::new(LogAgentStatus::default()),
    );
    let sim = world.sim();
    let agent = agent.with_clock(Clock::from_fn(move || sim.now()));
    let shutdown = CancellationToken::new();
    (shutdown.clone(), tokio::spawn(agent.run(shutdown)))
}

/// One pipeline cycle (metrics events and log requests), then the log agent in the background.
async fn publish_log_requests_and_start_log_agent(
    world: &World,
    queues: &Queues,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let pipeline_queues = QueueSet {
        metrics: queues.metrics.clone(),
        log_requests: Some(queues.requests.clone()),
    };
    let daemon = Daemon::start(world, pipeline_queues, pipeline_options()).await;
    daemon.cycle().await;
    start_log_agent(world, queues)
}

/// Reads the logs queue until `done` says the collected messages are complete.
async fn collect_until(
    queue: &dyn MessageQueue,
    timeout: Duration,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let deadline = Instant::now() + timeout;
    let mut received = Vec::new();
    while !done(&received) {
        assert!(
            Instant::now() < deadline,
            "timed out; got {} messages: {:?}",
            received.len(),
            count_by_type(&received)
        );
        received.extend(drain(queue).await);
    }
    received
}

fn completed_jobs(sim: &gha_ingest_sim::SimHandle, runs: &[u64]) -> Vec<u64> {
    runs.iter()
        .flat_map(|run_id| sim.job_ids(*run_id, 1))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_finished_jobs_log_arrives_byte_identical_while_metrics_stay_whole() {
    let world = World::start().await;
    let sim = world.sim();
    let mut runs = sim.generate_history(REPO, 3, Duration::from_secs(3600));
    let specials: Vec<u64> = (0..4)
        .map(|_| {
            sim.create_run(
                REPO,
                RunSpec {
                    jobs: 1,
                    ..RunSpec::default()
                },
            )
        })
        .collect();
    runs.extend(&specials);
    let special_jobs = completed_jobs(&sim, &specials);
    let mut odd_bytes = b"2026-06-01T00:00:00.0000000Z \x1b[36;1mecho ok\x1b[0m\n".to_vec();
    odd_bytes.extend_from_slice(b"latin-1 \xe9t\xe9 and a lone \xff byte\r\n\x00end");
    sim.set_job_log(
        special_jobs[0],
        LogSpec::Generated {
            bytes: 50 * 1024 * 1024,
            line_len: 120,
        },
    );
    sim.set_job_log(special_jobs[1], LogSpec::Bytes(Vec::new()));
    sim.set_job_log(special_jobs[2], LogSpec::Bytes(odd_bytes.clone()));
    sim.set_job_log(
        special_jobs[3],
        LogSpec::Generated {
            bytes: 5 * 1024 * 1024,
            line_len: 5 * 1024 * 1024,
        },
    );
    sim.advance(Duration::from_secs(600));

    let (_moto, queues) = moto_queues().await;
    let (shutdown, agent) = publish_log_requests_and_start_log_agent(&world, &queues).await;

    // A downstream consumer reads the metrics queue while the log agent works.
    let metrics = drain(queues.metrics.as_ref()).await;
    let all_jobs: HashSet<u64> = completed_jobs(&sim, &runs).into_iter().collect();
    let completed_on_metrics: HashSet<u64> = metrics
        .iter()
        .filter(|message| message.event_type() == "workflow_job_completed")
        .map(|message| message.body["data"]["job_id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        completed_on_metrics, all_jobs,
        "the metrics consumer missed job events"
    );

    let expected = all_jobs.len();
    let messages = collect_until(queues.logs.as_ref(), Duration::from_secs(240), |received| {
        reassemble_logs(received).len() >= expected
    })
    .await;
    shutdown.cancel();
    agent.await.unwrap();

    let logs = reassemble_logs(&messages);
    for job_id in &all_jobs {
        let (length, digest) = sim.job_log_digest(*job_id).unwrap();
        let log = &logs[job_id];
        assert_eq!(
            (log.len() as u64, sha256_hex(log)),
            (length, digest),
            "job {job_id}"
        );
    }
    assert_eq!(
        logs[&special_jobs[2]], odd_bytes,
        "non-UTF-8 bytes and ANSI escapes must survive as they are"
    );
    assert!(logs[&special_jobs[1]].is_empty());
    let parts_of = |job_id: u64| {
        messages
            .iter()
            .filter(|message| message.body["data"]["job_id"] == job_id)
            .count()
    };
    assert!(
        parts_of(special_jobs[0]) > 100,
        "a 50 MB log is split into parts"
    );
    assert_eq!(parts_of(special_jobs[1]), 1, "an empty log is one message");
    let small = messages
        .iter()
        .find(|message| message.body["data"]["job_id"] == special_jobs[2])
        .unwrap();
    assert_eq!(small.event_id(), format!("log-{}", special_jobs[2]));
    assert_eq!(small.body["data"]["content_encoding"], "base64");
    assert!(duplicate_ids(&messages).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_and_missing_logs_become_unavailable_events_and_a_failing_log_host_is_retried() {
    let world = World::start().await;
    let sim = world.sim();
    let runs: Vec<u64> = (0..3)
        .map(|_| {
            sim.create_run(
                REPO,
                RunSpec {
                    jobs: 1,
                    ..RunSpec::default()
                },
            )
        })
        .collect();
    let jobs = completed_jobs(&sim, &runs);
    sim.set_job_log(jobs[0], LogSpec::Gone);
    sim.set_job_log(jobs[1], LogSpec::Missing);
    sim.advance(Duration::from_secs(600));
    sim.inject_fault(Fault {
        route_contains: None,
        kind: FaultKind::LogHostStatus(503),
        times: 3,
    });

    let (_moto, queues) = moto_queues().await;
    let (shutdown, agent) = publish_log_requests_and_start_log_agent(&world, &queues).await;
    let messages = collect_until(queues.logs.as_ref(), Duration::from_secs(60), |received| {
        received
            .iter()
            .filter(|message| message.event_type() == "job_log_unavailable")
            .count()
            >= 2
            && !reassemble_logs(received).is_empty()
    })
    .await;
    shutdown.cancel();
    agent.await.unwrap();

    let reasons: BTreeMap<u64, String> = messages
        .iter()
        .filter(|message| message.event_type() == "job_log_unavailable")
        .map(|message| {
            (
                message.body["data"]["job_id"].as_u64().unwrap(),
                message.body["data"]["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(reasons.get(&jobs[0]).map(String::as_str), Some("gone"));
    assert_eq!(reasons.get(&jobs[1]).map(String::as_str), Some("not_found"));
    let missing = messages
        .iter()
        .find(|message| {
            message.event_type() == "job_log_unavailable"
                && message.body["data"]["job_id"] == jobs[1]
        })
        .unwrap();
    assert_eq!(
        missing.body["data"]["attempts"], 2,
        "a 404 is retried up to max_attempts receives"
    );
    let (length, digest) = sim.job_log_digest(jobs[2]).unwrap();
    let log = &reassemble_logs(&messages)[&jobs[2]];
    assert_eq!((log.len() as u64, sha256_hex(log)), (length, digest));
    assert!(
        sim.stats().log_authorization_rejected_total == 0,
        "the token was sent to the log host"
    );
    assert!(sim.stats().faults_fired_total >= 3);
}

/// Sends `messages` again as new messages (their receive count starts over).
async fn put_back(queue: &dyn MessageQueue, messages: &[&ReceivedMessage]) {
    let outgoing: Vec<OutgoingMessage> = messages
        .iter()
        .map(|message| OutgoingMessage {
            body: message.body.clone(),
            attributes: message.attributes.clone(),
            deduplication_id: message.message_id.clone(),
        })
        .collect();
    let outcome = queue.send_batch(&outgoing).await.expect("send succeeds");
    assert!(outcome.failed.is_empty(), "requests put back");
}

fn requested_job_id(message: &ReceivedMessage) -> u64 {
    let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
    body["data"]["job_id"].as_u64().unwrap()
}

/// Waits until `queue` holds no message, visible or in flight.
async fn wait_until_empty(queue: &dyn MessageQueue, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let depth = queue.approximate_depth().await.expect("depth");
        if depth.visible + depth.in_flight == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} requests still on {}: {depth:?}",
            depth.visible + depth.in_flight,
            queue.name()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn unavailable_events(messages: &[Received]) -> Vec<&Received> {
    messages
        .iter()
        .filter(|message| message.event_type() == "job_log_unavailable")
        .collect()
}

fn one_job_run(sim: &gha_ingest_sim::SimHandle) -> u64 {
    let run = sim.create_run(
        REPO,
        RunSpec {
            jobs: 1,
            ..RunSpec::default()
        },
    );
    sim.job_ids(run, 1)[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_the_host_never_serves_ends_not_found_after_max_attempts_and_its_request_is_deleted()
{
    let world = World::start().await;
    let sim = world.sim();
    let run = sim.create_run(
        REPO,
        RunSpec {
            jobs: 3,
            ..RunSpec::default()
        },
    );
    let jobs = sim.job_ids(run, 1);
    sim.set_job_log(
        jobs[1],
        LogSpec::Bytes(b"\x1b[32mok\x1b[0m\r\n\x00 done \xef\xbf\xbe\n".to_vec()),
    );
    sim.advance(Duration::from_secs(600));
    let (_moto, queues) = moto_queues().await;
    let pipeline_queues = QueueSet {
        metrics: queues.metrics.clone(),
        log_requests: Some(queues.requests.clone()),
    };
    Daemon::start(&world, pipeline_queues, pipeline_options())
        .await
        .cycle()
        .await;

    // The log host answers 404 to every download while the first job's request is handled alone
    // (the simulator's log-host fault cannot pick a job); the others follow once it has ended.
    let requests = take_all(queues.requests.as_ref()).await;
    assert_eq!(requests.len(), 3, "one request per job");
    let (never_served, others): (Vec<&ReceivedMessage>, Vec<&ReceivedMessage>) = requests
        .iter()
        .partition(|request| requested_job_id(request) == jobs[0]);
    sim.inject_fault(Fault {
        route_contains: None,
        kind: FaultKind::LogHostStatus(404),
        times: 1_000_000,
    });
    put_back(queues.requests.as_ref(), &never_served).await;
    let (shutdown, agent) = start_log_agent(&world, &queues);
    let mut messages = collect_until(queues.logs.as_ref(), Duration::from_secs(60), |received| {
        !unavailable_events(received).is_empty()
    })
    .await;
    wait_until_empty(queues.requests.as_ref(), Duration::from_secs(10)).await;
    assert!(sim.stats().log_requests_total >= u64::from(MAX_ATTEMPTS));

    sim.clear_faults();
    put_back(queues.requests.as_ref(), &others).await;
    messages.extend(
        collect_until(queues.logs.as_ref(), Duration::from_secs(60), |received| {
            reassemble_logs(received).len() >= 2
        })
        .await,
    );
    wait_until_empty(queues.requests.as_ref(), Duration::from_secs(10)).await;
    messages.extend(drain(queues.logs.as_ref()).await);
    shutdown.cancel();
    agent.await.unwrap();

    let unavailable = unavailable_events(&messages);
    assert_eq!(unavailable.len(), 1, "exactly one job_log_unavailable");
    let data = &unavailable[0].body["data"];
    assert_eq!(data["job_id"], jobs[0]);
    assert_eq!(data["reason"], "not_found");
    assert_eq!(
        data["attempts"], MAX_ATTEMPTS,
        "given up on the last allowed receive"
    );
    let logs = reassemble_logs(&messages);
    assert!(!logs.contains_key(&jobs[0]));
    for job_id in &jobs[1..] {
        let (length, digest) = sim.job_log_digest(*job_id).unwrap();
        let log = &logs[job_id];
        assert_eq!(
            (log.len() as u64, sha256_hex(log)),
            (length, digest),
            "job {job_id}"
        );
    }
    assert!(duplicate_ids(&messages).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_host_failing_on_every_try_ends_unavailable_after_max_attempts() {
    let world = World::start().await;
    let sim = world.sim();
    let job_id = one_job_run(&sim);
    sim.advance(Duration::from_secs(600));
    sim.inject_fault(Fault {
        route_contains: None,
        kind: FaultKind::LogHostStatus(503),
        times: 1_000_000,
    });

    let (_moto, queues) = moto_queues().await;
    let (shutdown, agent) = publish_log_requests_and_start_log_agent(&world, &queues).await;
    let messages = collect_until(queues.logs.as_ref(), Duration::from_secs(60), |received| {
        !unavailable_events(received).is_empty()
    })
    .await;
    wait_until_empty(queues.requests.as_ref(), Duration::from_secs(10)).await;
    shutdown.cancel();
    agent.await.unwrap();

    let unavailable = unavailable_events(&messages);
    assert_eq!(unavailable.len(), 1);
    let data = &unavailable[0].body["data"];
    assert_eq!(data["job_id"], job_id);
    assert_eq!(data["reason"], "unavailable");
    assert_eq!(data["attempts"], MAX_ATTEMPTS);
    assert!(
        data["detail"].as_str().unwrap().contains("503"),
        "the detail names the failure: {}",
        data["detail"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noncharacters_controls_and_ansi_in_a_log_arrive_byte_identical() {
    let world = World::start().await;
    let sim = world.sim();
    let line =
        "2026-06-01T00:00:00.0000000Z \u{fffe}odd\u{ffff} \u{1b}[31mred\u{1b}[0m \u{0}nul\r\n";
    let small = line.as_bytes().to_vec();
    let large = line.repeat(600_000 / line.len()).into_bytes();
    let (small_job, large_job) = (one_job_run(&sim), one_job_run(&sim));
    sim.set_job_log(small_job, LogSpec::Bytes(small.clone()));
    sim.set_job_log(large_job, LogSpec::Bytes(large.clone()));
    sim.advance(Duration::from_secs(600));

    let (_moto, queues) = moto_queues().await;
    let (shutdown, agent) = publish_log_requests_and_start_log_agent(&world, &queues).await;
    let messages = collect_until(queues.logs.as_ref(), Duration::from_secs(60), |received| {
        reassemble_logs(received).len() >= 2
    })
    .await;
    shutdown.cancel();
    agent.await.unwrap();

    let logs = reassemble_logs(&messages);
    assert_eq!(logs[&small_job], small);
    assert_eq!(logs[&large_job], large);
    let parts_of_large = messages
        .iter()
        .filter(|message| message.body["data"]["job_id"] == large_job)
        .count();
    assert!(parts_of_large > 1, "a 600 kB log is split into parts");
    for message in &messages {
        assert_eq!(message.body["data"]["content_encoding"], "utf-8");
        let fetched_at: chrono::DateTime<chrono::Utc> = message.body["data"]["fetched_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            fetched_at,
            sim.now(),
            "fetched_at comes from the injected clock"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_jobs_missing_log_costs_one_github_request() {
    let world = World::start().await;
    let sim = world.sim();
    let run = sim.create_run(
        REPO,
        RunSpec {
            jobs: 2,
            conclusion: Some("skipped".to_string()),
            ..RunSpec::default()
        },
    );
    let jobs = sim.job_ids(run, 1);
    sim.advance(Duration::from_secs(600));
    for job_id in &jobs {
        assert_eq!(sim.job_json(*job_id)["conclusion"], "skipped");
    }
    // One skipped job's log is refused by the API, the other's by the log host.
    sim.set_job_log(jobs[0], LogSpec::Missing);
    sim.inject_fault(Fault {
        route_contains: None,
        kind: FaultKind::LogHostStatus(404),
        times: 1_000_000,
    });

    let (_moto, queues) = moto_queues().await;
    let pipeline_queues = QueueSet {
        metrics: queues.metrics.clone(),
        log_requests: Some(queues.requests.clone()),
    };
    Daemon::start(&world, pipeline_queues, pipeline_options())
        .await
        .cycle()
        .await;
    sim.reset_stats();
    let (shutdown, agent) = start_log_agent(&world, &queues);
    let messages = collect_until(queues.logs.as_ref(), Duration::from_secs(60), |received| {
        unavailable_events(received).len() >= 2
    })
    .await;
    wait_until_empty(queues.requests.as_ref(), Duration::from_secs(10)).await;
    shutdown.cancel();
    agent.await.unwrap();

    for message in unavailable_events(&messages) {
        let data = &message.body["data"];
        assert_eq!(data["reason"], "not_found", "{data}");
        assert_eq!(data["attempts"], 1, "ended on the first receive: {data}");
    }
    let stats = sim.stats();
    let log_route = "GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs";
    assert_eq!(
        stats.by_route.get(log_route).copied().unwrap_or(0),
        jobs.len() as u64,
        "one GitHub request per skipped job: {:?}",
        stats.by_route
    );
    assert_eq!(
        stats.requests_total,
        jobs.len() as u64,
        "{:?}",
        stats.by_route
    );
    assert!(stats.log_requests_total <= 1, "at most one log-host try");
}
