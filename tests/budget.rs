//! The request budget end to end, against a simulator that enforces GitHub's limits: the
//! points-per-minute ceiling keeps a credential clear of the secondary limit, and the reserve
//! keeps fresh runs flowing while catch-up waits for the hourly window to reset.

use std::time::{Duration, Instant};

use gha_ingest_github::{BudgetOptions, ClientOptions, GithubAccess, GithubClient};
use gha_ingest_pipeline::QueueSet;
use gha_ingest_sim::{ClockMode, SecondaryLimits, SimConfig};
use gha_ingest_tests::*;
use tokio_util::sync::CancellationToken;

fn access(world: &World, budget: BudgetOptions) -> GithubAccess {
    GithubAccess::token(
        GithubClient::new(ClientOptions {
            budget,
            ..world.client_options()
        })
        .unwrap(),
    )
}

/// GitHub's secondary limit, shrunk to 14 points a minute so that a minute of this test shows
/// what a minute of a large organisation would: the daemon's ceiling of 12 keeps it clear.
#[tokio::test]
async fn the_ceiling_keeps_a_credential_clear_of_github_s_secondary_limit() {
    let world = World::start_with(SimConfig {
        token: Some(TEST_TOKEN.to_string()),
        clock: ClockMode::Manual,
        secondary: SecondaryLimits {
            points_per_minute: Some(14),
            max_concurrent: Some(100),
        },
        ..SimConfig::default()
    })
    .await;
    // Six runs: the list, and per run its jobs, commit and pull requests: about 20 requests,
    // more than one minute's ceiling.
    let runs = world
        .sim()
        .generate_history(REPO, 6, Duration::from_secs(3 * 3600));
    let queue = embedded_queue(world.dir.path(), "metrics").await;
    let queues = QueueSet {
        metrics: queue.clone(),
        log_requests: None,
    };
    let budget = BudgetOptions {
        points_per_minute: 12,
        ..world.client_options().budget
    };
    let daemon = Daemon::start_with(&world, access(&world, budget), queues, test_options()).await;
    daemon
        .store
        .add_repository(&REPO.parse().unwrap(), "config")
        .await
        .unwrap();
    let started = Instant::now();
    daemon.cycle().await;

    let messages = drain(queue.as_ref()).await;
    assert_eq!(completed_run_ids(&messages), runs.into_iter().collect());
    let pat = &world.sim().stats().credentials["pat"];
    assert_eq!(pat.secondary_rate_limited, 0, "never refused: {pat:?}");
    assert!(pat.max_points_per_minute <= 12, "{pat:?}");
    assert!(
        pat.requests > 12,
        "the work took more than one minute's points: {pat:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(55),
        "the ceiling spread it over more than a minute"
    );
    daemon.stop().await;
}

/// A budget down to its reserve: the open run (fresh work) is still followed to completion, the
/// history (catch-up) waits; when the window resets the history follows.
#[tokio::test]
async fn only_fresh_work_spends_the_reserve_and_catch_up_resumes_at_the_reset() {
    let world = World::start_with(SimConfig {
        token: Some(TEST_TOKEN.to_string()),
        clock: ClockMode::Manual,
        secondary: SecondaryLimits::disabled(),
        rate_limit_per_hour: 200,
        ..SimConfig::default()
    })
    .await;
    let history = world
        .sim()
        .generate_history(REPO, 5, Duration::from_secs(3 * 3600));
    let live = world.sim().create_run(REPO, Default::default());
    // 20 % of 200 is reserved for fresh work: 30 left is past the point catch-up may go.
    world.sim().set_rate_limit_remaining(30);
    let queue = embedded_queue(world.dir.path(), "metrics").await;
    let queues = QueueSet {
        metrics: queue.clone(),
        log_requests: None,
    };
    let budget = BudgetOptions {
        reserve_percent: 20,
        ..world.client_options().budget
    };
    let client_access = access(&world, budget);
    let daemon = Daemon::start_with(&world, client_access.clone(), queues, test_options()).await;
    daemon
        .store
        .add_repository(&REPO.parse().unwrap(), "config")
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let agent = tokio::spawn(daemon.agent.clone().run(shutdown.clone()));
    let publisher = tokio::spawn(daemon.publisher.clone().run(shutdown.clone()));

    // The live run completes while the budget sits at the reserve.
    tokio::time::sleep(Duration::from_millis(500)).await;
    world.sim().advance(Duration::from_secs(600));
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !completed_run_ids(&seen).contains(&live) {
        assert!(Instant::now() < deadline, "the live run never completed");
        seen.extend(drain(queue.as_ref()).await);
    }
    let history_seen = completed_run_ids(&seen);
    assert!(
        history.iter().all(|run| !history_seen.contains(run)),
        "no history was read at the reserve"
    );
    let plan = client_access.clients()[0].budget();
    assert!(plan.waiting[3] > 0, "catch-up waits: {plan:?}");

    // The window resets: the next answer says so (a collection asked from the dashboard makes
    // one now; the repository is quiet), and the history follows.
    world.sim().set_rate_limit_remaining(200);
    daemon.agent.trigger().notify_one();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !history
        .iter()
        .all(|run| completed_run_ids(&seen).contains(run))
    {
        assert!(Instant::now() < deadline, "the history never arrived");
        seen.extend(drain(queue.as_ref()).await);
    }
    assert!(duplicate_ids(&seen).is_empty());
    shutdown.cancel();
    agent.await.unwrap();
    publisher.await.unwrap();
}
