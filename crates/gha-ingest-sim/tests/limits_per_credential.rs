//! What GitHub enforces per credential: a primary budget for the token and one per App
//! installation, whose window follows `rate_limit_window`; secondary limits on points per
//! minute (304s included) and on concurrent requests; and the counters and request log that
//! let tests and benchmarks see how hard each credential pushed.

mod common;

use std::time::Duration;

use common::{header, start_with, start_with_app, TestSim};
use gha_ingest_sim::{AppKeyPair, Fault, FaultKind, SecondaryLimits, SimConfig};
use serde_json::Value;

const APP_ID: u64 = 77;
const PAT: &str = "ghp_limits";

/// A simulator with `PAT`, App `APP_ID`, and one installation per account, each on its own
/// repository `{account}/app`. Returns the installation ids in `accounts` order.
async fn start_with_installations(
    config: SimConfig,
    accounts: &[&str],
) -> (TestSim, AppKeyPair, Vec<u64>) {
    let config = SimConfig {
        token: Some(PAT.into()),
        ..config
    };
    let (test, keys) = start_with_app(config, APP_ID).await;
    let installation_ids = accounts
        .iter()
        .map(|account| {
            test.handle.add_repo(account, "app");
            test.handle
                .add_installation(APP_ID, account, &[&format!("{account}/app")])
        })
        .collect();
    (test, keys, installation_ids)
}

fn number(response: &reqwest::Response, name: &str) -> i64 {
    header(response, name).parse().expect("numeric header")
}

#[tokio::test]
async fn each_installation_and_the_token_have_their_own_primary_budget() {
    let (test, keys, installations) = start_with_installations(
        SimConfig {
            installation_rate_limit_per_hour: 3,
            ..SimConfig::default()
        },
        &["acme", "beta"],
    )
    .await;
    let acme = test
        .installation_token(&keys.private_pem, APP_ID, installations[0])
        .await;
    let acme_again = test
        .installation_token(&keys.private_pem, APP_ID, installations[0])
        .await;
    let beta = test
        .installation_token(&keys.private_pem, APP_ID, installations[1])
        .await;

    for _ in 0..2 {
        assert_eq!(test.get_as(&acme, "/repos/acme/app").await.status(), 200);
    }
    let last = test.get_as(&acme_again, "/repos/acme/app").await;
    assert_eq!(
        last.status(),
        200,
        "both tokens of one installation share its budget"
    );
    assert_eq!(
        (
            number(&last, "x-ratelimit-limit"),
            number(&last, "x-ratelimit-remaining")
        ),
        (3, 0)
    );
    let refused = test.get_as(&acme, "/repos/acme/app").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(number(&refused, "x-ratelimit-remaining"), 0);
    let body: Value = refused.json().await.expect("json");
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("API rate limit exceeded"));

    let other_installation = test.get_as(&beta, "/repos/beta/app").await;
    assert_eq!(other_installation.status(), 200);
    assert_eq!(number(&other_installation, "x-ratelimit-remaining"), 2);
    let pat = test.get_as(PAT, "/repos/acme/app").await;
    assert_eq!(pat.status(), 200);
    assert_eq!(
        (
            number(&pat, "x-ratelimit-limit"),
            number(&pat, "x-ratelimit-remaining")
        ),
        (5_000, 4_999)
    );

    // The token's budget runs out on its own, and `set_rate_limit_remaining` is the token's.
    test.handle.set_rate_limit_remaining(0);
    assert_eq!(test.get_as(PAT, "/repos/acme/app").await.status(), 403);
    assert_eq!(test.get_as(&beta, "/repos/beta/app").await.status(), 200);
    test.handle
        .set_installation_rate_limit_remaining(installations[1], 0);
    assert_eq!(test.get_as(&beta, "/repos/beta/app").await.status(), 403);
    let rate_limit: Value = test
        .get_as(&beta, "/rate_limit")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        rate_limit["resources"]["core"]["limit"], 3,
        "/rate_limit shows the credential's budget"
    );

    let stats = test.handle.stats();
    let acme_key = format!("installation:{}", installations[0]);
    assert_eq!(stats.credentials[&acme_key].primary_points_used, 3);
    assert_eq!(stats.credentials[&acme_key].primary_rate_limited, 1);
    assert_eq!(stats.credentials["pat"].primary_rate_limited, 1);
    assert_eq!(stats.rate_limited_total, 3);
}

