//! The switches and inputs the pipeline's end-to-end tests use to reproduce real-world cases, over
//! real HTTP: odd commit messages and names, deleted runs, endpoints a GitHub Enterprise Server
//! lacks, logs that are never served, skipped jobs, commits by branch name, organisation
//! repository order.

mod common;

use std::time::Duration;

use common::start;
use gha_ingest_sim::RunSpec;
use serde_json::{json, Value};

const NONCHARACTERS: &str = "fix \u{fffe} and \u{ffff}";

async fn admin(
    test: &common::TestSim,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> u16 {
    let mut request = test
        .client
        .request(method, format!("{}/_sim{path}", test.api));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request
        .send()
        .await
        .expect("admin request")
        .status()
        .as_u16()
}

fn assert_github_not_found(body: &Value) {
    assert_eq!(body["message"], "Not Found", "{body}");
    assert!(
        body["documentation_url"]
            .as_str()
            .is_some_and(|url| url.starts_with("https://docs.github.com/")),
        "{body}"
    );
}

#[tokio::test]
async fn a_huge_commit_message_and_noncharacters_in_names_reach_the_payloads_intact() {
    let test = start().await;
    let huge_message = format!("{NONCHARACTERS}\n\n{}", "x".repeat(400 * 1024));
    let run_id = test.handle.create_run(
        "acme/app",
        RunSpec {
            commit_message: Some(huge_message.clone()),
            head_branch: Some(format!("feature/{NONCHARACTERS}")),
            job_names: Some(vec![format!("build {NONCHARACTERS}"), "lint".into()]),
            ..RunSpec::default()
        },
    );
    let run = test
        .get_json(&format!("/repos/acme/app/actions/runs/{run_id}"))
        .await;
    assert_eq!(run["head_commit"]["message"], huge_message.as_str());
    assert_eq!(run["display_title"], NONCHARACTERS, "the first line");
    assert_eq!(
        run["head_branch"],
        format!("feature/{NONCHARACTERS}").as_str()
    );

    let jobs = test
        .get_json(&format!("/repos/acme/app/actions/runs/{run_id}/jobs"))
        .await;
    let names: Vec<&str> = jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|job| job["name"].as_str())
        .collect();
    assert_eq!(names, [format!("build {NONCHARACTERS}").as_str(), "lint"]);

    let sha = run["head_sha"].as_str().expect("sha");
    let commit = test
        .get_json(&format!("/repos/acme/app/commits/{sha}"))
        .await;
    assert_eq!(commit["commit"]["message"], huge_message.as_str());

    test.handle.advance(Duration::from_secs(600));
    let attempt = test.handle.rerun("acme/app", run_id);
    let rerun_jobs = test
        .get_json(&format!(
            "/repos/acme/app/actions/runs/{run_id}/attempts/{attempt}/jobs"
        ))
        .await;
    assert_eq!(rerun_jobs["total_count"], 2, "a re-run keeps the job names");
    assert_eq!(rerun_jobs["jobs"][1]["name"], "lint");
}

#[tokio::test]
async fn run_specs_with_the_new_fields_arrive_over_the_admin_api() {
    let test = start().await;
    let response = test
        .client
        .post(format!("{}/_sim/repos/acme/app/runs", test.api))
        .json(&json!({
            "commit_message": "Subject line\n\nbody",
            "job_names": ["only"],
            "head_branch": "v1.2.3",
        }))
        .send()
        .await
        .expect("admin request");
    assert_eq!(response.status(), 201);
    let run_id = response.json::<Value>().await.expect("json")["run_id"]
        .as_u64()
        .expect("run id");
    assert_eq!(test.handle.job_ids(run_id, 1).len(), 1);
    let run = test.handle.run_json("acme/app", run_id);
    assert_eq!(run["display_title"], "Subject line");
    let by_tag = test.get_json("/repos/acme/app/commits/tags/v1.2.3").await;
    assert_eq!(by_tag["sha"], run["head_sha"]);
}

