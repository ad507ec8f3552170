//! Webhooks as GitHub delivers them, over real HTTP to a receiver that verifies signatures:
//! every state change of runs and jobs, in order, as the REST API's own objects, valid against
//! octokit's webhook schemas; none for a `startup_failure` run; injected losses, duplicates,
//! reorderings and bad signatures; a slow receiver; and GitHub's deliveries API (JWT only) to
//! list failures and redeliver them.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use common::receiver::{eventually, settled, signature_is_valid, Received, Receiver};
use common::{link, start, start_with, start_with_app, TestSim};
use gha_ingest_sim::{AppKeyPair, ClockMode, RunSpec, SimConfig, WebhookFaults, WebhookSettings};
use jsonschema::{Resource, Validator};
use serde_json::Value;

const SECRET: &str = "webhook-secret-0123456789";
const APP_ID: u64 = 4_242;

/// A simulator with an App installed on `acme/app` and a receiver the webhook points at.
async fn hooked(config: SimConfig) -> (TestSim, AppKeyPair, Receiver, u64) {
    let (test, keys) = start_with_app(config, APP_ID).await;
    test.handle.add_repo("acme", "app");
    let installation_id = test.handle.add_installation(APP_ID, "acme", &["acme/app"]);
    let receiver = Receiver::start(SECRET).await;
    test.handle.set_webhook(&receiver.url, SECRET);
    (test, keys, receiver, installation_id)
}

fn summaries(received: &[Received]) -> Vec<(String, String, u64)> {
    received.iter().map(Received::summary).collect()
}

fn job_ids_of(test_jobs: &Value) -> Vec<u64> {
    test_jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|job| job["id"].as_u64().expect("job id"))
        .collect()
}

/// A webhook run is the REST object with GitHub's webhook field set for its repositories.
fn as_webhook_run(mut rest_run: Value, webhook_run: &Value) -> Value {
    for field in ["repository", "head_repository"] {
        let kept: BTreeSet<&String> = webhook_run[field]
            .as_object()
            .expect("repository object")
            .keys()
            .collect();
        if let Some(Value::Object(repository)) = rest_run.get_mut(field) {
            repository.retain(|key, _| kept.contains(key));
        }
    }
    rest_run
}

fn last_payload_of(received: &[Received], event: &str) -> Value {
    received
        .iter()
        .rev()
        .find(|delivery| delivery.event() == event)
        .expect("a delivery of that event")
        .payload()
}

