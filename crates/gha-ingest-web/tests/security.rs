//! The server on a reachable port, over real HTTP: every read needs a token, failed tokens are
//! throttled, a foreign `Host` is refused, the log viewer shares one download per job and
//! refuses downloads past its limit, and every answer carries the hardening headers.

mod support;

use std::time::Duration;

use gha_ingest_sim::{Fault, FaultKind};
use reqwest::{Method, StatusCode};
use support::{Harness, Setup, ADMIN_TOKEN, READ_TOKEN};

/// GitHub log requests the simulator saw (the redirecting API route).
fn log_requests(harness: &Harness) -> u64 {
    harness
        .sim()
        .stats()
        .by_route
        .iter()
        .filter(|(route, _)| route.ends_with("/logs"))
        .map(|(_, count)| *count)
        .sum()
}

/// Makes the next `times` log requests take `millis` each, so concurrent ones overlap.
fn slow_logs(harness: &Harness, millis: u64, times: u32) {
    harness.sim().inject_fault(Fault {
        route_contains: Some("/logs".to_string()),
        kind: FaultKind::Delay(Duration::from_millis(millis)),
        times,
    });
}

async fn get_with(harness: &Harness, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = harness.http.get(harness.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_read_route_needs_the_read_or_admin_token() {
    let harness = Harness::start(Setup {
        metrics_require_token: true,
        ..Setup::default()
    })
    .await;
    let (run_id, job_ids) = harness.completed_run_in_store(1).await;
    let log = format!("/api/runs/{run_id}/jobs/{}/log", job_ids[0]);
    let reads = [
        "/api/status",
        "/api/repositories",
        "/api/runs",
        log.as_str(),
        "/metrics",
    ];
    for path in reads {
        let anonymous = get_with(&harness, path, None).await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer", "{path}");
        for token in [READ_TOKEN, ADMIN_TOKEN] {
            let answer = get_with(&harness, path, Some(token)).await;
            assert_eq!(answer.status(), StatusCode::OK, "{path}");
        }
    }
    // Liveness, readiness and the page itself (which holds no data) stay open.
    for path in [
        "/healthz",
        "/readyz",
        "/",
        "/assets/dashboard.js",
        "/assets/dashboard.css",
    ] {
        assert_eq!(
            get_with(&harness, path, None).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    // The read token reads but never changes anything.
    let refused = harness
        .http
        .post(harness.url("/api/collect"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    harness.stop().await;

    // /metrics is open by default (the Prometheus convention).
    let default = Harness::start(Setup::default()).await;
    assert_eq!(default.anonymous("/metrics").await.status(), StatusCode::OK);
    assert_eq!(
        default.anonymous("/api/status").await.status(),
        StatusCode::UNAUTHORIZED
    );
    default.stop().await;

    // No read token: reads are open (the configuration allows that on loopback only).
    let open = Harness::start(Setup {
        read_token: None,
        ..Setup::default()
    })
    .await;
    assert_eq!(open.anonymous("/api/status").await.status(), StatusCode::OK);
    open.stop().await;
}

#[tokio::test]
async fn wrong_tokens_are_throttled_per_client_even_before_the_right_one() {
    let harness = Harness::start(Setup::default()).await;
    for attempt in 0..5 {
        let wrong = get_with(
            &harness,
            "/api/status",
            Some("guess-guess-guess-guess-guess"),
        )
        .await;
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN, "attempt {attempt}");
    }
    let throttled = get_with(
        &harness,
        "/api/status",
        Some("guess-guess-guess-guess-guess"),
    )
    .await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // The right token gets the same answer now, or the throttle would confirm a guess.
    let right = get_with(&harness, "/api/status", Some(READ_TOKEN)).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    harness.stop().await;
}

#[tokio::test]
async fn a_foreign_host_is_refused_before_any_route() {
    let harness = Harness::start(Setup::default()).await;
    for path in ["/", "/api/status", "/healthz"] {
        let rebound = harness
            .http
            .get(harness.url(path))
            .header("host", "attacker.example")
            .bearer_auth(READ_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(rebound.status(), StatusCode::MISDIRECTED_REQUEST, "{path}");
    }
    for host in [
        "localhost:8080",
        "127.0.0.1",
        "dashboard.example.com",
        "10.0.0.7:8080",
    ] {
        let allowed = harness
            .http
            .get(harness.url("/api/status"))
            .header("host", host)
            .bearer_auth(READ_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), StatusCode::OK, "{host}");
    }
    harness.stop().await;
}

#[tokio::test]
async fn answers_carry_the_hardening_headers_and_the_page_no_unsafe_inline() {
    let harness = Harness::start(Setup::default()).await;
    let page = harness.anonymous("/").await;
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<style>"),
        "no inline code"
    );
    assert!(html.contains("integrity=\"sha256-"), "assets are pinned");

    let (run_id, job_ids) = harness.completed_run_in_store(1).await;
    let log = harness
        .get(&format!("/api/runs/{run_id}/jobs/{}/log", job_ids[0]))
        .await;
    assert_eq!(log.status(), StatusCode::OK);
    assert_eq!(log.headers()["x-content-type-options"], "nosniff");
    for path in ["/api/status", "/api/runs"] {
        let answer = harness.get(path).await;
        assert_eq!(answer.headers()["cache-control"], "no-store", "{path}");
        assert_eq!(answer.headers()["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(
            answer.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
    harness.stop().await;
}

#[tokio::test]
async fn concurrent_requests_for_one_uncached_log_make_one_github_request() {
    // Enough download slots that only the single flight can keep this to one request.
    let harness = Harness::start(Setup {
        max_concurrent_downloads: 8,
        ..Setup::default()
    })
    .await;
    let (run_id, job_ids) = harness.completed_run_in_store(1).await;
    let path = format!("/api/runs/{run_id}/jobs/{}/log", job_ids[0]);
    slow_logs(&harness, 500, 1);
    let before = log_requests(&harness);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let request = harness.http.get(harness.url(&path)).bearer_auth(READ_TOKEN);
        tasks.spawn(async move { request.send().await.unwrap().status() });
    }
    for status in tasks.join_all().await {
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        log_requests(&harness) - before,
        1,
        "one download for six requests"
    );
    harness.stop().await;
}

#[tokio::test]
async fn a_download_past_the_concurrency_limit_is_refused_with_429() {
    let harness = Harness::start(Setup {
        max_concurrent_downloads: 2,
        ..Setup::default()
    })
    .await;
    let (run_id, job_ids) = harness.completed_run_in_store(3).await;
    slow_logs(&harness, 1500, 3);
    let mut tasks = tokio::task::JoinSet::new();
    for job_id in job_ids.iter().take(3) {
        let request = harness
            .http
            .request(
                Method::GET,
                harness.url(&format!("/api/runs/{run_id}/jobs/{job_id}/log")),
            )
            .bearer_auth(READ_TOKEN);
        tasks.spawn(async move {
            let answer = request.send().await.unwrap();
            let retry_after = answer
                .headers()
                .get("retry-after")
                .map(|value| value.to_str().unwrap().to_string());
            (answer.status(), retry_after)
        });
    }
    let mut answers = tasks.join_all().await;
    answers.sort_by_key(|(status, _)| status.as_u16());
    assert_eq!(answers[0].0, StatusCode::OK, "{answers:?}");
    assert_eq!(answers[1].0, StatusCode::OK, "{answers:?}");
    assert_eq!(answers[2].0, StatusCode::TOO_MANY_REQUESTS, "{answers:?}");
    assert!(answers[2]
        .1
        .as_deref()
        .is_some_and(|secs| secs.parse::<u64>().unwrap() >= 1));
    // The refused log downloads once a slot is free; spool files live in the data folder.
    let retry = harness
        .get(&format!("/api/runs/{run_id}/jobs/{}/log", job_ids[2]))
        .await;
    assert_eq!(retry.status(), StatusCode::OK);
    assert!(harness.spool_dir.is_dir());
    harness.stop().await;
}

#[tokio::test]
async fn a_client_starting_too_many_downloads_is_refused_with_429() {
    let harness = Harness::start(Setup {
        downloads_per_client_per_minute: 1,
        ..Setup::default()
    })
    .await;
    let (run_id, job_ids) = harness.completed_run_in_store(2).await;
    let first = format!("/api/runs/{run_id}/jobs/{}/log", job_ids[0]);
    assert_eq!(harness.get(&first).await.status(), StatusCode::OK);
    let second = harness
        .get(&format!("/api/runs/{run_id}/jobs/{}/log", job_ids[1]))
        .await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(second.headers().contains_key("retry-after"));
    // Paging through a log already downloaded costs nothing and is never refused.
    assert_eq!(harness.get(&first).await.status(), StatusCode::OK);
    assert_eq!(log_requests(&harness), 1);
    harness.stop().await;
}