#[tokio::test]
async fn commits_resolve_by_branch_to_the_newest_runs_commit() {
    let test = start().await;
    let first = test.handle.create_run("acme/app", RunSpec::default());
    test.handle.advance(Duration::from_secs(30));
    let second = test.handle.create_run(
        "acme/app",
        RunSpec {
            head_branch: Some("release/v2".into()),
            ..RunSpec::default()
        },
    );
    test.handle.advance(Duration::from_secs(30));
    let third = test.handle.create_run("acme/app", RunSpec::default());
    let sha_of = |run_id| {
        test.handle.run_json("acme/app", run_id)["head_sha"]
            .as_str()
            .expect("sha")
            .to_string()
    };
    assert_ne!(sha_of(first), sha_of(third));
    for reference in ["main", "heads/main", "refs/heads/main"] {
        let commit = test
            .get_json(&format!("/repos/acme/app/commits/{reference}"))
            .await;
        assert_eq!(commit["sha"], sha_of(third).as_str(), "{reference}");
    }
    let release = test.get_json("/repos/acme/app/commits/release/v2").await;
    assert_eq!(release["sha"], sha_of(second).as_str());
    let file = &release["files"][0];
    assert_eq!(file["sha"].as_str().map(str::len), Some(40), "{file}");
    assert!(file["contents_url"]
        .as_str()
        .is_some_and(|url| url.contains("/repos/acme/app/contents/")));
    assert_eq!(
        test.get("/repos/acme/app/commits/no-such-branch")
            .await
            .status(),
        422
    );
}

