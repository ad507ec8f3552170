//! How often each repository is polled, end to end: the agent over HTTP against the simulator on
//! its manual clock, cycles run as the fresh lane runs them, the cadence read back from the
//! cursors in SQLite. A repository whose newest run is old starts at the slow cadence; one with
//! activity is polled every interval while its last change is recent, then less and less often.

use std::time::Duration;

use chrono::{DateTime, Utc};
use gha_ingest_core::RepoName;
use gha_ingest_pipeline::{Delivery, DeliveryOutcome, PipelineOptions, QueueSet};
use gha_ingest_sim::RunSpec;
use gha_ingest_tests::*;

const INTERVAL: Duration = Duration::from_secs(30);
const QUIET_MAX: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dormant_repository_starts_slow_and_an_active_one_keeps_the_interval_while_recent() {
    let world = World::start().await;
    let sim = world.sim();
    // Dormant: its newest run is days old.
    sim.generate_history(REPO, 5, Duration::from_secs(20 * 86_400));
    sim.advance(Duration::from_secs(3 * 86_400));
    // Active: a run starts now and completes about a minute later.
    sim.add_repo("octo", "busy");
    sim.create_run(
        "octo/busy",
        RunSpec {
            jobs: 1,
            queue_secs: 5,
            run_secs: 60,
            ..RunSpec::default()
        },
    );
    let (daemon, _queue_dir) = daemon_at_the_cadence(&world, 1).await;
    let dormant: RepoName = REPO.parse().unwrap();
    let busy: RepoName = "octo/busy".parse().unwrap();
    daemon.store.add_repository(&busy, "config").await.unwrap();

    daemon.agent.poll_due_once().await;
    let first = daemon.store.cursor(&dormant).await.unwrap();
    let next = first.next_poll_at.expect("a dormant repository waits");
    assert!(
        next - sim.now() >= chrono::Duration::seconds(500),
        "a dormant repository starts at the slow cadence: next poll at {next}, now {}",
        sim.now()
    );

    // Thirty cycles, one every interval: fifteen minutes.
    let mut dormant_last = first.last_poll_at;
    let mut busy_last = daemon.store.cursor(&busy).await.unwrap().last_poll_at;
    let mut dormant_polls = Vec::new();
    let mut busy_polls = Vec::new();
    for cycle in 1..=30u64 {
        sim.advance(INTERVAL);
        daemon.agent.poll_due_once().await;
        let at = cycle * INTERVAL.as_secs();
        if polled(
            daemon.store.cursor(&dormant).await.unwrap().last_poll_at,
            &mut dormant_last,
        ) {
            dormant_polls.push(at);
        }
        if polled(
            daemon.store.cursor(&busy).await.unwrap().last_poll_at,
            &mut busy_last,
        ) {
            busy_polls.push(at);
        }
    }
    eprintln!("dormant polled at {dormant_polls:?} s; busy at {busy_polls:?} s");

    // The dormant one: once, some ten minutes after its first poll.
    assert_eq!(dormant_polls.len(), 1, "{dormant_polls:?}");
    assert!((570..=630).contains(&dormant_polls[0]), "{dormant_polls:?}");
    // The busy one: every cycle while its run was open and for five minutes after it completed
    // (about 70 s in), then less often.
    let every_cycle: Vec<u64> = (1..=14).map(|cycle| cycle * 30).collect();
    assert_eq!(
        busy_polls[..14],
        every_cycle[..],
        "polled every interval while recent: {busy_polls:?}"
    );
    let later = busy_polls.iter().filter(|&&at| at > 480).count();
    assert!(
        (1..10).contains(&later),
        "slower once quiet for five minutes: {busy_polls:?}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_planned_slow_while_webhooks_were_healthy_come_back_once_a_poll_finds_a_change_first()
{
    let world = World::start().await;
    let sim = world.sim();
    sim.add_repo("octo", "quiet");
    let (daemon, _queue_dir) = daemon_at_the_cadence(&world, 4).await;
    let quiet: RepoName = "octo/quiet".parse().unwrap();
    daemon.store.add_repository(&quiet, "config").await.unwrap();
    let last_poll = || async { daemon.store.cursor(&quiet).await.unwrap().last_poll_at };

    // A ping proves that deliveries reach the daemon: quiet repositories wait four times longer.
    let ping = Delivery {
        id: "d-ping",
        event: "ping",
        body: br#"{"zen":"Design for failure."}"#,
    };
    let webhooks = daemon.receive_webhooks();
    assert_eq!(
        webhooks.receive(ping).await.unwrap(),
        DeliveryOutcome::Ignored
    );
    daemon.agent.poll_due_once().await;
    let planned = daemon.store.cursor(&quiet).await.unwrap().next_poll_at;
    let wait = planned.expect("a dormant repository waits") - sim.now();
    assert!(wait >= chrono::Duration::seconds(2_000), "waits {wait}");
    let first_poll = last_poll().await;
    sim.advance(QUIET_MAX);
    daemon.agent.poll_due_once().await;
    assert_eq!(
        last_poll().await,
        first_poll,
        "polled at the normal cadence"
    );

    // A run no delivery announced, found by a poll of the other repository: webhooks are not
    // to be trusted now, and the quiet repository is due at the cadence it would have without
    // them, although its slow poll was planned half an hour ahead.
    sim.create_run(REPO, RunSpec::default());
    daemon.agent.poll_repository(&REPO.parse().unwrap()).await;
    sim.advance(INTERVAL);
    daemon.agent.poll_due_once().await;
    assert_ne!(
        last_poll().await,
        first_poll,
        "still waiting for the slow poll planned while webhooks were healthy"
    );
    daemon.stop().await;
}

/// The agent polling at [`INTERVAL`], quiet repositories at most [`QUIET_MAX`] apart, the sweep
/// hourly, `slowdown` times slower while webhooks are healthy; its queue lives in the directory
/// returned beside it.
async fn daemon_at_the_cadence(world: &World, slowdown: u32) -> (Daemon, tempfile::TempDir) {
    let queue_dir = tempfile::tempdir().unwrap();
    let queues = QueueSet {
        metrics: embedded_queue(queue_dir.path(), "cadence").await,
        log_requests: None,
    };
    let options = PipelineOptions {
        poll_interval: INTERVAL,
        quiet_poll_max: QUIET_MAX,
        reconcile_interval: Duration::from_secs(3_600),
        webhook_poll_slowdown: slowdown,
        ..test_options()
    };
    (Daemon::start(world, queues, options).await, queue_dir)
}

/// Whether the cursor's last poll moved since `last` (and remembers it).
fn polled(cursor_at: Option<DateTime<Utc>>, last: &mut Option<DateTime<Utc>>) -> bool {
    let changed = cursor_at != *last;
    *last = cursor_at;
    changed
}
