//! The log endpoint over real HTTP: bytes identical to the simulator's log, tail and paging
//! consistent with each other, and refusals for unknown runs and jobs.

mod support;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use support::{Harness, Setup};

async fn requests_sent(harness: &Harness) -> u64 {
    let status: serde_json::Value = harness.get("/api/status").await.json().await.unwrap();
    status["github"]["requests_sent_total"].as_u64().unwrap()
}

#[tokio::test]
async fn a_jobs_log_is_served_from_github_as_the_simulator_wrote_it() {
    let harness = Harness::start(Setup::default()).await;
    let (run_id, job_ids) = harness.completed_run_in_store(2).await;
    let job_id = job_ids[1];
    let (expected_len, expected_sha) = harness
        .sim()
        .job_log_digest(job_id)
        .expect("the job has a log");
    assert!(expected_len > 0);

    let whole = harness
        .get(&format!(
            "/api/runs/{run_id}/jobs/{job_id}/log?tail_bytes={}",
            8 * 1024 * 1024
        ))
        .await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        whole.headers()["x-log-total-bytes"],
        expected_len.to_string().as_str()
    );
    assert_eq!(whole.headers()["x-log-offset"], "0");
    let bytes = whole.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, expected_len);
    assert_eq!(hex::encode(Sha256::digest(&bytes)), expected_sha);

    let requests_after_download = requests_sent(&harness).await;

    // The default is a tail of at most 256 KiB.
    let tail = harness
        .get(&format!("/api/runs/{run_id}/jobs/{job_id}/log"))
        .await;
    assert_eq!(tail.status(), StatusCode::OK);
    let tail = tail.bytes().await.unwrap();
    assert!(bytes.ends_with(&tail) && tail.len() as u64 == expected_len.min(256 * 1024));

    // A short tail, then the page before it: together they are the end of the log.
    let short = harness
        .get(&format!(
            "/api/runs/{run_id}/jobs/{job_id}/log?tail_bytes=10"
        ))
        .await;
    let offset: u64 = short.headers()["x-log-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(offset, expected_len - 10);
    let short = short.bytes().await.unwrap();
    assert_eq!(&short[..], &bytes[bytes.len() - 10..]);
    let earlier = harness
        .get(&format!(
            "/api/runs/{run_id}/jobs/{job_id}/log?offset={}&length=20",
            offset - 20
        ))
        .await;
    assert_eq!(
        earlier.headers()["x-log-offset"],
        (offset - 20).to_string().as_str()
    );
    let earlier = earlier.bytes().await.unwrap();
    assert_eq!(&earlier[..], &bytes[bytes.len() - 30..bytes.len() - 10]);

    // Past the end is an empty page, not an error.
    let past = harness
        .get(&format!(
            "/api/runs/{run_id}/jobs/{job_id}/log?offset={}",
            expected_len + 5
        ))
        .await;
    assert_eq!(past.status(), StatusCode::OK);
    assert!(past.bytes().await.unwrap().is_empty());

    // Paging reads the spooled download: GitHub was asked once.
    assert_eq!(requests_sent(&harness).await, requests_after_download);
    harness.stop().await;
}

#[tokio::test]
async fn unknown_runs_jobs_and_bad_pages_are_refused() {
    let harness = Harness::start(Setup::default()).await;
    let (run_id, job_ids) = harness.completed_run_in_store(1).await;
    let (other_run, other_jobs) = harness.completed_run_in_store(1).await;
    assert_ne!(run_id, other_run);

    let unknown_run = harness
        .get(&format!("/api/runs/999999999/jobs/{}/log", job_ids[0]))
        .await;
    assert_eq!(unknown_run.status(), StatusCode::NOT_FOUND);
    let message: serde_json::Value = unknown_run.json().await.unwrap();
    assert!(
        message["error"].as_str().unwrap().contains("run 999999999"),
        "{message}"
    );

    let foreign_job = harness
        .get(&format!("/api/runs/{run_id}/jobs/{}/log", other_jobs[0]))
        .await;
    assert_eq!(
        foreign_job.status(),
        StatusCode::NOT_FOUND,
        "a job of another run"
    );
    let message: serde_json::Value = foreign_job.json().await.unwrap();
    assert!(
        message["error"]
            .as_str()
            .unwrap()
            .contains("is not a job of run"),
        "{message}"
    );

    let unknown_job = harness
        .get(&format!("/api/runs/{run_id}/jobs/12345/log"))
        .await;
    assert_eq!(unknown_job.status(), StatusCode::NOT_FOUND);

    for query in [
        "tail_bytes=x",
        "offset=1&tail_bytes=1",
        "length=5",
        "tail_bytes=999999999999",
    ] {
        let bad = harness
            .get(&format!(
                "/api/runs/{run_id}/jobs/{}/log?{query}",
                job_ids[0]
            ))
            .await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let not_a_number = harness.get("/api/runs/abc/jobs/1/log").await;
    assert_eq!(not_a_number.status(), StatusCode::BAD_REQUEST);
    harness.stop().await;
}
