//! Runs, jobs and steps move through GitHub's states as the simulated clock advances, and
//! re-runs create new attempts with new jobs while keeping the old ones reachable.

mod common;

use std::time::Duration;

use common::{job_ids, start};
use gha_ingest_sim::RunSpec;
use serde_json::Value;

fn assert_step_invariants(job: &Value) {
    for step in job["steps"].as_array().expect("steps") {
        match step["status"].as_str() {
            Some("queued") => {
                assert!(
                    step["started_at"].is_null()
                        && step["completed_at"].is_null()
                        && step["conclusion"].is_null(),
                    "{step}"
                )
            }
            Some("in_progress") => {
                assert!(
                    step["started_at"].is_string()
                        && step["completed_at"].is_null()
                        && step["conclusion"].is_null(),
                    "{step}"
                )
            }
            Some("completed") => {
                assert!(
                    step["started_at"].is_string()
                        && step["completed_at"].is_string()
                        && step["conclusion"].is_string(),
                    "{step}"
                )
            }
            other => panic!("unexpected step status {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_run_moves_from_queued_to_in_progress_to_completed_with_its_jobs() {
    let test = start().await;
    let run_id = test.handle.create_run(
        "acme/app",
        RunSpec {
            jobs: 3,
            queue_secs: 30,
            run_secs: 120,
            ..RunSpec::default()
        },
    );
    let run_path = format!("/repos/acme/app/actions/runs/{run_id}");
    let jobs_path = format!("{run_path}/jobs");

    let run = test.get_json(&run_path).await;
    assert_eq!(run["status"], "queued");
    assert!(run["conclusion"].is_null());
    assert_eq!(run["run_attempt"], 1);
    assert_eq!(run["created_at"], "2026-06-01T00:00:00Z");
    assert_eq!(run["updated_at"], "2026-06-01T00:00:00Z");
    assert_eq!(run["run_started_at"], "2026-06-01T00:00:00Z");
    assert!(run["previous_attempt_url"].is_null());
    let jobs = test.get_json(&jobs_path).await;
    assert_eq!(jobs["total_count"], 3);
    for job in jobs["jobs"].as_array().expect("jobs") {
        assert_eq!(job["status"], "queued");
        assert!(
            job["runner_name"].is_null() && job["runner_id"].is_null(),
            "runner is null while queued"
        );
        assert!(job["completed_at"].is_null() && job["conclusion"].is_null());
        assert_eq!(job["steps"], serde_json::json!([]));
    }

    test.handle.advance(Duration::from_secs(60));
    let run = test.get_json(&run_path).await;
    assert_eq!(run["status"], "in_progress");
    assert_eq!(run["updated_at"], "2026-06-01T00:00:30Z");
    let jobs = test.get_json(&jobs_path).await;
    let first_job = &jobs["jobs"][0];
    assert_eq!(first_job["status"], "in_progress");
    assert_eq!(first_job["started_at"], "2026-06-01T00:00:30Z");
    assert!(first_job["runner_name"].is_string());
    assert_ne!(
        first_job["steps"][0]["status"], "queued",
        "the first step has begun"
    );
    let statuses: Vec<&str> = first_job["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["status"].as_str())
        .collect();
    assert!(
        statuses.contains(&"in_progress") || statuses.contains(&"queued"),
        "not all steps done yet: {statuses:?}"
    );
    assert_step_invariants(first_job);

    test.handle.advance(Duration::from_secs(120));
    let run = test.get_json(&run_path).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(run["conclusion"], "success");
    assert_eq!(run["updated_at"], "2026-06-01T00:02:30Z");
    let jobs = test.get_json(&jobs_path).await;
    for job in jobs["jobs"].as_array().expect("jobs") {
        assert_eq!(job["status"], "completed");
        assert_eq!(job["conclusion"], "success");
        assert!(job["completed_at"].is_string());
        assert_step_invariants(job);
        let numbers: Vec<u64> = job["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter_map(|s| s["number"].as_u64())
            .collect();
        assert!(numbers.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            numbers.windows(2).any(|pair| pair[1] > pair[0] + 1),
            "step numbers skip: {numbers:?}"
        );
    }
    assert_eq!(jobs["jobs"][0]["completed_at"], "2026-06-01T00:02:30Z");
}

#[tokio::test]
async fn a_rerun_is_a_new_attempt_with_new_jobs_and_old_jobs_stay_reachable() {
    let test = start().await;
    let handle = &test.handle;
    let run_id = handle.create_run(
        "acme/app",
        RunSpec {
            conclusion: Some("failure".into()),
            ..RunSpec::default()
        },
    );
    handle.advance(Duration::from_secs(3600));
    let first_attempt_jobs = handle.job_ids(run_id, 1);
    assert_eq!(first_attempt_jobs.len(), 2);

    assert_eq!(handle.rerun("acme/app", run_id), 2);
    let run_path = format!("/repos/acme/app/actions/runs/{run_id}");
    let run = test.get_json(&run_path).await;
    assert_eq!(run["run_attempt"], 2);
    assert_eq!(run["status"], "queued");
    assert!(run["conclusion"].is_null());
    assert_eq!(
        run["created_at"], "2026-06-01T00:00:00Z",
        "created_at unchanged"
    );
    assert_eq!(run["run_started_at"], "2026-06-01T01:00:00Z");
    assert_eq!(run["updated_at"], "2026-06-01T01:00:00Z");
    assert_eq!(
        run["previous_attempt_url"],
        format!(
            "{}/repos/acme/app/actions/runs/{run_id}/attempts/1",
            test.api
        )
    );

    let second_attempt_jobs = handle.job_ids(run_id, 2);
    assert_eq!(second_attempt_jobs.len(), 2);
    assert!(
        second_attempt_jobs
            .iter()
            .all(|id| !first_attempt_jobs.contains(id)),
        "new job ids"
    );

    let latest = test.get_json(&format!("{run_path}/jobs")).await;
    assert_eq!(job_ids(&latest), second_attempt_jobs);
    let all = test.get_json(&format!("{run_path}/jobs?filter=all")).await;
    assert_eq!(all["total_count"], 4);
    assert_eq!(
        job_ids(&all),
        [first_attempt_jobs.clone(), second_attempt_jobs.clone()].concat()
    );
    assert_eq!(all["jobs"][0]["run_attempt"], 1);
    assert_eq!(all["jobs"][0]["conclusion"], "failure");
    assert_eq!(all["jobs"][2]["run_attempt"], 2);
    let first = test.get_json(&format!("{run_path}/attempts/1/jobs")).await;
    assert_eq!(job_ids(&first), first_attempt_jobs);

    let attempt_one = test.get_json(&format!("{run_path}/attempts/1")).await;
    assert_eq!(attempt_one["run_attempt"], 1);
    assert_eq!(attempt_one["status"], "completed");
    assert_eq!(attempt_one["conclusion"], "failure");
    assert_eq!(
        test.get(&format!("{run_path}/attempts/3")).await.status(),
        404
    );

    handle.advance(Duration::from_secs(600));
    let run = test.get_json(&run_path).await;
    assert_eq!(
        (run["status"].as_str(), run["conclusion"].as_str()),
        (Some("completed"), Some("success"))
    );
    let job = test
        .get_json(&format!(
            "/repos/acme/app/actions/jobs/{}",
            second_attempt_jobs[0]
        ))
        .await;
    assert_eq!(job["run_attempt"], 2);
    assert_eq!(job["conclusion"], "success");
}

#[tokio::test]
async fn a_rerun_of_a_running_attempt_cancels_it() {
    let test = start().await;
    let run_id = test.handle.create_run(
        "acme/app",
        RunSpec {
            queue_secs: 0,
            run_secs: 600,
            ..RunSpec::default()
        },
    );
    test.handle.advance(Duration::from_secs(100));
    assert_eq!(test.handle.rerun("acme/app", run_id), 2);
    let attempt_one = test
        .get_json(&format!("/repos/acme/app/actions/runs/{run_id}/attempts/1"))
        .await;
    assert_eq!(attempt_one["status"], "completed");
    assert_eq!(attempt_one["conclusion"], "cancelled");
    assert_eq!(attempt_one["updated_at"], "2026-06-01T00:01:40Z");
    assert!(test.handle.try_rerun("acme/app", 1).is_err());
}

#[tokio::test]
async fn waiting_runs_show_waiting_before_queued() {
    let test = start().await;
    let run_id = test.handle.create_run(
        "acme/app",
        RunSpec {
            pre_queue_status: Some("waiting".into()),
            pre_queue_secs: 300,
            ..RunSpec::default()
        },
    );
    let run = test.handle.run_json("acme/app", run_id);
    assert_eq!(run["status"], "waiting");
    let job = test.handle.job_json(test.handle.job_ids(run_id, 1)[0]);
    assert_eq!(job["status"], "waiting");
    test.handle.advance(Duration::from_secs(300));
    assert_eq!(test.handle.run_json("acme/app", run_id)["status"], "queued");
}

#[tokio::test]
async fn history_is_completed_realistic_and_fast_to_serve() {
    let test = start().await;
    let started = std::time::Instant::now();
    let ids = test
        .handle
        .generate_history("acme/app", 2_000, Duration::from_secs(30 * 24 * 3600));
    assert_eq!(ids.len(), 2_000);
    let mut conclusions = std::collections::BTreeMap::new();
    let mut shas = std::collections::BTreeSet::new();
    let mut jobless = 0;
    for id in &ids {
        let run = test.handle.run_json("acme/app", *id);
        assert_eq!(run["status"], "completed");
        *conclusions
            .entry(run["conclusion"].as_str().unwrap_or("").to_string())
            .or_insert(0) += 1;
        shas.insert(run["head_sha"].as_str().unwrap_or("").to_string());
        let attempt = u32::try_from(run["run_attempt"].as_u64().unwrap_or(0)).unwrap_or(0);
        let jobs = test.handle.job_ids(*id, attempt).len();
        if run["conclusion"] == "startup_failure" {
            assert_eq!(jobs, 0);
            jobless += 1;
        } else {
            assert!((1..=4).contains(&jobs));
        }
    }
    assert!(
        conclusions.get("success").copied().unwrap_or(0) > 1_000,
        "{conclusions:?}"
    );
    assert!(conclusions.contains_key("failure"), "{conclusions:?}");
    assert!(shas.len() < ids.len(), "some runs share a head SHA");
    assert!(jobless > 0);
    let page = test
        .get_json("/repos/acme/app/actions/runs?per_page=100&page=20")
        .await;
    assert_eq!(page["workflow_runs"].as_array().map(Vec::len), Some(100));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}
