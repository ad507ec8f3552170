//! The runs list: newest-created first, `per_page`/`page`, `Link` headers on the API origin,
//! filters, and the 1,000-result cap that applies only when filtering.

mod common;

use std::time::Duration;

use common::{link, run_ids, start};
use gha_ingest_sim::RunSpec;

#[tokio::test]
async fn pages_walk_every_run_newest_first_by_following_link_headers() {
    let test = start().await;
    let created = test
        .handle
        .generate_history("acme/app", 250, Duration::from_secs(3 * 24 * 3600));
    assert_eq!(created.len(), 250);

    let mut url = format!("{}/repos/acme/app/actions/runs?per_page=100", test.api);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let response = test.client.get(&url).send().await.expect("request");
        assert_eq!(response.status(), 200);
        let next = link(response.headers(), "next");
        if pages == 0 {
            let last = link(response.headers(), "last").expect("first page has rel=last");
            assert!(
                last.starts_with(&test.api),
                "Link URLs are absolute on the API origin: {last}"
            );
            assert!(last.ends_with("page=3"), "{last}");
            assert!(link(response.headers(), "prev").is_none());
        }
        let page: serde_json::Value = response.json().await.expect("json");
        assert_eq!(page["total_count"], 250);
        seen.extend(run_ids(&page));
        pages += 1;
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut oldest_first = seen.clone();
    oldest_first.reverse();
    assert_eq!(
        oldest_first, created,
        "newest-created first, every run exactly once"
    );
}

#[tokio::test]
async fn default_page_size_is_30_and_per_page_is_capped_at_100() {
    let test = start().await;
    test.handle
        .generate_history("acme/app", 130, Duration::from_secs(3600));
    let default_page = test.get_json("/repos/acme/app/actions/runs").await;
    assert_eq!(run_ids(&default_page).len(), 30);
    let big_page = test
        .get_json("/repos/acme/app/actions/runs?per_page=500")
        .await;
    assert_eq!(run_ids(&big_page).len(), 100);

    let middle = test
        .get("/repos/acme/app/actions/runs?per_page=10&page=5")
        .await;
    let headers = middle.headers().clone();
    for rel in ["prev", "next", "last", "first"] {
        assert!(link(&headers, rel).is_some(), "middle page has rel={rel}");
    }
    assert!(link(&headers, "prev")
        .unwrap_or_default()
        .contains("page=4"));
    assert!(link(&headers, "last")
        .unwrap_or_default()
        .contains("page=13"));
}

#[tokio::test]
async fn filtered_lists_stop_at_1000_results_while_total_count_tells_the_truth() {
    let test = start().await;
    let created =
        test.handle
            .generate_history("acme/big", 1_100, Duration::from_secs(10 * 24 * 3600));
    let completed = created
        .iter()
        .filter(|id| test.handle.run_json("acme/big", **id)["status"] == "completed")
        .count();
    assert_eq!(completed, 1_100, "history is completed");

    let last_visible = test
        .get("/repos/acme/big/actions/runs?status=completed&per_page=100&page=10")
        .await;
    assert!(
        link(last_visible.headers(), "next").is_none(),
        "no next page past the cap"
    );
    let page: serde_json::Value = last_visible.json().await.expect("json");
    assert_eq!(page["total_count"], 1_100);
    assert_eq!(run_ids(&page).len(), 100);

    let beyond_cap = test
        .get_json("/repos/acme/big/actions/runs?status=completed&per_page=100&page=11")
        .await;
    assert_eq!(beyond_cap["total_count"], 1_100);
    assert!(
        run_ids(&beyond_cap).is_empty(),
        "the 1,001st result is never returned"
    );

    let unfiltered = test
        .get("/repos/acme/big/actions/runs?per_page=100&page=11")
        .await;
    assert!(
        link(unfiltered.headers(), "last").is_none(),
        "page 11 is the last page"
    );
    let unfiltered: serde_json::Value = unfiltered.json().await.expect("json");
    assert_eq!(
        run_ids(&unfiltered),
        created[..100].iter().rev().copied().collect::<Vec<_>>()
    );
}

