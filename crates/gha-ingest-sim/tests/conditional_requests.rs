//! ETags and `If-None-Match`: a 304 has no body and costs no rate-limit point, so an idle
//! repository is free to poll; the ETag changes when the resource's state does.

mod common;

use std::time::Duration;

use common::start;
use gha_ingest_sim::RunSpec;

#[tokio::test]
async fn idle_polling_with_etags_costs_no_rate_limit_points() {
    let test = start().await;
    test.handle
        .generate_history("acme/app", 40, Duration::from_secs(3600));

    let first = test.get("/repos/acme/app/actions/runs?per_page=100").await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"]
        .to_str()
        .expect("ascii etag")
        .to_string();
    assert!(
        etag.starts_with("W/\"") && etag.len() == 3 + 64 + 1,
        "weak sha256 etag: {etag}"
    );
    let remaining_after_first: u32 = first.headers()["x-ratelimit-remaining"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number");
    assert_eq!(remaining_after_first, 4_999);

    test.handle.reset_stats();
    for _ in 0..5 {
        test.handle.advance(Duration::from_secs(60));
        let response = test
            .client
            .get(format!(
                "{}/repos/acme/app/actions/runs?per_page=100",
                test.api
            ))
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 304);
        assert_eq!(
            response.headers()["etag"].to_str().ok(),
            Some(etag.as_str())
        );
        assert_eq!(
            response.headers()["x-ratelimit-remaining"],
            "4999",
            "a 304 is free"
        );
        assert!(response.bytes().await.expect("body").is_empty());
    }
    let stats = test.handle.stats();
    assert_eq!(stats.requests_total, 5);
    assert_eq!(stats.not_modified_total, 5);
    assert_eq!(stats.rate_limit_points_used, 0);
    assert_eq!(stats.by_status.get(&304), Some(&5));
}

#[tokio::test]
async fn etag_is_stable_for_the_same_state_and_changes_with_it() {
    let test = start().await;
    let run_id = test.handle.create_run("acme/app", RunSpec::default());
    let path = format!("/repos/acme/app/actions/runs/{run_id}");
    let etag_of = |response: &reqwest::Response| {
        response.headers()["etag"]
            .to_str()
            .expect("ascii")
            .to_string()
    };

    let queued_etag = etag_of(&test.get(&path).await);
    assert_eq!(
        etag_of(&test.get(&path).await),
        queued_etag,
        "same state, same etag"
    );

    test.handle.advance(Duration::from_secs(10));
    let stale = test
        .client
        .get(format!("{}{path}", test.api))
        .header("if-none-match", &queued_etag)
        .send()
        .await
        .expect("request");
    assert_eq!(stale.status(), 200, "the run moved to in_progress");
    assert_ne!(etag_of(&stale), queued_etag);
    let body: serde_json::Value = stale.json().await.expect("json");
    assert_eq!(body["status"], "in_progress");

    let points_before = test.handle.stats().rate_limit_points_used;
    let star = test
        .client
        .get(format!("{}{path}", test.api))
        .header("if-none-match", "\"other\", *")
        .send()
        .await
        .expect("request");
    assert_eq!(star.status(), 304);
    assert_eq!(test.handle.stats().rate_limit_points_used, points_before);
}

#[tokio::test]
async fn every_api_response_carries_rate_limit_headers_and_rate_limit_is_free() {
    let test = start().await;
    test.handle.add_repo("acme", "app");
    let response = test.get("/repos/acme/app").await;
    for header in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-used",
        "x-ratelimit-reset",
        "x-ratelimit-resource",
        "etag",
    ] {
        assert!(response.headers().contains_key(header), "{header}");
    }
    assert_eq!(response.headers()["x-ratelimit-limit"], "5000");
    assert_eq!(response.headers()["x-ratelimit-used"], "1");
    assert_eq!(response.headers()["x-ratelimit-resource"], "core");
    let reset: i64 = response.headers()["x-ratelimit-reset"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("epoch");
    let simulated_now = test.handle.now();
    assert_eq!(
        reset,
        simulated_now.timestamp() + 3_600,
        "hourly window on the simulator's clock"
    );
    assert_eq!(
        response.headers()["date"],
        simulated_now
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
            .as_str(),
        "Date is simulated time too, so reset minus Date is the wait"
    );

    let rate_limit = test.get_json("/rate_limit").await;
    assert_eq!(rate_limit["resources"]["core"]["used"], 1);
    assert_eq!(rate_limit["resources"]["core"]["remaining"], 4_999);
    assert_eq!(rate_limit["rate"]["remaining"], 4_999);
    assert_eq!(
        test.handle.stats().rate_limit_points_used,
        1,
        "GET /rate_limit is free"
    );
}

#[tokio::test]
async fn the_rate_limit_window_resets_when_the_simulated_hour_is_over() {
    let test = start().await;
    test.handle.add_repo("acme", "app");
    test.handle.set_rate_limit_remaining(0);
    let refused = test.get("/repos/acme/app").await;
    assert_eq!(refused.status(), 403);
    let reset: i64 = refused.headers()["x-ratelimit-reset"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("epoch");
    test.handle.advance(Duration::from_secs(3_599));
    assert_eq!(
        test.get("/repos/acme/app").await.status(),
        403,
        "still the same window a second before its reset"
    );
    test.handle.advance(Duration::from_secs(1));
    let answered = test.get("/repos/acme/app").await;
    assert_eq!(answered.status(), 200, "a new window at the reset");
    assert_eq!(answered.headers()["x-ratelimit-used"], "1");
    assert_eq!(test.handle.now().timestamp(), reset);
}
