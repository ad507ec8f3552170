//! The log agent end to end: every finished job's log on the logs queue, byte-identical to what
//! GitHub (the simulator) served, whatever its size or bytes; the metrics queue stays whole for
//! its own consumers; unavailable and failing logs end as they should.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gha_ingest_logs::{LogAgent, LogAgentOptions, LogAgentStatus, LogQueues};
use gha_ingest_pipeline::{PipelineOptions, QueueSet};
use gha_ingest_queue::MessageQueue;
use gha_ingest_sim::{Fault, FaultKind, LogSpec, RunSpec};
use gha_ingest_tests::*;
use tokio_util::sync::CancellationToken;

struct Queues {
    metrics: Arc<dyn MessageQueue>,
    requests: Arc<dyn MessageQueue>,
    logs: Arc<dyn MessageQueue>,
}

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
        max_attempts: 2,
        max_log_bytes: 0,
        max_message_bytes: 262_144,
        spool_dir: world.dir.path().join("spool"),
        retry_delay: Duration::from_secs(1),
        receive_wait: Duration::from_secs(1),
    };
    let agent = LogAgent::new(
        world.client(),
        LogQueues {
            requests: queues.requests.clone(),
            logs: queues.logs.clone(),
        },
        options,
        Arc::new(LogAgentStatus::default()),
    );
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