#[tokio::test]
async fn a_deleted_run_and_everything_under_it_answers_404() {
    let test = start().await;
    let kept = test.handle.create_run("acme/app", RunSpec::default());
    let deleted = test.handle.create_run("acme/app", RunSpec::default());
    let doomed_by_http = test.handle.create_run("acme/app", RunSpec::default());
    test.handle.advance(Duration::from_secs(600));
    let job_id = test.handle.job_ids(deleted, 1)[0];
    let log_location = test
        .get(&format!("/repos/acme/app/actions/jobs/{job_id}/logs"))
        .await
        .headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();

    test.handle.delete_run("acme/app", deleted);
    for path in [
        format!("/repos/acme/app/actions/runs/{deleted}"),
        format!("/repos/acme/app/actions/runs/{deleted}/attempts/1"),
        format!("/repos/acme/app/actions/runs/{deleted}/attempts/1/jobs"),
        format!("/repos/acme/app/actions/runs/{deleted}/jobs"),
        format!("/repos/acme/app/actions/jobs/{job_id}"),
        format!("/repos/acme/app/actions/jobs/{job_id}/logs"),
    ] {
        let response = test.get(&path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_github_not_found(&response.json().await.expect("json"));
    }
    let old_link = test.client.get(&log_location).send().await.expect("log");
    assert_eq!(
        old_link.status(),
        404,
        "a link handed out before is dead too"
    );

    let listed = common::run_ids(&test.get_json("/repos/acme/app/actions/runs").await);
    assert_eq!(listed, [doomed_by_http, kept]);
    assert_eq!(test.handle.list_run_ids("acme/app"), [kept, doomed_by_http]);
    assert_eq!(test.handle.job_json(job_id), Value::Null);

    let path = format!("/repos/acme/app/runs/{doomed_by_http}");
    assert_eq!(
        admin(&test, reqwest::Method::DELETE, &path, None).await,
        204
    );
    assert_eq!(
        admin(&test, reqwest::Method::DELETE, &path, None).await,
        404,
        "deleting twice: unknown run"
    );
    assert_eq!(test.handle.list_run_ids("acme/app"), [kept]);
    assert!(test.handle.try_delete_run("acme/app", deleted).is_err());
}

#[tokio::test]
async fn a_disabled_route_answers_404_until_routes_are_enabled_again() {
    let test = start().await;
    let run_id = test.handle.create_run("acme/app", RunSpec::default());
    let attempt_path = format!("/repos/acme/app/actions/runs/{run_id}/attempts/1");
    let run_path = format!("/repos/acme/app/actions/runs/{run_id}");

    test.handle.disable_route("/attempts/");
    for _ in 0..3 {
        let response = test.get(&attempt_path).await;
        assert_eq!(response.status(), 404, "for good, not N times");
        assert_github_not_found(&response.json().await.expect("json"));
        assert_eq!(
            test.get(&format!("{attempt_path}/jobs")).await.status(),
            404
        );
    }
    assert_eq!(
        test.get(&run_path).await.status(),
        200,
        "other routes answer"
    );
    test.handle.enable_all_routes();
    assert_eq!(test.get(&attempt_path).await.status(), 200);

    let disable = json!({"route_contains": "/rate_limit"});
    assert_eq!(
        admin(
            &test,
            reqwest::Method::POST,
            "/disabled_routes",
            Some(disable)
        )
        .await,
        204
    );
    assert_eq!(test.get("/rate_limit").await.status(), 404);
    assert_eq!(test.get(&run_path).await.status(), 200);
    assert_eq!(
        admin(&test, reqwest::Method::DELETE, "/disabled_routes", None).await,
        204
    );
    assert_eq!(test.get("/rate_limit").await.status(), 200);
    assert_eq!(
        admin(
            &test,
            reqwest::Method::POST,
            "/disabled_routes",
            Some(json!({"route_contains": ""}))
        )
        .await,
        422
    );
}

#[tokio::test]
async fn a_never_served_log_redirects_and_the_log_host_answers_404_forever() {
    let test = start().await;
    let run_id = test.handle.create_run(
        "acme/app",
        RunSpec {
            jobs: 1,
            ..RunSpec::default()
        },
    );
    test.handle.advance(Duration::from_secs(600));
    let job_id = test.handle.job_ids(run_id, 1)[0];
    let admin_spec = json!("never_served");
    assert_eq!(
        admin(
            &test,
            reqwest::Method::POST,
            &format!("/jobs/{job_id}/log"),
            Some(admin_spec)
        )
        .await,
        204
    );
    for _ in 0..3 {
        let redirect = test
            .get(&format!("/repos/acme/app/actions/jobs/{job_id}/logs"))
            .await;
        assert_eq!(redirect.status(), 302);
        let location = redirect.headers()["location"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(location.starts_with(&test.sim.log_url()));
        let log = test.client.get(&location).send().await.expect("log");
        assert_eq!(log.status(), 404);
        assert!(log.text().await.expect("body").contains("BlobNotFound"));
    }
    assert_eq!(test.handle.job_log_digest(job_id), None);
    assert_eq!(test.handle.stats().log_downloads_total, 0);
}

#[tokio::test]
async fn a_skipped_jobs_log_is_refused_by_the_api_itself() {
    let test = start().await;
    let run_id = test.handle.create_run(
        "acme/app",
        RunSpec {
            conclusion: Some("skipped".into()),
            ..RunSpec::default()
        },
    );
    test.handle.advance(Duration::from_secs(600));
    for job_id in test.handle.job_ids(run_id, 1) {
        assert_eq!(test.handle.job_json(job_id)["conclusion"], "skipped");
        let response = test
            .get(&format!("/repos/acme/app/actions/jobs/{job_id}/logs"))
            .await;
        assert_eq!(response.status(), 404);
        assert_github_not_found(&response.json().await.expect("json"));
        assert_eq!(test.handle.job_log_digest(job_id), None);
    }
    assert_eq!(test.handle.stats().log_redirects_total, 0);
}

#[tokio::test]
async fn organisation_repositories_honour_type_sort_and_direction() {
    let test = start().await;
    test.handle.add_repo("acme", "zeta");
    test.handle.advance(Duration::from_secs(60));
    test.handle.add_repo("acme", "Alpha");
    test.handle.advance(Duration::from_secs(60));
    test.handle.add_repo("acme", "middle");
    test.handle.advance(Duration::from_secs(60));
    test.handle.create_run("acme/zeta", RunSpec::default());
    let names = |page: Value| -> Vec<String> {
        page.as_array()
            .expect("array")
            .iter()
            .filter_map(|repo| repo["name"].as_str().map(str::to_string))
            .collect()
    };
    let cases = [
        ("", vec!["middle", "Alpha", "zeta"]),
        (
            "?sort=created&direction=asc",
            vec!["zeta", "Alpha", "middle"],
        ),
        ("?sort=full_name", vec!["Alpha", "middle", "zeta"]),
        (
            "?sort=full_name&direction=desc",
            vec!["zeta", "middle", "Alpha"],
        ),
        ("?sort=pushed", vec!["zeta", "middle", "Alpha"]),
        (
            "?type=sources&sort=updated&direction=asc",
            vec!["Alpha", "middle", "zeta"],
        ),
        ("?type=forks", vec![]),
        ("?type=private", vec![]),
    ];
    for (query, expected) in cases {
        let listed = names(test.get_json(&format!("/orgs/acme/repos{query}")).await);
        assert_eq!(listed, expected, "{query}");
    }
}