#[tokio::test]
async fn every_state_change_of_a_run_and_its_jobs_is_delivered_in_order_as_the_rest_object() {
    let (test, _keys, receiver, installation_id) = hooked(SimConfig::default()).await;
    let handle = &test.handle;
    let run_id = handle.create_run(
        "acme/app",
        RunSpec {
            jobs: 2,
            queue_secs: 10,
            run_secs: 60,
            ..RunSpec::default()
        },
    );
    let jobs = test
        .get_json(&format!("/repos/acme/app/actions/runs/{run_id}/jobs"))
        .await;
    let [first_job, second_job] = job_ids_of(&jobs)[..] else {
        panic!("two jobs: {jobs}")
    };
    let run_path = format!("/repos/acme/app/actions/runs/{run_id}/attempts/1");

    // Each step: advance, wait for the deliveries, and compare the newest run and job objects
    // with what the REST API answers at that very moment.
    for advance_secs in [0, 10, 2, 100] {
        handle.advance(Duration::from_secs(advance_secs));
        settled(handle).await;
        let received = receiver.received();
        let webhook_run = last_payload_of(&received, "workflow_run")["workflow_run"].clone();
        let rest_run = test.get_json(&run_path).await;
        assert_eq!(
            webhook_run,
            as_webhook_run(rest_run, &webhook_run),
            "after +{advance_secs}s"
        );
        let webhook_job = last_payload_of(&received, "workflow_job")["workflow_job"].clone();
        let job_id = webhook_job["id"].as_u64().expect("job id");
        let rest_job = test
            .get_json(&format!("/repos/acme/app/actions/jobs/{job_id}"))
            .await;
        assert_eq!(webhook_job, rest_job, "after +{advance_secs}s");
    }

    let received = receiver.received();
    let run = |action: &str| ("workflow_run".to_string(), action.to_string(), run_id);
    let job = |action: &str, id| ("workflow_job".to_string(), action.to_string(), id);
    assert_eq!(
        summaries(&received),
        [
            run("requested"),
            job("queued", first_job),
            job("queued", second_job),
            run("in_progress"),
            job("in_progress", first_job),
            job("in_progress", second_job),
            job("completed", second_job),
            job("completed", first_job),
            run("completed"),
        ]
    );
    let mut guids = BTreeSet::new();
    for delivery in &received {
        assert!(delivery.signature_is_valid, "{:?}", delivery.summary());
        assert!(guids.insert(delivery.guid().to_string()), "one GUID each");
        let guid_parts: Vec<usize> = delivery.guid().split('-').map(str::len).collect();
        assert_eq!(guid_parts, [8, 4, 4, 4, 12]);
        assert!(delivery
            .header("user-agent")
            .starts_with("GitHub-Hookshot/"));
        assert_eq!(delivery.header("content-type"), "application/json");
        assert!(delivery.header("x-github-hook-id").parse::<u64>().is_ok());
        let payload = delivery.payload();
        assert_eq!(payload["installation"]["id"], installation_id);
        assert_eq!(payload["repository"]["full_name"], "acme/app");
        assert_eq!(payload["sender"]["login"], "octocat");
    }
    let stats = handle.webhook_stats();
    assert_eq!(
        (stats.sent, stats.succeeded, stats.failed, stats.pending),
        (9, 9, 0, 0)
    );

    // A re-run: attempt 2 from `requested`, with new jobs.
    handle.rerun("acme/app", run_id);
    handle.advance(Duration::from_secs(120));
    settled(handle).await;
    let rerun: Vec<Value> = receiver.received()[9..]
        .iter()
        .map(Received::payload)
        .collect();
    assert_eq!(rerun.len(), 9);
    assert_eq!(rerun[0]["action"], "requested");
    assert_eq!(rerun[0]["workflow_run"]["run_attempt"], 2);
    assert_eq!(rerun[8]["action"], "completed");
    assert!(rerun
        .iter()
        .filter_map(|payload| payload["workflow_job"]["id"].as_u64())
        .all(|id| id != first_job && id != second_job));
}

#[tokio::test]
async fn a_rerun_of_a_running_run_reports_the_cancellation_then_the_new_attempt() {
    let (test, _keys, receiver, _) = hooked(SimConfig::default()).await;
    let handle = &test.handle;
    let run_id = handle.create_run("acme/app", RunSpec::default());
    handle.advance(Duration::from_secs(20));
    handle.rerun("acme/app", run_id);
    settled(handle).await;
    let runs: Vec<(String, u64, Value)> = receiver
        .received()
        .iter()
        .filter(|delivery| delivery.event() == "workflow_run")
        .map(|delivery| {
            let payload = delivery.payload();
            let run = &payload["workflow_run"];
            (
                payload["action"].as_str().unwrap_or_default().to_string(),
                run["run_attempt"].as_u64().unwrap_or_default(),
                run["conclusion"].clone(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("requested".into(), 1, Value::Null),
            ("in_progress".into(), 1, Value::Null),
            ("completed".into(), 1, "cancelled".into()),
            ("requested".into(), 2, Value::Null),
        ]
    );
}

/// octokit's webhook schemas (`tests/fixtures/octokit-webhooks-schemas`, see
/// `fixtures/SOURCES.md`), one validator per `event/action`. They name each other by relative
/// `$id`s (`common/user.schema.json`); `jsonschema` resolves no remote references, so every
/// file is registered under one absolute base.
fn webhook_validators() -> &'static HashMap<String, Validator> {
    const BASE: &str = "https://webhooks.octokit.test/";
    static VALIDATORS: OnceLock<HashMap<String, Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/octokit-webhooks-schemas");
        let read = |path: &Path| -> Value {
            let mut schema: Value = serde_json::from_str(
                &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}")),
            )
            .expect("schema is JSON");
            let id = schema["$id"].as_str().expect("$id").to_string();
            schema["$id"] = format!("{BASE}{id}").into();
            schema
        };
        let files = |folder: &str| -> Vec<std::path::PathBuf> {
            let mut paths: Vec<_> = std::fs::read_dir(root.join(folder))
                .expect("schema folder")
                .map(|entry| entry.expect("entry").path())
                .collect();
            paths.sort();
            paths
        };
        let shared: Vec<(String, Resource)> = files("common")
            .iter()
            .map(|path| {
                let schema = read(path);
                let id = schema["$id"].as_str().expect("$id").to_string();
                (id, Resource::from_contents(schema).expect("usable schema"))
            })
            .collect();
        let mut validators = HashMap::new();
        for event in ["workflow_run", "workflow_job"] {
            for path in files(event) {
                let action = path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .and_then(|name| name.strip_suffix(".schema.json"))
                    .expect("action schema")
                    .to_string();
                let mut options = jsonschema::options();
                options.should_validate_formats(true);
                for (id, resource) in &shared {
                    options.with_resource(id.clone(), resource.clone());
                }
                let validator = options
                    .build(&read(&path))
                    .unwrap_or_else(|error| panic!("{path:?} compiles: {error}"));
                validators.insert(format!("{event}/{action}"), validator);
            }
        }
        validators
    })
}