async fn filtered(test: &common::TestSim, query: &str) -> Vec<u64> {
    run_ids(
        &test
            .get_json(&format!("/repos/acme/app/actions/runs?{query}"))
            .await,
    )
}

#[tokio::test]
async fn filters_select_by_status_conclusion_event_branch_sha_and_created() {
    let test = start().await;
    let handle = &test.handle;
    let queued = handle.create_run(
        "acme/app",
        RunSpec {
            queue_secs: 600,
            ..RunSpec::default()
        },
    );
    handle.advance(Duration::from_secs(3600));
    let failed = handle.create_run(
        "acme/app",
        RunSpec {
            conclusion: Some("failure".into()),
            queue_secs: 0,
            run_secs: 5,
            event: Some("pull_request".into()),
            head_branch: Some("feature/x".into()),
            head_sha: Some("1111111111111111111111111111111111111111".into()),
            ..RunSpec::default()
        },
    );
    let running = handle.create_run(
        "acme/app",
        RunSpec {
            queue_secs: 0,
            run_secs: 900,
            ..RunSpec::default()
        },
    );
    handle.advance(Duration::from_secs(10));

    assert_eq!(filtered(&test, "status=in_progress").await, vec![running]);
    assert_eq!(filtered(&test, "status=failure").await, vec![failed]);
    assert_eq!(
        filtered(&test, "status=completed").await,
        vec![failed, queued]
    );
    assert_eq!(filtered(&test, "event=pull_request").await, vec![failed]);
    assert_eq!(filtered(&test, "branch=feature/x").await, vec![failed]);
    assert_eq!(
        filtered(&test, "head_sha=1111111111111111111111111111111111111111").await,
        vec![failed]
    );
    assert_eq!(
        filtered(&test, "created=<2026-06-01T00:30:00Z").await,
        vec![queued]
    );
    assert_eq!(
        filtered(&test, "created=>=2026-06-01T01:00:00Z").await,
        vec![running, failed]
    );
    assert_eq!(
        filtered(&test, "created=2026-06-01T00:00:00Z..2026-06-01T00:59:59Z").await,
        vec![queued]
    );
    assert_eq!(
        filtered(&test, "created=2026-06-01").await,
        vec![running, failed, queued]
    );
    assert_eq!(
        filtered(&test, "created=*..2026-05-31").await,
        Vec::<u64>::new()
    );
    assert_eq!(
        filtered(&test, "created=2026-06-01T01%3A00%3A00%2B01%3A00..*").await,
        vec![running, failed, queued]
    );

    let invalid = test
        .get("/repos/acme/app/actions/runs?created=yesterday")
        .await;
    assert_eq!(invalid.status(), 422);
}

#[tokio::test]
async fn repositories_alias_from_link_headers_serves_the_same_list() {
    let test = start().await;
    test.handle
        .generate_history("acme/app", 12, Duration::from_secs(3600));
    let first = test.get("/repos/acme/app/actions/runs?per_page=5").await;
    let next = link(first.headers(), "next").expect("next link");
    assert!(
        next.contains("/repositories/"),
        "GitHub's Link headers use /repositories/{{id}}: {next}"
    );
    let first: serde_json::Value = first.json().await.expect("json");
    let second: serde_json::Value = test
        .client
        .get(&next)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let direct = test
        .get_json("/repos/acme/app/actions/runs?per_page=5&page=2")
        .await;
    assert_eq!(run_ids(&second), run_ids(&direct));
    assert_ne!(run_ids(&first), run_ids(&second));
    let stats = test.handle.stats();
    assert_eq!(
        stats.by_route.get("GET /repos/{owner}/{repo}/actions/runs"),
        Some(&3)
    );
}

#[tokio::test]
async fn unknown_repositories_and_runs_are_githubs_not_found() {
    let test = start().await;
    test.handle.add_repo("acme", "app");
    for path in [
        "/repos/acme/nope/actions/runs",
        "/repos/acme/app/actions/runs/1",
        "/repos/acme/app/actions/jobs/1",
        "/repos/acme/app/actions/runs/abc",
        "/nowhere",
    ] {
        let response = test.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["message"], "Not Found", "{path}");
        assert!(body["documentation_url"]
            .as_str()
            .is_some_and(|url| url.starts_with("https://docs.github.com/")));
    }
}