#[tokio::test]
async fn the_primary_window_follows_rate_limit_window() {
    let test = start_with(SimConfig {
        rate_limit_per_hour: 2,
        rate_limit_window: Duration::from_secs(10),
        ..SimConfig::default()
    })
    .await;
    test.handle.add_repo("acme", "app");
    let first = test.get("/repos/acme/app").await;
    let start = test.handle.now().timestamp();
    assert_eq!(number(&first, "x-ratelimit-reset"), start + 10);
    assert_eq!(test.get("/repos/acme/app").await.status(), 200);
    assert_eq!(test.get("/repos/acme/app").await.status(), 403);
    test.handle.advance(Duration::from_secs(9));
    assert_eq!(test.get("/repos/acme/app").await.status(), 403);
    test.handle.advance(Duration::from_secs(1));
    let reset = test.get("/repos/acme/app").await;
    assert_eq!(reset.status(), 200, "a new 10-second window");
    assert_eq!(number(&reset, "x-ratelimit-remaining"), 1);
    assert_eq!(number(&reset, "x-ratelimit-reset"), start + 20);
}

#[tokio::test]
async fn the_21st_point_within_a_minute_meets_the_secondary_limit_304s_included() {
    let (test, keys, installations) = start_with_installations(
        SimConfig {
            secondary: SecondaryLimits {
                points_per_minute: Some(20),
                max_concurrent: None,
            },
            ..SimConfig::default()
        },
        &["acme"],
    )
    .await;
    let url = format!("{}/repos/acme/app", test.api);
    let first = test.get_as(PAT, "/repos/acme/app").await;
    let etag = header(&first, "etag").to_string();
    for _ in 0..9 {
        let not_modified = test
            .client
            .get(&url)
            .bearer_auth(PAT)
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("request");
        assert_eq!(not_modified.status(), 304);
    }
    for request in 11..=20 {
        assert_eq!(
            test.get_as(PAT, "/repos/acme/app").await.status(),
            200,
            "request {request}"
        );
    }
    let refused = test.get_as(PAT, "/repos/acme/app").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(header(&refused, "retry-after"), "60");
    assert_eq!(
        number(&refused, "x-ratelimit-remaining"),
        4_989,
        "no primary point spent"
    );
    assert!(refused.headers().contains_key("x-ratelimit-reset"));
    let body: Value = refused.json().await.expect("json");
    assert!(body["message"].as_str().unwrap_or_default().starts_with(
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again"
    ));
    // The minute is real time: jumping the simulated clock does not end it.
    test.handle.advance(Duration::from_secs(2 * 3600));
    assert_eq!(test.get_as(PAT, "/repos/acme/app").await.status(), 403);

    // Another credential has its own minute; a POST costs 5 points.
    let jwt = test.app_jwt(&keys.private_pem, APP_ID);
    let mint = format!("/app/installations/{}/access_tokens", installations[0]);
    for _ in 0..4 {
        assert_eq!(test.post_as(&jwt, &mint).await.status(), 201);
    }
    let fifth = test.post_as(&jwt, &mint).await;
    assert_eq!(fifth.status(), 403, "5 × 5 points > 20");
    assert_eq!(test.get_as(&jwt, "/app").await.status(), 403, "20 + 1 > 20");

    let stats = test.handle.stats();
    let pat = &stats.credentials["pat"];
    assert_eq!(pat.requests, 22);
    assert_eq!(pat.secondary_rate_limited, 2);
    assert_eq!(pat.max_points_per_minute, 20);
    assert_eq!(
        pat.primary_points_used, 11,
        "304s are free against the primary limit"
    );
    let app = &stats.credentials[&format!("app:{APP_ID}")];
    assert_eq!(
        (app.secondary_rate_limited, app.max_points_per_minute),
        (2, 20)
    );
    assert_eq!(stats.secondary_rate_limited_total, 4);
    assert_eq!(stats.installation_tokens_issued_total, 4);
}

/// A simulator answering `slots` requests at once, `acme/app` in it, and its next `slots`
/// answers held for `hold`.
async fn start_with_slots(slots: u32, hold: Duration) -> TestSim {
    let test = start_with(SimConfig {
        secondary: SecondaryLimits {
            points_per_minute: None,
            max_concurrent: Some(slots),
        },
        ..SimConfig::default()
    })
    .await;
    test.handle.add_repo("acme", "app");
    test.handle.inject_fault(Fault {
        route_contains: None,
        kind: FaultKind::Delay(hold),
        times: slots,
    });
    test
}

