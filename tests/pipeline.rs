//! The pipeline agent's guarantees, end to end: the simulator over HTTP, real SQLite files, SQS
//! on moto (or the embedded queue where moto's ~100 messages/s would make a test crawl; both
//! queues pass the same conformance suite in `gha-ingest-queue`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use gha_ingest_pipeline::QueueSet;
use gha_ingest_sim::{Fault, FaultKind, RunSpec};
use gha_ingest_tests::*;

const COMMIT_ROUTE: &str = "GET /repos/{owner}/{repo}/commits/{ref}";

fn queues(metrics: std::sync::Arc<dyn gha_ingest_queue::MessageQueue>) -> QueueSet {
    QueueSet {
        metrics,
        log_requests: None,
    }
}

fn run_event_ids(messages: &[Received], run_id: u64) -> BTreeSet<String> {
    messages
        .iter()
        .filter(|message| {
            message.event_type().starts_with("workflow_run_")
                && message.body["data"]["run_id"] == run_id
        })
        .map(|message| message.event_id().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_and_every_observed_state_is_published_exactly_once_across_restarts() {
    let world = World::start().await;
    let sim = world.sim();
    let history = sim.generate_history(REPO, 25, Duration::from_secs(3 * 86_400));
    let (_moto, metrics) = moto_queue("states").await;

    let daemon = Daemon::start(&world, queues(metrics.clone()), test_options()).await;
    daemon.cycle().await;
    let live = sim.create_run(
        REPO,
        RunSpec {
            jobs: 2,
            queue_secs: 30,
            run_secs: 120,
            ..RunSpec::default()
        },
    );
    daemon.cycle().await; // queued
    sim.advance(Duration::from_secs(60));
    daemon.cycle().await; // in progress
    daemon.stop().await;

    // A restart in the middle of the run's life: same files, new process state.
    let daemon = Daemon::start(&world, queues(metrics.clone()), test_options()).await;
    daemon.cycle().await; // nothing changed
    sim.advance(Duration::from_secs(200));
    daemon.cycle().await; // completed
    daemon.cycle().await; // idle
    let messages = drain(metrics.as_ref()).await;

    assert!(
        duplicate_ids(&messages).is_empty(),
        "duplicates: {:?}",
        duplicate_ids(&messages)
    );
    let completed_runs = completed_run_ids(&messages);
    for run_id in history.iter().chain([&live]) {
        assert!(
            completed_runs.contains(run_id),
            "run {run_id} has no completed event"
        );
    }
    assert_eq!(
        run_event_ids(&messages, live),
        BTreeSet::from([
            format!("run-{live}-1-queued"),
            format!("run-{live}-1-in_progress"),
            format!("run-{live}-1-completed")
        ])
    );
    // Every job of the live run: one event per state it was seen in, and the completed run nests them.
    for job_id in sim.job_ids(live, 1) {
        let states: Vec<&str> = messages
            .iter()
            .filter(|message| {
                message.body["data"]["job_id"] == job_id
                    && message.event_type().starts_with("workflow_job_")
            })
            .map(|message| message.body["data"]["status"].as_str().unwrap())
            .collect();
        assert!(
            states.contains(&"completed"),
            "job {job_id} states {states:?}"
        );
    }
    let completed = messages
        .iter()
        .find(|message| message.event_id() == format!("run-{live}-1-completed"))
        .unwrap();
    assert_eq!(completed.body["data"]["jobs"].as_array().unwrap().len(), 2);
    assert!(completed.body["data"]["duration_seconds"].as_f64().unwrap() > 0.0);
    assert!(completed.body["data"]["code_metrics"]["commit_sha"].is_string());
    assert_eq!(completed.attributes["repo"], REPO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_run_completes_and_a_rerun_of_a_month_old_run_is_seen() {
    let world = World::start().await;
    let sim = world.sim();
    let old_runs = sim.generate_history(REPO, 31, Duration::from_secs(31 * 86_400));
    let month_old = old_runs[0];
    let (_moto, metrics) = moto_queue("rerun").await;
    let daemon = Daemon::start(&world, queues(metrics.clone()), test_options()).await;
    daemon.cycle().await;

    let long = sim.create_run(
        REPO,
        RunSpec {
            jobs: 1,
            queue_secs: 10,
            run_secs: 6 * 3600,
            ..RunSpec::default()
        },
    );
    for _ in 0..7 {
        sim.advance(Duration::from_secs(3600));
        daemon.cycle().await;
    }
    let attempt = sim.rerun(REPO, month_old);
    assert_eq!(
        attempt,
        sim.run_json(REPO, month_old)["run_attempt"]
            .as_u64()
            .unwrap() as u32
    );
    sim.advance(Duration::from_secs(30));
    daemon.cycle().await;
    sim.advance(Duration::from_secs(3600));
    daemon.cycle().await;
    let messages = drain(metrics.as_ref()).await;

    assert!(run_event_ids(&messages, long).contains(&format!("run-{long}-1-completed")));
    let rerun_ids = run_event_ids(&messages, month_old);
    assert!(
        rerun_ids.contains(&format!("run-{month_old}-{attempt}-completed")),
        "{rerun_ids:?}"
    );
    let new_jobs = sim.job_ids(month_old, attempt);
    assert!(!new_jobs.is_empty());
    for job_id in new_jobs {
        assert!(
            messages
                .iter()
                .any(|message| message.event_id() == format!("job-{job_id}-completed")),
            "job {job_id} of the new attempt has no completed event"
        );
    }
    assert!(duplicate_ids(&messages).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_that_starts_and_ends_between_two_polls_is_caught_by_the_sweep() {
    let world = World::start().await;
    let sim = world.sim();
    let runs = sim.generate_history(REPO, 10, Duration::from_secs(10 * 86_400));
    let dir = world.dir.path().to_path_buf();
    let metrics = embedded_queue(&dir, "sweep").await;
    let daemon = Daemon::start(&world, queues(metrics.clone()), test_options()).await;
    daemon.cycle().await;
    drain(metrics.as_ref()).await;

    let attempt = sim.rerun(REPO, runs[2]);
    sim.advance(Duration::from_secs(6 * 3600)); // the whole re-run happens between two polls
    daemon.cycle().await;
    let messages = drain(metrics.as_ref()).await;
    assert!(
        run_event_ids(&messages, runs[2]).contains(&format!("run-{}-{attempt}-completed", runs[2]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catches_up_on_more_than_a_thousand_runs_created_while_down() {
    let world = World::start().await;
    let sim = world.sim();
    sim.generate_history(REPO, 20, Duration::from_secs(86_400));
    let dir = world.dir.path().to_path_buf();
    let metrics = embedded_queue(&dir, "catch-up").await;
    let daemon = Daemon::start(&world, queues(metrics.clone()), test_options()).await;
    daemon.cycle().await;
    daemon.stop().await;

    sim.advance(Duration::from_secs(3 * 3600));
    sim.generate_history(REPO, 1_150, Duration::from_secs(2 * 3600));
    let daemon = Daemon::start(&world, queues(metrics.clone()), test_options()).await;
    daemon.cycle().await;
    let messages = drain(metrics.as_ref()).await;

    let completed = completed_run_ids(&messages);
    let missing: Vec<u64> = sim
        .list_run_ids(REPO)
        .into_iter()
        .filter(|run_id| !completed.contains(run_id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} runs never published, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(completed.len(), 1_170);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_polling_spends_no_rate_limit_points() {
    let world = World::start().await;
    let sim = world.sim();
    sim.generate_history(REPO, 40, Duration::from_secs(20 * 86_400));
    let dir = world.dir.path().to_path_buf();
    let metrics = embedded_queue(&dir, "idle").await;
    let daemon = Daemon::start(&world, queues(metrics), test_options()).await;
    daemon.cycle().await;
    daemon.cycle().await; // the first sweep stores the window ETags

    sim.reset_stats();
    for _ in 0..3 {
        daemon.cycle().await; // test_options sweeps every cycle: sweeps must be free too
    }
    let stats = sim.stats();
    assert!(
        stats.requests_total >= 3 * 3,
        "the agent did poll: {stats:?}"
    );
    assert_eq!(stats.rate_limit_points_used, 0, "{stats:?}");
    assert_eq!(stats.not_modified_total, stats.requests_total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_metrics_are_fetched_once_per_sha() {
    let world = World::start().await;
    let sim = world.sim();
    let shared_sha = "0123456789abcdef0123456789abcdef01234567".to_string();
    let (_moto, metrics) = moto_queue("commits").await;
    let daemon = Daemon::start(&world, queues(metrics.clone()), test_options()).await;
    daemon.cycle().await;
    sim.reset_stats();
    let run_on_shared_sha = || RunSpec {
        head_sha: Some(shared_sha.clone()),
        jobs: 1,
        ..RunSpec::default()
    };
    for _ in 0..4 {
        sim.create_run(REPO, run_on_shared_sha());
    }
    daemon.cycle().await;
    sim.advance(Duration::from_secs(600));
    daemon.cycle().await;
    // A later run on the same SHA, in another cycle: the metrics come from the store's cache.
    sim.create_run(REPO, run_on_shared_sha());
    daemon.cycle().await;
    sim.advance(Duration::from_secs(600));
    daemon.cycle().await;

    assert_eq!(sim.stats().by_route.get(COMMIT_ROUTE).copied(), Some(1));
    let messages = drain(metrics.as_ref()).await;
    let commit_events: Vec<&Received> = messages
        .iter()
        .filter(|message| message.event_type() == "commit_metrics")
        .collect();
    assert_eq!(commit_events.len(), 1);
    let (files, additions, deletions) = sim.commit_stats(REPO, &shared_sha).unwrap();
    let data = &commit_events[0].body["data"];
    assert_eq!(data["files_changed_count"].as_u64(), Some(files as u64));
    assert_eq!(
        (data["additions"].as_u64(), data["deletions"].as_u64()),
        (Some(additions), Some(deletions))
    );
    let runs_with_metrics = messages
        .iter()
        .filter(|message| {
            message.event_type() == "workflow_run_completed"
                && message.body["data"]["code_metrics"]["commit_sha"] == shared_sha.as_str()
        })
        .count();
    assert_eq!(runs_with_metrics, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_server_errors_and_garbled_bodies_are_waited_out_and_nothing_is_lost() {
    let world = World::start().await;
    let sim = world.sim();
    let history = sim.generate_history(REPO, 15, Duration::from_secs(86_400));
    let (_moto, metrics) = moto_queue("faults").await;
    let daemon = Daemon::start(&world, queues(metrics.clone()), test_options()).await;
    for kind in [
        FaultKind::SecondaryRateLimit {
            retry_after_secs: 1,
            status: 403,
        },
        FaultKind::SecondaryRateLimit {
            retry_after_secs: 1,
            status: 429,
        },
        FaultKind::Status(502),
        FaultKind::Status(503),
        FaultKind::MalformedJson,
    ] {
        sim.inject_fault(Fault {
            route_contains: Some("/actions/".into()),
            kind,
            times: 2,
        });
    }
    // Ten faults on the first request outlast the retry budget (5 in tests): that cycle gives
    // up cleanly, having committed nothing half-done, and the next one resumes.
    let started = Instant::now();
    daemon.cycle().await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4),
        "retry-after of 1 s four times was not honoured: {elapsed:?}"
    );
    assert!(daemon
        .store
        .cursor(&REPO.parse().unwrap())
        .await
        .unwrap()
        .last_error
        .is_some());
    // The failed repository backs off (the poll interval, doubled per failure) before its next
    // cycle; on the simulator's clock that is a step forward.
    sim.advance(Duration::from_secs(1));
    daemon.cycle().await;
    let messages = drain(metrics.as_ref()).await;

    assert_eq!(sim.stats().faults_fired_total, 10, "{:?}", sim.stats());
    assert!(daemon
        .store
        .cursor(&REPO.parse().unwrap())
        .await
        .unwrap()
        .last_error
        .is_none());
    let completed = completed_run_ids(&messages);
    assert_eq!(completed, history.into_iter().collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_rate_limit_that_runs_out_is_waited_for_not_hammered() {
    let world = World::start().await;
    let sim = world.sim();
    sim.generate_history(REPO, 3, Duration::from_secs(3600));
    let dir = world.dir.path().to_path_buf();
    let metrics = embedded_queue(&dir, "budget").await;
    let daemon = Daemon::start(&world, queues(metrics.clone()), test_options()).await;
    sim.set_rate_limit_remaining(0);
    // The simulator's window resets within the hour: the agent must wait, not retry in a loop.
    let cycle = tokio::time::timeout(Duration::from_secs(3), daemon.cycle()).await;
    assert!(
        cycle.is_err(),
        "the agent did not wait for the rate-limit reset"
    );
    let stats = sim.stats();
    assert!(
        stats.rate_limited_total <= 2,
        "kept requesting while rate limited: {stats:?}"
    );
}