fn schema_violations(delivery: &Received) -> Vec<String> {
    let payload = delivery.payload();
    let key = format!(
        "{}/{}",
        delivery.event(),
        payload["action"].as_str().unwrap_or("?")
    );
    let Some(validator) = webhook_validators().get(&key) else {
        return vec![format!("no schema for {key}")];
    };
    validator
        .iter_errors(&payload)
        .map(|error| {
            let message: String = error.to_string().chars().take(300).collect();
            format!("{key} at {}: {message}", error.instance_path)
        })
        .collect()
}

#[test]
fn the_schemas_reject_what_github_would_not_send() {
    let example: Value = serde_json::from_str(include_str!(
        "../fixtures/github/workflow_run.completed.json"
    ))
    .expect("example");
    let validator = &webhook_validators()["workflow_run/completed"];
    assert!(
        validator.is_valid(&example),
        "GitHub's own example validates"
    );
    let mut startup_failure = example.clone();
    startup_failure["workflow_run"]["conclusion"] = "startup_failure".into();
    assert!(!validator.is_valid(&startup_failure));
    let mut rest_repository = example;
    rest_repository["workflow_run"]["repository"]["git_url"] = "git://github.com/a/b.git".into();
    assert!(
        !validator.is_valid(&rest_repository),
        "a webhook run's repository has no git_url"
    );
}

#[tokio::test]
async fn every_payload_matches_githubs_webhook_schemas() {
    let (test, _keys, receiver, _) = hooked(SimConfig::default()).await;
    let handle = &test.handle;
    handle.add_repo("acme", "outside");
    handle.create_run("acme/app", RunSpec::default());
    handle.create_run(
        "acme/outside",
        RunSpec {
            pre_queue_status: Some("waiting".into()),
            pre_queue_secs: 30,
            jobs: 3,
            ..RunSpec::default()
        },
    );
    for conclusion in ["failure", "cancelled", "skipped", "timed_out"] {
        handle.create_run(
            "acme/app",
            RunSpec {
                conclusion: Some(conclusion.into()),
                workflow: Some("Release".into()),
                ..RunSpec::default()
            },
        );
    }
    let superseded = handle.create_run("acme/app", RunSpec::default());
    handle.advance(Duration::from_secs(25));
    handle.rerun("acme/app", superseded);
    handle.advance(Duration::from_secs(600));
    settled(handle).await;

    let received = receiver.received();
    let mut actions_seen = BTreeSet::new();
    let mut violations = BTreeSet::new();
    for delivery in &received {
        let payload = delivery.payload();
        let action = payload["action"].as_str().unwrap_or_default();
        actions_seen.insert(format!("{}/{action}", delivery.event()));
        violations.extend(schema_violations(delivery));
        let is_installed = payload["repository"]["full_name"] == "acme/app";
        assert_eq!(payload.get("installation").is_some(), is_installed);
    }
    assert!(
        violations.is_empty(),
        "{} violation(s):\n{}",
        violations.len(),
        violations.into_iter().collect::<Vec<_>>().join("\n")
    );
    assert_eq!(
        actions_seen.len(),
        7,
        "every action was delivered: {actions_seen:?}"
    );
}

