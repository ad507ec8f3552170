//! Injected faults fire exactly as often as asked, the primary rate limit runs out, and a
//! configured token is enforced like GitHub's.

mod common;

use std::time::{Duration, Instant};

use common::{start, start_with};
use gha_ingest_sim::{Fault, FaultKind, SimConfig};

#[tokio::test]
async fn a_status_fault_fires_exactly_times_on_matching_routes() {
    let test = start().await;
    test.handle
        .generate_history("acme/app", 3, Duration::from_secs(600));
    test.handle.inject_fault(Fault {
        route_contains: Some("/actions/runs".into()),
        kind: FaultKind::Status(502),
        times: 2,
    });
    assert_eq!(
        test.get("/repos/acme/app").await.status(),
        200,
        "other routes are untouched"
    );
    let first = test.get("/repos/acme/app/actions/runs").await;
    assert_eq!(first.status(), 502);
    assert!(first.headers().contains_key("x-ratelimit-remaining"));
    let body: serde_json::Value = first.json().await.expect("json body");
    assert_eq!(body["message"], "Bad Gateway");
    assert_eq!(test.get("/repos/acme/app/actions/runs").await.status(), 502);
    assert_eq!(test.get("/repos/acme/app/actions/runs").await.status(), 200);
    let stats = test.handle.stats();
    assert_eq!(stats.faults_fired_total, 2);
    assert_eq!(stats.by_status.get(&502), Some(&2));
    assert_eq!(
        stats.rate_limit_points_used, 2,
        "faulted answers cost nothing"
    );
}

#[tokio::test]
async fn secondary_rate_limits_answer_with_retry_after() {
    let test = start().await;
    test.handle.add_repo("acme", "app");
    for status in [403u16, 429] {
        test.handle.inject_fault(Fault {
            route_contains: None,
            kind: FaultKind::SecondaryRateLimit {
                retry_after_secs: 42,
                status,
            },
            times: 1,
        });
        let response = test.get("/repos/acme/app").await;
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["retry-after"], "42");
        assert_ne!(
            response.headers()["x-ratelimit-remaining"],
            "0",
            "not the primary limit"
        );
        let body: serde_json::Value = response.json().await.expect("json");
        assert!(body["message"]
            .as_str()
            .unwrap_or("")
            .contains("secondary rate limit"));
    }
    assert_eq!(test.handle.stats().secondary_rate_limited_total, 2);
}

#[tokio::test]
async fn malformed_json_and_delays() {
    let test = start().await;
    test.handle.add_repo("acme", "app");
    test.handle.inject_fault(Fault {
        route_contains: None,
        kind: FaultKind::MalformedJson,
        times: 1,
    });
    let garbled = test.get("/repos/acme/app").await;
    assert_eq!(garbled.status(), 200);
    let text = garbled.text().await.expect("body");
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "body is not valid JSON"
    );
    assert!(serde_json::from_str::<serde_json::Value>(
        &test
            .get("/repos/acme/app")
            .await
            .text()
            .await
            .expect("body")
    )
    .is_ok());

    test.handle.inject_fault(Fault {
        route_contains: None,
        kind: FaultKind::Delay(Duration::from_millis(400)),
        times: 1,
    });
    let started = Instant::now();
    assert_eq!(test.get("/repos/acme/app").await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    let started = Instant::now();
    test.get("/repos/acme/app").await;
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "the delay fired once"
    );
}

#[tokio::test]
async fn an_exhausted_primary_limit_answers_403_until_points_return() {
    let test = start().await;
    test.handle.add_repo("acme", "app");
    test.handle.set_rate_limit_remaining(2);
    assert_eq!(test.get("/repos/acme/app").await.status(), 200);
    let last = test.get("/repos/acme/app").await;
    assert_eq!(last.status(), 200);
    assert_eq!(last.headers()["x-ratelimit-remaining"], "0");

    let refused = test.get("/repos/acme/app").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    assert!(refused.headers().contains_key("x-ratelimit-reset"));
    let body: serde_json::Value = refused.json().await.expect("json");
    assert!(body["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("API rate limit exceeded"));
    assert_eq!(
        test.get("/rate_limit").await.status(),
        200,
        "/rate_limit still answers"
    );
    assert_eq!(test.handle.stats().rate_limited_total, 1);

    test.handle.set_rate_limit_remaining(5_000);
    assert_eq!(test.get("/repos/acme/app").await.status(), 200);
}

#[tokio::test]
async fn a_configured_token_is_required() {
    let test = start_with(SimConfig {
        token: Some("ghp_test".into()),
        ..SimConfig::default()
    })
    .await;
    test.handle.add_repo("acme", "app");
    let url = format!("{}/repos/acme/app", test.api);
    let anonymous = test.client.get(&url).send().await.expect("request");
    assert_eq!(anonymous.status(), 401);
    let body: serde_json::Value = anonymous.json().await.expect("json");
    assert_eq!(body["message"], "Requires authentication");
    let wrong = test
        .client
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        test.client
            .get(&url)
            .bearer_auth("ghp_test")
            .send()
            .await
            .expect("request")
            .status(),
        200
    );
    let classic = test
        .client
        .get(&url)
        .header("authorization", "token ghp_test")
        .send()
        .await
        .expect("request");
    assert_eq!(classic.status(), 200);
    assert_eq!(test.handle.stats().unauthorized_total, 2);
}
