//! Job logs: 404 until the job completes, then a 302 to the log origin, which serves the bytes
//! without any `Authorization` header, expires its URLs, and streams logs of any size.

mod common;

use std::time::Duration;

use common::start;
use gha_ingest_sim::{Fault, FaultKind, LogSpec, RunSpec};
use sha2::{Digest, Sha256};

async fn completed_job(test: &common::TestSim) -> u64 {
    let run_id = test.handle.create_run(
        "acme/app",
        RunSpec {
            jobs: 1,
            ..RunSpec::default()
        },
    );
    test.handle.advance(Duration::from_secs(3600));
    test.handle.job_ids(run_id, 1)[0]
}

async fn redirect_location(test: &common::TestSim, job_id: u64) -> String {
    let response = test
        .get(&format!("/repos/acme/app/actions/jobs/{job_id}/logs"))
        .await;
    assert_eq!(response.status(), 302);
    response.headers()["location"]
        .to_str()
        .expect("ascii location")
        .to_string()
}

#[tokio::test]
async fn a_completed_jobs_log_redirects_to_the_log_origin_and_matches_its_digest() {
    let test = start().await;
    let run_id = test.handle.create_run(
        "acme/app",
        RunSpec {
            jobs: 1,
            ..RunSpec::default()
        },
    );
    let job_id = test.handle.job_ids(run_id, 1)[0];
    let logs_path = format!("/repos/acme/app/actions/jobs/{job_id}/logs");

    let not_yet = test.get(&logs_path).await;
    assert_eq!(not_yet.status(), 404, "no log while the job is queued");
    test.handle.advance(Duration::from_secs(20));
    assert_eq!(
        test.get(&logs_path).await.status(),
        404,
        "no log while in progress"
    );

    test.handle.advance(Duration::from_secs(3600));
    test.handle.reset_stats();
    let location = redirect_location(&test, job_id).await;
    assert!(
        location.starts_with(&format!("{}/logs/", test.sim.log_url())),
        "{location}"
    );
    assert_ne!(test.sim.log_url(), test.api, "logs live on another origin");

    let response = test
        .client
        .get(&location)
        .send()
        .await
        .expect("log request");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/plain"));
    let body = response.bytes().await.expect("log body");
    let (length, sha256) = test.handle.job_log_digest(job_id).expect("digest");
    assert_eq!(body.len() as u64, length);
    assert_eq!(hex::encode(Sha256::digest(&body)), sha256);

    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("##[group]Run actions/checkout@v4"));
    assert!(text.contains("Complete job") || text.contains("Cleaning up orphan processes"));
    assert!(text.contains("acme/app"));
    let first_line = text
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap_or("");
    assert_eq!(
        &first_line[19..20],
        ".",
        "7-digit fraction timestamps: {first_line}"
    );
    assert_eq!(&first_line[27..29], "Z ", "{first_line}");

    let stats = test.handle.stats();
    assert_eq!(stats.log_redirects_total, 1);
    assert_eq!(
        stats.rate_limit_points_used, 1,
        "the 302 costs one point, the download none"
    );
    assert_eq!(stats.log_downloads_total, 1);
    assert_eq!(stats.log_bytes_served_total, length);
}

#[tokio::test]
async fn the_log_origin_refuses_authorization_and_unknown_tokens() {
    let test = start().await;
    let job_id = completed_job(&test).await;
    let location = redirect_location(&test, job_id).await;

    let with_token = test
        .client
        .get(&location)
        .bearer_auth("ghp_secret")
        .send()
        .await
        .expect("request");
    assert_eq!(with_token.status(), 403);
    let body = with_token.text().await.expect("body");
    assert!(!body.contains("acme"), "a refused request leaks nothing");
    assert_eq!(test.handle.stats().log_authorization_rejected_total, 1);

    let unknown = test
        .client
        .get(format!("{}/logs/0123abcd", test.sim.log_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn log_urls_expire_on_the_simulated_clock() {
    let test = start().await;
    let job_id = completed_job(&test).await;
    test.handle.set_log_url_ttl(Duration::from_secs(60));
    let location = redirect_location(&test, job_id).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    test.handle.advance(Duration::from_millis(59_999));
    assert_eq!(
        test.client
            .get(&location)
            .send()
            .await
            .expect("request")
            .status(),
        200,
        "real time does not expire a link on the manual clock, nor does 59.999 s of it"
    );
    test.handle.advance(Duration::from_millis(1));
    assert_eq!(
        test.client
            .get(&location)
            .send()
            .await
            .expect("request")
            .status(),
        404
    );
}

#[tokio::test]
async fn gone_and_missing_logs_answer_410_and_404() {
    let test = start().await;
    let job_id = completed_job(&test).await;
    let path = format!("/repos/acme/app/actions/jobs/{job_id}/logs");
    test.handle.set_job_log(job_id, LogSpec::Gone);
    let gone = test.get(&path).await;
    assert_eq!(gone.status(), 410);
    let body: serde_json::Value = gone.json().await.expect("json");
    assert_eq!(body["status"], "410");
    assert_eq!(test.handle.job_log_digest(job_id), None);

    test.handle.set_job_log(job_id, LogSpec::Missing);
    assert_eq!(test.get(&path).await.status(), 404);
    assert_eq!(
        test.get("/repos/acme/app/actions/jobs/1/logs")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn given_bytes_are_served_exactly_even_when_not_utf8() {
    let test = start().await;
    let job_id = completed_job(&test).await;
    let bytes = vec![
        0xff, 0xfe, b'\x1b', b'[', b'3', b'1', b'm', b'\n', 0x00, 0x80,
    ];
    test.handle
        .set_job_log(job_id, LogSpec::Bytes(bytes.clone()));
    let location = redirect_location(&test, job_id).await;
    let body = test
        .client
        .get(&location)
        .send()
        .await
        .expect("request")
        .bytes()
        .await
        .expect("body");
    assert_eq!(body.to_vec(), bytes);
    assert_eq!(
        test.handle.job_log_digest(job_id).map(|(length, _)| length),
        Some(10)
    );
}

#[tokio::test]
async fn a_generated_50_mb_log_streams_completely() {
    let test = start().await;
    let job_id = completed_job(&test).await;
    let size: u64 = 50 * 1024 * 1024 + 7;
    test.handle.set_job_log(
        job_id,
        LogSpec::Generated {
            bytes: size,
            line_len: 120,
        },
    );
    let location = redirect_location(&test, job_id).await;
    let mut response = test.client.get(&location).send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert!(
        response.content_length().is_none(),
        "streamed with chunked encoding"
    );
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut chunks = 0;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        received += chunk.len() as u64;
        hasher.update(&chunk);
        chunks += 1;
    }
    assert!(chunks > 100, "arrived in many chunks");
    let (length, sha256) = test.handle.job_log_digest(job_id).expect("digest");
    assert_eq!((received, size), (length, length));
    assert_eq!(hex::encode(hasher.finalize()), sha256);
}

#[tokio::test]
async fn log_host_faults_fire_on_the_log_origin_only() {
    let test = start().await;
    let job_id = completed_job(&test).await;
    test.handle.inject_fault(Fault {
        route_contains: None,
        kind: FaultKind::LogHostStatus(503),
        times: 1,
    });
    let location = redirect_location(&test, job_id).await;
    assert_eq!(
        test.client
            .get(&location)
            .send()
            .await
            .expect("request")
            .status(),
        503
    );
    assert_eq!(
        test.client
            .get(&location)
            .send()
            .await
            .expect("request")
            .status(),
        200
    );
}
