//! The JSON API over real HTTP: status, repositories, collect, runs, and every refusal (no
//! token, wrong token, mutations disabled, bad or foreign repository, unknown routes).

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{Harness, Setup, ADMIN_TOKEN, REPO};

async fn body(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

/// Requests the simulator saw to GitHub's `/rate_limit`.
fn rate_limit_requests(harness: &Harness) -> u64 {
    harness
        .sim()
        .stats()
        .by_route
        .iter()
        .filter(|(route, _)| route.contains("rate_limit"))
        .map(|(_, count)| *count)
        .sum()
}

#[tokio::test]
async fn health_and_readiness() {
    let harness = Harness::start(Setup::default()).await;
    let health = harness.anonymous("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "ok");

    // Readiness needs no token and is one cached probe, however often it is asked.
    let answers = futures_join_all(&harness, 8).await;
    for (status, answer) in answers {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, json!({ "ready": true, "reasons": [] }));
    }
    assert_eq!(rate_limit_requests(&harness), 1, "one probe for 8 requests");
    harness.stop().await;

    // GitHub answers, but the budget is spent: nothing can be collected until the reset.
    let uncached = Harness::start(Setup {
        readiness_ttl: Duration::ZERO,
        ..Setup::default()
    })
    .await;
    uncached.sim().set_rate_limit_remaining(0);
    let spent = uncached.get("/readyz").await;
    assert_eq!(spent.status(), StatusCode::SERVICE_UNAVAILABLE);
    let answer = body(spent).await;
    assert!(
        answer["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("github: "),
        "{answer}"
    );
    uncached.stop().await;

    let broken = Harness::start(Setup {
        with_unreachable_queue: true,
        ..Setup::default()
    })
    .await;
    let ready = broken.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let answer = body(ready).await;
    assert_eq!(answer["ready"], json!(false));
    let reasons = answer["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{answer}");
    assert!(
        reasons[0]
            .as_str()
            .unwrap()
            .contains("queue does not exist"),
        "a reader sees the cause: {answer}"
    );
    // Without a token: which dependency, not the upstream error text.
    let anonymous = body(broken.anonymous("/readyz").await).await;
    assert_eq!(anonymous["reasons"], json!(["logs queue: not ready"]));
    broken.stop().await;
}

/// `count` concurrent `/readyz` requests without a token: `(status, body)` each.
async fn futures_join_all(harness: &Harness, count: usize) -> Vec<(StatusCode, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let request = harness.http.get(harness.url("/readyz"));
        tasks.spawn(async move {
            let answer = request.send().await.unwrap();
            (answer.status(), answer.json::<Value>().await.unwrap())
        });
    }
    tasks.join_all().await
}

#[tokio::test]
async fn status_reports_agents_queues_and_outbox() {
    let harness = Harness::start(Setup::default()).await;
    let status = harness.get("/api/status").await;
    assert_eq!(status.status(), StatusCode::OK);
    let status = body(status).await;
    assert_eq!(status["pipeline"]["running"], json!(false));
    assert_eq!(status["pipeline"]["cycles_total"], json!(0));
    assert_eq!(status["pipeline"]["last_cycle_age_secs"], Value::Null);
    assert_eq!(status["pipeline"]["poll_interval_secs"], json!(30));
    assert_eq!(status["logs"]["log_bytes_published_total"], json!(0));
    assert_eq!(
        status["outbox"],
        json!({ "metrics": 0, "log_requests": 0, "parked": 0 })
    );
    let roles: Vec<&str> = status["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["metrics", "log_requests", "logs"]);
    assert_eq!(status["queues"][0]["visible"], json!(0));
    assert_eq!(status["collect_now_available"], json!(true));
    assert_eq!(status["mutations_enabled"], json!(true));
    // The request plan of the one credential: its ceiling and per-class admissions.
    let plan = &status["github"]["credentials"][0];
    assert_eq!(plan["credential"], json!("token"));
    assert_eq!(plan["budget"]["points_per_minute_ceiling"], json!(600));
    assert_eq!(plan["budget"]["admitted"].as_array().map(Vec::len), Some(4));
    assert_eq!(status["github"]["installations"], json!([]));
    assert_eq!(status["catchup_pending_repositories"], json!(0));
    assert!(
        !status.to_string().contains(ADMIN_TOKEN),
        "the token is never shown"
    );
    assert!(
        !status.to_string().contains(support::SIM_TOKEN),
        "the github token is never shown"
    );

    let bare = Harness::start(Setup {
        with_agents: false,
        admin_token: None,
        ..Setup::default()
    })
    .await;
    let status = body(bare.get("/api/status").await).await;
    assert_eq!(status["pipeline"], Value::Null);
    assert_eq!(status["logs"], Value::Null);
    assert_eq!(status["collect_now_available"], json!(false));
    assert_eq!(status["mutations_enabled"], json!(false));
    bare.stop().await;
    harness.stop().await;
}

#[tokio::test]
async fn status_lists_what_github_would_not_serve() {
    let harness = Harness::start(Setup::default()).await;
    let status = body(harness.get("/api/status").await).await;
    assert_eq!(
        status["failures"],
        json!({ "retrying": 0, "given_up": 0, "recent": [] })
    );
    let now = chrono::Utc::now();
    let failure = |run_id: u64, given_up: bool| gha_ingest_store::EntityFailure {
        repo: REPO.to_string(),
        kind: gha_ingest_store::EntityKind::Jobs,
        run_id: Some(run_id),
        run_attempt: Some(1),
        sha: None,
        attempts: 2,
        reason: "not_found".to_string(),
        last_error: "/repos/acme/widgets/actions/runs/7/attempts/1/jobs: not found".to_string(),
        first_failed_at: now,
        next_retry_at: now,
        given_up_at: given_up.then_some(now),
    };
    let changes = gha_ingest_store::ChangeSet {
        failures: vec![failure(7, false), failure(8, true)],
        ..Default::default()
    };
    harness
        .store
        .apply_changes(&REPO.parse().unwrap(), &changes)
        .await
        .unwrap();
    let status = body(harness.get("/api/status").await).await;
    assert_eq!(status["failures"]["retrying"], json!(1));
    assert_eq!(status["failures"]["given_up"], json!(1));
    let recent = status["failures"]["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    assert!(recent
        .iter()
        .all(|failure| failure["entity"] == "jobs" && failure["reason"] == "not_found"));
    harness.stop().await;
}

#[tokio::test]
async fn repositories_are_added_listed_and_removed() {
    let harness = Harness::start(Setup::default()).await;
    let listed = body(harness.get("/api/repositories").await).await;
    assert_eq!(listed, json!({ "repositories": [] }));

    let added = harness
        .admin(Method::POST, "/api/repositories")
        .json(&json!({ "repository": "https://github.com/octo/hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    assert_eq!(
        body(added).await,
        json!({ "repository": REPO, "added": true })
    );
    // Adding wakes the agent so the new repository is polled at once.
    tokio::time::timeout(Duration::from_secs(1), harness.trigger.notified())
        .await
        .expect("agent woken");

    let again = harness
        .admin(Method::POST, "/api/repositories")
        .json(&json!({ "repository": REPO }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(body(again).await["added"], json!(false));

    let repo = REPO.parse().unwrap();
    harness
        .store
        .record_poll(&repo, None, None, None)
        .await
        .unwrap();
    let listed = body(harness.get("/api/repositories").await).await;
    let entry = &listed["repositories"][0];
    assert_eq!(entry["repository"], json!(REPO));
    assert_eq!(entry["origin"], json!("api"));
    assert_eq!(entry["consecutive_errors"], json!(0));
    assert!(entry["last_poll_ok_at"].is_string(), "{listed}");
    assert!(
        entry["last_poll_age_secs"].as_i64().unwrap() < 60,
        "{listed}"
    );

    let removed = harness
        .admin(Method::DELETE, "/api/repositories/octo/hello")
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let missing = harness
        .admin(Method::DELETE, "/api/repositories/octo/hello")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(body(missing).await["error"]
        .as_str()
        .unwrap()
        .contains("not configured"));
    let listed = body(harness.get("/api/repositories").await).await;
    assert_eq!(listed, json!({ "repositories": [] }));
    harness.stop().await;
}

#[tokio::test]
async fn bad_and_foreign_repositories_are_refused_with_a_clear_message() {
    let harness = Harness::start(Setup::default()).await;
    let cases = [
        (
            json!({ "repository": "not a repo" }),
            "is not a GitHub repository",
        ),
        (
            json!({ "repository": "octo" }),
            "is not a GitHub repository",
        ),
        (
            json!({ "repository": "ftp://github.com/octo/hello" }),
            "is not a GitHub repository",
        ),
        (
            json!({ "repository": "https://gitlab.com/octo/hello" }),
            "gitlab.com",
        ),
        (json!({ "repo": "octo/hello" }), "invalid json body"),
        (json!({ "repository": 42 }), "invalid json body"),
    ];
    for (request, expected) in cases {
        let answer = harness
            .admin(Method::POST, "/api/repositories")
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{request}");
        let message = body(answer).await["error"].as_str().unwrap().to_string();
        assert!(message.contains(expected), "{request}: {message}");
    }
    let empty = harness
        .admin(Method::POST, "/api/repositories")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    let not_json = harness
        .admin(Method::POST, "/api/repositories")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let bad_delete = harness
        .admin(Method::DELETE, "/api/repositories/-bad-/x")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_delete.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body(harness.get("/api/repositories").await).await,
        json!({ "repositories": [] })
    );
    harness.stop().await;
}

#[tokio::test]
async fn mutations_need_the_admin_token() {
    let harness = Harness::start(Setup::default()).await;
    let mutations = [
        (
            Method::POST,
            "/api/repositories",
            Some(json!({ "repository": REPO })),
        ),
        (Method::DELETE, "/api/repositories/octo/hello", None),
        (Method::POST, "/api/collect", None),
    ];
    for (method, path, request) in &mutations {
        let with_body = |builder: reqwest::RequestBuilder| match request {
            Some(request) => builder.json(request),
            None => builder,
        };
        let anonymous = with_body(harness.http.request(method.clone(), harness.url(path)))
            .send()
            .await
            .unwrap();
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
        assert!(body(anonymous).await["error"]
            .as_str()
            .unwrap()
            .contains("Bearer"));

        let basic = with_body(harness.http.request(method.clone(), harness.url(path)))
            .header("authorization", format!("Basic {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED, "{method} {path}");

        let wrong = with_body(harness.http.request(method.clone(), harness.url(path)))
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let text = wrong.text().await.unwrap();
        assert!(
            !text.contains("not-the-token") && !text.contains(ADMIN_TOKEN),
            "{text}"
        );
    }
    assert_eq!(
        body(harness.get("/api/repositories").await).await,
        json!({ "repositories": [] })
    );
    harness.stop().await;

    let disabled = Harness::start(Setup {
        admin_token: None,
        ..Setup::default()
    })
    .await;
    for (method, path, request) in &mutations {
        let mut builder = disabled
            .http
            .request(method.clone(), disabled.url(path))
            .bearer_auth("anything");
        if let Some(request) = request {
            builder = builder.json(request);
        }
        let refused = builder.send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let message = body(refused).await["error"].as_str().unwrap().to_string();
        assert!(message.contains("http.admin_token_env"), "{message}");
    }
    disabled.stop().await;
}

#[tokio::test]
async fn collect_now_wakes_the_pipeline_agent() {
    let harness = Harness::start(Setup::default()).await;
    let answer = harness
        .admin(Method::POST, "/api/collect")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    assert_eq!(body(answer).await["triggered"], json!(true));
    tokio::time::timeout(Duration::from_secs(1), harness.trigger.notified())
        .await
        .expect("agent woken");

    let unknown = harness
        .admin(Method::POST, "/api/collect")
        .json(&json!({ "repository": REPO }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        unknown.status(),
        StatusCode::NOT_FOUND,
        "only configured repositories"
    );

    harness
        .store
        .add_repository(&REPO.parse().unwrap(), "config")
        .await
        .unwrap();
    let one = harness
        .admin(Method::POST, "/api/collect")
        .json(&json!({ "repository": "https://github.com/octo/hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), StatusCode::ACCEPTED);
    assert_eq!(body(one).await["repository"], json!(REPO));
    tokio::time::timeout(Duration::from_secs(1), harness.trigger.notified())
        .await
        .expect("agent woken");

    let foreign = harness
        .admin(Method::POST, "/api/collect")
        .json(&json!({ "repository": "https://example.com/octo/hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
    harness.stop().await;

    let without_agent = Harness::start(Setup {
        with_agents: false,
        ..Setup::default()
    })
    .await;
    let answer = without_agent
        .admin(Method::POST, "/api/collect")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    without_agent.stop().await;
}

#[tokio::test]
async fn recent_runs_come_from_the_store_with_their_jobs() {
    let harness = Harness::start(Setup::default()).await;
    assert_eq!(
        body(harness.get("/api/runs").await).await,
        json!({ "runs": [] })
    );
    let (first_run, _) = harness.completed_run_in_store(2).await;
    let (second_run, second_jobs) = harness.completed_run_in_store(3).await;

    let runs = body(harness.get("/api/runs").await).await;
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["run_id"], json!(second_run), "newest first");
    assert_eq!(runs[1]["run_id"], json!(first_run));
    assert_eq!(runs[0]["repository"], json!(REPO));
    assert_eq!(runs[0]["status"], json!("completed"));
    assert!(
        runs[0]["duration_seconds"].as_f64().unwrap() > 0.0,
        "{}",
        runs[0]
    );
    let jobs = runs[0]["jobs"].as_array().unwrap();
    let job_ids: Vec<u64> = jobs
        .iter()
        .map(|job| job["job_id"].as_u64().unwrap())
        .collect();
    assert_eq!(job_ids.len(), 3);
    for job_id in &second_jobs {
        assert!(job_ids.contains(job_id));
    }
    assert!(
        jobs[0]["duration_seconds"].as_f64().is_some(),
        "{}",
        jobs[0]
    );
    assert!(jobs[0]["job_name"].is_string());

    let limited = body(harness.get("/api/runs?limit=1").await).await;
    assert_eq!(limited["runs"].as_array().unwrap().len(), 1);
    for bad in [
        "/api/runs?limit=0",
        "/api/runs?limit=x",
        "/api/runs?limit=100000",
    ] {
        assert_eq!(
            harness.get(bad).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    harness.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_json_404s_and_the_dashboard_is_served() {
    let harness = Harness::start(Setup::default()).await;
    let missing = harness.get("/api/nothing").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(body(missing).await["error"].is_string());

    let page = harness.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await.unwrap();
    for id in [
        "pipeline-status",
        "log-status",
        "repo-input",
        "repo-add",
        "repo-list",
        "collect-now",
        "runs-table",
        "log-viewer",
        "token",
        "filter-repo",
        "budget-chart",
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "dashboard has #{id}"
        );
    }
    assert!(
        !html.contains("http://") && !html.contains("https://cdn"),
        "no external resources"
    );
    harness.stop().await;
}