#[tokio::test]
async fn a_run_that_fails_at_startup_sends_no_webhook() {
    let (test, _keys, receiver, _) = hooked(SimConfig::default()).await;
    let handle = &test.handle;
    let failed = handle.create_run(
        "acme/app",
        RunSpec {
            conclusion: Some("startup_failure".into()),
            ..RunSpec::default()
        },
    );
    let normal = handle.create_run("acme/app", RunSpec::default());
    handle.advance(Duration::from_secs(600));
    settled(handle).await;
    let run_ids: BTreeSet<u64> = receiver
        .received()
        .iter()
        .filter(|delivery| delivery.event() == "workflow_run")
        .map(|delivery| delivery.summary().2)
        .collect();
    assert_eq!(run_ids, [normal].into(), "nothing for run {failed}");
    assert_eq!(handle.webhook_stats().startup_failures_unsent, 1);
}

/// Every delivery of the deliveries API, following `Link: rel="next"` from the first page.
async fn list_all(test: &TestSim, jwt: &str, query: &str) -> Vec<Value> {
    let mut url = format!("{}/app/hook/deliveries{query}", test.api);
    let mut listed = Vec::new();
    loop {
        let response = test
            .client
            .get(&url)
            .bearer_auth(jwt)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "GET {url}");
        let next = link(response.headers(), "next");
        let page: Vec<Value> = response.json().await.expect("JSON array");
        listed.extend(page);
        match next {
            Some(next) => url = next,
            None => return listed,
        }
    }
}

fn ids(items: &[Value]) -> Vec<u64> {
    items
        .iter()
        .map(|item| item["id"].as_u64().expect("id"))
        .collect()
}

#[tokio::test]
async fn dropped_deliveries_are_listed_as_failed_and_arrive_when_redelivered() {
    let (test, keys, receiver, _) = hooked(SimConfig::default()).await;
    let handle = &test.handle;
    handle.set_webhook_faults(WebhookFaults {
        seed: 7,
        drop_ratio: 0.4,
        ..WebhookFaults::default()
    });
    handle.create_run("acme/app", RunSpec::default());
    handle.create_run(
        "acme/app",
        RunSpec {
            jobs: 3,
            ..RunSpec::default()
        },
    );
    handle.advance(Duration::from_secs(600));
    settled(handle).await;

    let recorded = handle.webhook_deliveries();
    let dropped: Vec<u64> = recorded
        .iter()
        .filter(|delivery| delivery.injected.dropped)
        .map(|delivery| delivery.id)
        .collect();
    assert!(!dropped.is_empty() && dropped.len() < recorded.len());
    let arrived: BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|delivery| delivery.guid().to_string())
        .collect();
    for delivery in &recorded {
        let was_dropped = dropped.contains(&delivery.id);
        assert_eq!(
            arrived.contains(&delivery.guid),
            !was_dropped,
            "{delivery:?}"
        );
        if was_dropped {
            assert_eq!(
                (delivery.status.as_str(), delivery.status_code),
                ("timed out", 0)
            );
        }
    }

    let jwt = test.app_jwt(&keys.private_pem, APP_ID);
    let every = list_all(&test, &jwt, "?per_page=4").await;
    let newest_first: Vec<u64> = recorded.iter().rev().map(|delivery| delivery.id).collect();
    assert_eq!(
        ids(&every),
        newest_first,
        "pages of 4 list everything, newest first"
    );
    let failures = list_all(&test, &jwt, "?status=failure&per_page=2").await;
    let mut dropped_newest_first = dropped.clone();
    dropped_newest_first.reverse();
    assert_eq!(ids(&failures), dropped_newest_first);
    let successes = list_all(&test, &jwt, "?status=success").await;
    assert_eq!(successes.len() + failures.len(), every.len());

    for failure in &failures {
        let response = test
            .post_as(
                &jwt,
                &format!("/app/hook/deliveries/{}/attempts", failure["id"]),
            )
            .await;
        assert_eq!(response.status(), 202);
    }
    settled(handle).await;
    let arrived: BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|delivery| delivery.guid().to_string())
        .collect();
    assert!(
        recorded
            .iter()
            .all(|delivery| arrived.contains(&delivery.guid)),
        "every change arrived once redelivered"
    );
    assert!(receiver
        .received()
        .iter()
        .all(|delivery| delivery.signature_is_valid));
    let redeliveries: Vec<_> = handle
        .webhook_deliveries()
        .into_iter()
        .filter(|delivery| delivery.redelivery)
        .collect();
    assert_eq!(redeliveries.len(), dropped.len());
    let original_guids: BTreeMap<u64, &str> = recorded
        .iter()
        .map(|delivery| (delivery.id, delivery.guid.as_str()))
        .collect();
    for (redelivery, dropped_id) in redeliveries.iter().zip(&dropped_newest_first) {
        assert_eq!(redelivery.guid, original_guids[dropped_id]);
        assert!(redelivery.id > *newest_first.first().expect("some"));
        assert_eq!(redelivery.status, "OK");
    }
    assert_eq!(handle.webhook_stats().redelivered, dropped.len() as u64);
}

