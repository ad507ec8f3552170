//! Starting, clocks and stopping: the real-time clock moves runs by itself, and shutdown frees
//! both origins.

mod common;

use std::time::Duration;

use common::start_with;
use gha_ingest_sim::{ClockMode, RunSpec, SimConfig};

#[tokio::test]
async fn a_real_time_clock_moves_runs_without_advance() {
    let config = SimConfig {
        clock: ClockMode::RealTime { speed: 600.0 },
        ..SimConfig::default()
    };
    let test = start_with(config).await;
    let wall_clock_gap = (test.handle.now() - chrono::Utc::now()).num_seconds().abs();
    assert!(
        wall_clock_gap < 5,
        "real-time simulation starts at the wall clock"
    );
    let run_id = test.handle.create_run(
        "acme/app",
        RunSpec {
            queue_secs: 10,
            run_secs: 60,
            ..RunSpec::default()
        },
    );
    assert_eq!(
        test.get_json(&format!("/repos/acme/app/actions/runs/{run_id}"))
            .await["status"],
        "queued"
    );
    // 70 simulated seconds pass in about 117 ms at 600×.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let run = test
        .get_json(&format!("/repos/acme/app/actions/runs/{run_id}"))
        .await;
    assert_eq!(run["status"], "completed");
}

#[tokio::test]
async fn shutdown_closes_both_origins() {
    let test = start_with(SimConfig::default()).await;
    test.handle.add_repo("acme", "app");
    let api = test.sim.api_url();
    let logs = test.sim.log_url();
    assert_eq!(test.get("/repos/acme/app").await.status(), 200);
    assert!(api.starts_with("http://127.0.0.1:") && !api.ends_with('/'));
    test.sim.shutdown().await;
    let fresh_client = reqwest::Client::new();
    assert!(fresh_client
        .get(format!("{api}/repos/acme/app"))
        .send()
        .await
        .is_err());
    assert!(fresh_client
        .get(format!("{logs}/logs/x"))
        .send()
        .await
        .is_err());
}
