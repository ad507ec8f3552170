//! Generated payloads keep the real examples' shapes exactly (every field name and nesting),
//! commits paginate their files past 300, and the admin API mirrors the handle.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{link, start};
use gha_ingest_sim::RunSpec;
use serde_json::{json, Value};

const WORKFLOW_RUN: &str = include_str!("../fixtures/github/workflow-run.json");
const WORKFLOW_RUN_PAGINATED: &str = include_str!("../fixtures/github/workflow-run-paginated.json");
const JOB: &str = include_str!("../fixtures/github/job.json");
const COMMIT: &str = include_str!("../fixtures/github/commit.json");
const PULLS: &str = include_str!("../fixtures/github/pull-request-simple-items.json");
const RATE_LIMIT: &str = include_str!("../fixtures/github/rate-limit-overview.json");

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture JSON")
}

/// Asserts `actual` has exactly the template's keys (plus `extra`), recursively through objects
/// and the first element of arrays. Values may differ in type where GitHub allows null.
fn assert_same_shape(actual: &Value, template: &Value, path: &str, extra: &[&str]) {
    match (actual, template) {
        (Value::Object(actual_fields), Value::Object(template_fields)) => {
            let actual_keys: BTreeSet<&str> = actual_fields.keys().map(String::as_str).collect();
            let mut expected_keys: BTreeSet<&str> =
                template_fields.keys().map(String::as_str).collect();
            expected_keys.extend(extra.iter().filter(|key| actual_keys.contains(*key)));
            assert_eq!(actual_keys, expected_keys, "keys of {path}");
            for (key, template_value) in template_fields {
                assert_same_shape(
                    &actual_fields[key],
                    template_value,
                    &format!("{path}.{key}"),
                    extra,
                );
            }
        }
        (Value::Array(actual_items), Value::Array(template_items)) => {
            if let (Some(actual_first), Some(template_first)) =
                (actual_items.first(), template_items.first())
            {
                assert_same_shape(actual_first, template_first, &format!("{path}[0]"), extra);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn runs_jobs_and_steps_have_the_real_shapes() {
    let test = start().await;
    let run_id = test.handle.create_run(
        "acme/app",
        RunSpec {
            workflow: Some("Release".into()),
            ..RunSpec::default()
        },
    );
    test.handle.advance(Duration::from_secs(3600));
    test.handle.rerun("acme/app", run_id);
    test.handle.advance(Duration::from_secs(3600));

    let run = test
        .get_json(&format!("/repos/acme/app/actions/runs/{run_id}"))
        .await;
    assert_same_shape(&run, &parse(WORKFLOW_RUN), "run", &[]);
    assert_eq!(
        run["url"],
        format!("{}/repos/acme/app/actions/runs/{run_id}", test.api)
    );
    assert_eq!(
        run["html_url"],
        format!("https://github.com/acme/app/actions/runs/{run_id}")
    );
    assert_eq!(run["repository"]["full_name"], "acme/app");
    assert_eq!(run["head_repository"]["full_name"], "acme/app");
    assert_eq!(run["head_commit"]["id"], run["head_sha"]);
    assert_eq!(run["name"], "Release");
    assert!(run["id"]
        .as_u64()
        .is_some_and(|id| (30_000_000..31_000_000).contains(&id)));

    let list = test.get_json("/repos/acme/app/actions/runs").await;
    let template_list = parse(WORKFLOW_RUN_PAGINATED);
    assert_same_shape(&list, &template_list, "list", &[]);
    assert!(
        list["workflow_runs"][0]
            .get("previous_attempt_url")
            .is_none(),
        "the list example has no previous_attempt_url"
    );

    let jobs = test
        .get_json(&format!("/repos/acme/app/actions/runs/{run_id}/jobs"))
        .await;
    let job = &jobs["jobs"][0];
    assert_same_shape(job, &parse(JOB), "job", &["run_attempt", "created_at"]);
    assert!(job["id"].as_u64().is_some_and(|id| id >= 400_000_000));
    assert!(job["started_at"]
        .as_str()
        .is_some_and(|time| time.ends_with('Z') && time.len() == 20));
    let step_time = job["steps"][0]["started_at"].as_str().unwrap_or("");
    assert!(
        step_time.ends_with("-08:00") || step_time.ends_with("+00:00") || step_time.ends_with('Z'),
        "{step_time}"
    );
    assert_eq!(
        step_time
            .find('.')
            .map(|dot| &step_time[dot..dot + 4])
            .map(str::len),
        Some(4),
        "milliseconds: {step_time}"
    );
}

#[tokio::test]
async fn commits_paginate_their_files_and_keep_whole_commit_stats() {
    let test = start().await;
    let sha = "abcdefabcdefabcdefabcdefabcdefabcdef0001";
    test.handle.create_run(
        "acme/app",
        RunSpec {
            head_sha: Some(sha.into()),
            commit_files: Some(3_500),
            ..RunSpec::default()
        },
    );
    let (files, additions, deletions) = test
        .handle
        .commit_stats("acme/app", sha)
        .expect("commit exists");
    assert_eq!(files, 3_500);

    let first = test.get(&format!("/repos/acme/app/commits/{sha}")).await;
    assert!(
        link(first.headers(), "last")
            .unwrap_or_default()
            .ends_with("page=10"),
        "3,000 files at most"
    );
    let first: Value = first.json().await.expect("json");
    assert_same_shape(
        &first,
        &parse(COMMIT),
        "commit",
        // `sha` and `contents_url`: required by the API description, missing from its example.
        &["previous_filename", "patch", "sha", "contents_url"],
    );
    assert_eq!(first["files"].as_array().map(Vec::len), Some(300));
    assert_eq!(
        first["stats"],
        json!({"additions": additions, "deletions": deletions, "total": additions + deletions})
    );
    assert_eq!(first["sha"], sha);

    let tenth = test
        .get(&format!("/repos/acme/app/commits/{sha}?page=10"))
        .await;
    assert!(link(tenth.headers(), "next").is_none());
    let tenth: Value = tenth.json().await.expect("json");
    assert_eq!(tenth["files"].as_array().map(Vec::len), Some(300));
    assert_eq!(
        tenth["stats"], first["stats"],
        "stats cover the whole commit on every page"
    );
    assert_eq!(
        tenth["commit"], first["commit"],
        "static commit info repeats"
    );
    let names = |page: &Value| -> BTreeSet<String> {
        page["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["filename"].as_str().map(str::to_string))
            .collect()
    };
    assert!(names(&first).is_disjoint(&names(&tenth)));

    let eleventh = test
        .get_json(&format!("/repos/acme/app/commits/{sha}?page=11"))
        .await;
    assert_eq!(eleventh["files"], json!([]));

    let short = test
        .get_json(&format!("/repos/acme/app/commits/{}", &sha[..10]))
        .await;
    assert_eq!(short["sha"], sha);
    assert_eq!(
        test.get("/repos/acme/app/commits/0000000000000000000000000000000000000000")
            .await
            .status(),
        422
    );

    let small_sha = "abcdefabcdefabcdefabcdefabcdefabcdef0002";
    test.handle.create_run(
        "acme/app",
        RunSpec {
            head_sha: Some(small_sha.into()),
            commit_files: Some(12),
            ..RunSpec::default()
        },
    );
    let small = test
        .get(&format!("/repos/acme/app/commits/{small_sha}"))
        .await;
    assert!(small.headers().get("link").is_none(), "one page, no Link");
}

#[tokio::test]
async fn commit_pulls_repositories_and_rate_limit_have_the_real_shapes() {
    let test = start().await;
    let ids = test
        .handle
        .generate_history("acme/app", 60, Duration::from_secs(24 * 3600));
    let mut pulls_found = 0;
    for id in ids {
        let sha = test.handle.run_json("acme/app", id)["head_sha"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let pulls = test
            .get_json(&format!("/repos/acme/app/commits/{sha}/pulls"))
            .await;
        let pulls = pulls.as_array().expect("array");
        assert!(pulls.len() <= 2);
        if let Some(pull) = pulls.first() {
            // `type` (of a requested team) and `has_discussions` (of a repository): required by
            // the API description, missing from its example.
            assert_same_shape(pull, &parse(PULLS)[0], "pull", &["type", "has_discussions"]);
            assert_eq!(pull["head"]["sha"], sha.as_str());
            assert_eq!(pull["base"]["repo"]["full_name"], "acme/app");
            pulls_found += 1;
        }
    }
    assert!(pulls_found > 5, "some commits have pull requests");

    test.handle.add_repo("acme", "lib");
    test.handle.add_repo("other", "tool");
    let repo = test.get_json("/repos/acme/app").await;
    assert_same_shape(
        &repo,
        &parse(PULLS)[0]["head"]["repo"],
        "repo",
        &["has_discussions"],
    );
    let org = test.get_json("/orgs/acme/repos").await;
    let names: Vec<&str> = org
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["full_name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["acme/lib", "acme/app"],
        "GitHub's default order: sort=created, newest first (ties by id)"
    );
    assert_eq!(test.get("/orgs/nobody/repos").await.status(), 404);

    let rate_limit = test.get_json("/rate_limit").await;
    assert_same_shape(&rate_limit, &parse(RATE_LIMIT), "rate_limit", &[]);
}

#[tokio::test]
async fn the_admin_api_mirrors_the_handle_and_is_not_counted() {
    let test = start().await;
    let admin = |path: &str| format!("{}/_sim{path}", test.api);
    let created = test
        .client
        .post(admin("/repos"))
        .json(&json!({"owner": "acme", "name": "app"}))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let history: Value = test
        .client
        .post(admin("/repos/acme/app/history"))
        .json(&json!({"runs": 5, "spread_secs": 3600}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(history["run_ids"].as_array().map(Vec::len), Some(5));
    let run: Value = test
        .client
        .post(admin("/repos/acme/app/runs"))
        .json(&json!({"jobs": 1, "run_secs": 30}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let run_id = run["run_id"].as_u64().expect("run id");
    let advanced: Value = test
        .client
        .post(admin("/advance"))
        .json(&json!({"secs": 120}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(advanced["now"], "2026-06-01T00:02:00+00:00");
    assert_eq!(
        test.handle.run_json("acme/app", run_id)["status"],
        "completed"
    );
    let rerun: Value = test
        .client
        .post(admin(&format!("/repos/acme/app/runs/{run_id}/rerun")))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(rerun["run_attempt"], 2);
    let unknown_rerun = test
        .client
        .post(admin("/repos/acme/app/runs/1/rerun"))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown_rerun.status(), 404);

    let fault = test
        .client
        .post(admin("/faults"))
        .json(&json!({"route_contains": "/actions/runs", "kind": {"status": 503}, "times": 1}))
        .send()
        .await
        .expect("request");
    assert_eq!(fault.status(), 204);
    assert_eq!(test.get("/repos/acme/app/actions/runs").await.status(), 503);
    let limit = test
        .client
        .post(admin("/rate_limit"))
        .json(&json!({"remaining": 0}))
        .send()
        .await
        .expect("request");
    assert_eq!(limit.status(), 204);
    assert_eq!(test.get("/repos/acme/app/actions/runs").await.status(), 403);

    let stats: Value = test
        .client
        .get(admin("/stats"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["requests_total"], 2, "admin requests are not counted");
    assert_eq!(
        stats["by_route"]["GET /repos/{owner}/{repo}/actions/runs"],
        2
    );
    assert_eq!(stats["rate_limited_total"], 1);
}
