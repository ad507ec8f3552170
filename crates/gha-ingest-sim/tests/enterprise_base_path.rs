//! GitHub Enterprise Server serves the REST API under `https://HOST/api/v3`: the simulator
//! answers `/api/v3/…` exactly as the same path without the prefix, and keeps the prefix in the
//! answer's URLs (`Link` headers and bodies) so a client following them stays under its base.

mod common;

use std::time::Duration;

use common::{link, run_ids, start_with, start_with_app};
use gha_ingest_sim::SimConfig;
use serde_json::Value;

#[tokio::test]
async fn api_v3_paths_are_served_and_their_links_keep_the_prefix() {
    let test = start_with(SimConfig::default()).await;
    let created = test
        .handle
        .generate_history("acme/app", 5, Duration::from_secs(3600));
    let base = format!("{}/api/v3", test.api);

    let mut url = format!("{base}/repos/acme/app/actions/runs?per_page=2");
    let mut seen = Vec::new();
    loop {
        let response = test.client.get(&url).send().await.expect("request");
        assert_eq!(response.status(), 200, "{url}");
        let next = link(response.headers(), "next");
        for relation in ["next", "last", "prev", "first"] {
            if let Some(target) = link(response.headers(), relation) {
                assert!(
                    target.starts_with(&format!("{base}/")),
                    "{relation}: {target}"
                );
            }
        }
        let page: Value = response.json().await.expect("json");
        let run_url = page["workflow_runs"][0]["url"].as_str().expect("url");
        assert!(
            run_url.starts_with(&format!("{base}/repos/acme/app/actions/runs/")),
            "{run_url}"
        );
        assert!(
            page["workflow_runs"][0]["html_url"]
                .as_str()
                .is_some_and(|html| html.starts_with("https://github.com/")),
            "html URLs are untouched"
        );
        seen.extend(run_ids(&page));
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    seen.reverse();
    assert_eq!(seen, created);

    let plain: Value = test.get_json("/repos/acme/app").await;
    let prefixed: Value = test.get_json("/api/v3/repos/acme/app").await;
    assert_eq!(
        prefixed.to_string(),
        plain
            .to_string()
            .replace(&format!("{}/", test.api), &format!("{base}/")),
        "the same answer, URLs under the base"
    );
    let stats = test.handle.stats();
    assert_eq!(
        stats.by_route["GET /repos/{owner}/{repo}"], 2,
        "one route, either base"
    );
    assert_eq!(test.get("/api/v3/nothing").await.status(), 404);
    assert_eq!(test.get("/api/v30/repos/acme/app").await.status(), 404);
}

#[tokio::test]
async fn github_app_routes_work_under_api_v3() {
    let (test, keys) = start_with_app(SimConfig::default(), 9).await;
    test.handle.add_repo("acme", "app");
    let installation_id = test.handle.add_installation(9, "acme", &["acme/app"]);
    let jwt = test.app_jwt(&keys.private_pem, 9);
    let installations: Value = test
        .get_as(&jwt, "/api/v3/app/installations")
        .await
        .json()
        .await
        .expect("json");
    let tokens_url = installations[0]["access_tokens_url"].as_str().expect("url");
    assert_eq!(
        tokens_url,
        format!(
            "{}/api/v3/app/installations/{installation_id}/access_tokens",
            test.api
        )
    );
    let minted = test.mint_at(tokens_url, &jwt).await;
    let token = minted["token"].as_str().expect("token");
    let repos: Value = test
        .get_as(token, "/api/v3/installation/repositories")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(repos["total_count"], 1);
    assert_eq!(
        repos["repositories"][0]["url"],
        format!("{}/api/v3/repos/acme/app", test.api)
    );
}