#[tokio::test]
async fn the_concurrency_limit_counts_requests_being_answered() {
    let test = start_with_slots(2, Duration::from_millis(600)).await;
    let (first, second, third) = tokio::join!(
        test.get("/repos/acme/app"),
        test.get("/repos/acme/app"),
        async {
            // After the first two were admitted and are held by their delay.
            tokio::time::sleep(Duration::from_millis(200)).await;
            test.get("/repos/acme/app").await
        },
    );
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    assert_eq!(third.status(), 403);
    assert_eq!(header(&third, "retry-after"), "60");
    assert_eq!(
        test.get("/repos/acme/app").await.status(),
        200,
        "the slots are free again"
    );
    let anonymous = &test.handle.stats().credentials["anonymous"];
    assert_eq!(
        (anonymous.max_concurrent, anonymous.secondary_rate_limited),
        (2, 1)
    );
}

#[tokio::test]
async fn a_dropped_connection_releases_its_concurrency_slot() {
    let test = start_with_slots(1, Duration::from_secs(30)).await;
    let abandoned = test
        .client
        .get(format!("{}/repos/acme/app", test.api))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(abandoned.is_err(), "the client gave up");
    let mut status = 0;
    for _ in 0..50 {
        status = test.get("/repos/acme/app").await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200, "the abandoned request gave its slot back");
}

#[tokio::test]
async fn stats_and_the_request_log_tell_credentials_apart() {
    let (test, keys, installations) =
        start_with_installations(SimConfig::default(), &["acme"]).await;
    let token = test
        .installation_token(&keys.private_pem, APP_ID, installations[0])
        .await;
    test.handle.take_request_log();
    test.handle.reset_stats();

    assert_eq!(test.get_as(PAT, "/repos/acme/app").await.status(), 200);
    assert_eq!(
        test.get_as(&token, "/repos/acme/app/actions/runs")
            .await
            .status(),
        200
    );
    assert_eq!(
        test.get_as("ghs_nope", "/repos/acme/app").await.status(),
        401
    );
    let jwt = test.app_jwt(&keys.private_pem, APP_ID);
    assert_eq!(test.get_as(&jwt, "/app/installations").await.status(), 200);

    let log = test.handle.take_request_log();
    let summary: Vec<(&str, &str, u16)> = log
        .iter()
        .map(|entry| {
            (
                entry.credential.as_str(),
                entry.route.as_str(),
                entry.status,
            )
        })
        .collect();
    let installation = format!("installation:{}", installations[0]);
    let app = format!("app:{APP_ID}");
    assert_eq!(
        summary,
        [
            ("pat", "GET /repos/{owner}/{repo}", 200),
            (
                installation.as_str(),
                "GET /repos/{owner}/{repo}/actions/runs",
                200
            ),
            ("unauthenticated", "GET /repos/{owner}/{repo}", 401),
            (app.as_str(), "GET /app/installations", 200),
        ]
    );
    assert!(log
        .windows(2)
        .all(|pair| pair[0].at_ms_since_start <= pair[1].at_ms_since_start));
    assert!(
        test.handle.take_request_log().is_empty(),
        "a take empties the log"
    );

    let stats = test.handle.stats();
    assert_eq!(
        stats
            .credentials
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        [app.as_str(), installation.as_str(), "pat"]
    );
    assert_eq!(stats.credentials["pat"].requests, 1);
    assert_eq!(stats.credentials[&installation].primary_points_used, 1);
    assert_eq!(stats.credentials[&app].max_concurrent, 1);
    assert_eq!(stats.unauthorized_total, 1);

    // The same over HTTP, for process-level benchmarks.
    assert_eq!(test.get_as(PAT, "/rate_limit").await.status(), 200);
    let over_http = test.get_json("/_sim/request_log").await;
    assert_eq!(over_http["entries"][0]["credential"], "pat");
    assert_eq!(over_http["entries"][0]["route"], "GET /rate_limit");
    assert_eq!(over_http["entries"].as_array().map(Vec::len), Some(1));
    let stats_over_http = test.get_json("/_sim/stats").await;
    assert_eq!(stats_over_http["credentials"]["pat"]["requests"], 2);
    assert_eq!(stats_over_http["request_log_dropped_total"], 0);
}
