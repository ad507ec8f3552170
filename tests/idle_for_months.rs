//! Idle stays free for months: an unchanged repository polled (and swept every cycle) for 90
//! simulated days costs no rate-limit point after its first day, and the ETags kept for it do not
//! pile up. Runs on the simulator's manual clock: 90 days take seconds.

use std::time::Duration;

use gha_ingest_pipeline::{PipelineOptions, QueueSet};
use gha_ingest_tests::*;

const HOUR: Duration = Duration::from_secs(3_600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_repository_costs_nothing_for_ninety_days_and_its_etags_stay_flat() {
    let world = World::start().await;
    let sim = world.sim();
    sim.generate_history(REPO, 30, Duration::from_secs(20 * 86_400));
    let queue_dir = tempfile::tempdir().unwrap();
    let metrics = embedded_queue(queue_dir.path(), "idle").await;
    let options = PipelineOptions {
        // Sweep on every cycle: the most a sweep can cost.
        reconcile_interval: Duration::ZERO,
        ..test_options()
    };
    let queues = QueueSet {
        metrics,
        log_requests: None,
    };
    let daemon = Daemon::start(&world, queues, options).await;

    // Day one: the backfill, then the first sweeps learn every window's ETag.
    for _ in 0..2 {
        daemon.cycle().await;
        daemon.agent.prune().await;
        sim.advance(13 * HOUR);
    }
    sim.reset_stats();
    let etags_after_day_one = daemon.store.etag_count().await.unwrap();

    // 13-hour steps cross midnight at every time of day.
    let mut etag_counts = Vec::new();
    let mut cycles = 0;
    while sim.stats().requests_total == 0 || cycles < 90 * 24 / 13 {
        daemon.cycle().await;
        if cycles % 2 == 0 {
            daemon.agent.prune().await;
        }
        etag_counts.push(daemon.store.etag_count().await.unwrap());
        sim.advance(13 * HOUR);
        cycles += 1;
    }
    let stats = sim.stats();
    eprintln!(
        "90 idle days: {cycles} cycles, {} requests, {} not modified, {} rate-limit points; etags {etags_after_day_one} after day one, then {}..={}",
        stats.requests_total,
        stats.not_modified_total,
        stats.rate_limit_points_used,
        etag_counts.iter().min().unwrap(),
        etag_counts.iter().max().unwrap(),
    );
    assert!(stats.requests_total > 1_000, "it did poll: {stats:?}");
    assert_eq!(
        stats.rate_limit_points_used, 0,
        "idle polling spent points: {:?}",
        stats.by_route
    );
    // ETags of finished runs go once unused for a few days; after that the count is flat: one
    // window a day comes, one goes.
    let most = *etag_counts.iter().max().unwrap();
    assert!(
        most <= etags_after_day_one + 5,
        "etags grew: {etags_after_day_one} after day one, then up to {most}: {etag_counts:?}"
    );
    let last_month = &etag_counts[etag_counts.len() - 30 * 24 / 13..];
    let (least, most) = (
        *last_month.iter().min().unwrap(),
        *last_month.iter().max().unwrap(),
    );
    assert!(
        most - least <= 3,
        "the last month is not flat: {least}..={most}: {etag_counts:?}"
    );
}
