//! Nothing stops the stream: one run, attempt, job list or commit that cannot be read, one
//! character SQS refuses, one fact larger than a message never silences the rest of a
//! repository. Simulator over HTTP, real SQLite files, SQS on moto.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use gha_ingest_pipeline::{FailurePolicy, PipelineOptions, QueueSet};
use gha_ingest_queue::MessageQueue;
use gha_ingest_sim::{Fault, FaultKind, RunSpec};
use gha_ingest_tests::*;

fn queues(metrics: Arc<dyn MessageQueue>) -> QueueSet {
    QueueSet {
        metrics,
        log_requests: None,
    }
}

/// Failures are retried after a minute, then 4; the third failing cycle gives up.
fn options() -> PipelineOptions {
    PipelineOptions {
        failure_policy: FailurePolicy {
            max_attempts: 3,
            retry_base: Duration::from_secs(60),
            retry_max: Duration::from_secs(3600),
        },
        ..test_options()
    }
}

/// Cycles with the simulator's clock moving `step` between them, publishing as it goes.
async fn cycles(daemon: &Daemon, sim: &gha_ingest_sim::SimHandle, count: usize, step: Duration) {
    for _ in 0..count {
        daemon.cycle().await;
        sim.advance(step);
    }
}

fn job_ids_with_events(messages: &[Received]) -> BTreeSet<u64> {
    messages
        .iter()
        .filter(|message| message.event_type().starts_with("workflow_job_"))
        .filter_map(|message| message.body["data"]["job_id"].as_u64())
        .collect()
}

fn of_type<'a>(messages: &'a [Received], event_type: &str) -> Vec<&'a Received> {
    messages
        .iter()
        .filter(|message| message.event_type() == event_type)
        .collect()
}