#[tokio::test]
async fn duplicates_share_their_guid_and_body() {
    let (test, _keys, receiver, _) = hooked(SimConfig::default()).await;
    let handle = &test.handle;
    handle.set_webhook_faults(WebhookFaults {
        duplicate_ratio: 1.0,
        ..WebhookFaults::default()
    });
    handle.create_run("acme/app", RunSpec::default());
    handle.advance(Duration::from_secs(600));
    settled(handle).await;
    let mut by_guid: BTreeMap<String, Vec<Received>> = BTreeMap::new();
    for delivery in receiver.received() {
        by_guid
            .entry(delivery.guid().to_string())
            .or_default()
            .push(delivery);
    }
    assert_eq!(
        by_guid.len(),
        9,
        "3 changes of the run, 3 of each of its 2 jobs"
    );
    for copies in by_guid.values() {
        assert_eq!(copies.len(), 2);
        assert_eq!(copies[0].body, copies[1].body);
    }
    assert_eq!(handle.webhook_stats().duplicated, 9);
    assert_eq!(
        handle.webhook_deliveries().len(),
        18,
        "each copy is a recorded delivery"
    );
}

#[tokio::test]
async fn wrongly_signed_deliveries_fail_at_a_verifying_receiver() {
    let (test, keys, receiver, _) = hooked(SimConfig::default()).await;
    let handle = &test.handle;
    handle.set_webhook_faults(WebhookFaults {
        seed: 3,
        wrong_signature_ratio: 0.5,
        ..WebhookFaults::default()
    });
    handle.create_run(
        "acme/app",
        RunSpec {
            jobs: 3,
            ..RunSpec::default()
        },
    );
    handle.advance(Duration::from_secs(600));
    settled(handle).await;

    let recorded = handle.webhook_deliveries();
    let wrong: BTreeSet<&str> = recorded
        .iter()
        .filter(|delivery| delivery.injected.wrong_signature)
        .map(|delivery| delivery.guid.as_str())
        .collect();
    assert!(!wrong.is_empty() && wrong.len() < recorded.len());
    for delivery in receiver.received() {
        assert_eq!(
            delivery.signature_is_valid,
            !wrong.contains(delivery.guid()),
            "{:?}",
            delivery.summary()
        );
    }
    for delivery in &recorded {
        let (status, code) = if wrong.contains(delivery.guid.as_str()) {
            ("Invalid HTTP Response: 401", 401)
        } else {
            ("OK", 200)
        };
        assert_eq!(
            (delivery.status.as_str(), delivery.status_code),
            (status, code)
        );
    }
    let jwt = test.app_jwt(&keys.private_pem, APP_ID);
    let failures = list_all(&test, &jwt, "?status=failure").await;
    assert_eq!(failures.len(), wrong.len());
    // A redelivery is signed with the right secret.
    let response = test
        .post_as(
            &jwt,
            &format!("/app/hook/deliveries/{}/attempts", failures[0]["id"]),
        )
        .await;
    assert_eq!(response.status(), 202);
    settled(handle).await;
    let last = receiver.received().pop().expect("the redelivery");
    assert!(last.signature_is_valid);
    assert_eq!(last.guid(), failures[0]["guid"].as_str().expect("guid"));
}