async fn assert_nothing_parked(daemon: &Daemon) {
    assert_eq!(
        daemon.store.parked_count().await.unwrap(),
        0,
        "parked messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_jobs_cannot_be_read_silences_nothing_else_and_ends_in_its_unavailable_event() {
    let world = World::start().await;
    let sim = world.sim();
    let history = sim.generate_history(REPO, 12, Duration::from_secs(86_400));
    // The list still shows this run, but its jobs answer 404 (deleted between list and jobs).
    let broken = history[5];
    sim.inject_fault(Fault {
        route_contains: Some(format!("/actions/runs/{broken}/")),
        kind: FaultKind::Status(404),
        times: 1_000,
    });
    let (_moto, metrics) = moto_queue("deleted").await;
    let daemon = Daemon::start(&world, queues(metrics.clone()), options()).await;

    daemon.cycle().await;
    let first = drain(metrics.as_ref()).await;
    // Every other run and its jobs arrived in the same cycle; the broken run's own facts too.
    assert_eq!(completed_run_ids(&first), history.iter().copied().collect());
    let expected_jobs: BTreeSet<u64> = history
        .iter()
        .filter(|run_id| **run_id != broken)
        .flat_map(|run_id| sim.job_ids(*run_id, 1))
        .collect();
    assert!(job_ids_with_events(&first).is_superset(&expected_jobs));
    let broken_run = of_type(&first, "workflow_run_completed")
        .into_iter()
        .find(|message| message.body["data"]["run_id"] == broken)
        .expect("the broken run's facts from the list are published");
    assert_eq!(broken_run.body["data"]["jobs_unavailable"], true);
    assert!(of_type(&first, "workflow_jobs_unavailable").is_empty());

    // Retried with backoff, then given up on once, with the reason.
    cycles(&daemon, &sim, 6, Duration::from_secs(3_600)).await;
    let later = drain(metrics.as_ref()).await;
    let unavailable = of_type(&later, "workflow_jobs_unavailable");
    assert_eq!(unavailable.len(), 1, "{:?}", count_by_type(&later));
    let data = &unavailable[0].body["data"];
    assert_eq!(data["run_id"], broken);
    assert_eq!(data["reason"], "not_found");
    assert_eq!(data["attempts"], 3);
    let stats = sim.stats();
    let jobs_requests: u64 = stats
        .by_route
        .iter()
        .filter(|(route, _)| route.contains("jobs"))
        .map(|(_, count)| count)
        .sum();
    assert!(jobs_requests < 40, "retries are bounded: {stats:?}");

    // A new run after all that flows as usual.
    let fresh = sim.create_run(REPO, RunSpec::default());
    sim.advance(Duration::from_secs(600));
    daemon.cycle().await;
    assert!(completed_run_ids(&drain(metrics.as_ref()).await).contains(&fresh));
    assert_nothing_parked(&daemon).await;
    let (retrying, given_up) = daemon.store.failure_counts().await.unwrap();
    assert_eq!((retrying, given_up), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_deleted_while_in_progress_ends_in_workflow_run_unavailable() {
    let world = World::start().await;
    let sim = world.sim();
    let steady = sim.create_run(REPO, RunSpec::default());
    let doomed = sim.create_run(
        REPO,
        RunSpec {
            run_secs: 3_600,
            ..RunSpec::default()
        },
    );
    let (_moto, metrics) = moto_queue("gone").await;
    let daemon = Daemon::start(&world, queues(metrics.clone()), options()).await;
    sim.advance(Duration::from_secs(30));
    daemon.cycle().await;
    sim.delete_run(REPO, doomed);
    cycles(&daemon, &sim, 8, Duration::from_secs(3_600)).await;
    let messages = drain(metrics.as_ref()).await;
    assert!(completed_run_ids(&messages).contains(&steady));
    let unavailable = of_type(&messages, "workflow_run_unavailable");
    assert_eq!(unavailable.len(), 1, "{:?}", count_by_type(&messages));
    assert_eq!(unavailable[0].body["data"]["run_id"], doomed);
    assert_eq!(unavailable[0].body["data"]["reason"], "not_found");
    // No longer followed: quiet cycles cost nothing for it.
    sim.reset_stats();
    cycles(&daemon, &sim, 2, Duration::from_secs(3_600)).await;
    let stats = sim.stats();
    assert!(
        !stats
            .by_route
            .keys()
            .any(|route| route.contains("{run_id}") && !route.contains("logs")),
        "{stats:?}"
    );
    assert_nothing_parked(&daemon).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_attempt_jobs_endpoint_still_delivers_every_job() {
    let world = World::start().await;
    let sim = world.sim();
    let history = sim.generate_history(REPO, 8, Duration::from_secs(86_400));
    // Older GitHub Enterprise Server: no /attempts/{n}/jobs (nor /attempts/{n}).
    sim.disable_route("/attempts/");
    let (_moto, metrics) = moto_queue("ghes").await;
    let daemon = Daemon::start(&world, queues(metrics.clone()), options()).await;
    daemon.cycle().await;
    let rerun = history[2];
    sim.rerun(REPO, rerun);
    sim.advance(Duration::from_secs(3_600));
    daemon.cycle().await;
    let messages = drain(metrics.as_ref()).await;

    let expected_jobs: BTreeSet<u64> = history
        .iter()
        .flat_map(|run_id| sim.job_ids(*run_id, 1))
        .chain(sim.job_ids(rerun, 2))
        .collect();
    assert_eq!(job_ids_with_events(&messages), expected_jobs);
    assert_eq!(
        completed_run_ids(&messages),
        history.iter().copied().collect()
    );
    assert!(of_type(&messages, "workflow_jobs_unavailable").is_empty());
    assert_nothing_parked(&daemon).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn characters_sqs_refuses_and_huge_commit_messages_still_arrive() {
    let world = World::start().await;
    let sim = world.sim();
    let odd_message = "fix: \u{FFFE} odd \u{FFFF} chars \u{1b}[31m\u{0}\n\nbody".to_string();
    let odd_branch = "feature/\u{FFFF}-branch".to_string();
    let odd_job = "build \u{FFFE}".to_string();
    let odd = sim.create_run(
        REPO,
        RunSpec {
            commit_message: Some(odd_message.clone()),
            head_branch: Some(odd_branch.clone()),
            job_names: Some(vec![odd_job.clone(), "test".to_string()]),
            ..RunSpec::default()
        },
    );
    // A squash merge of a long branch: 400 KB of commit message on one SHA shared by 3 runs.
    let huge_message = format!("Squashed commits\n\n{}", "* a change\n".repeat(40_000));
    let huge = sim.create_run(
        REPO,
        RunSpec {
            commit_message: Some(huge_message.clone()),
            ..RunSpec::default()
        },
    );
    let huge_sha = sim.run_json(REPO, huge)["head_sha"]
        .as_str()
        .unwrap()
        .to_string();
    let siblings: Vec<u64> = (0..2)
        .map(|_| {
            sim.create_run(
                REPO,
                RunSpec {
                    head_sha: Some(huge_sha.clone()),
                    ..RunSpec::default()
                },
            )
        })
        .collect();
    let plain = sim.create_run(REPO, RunSpec::default());
    sim.advance(Duration::from_secs(600));
    let (_moto, metrics) = moto_queue("chars").await;
    let daemon = Daemon::start(&world, queues(metrics.clone()), options()).await;
    daemon.cycle().await;
    let messages = drain(metrics.as_ref()).await;
    assert_nothing_parked(&daemon).await;

    let mut expected: std::collections::HashSet<u64> = [odd, huge, plain].into_iter().collect();
    expected.extend(siblings);
    assert_eq!(completed_run_ids(&messages), expected);

    // Every character arrives as GitHub had it (JSON escapes restore it on parse).
    let odd_run = of_type(&messages, "workflow_run_completed")
        .into_iter()
        .find(|message| message.body["data"]["run_id"] == odd)
        .unwrap();
    assert_eq!(odd_run.body["data"]["head_branch"], odd_branch.as_str());
    assert_eq!(
        odd_run.body["data"]["code_metrics"]["commit_message"],
        odd_message.as_str()
    );
    let job_names: BTreeSet<String> = of_type(&messages, "workflow_job_completed")
        .iter()
        .filter(|message| message.body["data"]["run_id"] == odd)
        .map(|message| {
            message.body["data"]["job_name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(job_names.contains(&odd_job), "{job_names:?}");

    // The huge message is cut with a marker; every fact around it is whole.
    let commit = of_type(&messages, "commit_metrics")
        .into_iter()
        .find(|message| message.body["data"]["commit_sha"] == huge_sha.as_str())
        .expect("commit_metrics always goes out");
    let data = &commit.body["data"];
    assert_eq!(data["commit_message_truncated"], true);
    assert_eq!(data["commit_message_length"], huge_message.len());
    assert!(huge_message.starts_with(data["commit_message"].as_str().unwrap()));
    assert!(data["files_changed_count"].as_u64().unwrap() > 0);
    let huge_runs = of_type(&messages, "workflow_run_completed")
        .into_iter()
        .filter(|message| message.body["data"]["head_sha"] == huge_sha.as_str())
        .count();
    assert_eq!(huge_runs, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_github_sends_malformed_silences_nothing_else_and_ends_in_its_unavailable_event() {
    let world = World::start().await;
    let sim = world.sim();
    let history = sim.generate_history(REPO, 10, Duration::from_secs(86_400));
    let garbled = history[4];
    sim.serve_run_malformed(garbled);
    let (_moto, metrics) = moto_queue("malformed").await;
    let daemon = Daemon::start(&world, queues(metrics.clone()), options()).await;
    cycles(&daemon, &sim, 6, Duration::from_secs(3_600)).await;
    let messages = drain(metrics.as_ref()).await;

    let mut expected: std::collections::HashSet<u64> = history.iter().copied().collect();
    expected.remove(&garbled);
    assert_eq!(completed_run_ids(&messages), expected);
    let unavailable = of_type(&messages, "workflow_run_unavailable");
    assert_eq!(unavailable.len(), 1, "{:?}", count_by_type(&messages));
    assert_eq!(unavailable[0].body["data"]["run_id"], garbled);
    assert_eq!(unavailable[0].body["data"]["reason"], "malformed");
    assert_nothing_parked(&daemon).await;
}