#[tokio::test]
async fn held_back_deliveries_are_overtaken_by_later_ones() {
    let (test, _keys, receiver, _) = hooked(SimConfig::default()).await;
    let handle = &test.handle;
    handle.set_webhook_faults(WebhookFaults {
        seed: 11,
        reorder_ratio: 0.5,
        max_delay: Duration::from_millis(1_500),
        ..WebhookFaults::default()
    });
    handle.create_run(
        "acme/app",
        RunSpec {
            jobs: 4,
            ..RunSpec::default()
        },
    );
    handle.advance(Duration::from_secs(600));
    settled(handle).await;

    let recorded = handle.webhook_deliveries();
    // A delivery held back 300 ms longer than a later one must arrive after it.
    let delay_of = |id: u64| {
        recorded
            .iter()
            .find(|delivery| delivery.id == id)
            .and_then(|delivery| delivery.injected.delay)
            .unwrap_or_default()
    };
    let mut by_id: Vec<u64> = recorded.iter().map(|delivery| delivery.id).collect();
    by_id.sort_unstable();
    let guid_of: HashMap<u64, &str> = recorded
        .iter()
        .map(|delivery| (delivery.id, delivery.guid.as_str()))
        .collect();
    let arrival: Vec<String> = receiver
        .received()
        .iter()
        .map(|delivery| delivery.guid().to_string())
        .collect();
    let position = |id: u64| {
        arrival
            .iter()
            .position(|guid| guid == guid_of[&id])
            .expect("arrived")
    };
    let mut overtaken = 0;
    for (index, earlier) in by_id.iter().enumerate() {
        for later in &by_id[index + 1..] {
            if delay_of(*earlier) > delay_of(*later) + Duration::from_millis(300) {
                assert!(
                    position(*later) < position(*earlier),
                    "{later} overtakes {earlier}"
                );
                overtaken += 1;
            }
        }
    }
    assert!(overtaken > 0, "the seed holds some deliveries back");
    assert_eq!(arrival.len(), recorded.len());
    assert!(handle.webhook_stats().reordered > 0);
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_recorded_as_timed_out() {
    let config = SimConfig {
        webhooks: WebhookSettings {
            timeout: Duration::from_millis(300),
            ..WebhookSettings::default()
        },
        ..SimConfig::default()
    };
    let (test, _keys, receiver, _) = hooked(config).await;
    receiver.answer_after(Duration::from_millis(1_000));
    let handle = &test.handle;
    handle.create_run("acme/app", RunSpec::default());
    settled(handle).await;
    let recorded = handle.webhook_deliveries();
    assert_eq!(recorded.len(), 3, "requested and two jobs queued");
    for delivery in &recorded {
        assert_eq!(
            (delivery.status.as_str(), delivery.status_code),
            ("timed out", 0)
        );
        assert!(
            delivery.duration < Duration::from_millis(900),
            "{:?}",
            delivery.duration
        );
    }
    let stats = handle.webhook_stats();
    assert_eq!((stats.timed_out, stats.failed, stats.dropped), (3, 3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_go_out_side_by_side_up_to_the_bound_without_slowing_the_api() {
    let config = SimConfig {
        webhooks: WebhookSettings {
            max_concurrent: 3,
            ..WebhookSettings::default()
        },
        ..SimConfig::default()
    };
    let (test, _keys, receiver, _) = hooked(config).await;
    receiver.answer_after(Duration::from_millis(200));
    let handle = &test.handle;
    // Held back a little, every delivery waits in its own task: only the bound keeps them from
    // all being POSTed at once.
    handle.set_webhook_faults(WebhookFaults {
        reorder_ratio: 1.0,
        max_delay: Duration::from_millis(20),
        ..WebhookFaults::default()
    });
    for _ in 0..8 {
        handle.create_run("acme/app", RunSpec::default());
    }
    // 24 deliveries, 3 at a time, 200 ms each: the API answers long before they are done.
    let rate_limit = test.get("/rate_limit").await;
    assert_eq!(rate_limit.status(), 200);
    assert!(
        handle.webhook_stats().pending > 0,
        "the API answered while deliveries were still waiting for a slow receiver"
    );
    settled(handle).await;
    assert_eq!(receiver.received().len(), 24);
    let most = receiver.most_in_flight();
    assert!((2..=3).contains(&most), "{most} deliveries at once");
}

#[tokio::test]
async fn the_deliveries_api_wants_the_apps_jwt() {
    let config = SimConfig {
        token: Some("ghp_deliveries".into()),
        ..SimConfig::default()
    };
    let (test, keys, _receiver, installation_id) = hooked(config).await;
    test.handle.create_run("acme/app", RunSpec::default());
    settled(&test.handle).await;
    let delivery_id = test.handle.webhook_deliveries()[0].id;
    let installation_token = test
        .installation_token(&keys.private_pem, APP_ID, installation_id)
        .await;
    let other_keys = AppKeyPair::generate();
    let forged = test.app_jwt(&other_keys.private_pem, APP_ID);
    for path in [
        "/app/hook/deliveries".to_string(),
        format!("/app/hook/deliveries/{delivery_id}"),
    ] {
        let anonymous = test.get(&path).await;
        assert_eq!(anonymous.status(), 401, "GET {path} without credentials");
        for token in [
            "ghp_deliveries",
            installation_token.as_str(),
            forged.as_str(),
        ] {
            let refused = test.get_as(token, &path).await;
            assert_eq!(refused.status(), 401, "GET {path}");
        }
        let jwt = test.app_jwt(&keys.private_pem, APP_ID);
        assert_eq!(test.get_as(&jwt, &path).await.status(), 200, "GET {path}");
    }
    let attempts = format!("/app/hook/deliveries/{delivery_id}/attempts");
    assert_eq!(
        test.post_as("ghp_deliveries", &attempts).await.status(),
        401
    );
    assert_eq!(test.post_as(&forged, &attempts).await.status(), 401);
    assert_eq!(test.handle.webhook_stats().redelivered, 0);
    let jwt = test.app_jwt(&keys.private_pem, APP_ID);
    assert_eq!(test.post_as(&jwt, &attempts).await.status(), 202);
}

#[tokio::test]
async fn deliveries_older_than_three_days_are_neither_listed_nor_redelivered() {
    let (test, keys, receiver, _) = hooked(SimConfig::default()).await;
    let handle = &test.handle;
    handle.create_run("acme/app", RunSpec::default());
    settled(handle).await;
    let old_id = handle.webhook_deliveries()[0].id;
    handle.advance(Duration::from_secs(3 * 24 * 3600 - 1));
    settled(handle).await;
    let jwt = test.app_jwt(&keys.private_pem, APP_ID);
    let listed = list_all(&test, &jwt, "").await;
    assert!(
        ids(&listed).contains(&old_id),
        "still there just before three days"
    );

    handle.advance(Duration::from_secs(1));
    let jwt = test.app_jwt(&keys.private_pem, APP_ID);
    let listed = list_all(&test, &jwt, "").await;
    assert!(!ids(&listed).contains(&old_id));
    let get = test
        .get_as(&jwt, &format!("/app/hook/deliveries/{old_id}"))
        .await;
    assert_eq!(get.status(), 404);
    let before = receiver.received().len();
    let redeliver = test
        .post_as(&jwt, &format!("/app/hook/deliveries/{old_id}/attempts"))
        .await;
    assert_eq!(redeliver.status(), 422);
    settled(handle).await;
    assert_eq!(receiver.received().len(), before, "nothing was sent again");
}

#[tokio::test]
async fn only_changes_after_the_webhook_is_set_are_delivered_and_none_after_it_is_cleared() {
    let test = start().await;
    let handle = &test.handle;
    let receiver = Receiver::start(SECRET).await;
    let run_id = handle.create_run("acme/app", RunSpec::default());
    handle.advance(Duration::from_secs(20));
    handle.set_webhook(&receiver.url, SECRET);
    handle.advance(Duration::from_secs(600));
    settled(handle).await;
    let actions: Vec<(String, String)> = summaries(&receiver.received())
        .into_iter()
        .map(|(event, action, _)| (event, action))
        .collect();
    assert_eq!(
        actions,
        [
            ("workflow_job".to_string(), "completed".to_string()),
            ("workflow_job".to_string(), "completed".to_string()),
            ("workflow_run".to_string(), "completed".to_string()),
        ],
        "run {run_id} was in progress when the webhook was set"
    );
    handle.clear_webhook();
    handle.create_run("acme/app", RunSpec::default());
    handle.advance(Duration::from_secs(600));
    settled(handle).await;
    assert_eq!(receiver.received().len(), 3);
    assert!(handle
        .try_set_webhook("https://example.com/hook", SECRET)
        .is_err());
    assert!(handle.try_set_webhook("not a url", SECRET).is_err());
}

#[tokio::test]
async fn on_a_real_time_clock_deliveries_go_out_as_time_passes() {
    let test = start_with(SimConfig {
        clock: ClockMode::RealTime { speed: 60.0 },
        ..SimConfig::default()
    })
    .await;
    let receiver = Receiver::start(SECRET).await;
    test.handle.set_webhook(&receiver.url, SECRET);
    // 10 s queued and 60 s running on a clock 60 times faster: about 1.2 s of real time.
    test.handle.create_run("acme/app", RunSpec::default());
    eventually("the run completed and said so", || {
        receiver.received().iter().any(|delivery| {
            delivery.summary().0 == "workflow_run" && delivery.summary().1 == "completed"
        })
    })
    .await;
    settled(&test.handle).await;
    assert_eq!(receiver.received().len(), 9);
    assert!(receiver.received().iter().all(|delivery| {
        signature_is_valid(
            SECRET,
            Some(delivery.header("x-hub-signature-256")),
            &delivery.body,
        )
    }));
}

#[tokio::test]
async fn the_admin_api_sets_faults_reads_and_clears_the_webhook_over_http() {
    let test = start().await;
    let handle = &test.handle;
    let receiver = Receiver::start(SECRET).await;
    let admin = |path: &str| format!("{}/_sim/{path}", test.api);
    let status = |response: reqwest::Response| response.status().as_u16();
    let hook = serde_json::json!({"url": receiver.url, "secret": SECRET});
    let post = |path: &str, body: Value| test.client.post(admin(path)).json(&body).send();

    assert_eq!(status(post("webhook", hook.clone()).await.unwrap()), 204);
    let lose_all = serde_json::json!({"seed": 7, "drop_ratio": 1.0});
    assert_eq!(status(post("webhook/faults", lose_all).await.unwrap()), 204);
    handle.create_run("acme/app", RunSpec::default());
    handle.advance(Duration::from_secs(600));
    settled(handle).await;
    let stats = test.get_json("/_sim/webhook/stats").await;
    assert!(stats["dropped"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(stats["sent"], 0, "{stats}");
    assert!(receiver.received().is_empty());

    let none = serde_json::json!({});
    assert_eq!(status(post("webhook/faults", none).await.unwrap()), 204);
    handle.create_run("acme/app", RunSpec::default());
    handle.advance(Duration::from_secs(600));
    settled(handle).await;
    assert!(!receiver.received().is_empty(), "faults were not lifted");

    let cleared = test.client.delete(admin("webhook")).send().await.unwrap();
    assert_eq!(status(cleared), 204);
    let delivered = receiver.received().len();
    handle.create_run("acme/app", RunSpec::default());
    handle.advance(Duration::from_secs(600));
    settled(handle).await;
    assert_eq!(
        receiver.received().len(),
        delivered,
        "delivered after clearing"
    );
    let elsewhere = serde_json::json!({"url": "https://example.com/hook", "secret": SECRET});
    assert_eq!(status(post("webhook", elsewhere).await.unwrap()), 422);
}
