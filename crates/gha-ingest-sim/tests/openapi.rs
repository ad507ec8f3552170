//! The simulator stays honest: every answer of every GitHub route it serves is validated against
//! the response schema of that operation in GitHub's own OpenAPI description (`@octokit/openapi`,
//! pinned in `openapi/package.json`), over real HTTP, across runs in every state.
//!
//! The description is OpenAPI 3.0 (`nullable`, `$ref` to `#/components/schemas/…`); each
//! operation's schema is turned into a JSON Schema 2020-12 document holding only the components
//! it reaches, then compiled with `jsonschema` (formats checked). The 13 MB description is parsed
//! once per test binary.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::receiver::{settled, Receiver};
use common::{link, start, start_with, start_with_app, TestSim};
use gha_ingest_sim::{AppKeyPair, RunSpec, SimConfig, WebhookFaults};
use jsonschema::Validator;
use serde_json::{json, Map, Value};

const INSTALL_COMMAND: &str = "npm ci --prefix crates/gha-ingest-sim/openapi --no-audit --no-fund";

fn description_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("openapi/node_modules/@octokit/openapi/generated/api.github.com.json")
}

/// GitHub's description, its component schemas already converted to JSON Schema 2020-12.
struct Description {
    paths: Map<String, Value>,
    responses: Map<String, Value>,
    converted_schemas: Map<String, Value>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

fn description() -> &'static Description {
    static DESCRIPTION: OnceLock<Description> = OnceLock::new();
    DESCRIPTION.get_or_init(|| {
        let path = description_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "GitHub's OpenAPI description is not installed ({}: {error}): run `{INSTALL_COMMAND}` \
                 from the workspace root",
                path.display()
            )
        });
        let mut document: Value = serde_json::from_str(&text).expect("description is JSON");
        let mut take_object = |pointer: &str| match document.pointer_mut(pointer).map(Value::take) {
            Some(Value::Object(fields)) => fields,
            _ => panic!("description has no {pointer}"),
        };
        let paths = take_object("/paths");
        let responses = take_object("/components/responses");
        let converted_schemas = take_object("/components/schemas")
            .into_iter()
            .map(|(name, schema)| (name, to_json_schema(&schema)))
            .collect();
        Description {
            paths,
            responses,
            converted_schemas,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// An OpenAPI 3.0 schema object as JSON Schema 2020-12: `nullable` becomes a `null` type (or an
/// `anyOf` with null), component `$ref`s point into `$defs`. Only schema positions are walked,
/// so a property that happens to be called `nullable` or `type` is left alone.
fn to_json_schema(schema: &Value) -> Value {
    let Value::Object(fields) = schema else {
        return schema.clone();
    };
    let mut converted = Map::new();
    for (key, value) in fields {
        let value = match key.as_str() {
            "$ref" => Value::String(
                value
                    .as_str()
                    .unwrap_or_default()
                    .replace("#/components/schemas/", "#/$defs/"),
            ),
            "properties" | "patternProperties" => Value::Object(
                value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, property)| (name.clone(), to_json_schema(property)))
                    .collect(),
            ),
            "items" | "additionalProperties" | "not" => to_json_schema(value),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(to_json_schema)
                    .collect(),
            ),
            "nullable" | "example" | "examples" | "discriminator" | "xml" | "externalDocs" => {
                continue
            }
            _ => value.clone(),
        };
        converted.insert(key.clone(), value);
    }
    let is_nullable = fields.get("nullable") == Some(&Value::Bool(true));
    if !is_nullable {
        return Value::Object(converted);
    }
    if let Some(Value::Array(allowed)) = converted.get_mut("enum") {
        if !allowed.contains(&Value::Null) {
            allowed.push(Value::Null);
        }
    }
    match converted.get("type").cloned() {
        Some(Value::String(type_name)) => {
            converted.insert("type".into(), json!([type_name, "null"]));
            Value::Object(converted)
        }
        _ => json!({"anyOf": [Value::Object(converted), {"type": "null"}]}),
    }
}

/// Names of the components a converted schema refers to.
fn referenced_components(schema: &Value, found: &mut Vec<String>) {
    match schema {
        Value::Object(fields) => {
            for (key, value) in fields {
                if key == "$ref" {
                    if let Some(name) = value.as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
                        found.push(name.to_string());
                    }
                } else {
                    referenced_components(value, found);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| referenced_components(item, found)),
        _ => {}
    }
}

impl Description {
    /// The response schema of `METHOD path_template` (`method` lower case, as in the
    /// description) for `status` (`"200"`, `"404"`, …).
    fn response_schema(&self, method: &str, path_template: &str, status: &str) -> Value {
        let operation = self
            .paths
            .get(path_template)
            .and_then(|path| path.get(method))
            .unwrap_or_else(|| panic!("description has no {method} {path_template}"));
        let mut response = operation
            .pointer(&format!("/responses/{status}"))
            .unwrap_or_else(|| panic!("{method} {path_template} documents no {status} answer"));
        if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/components/responses/");
            response = &self.responses[name];
        }
        let schema = response
            .pointer("/content/application~1json/schema")
            .unwrap_or_else(|| panic!("{method} {path_template} {status} has no JSON schema"));
        to_json_schema(schema)
    }

    fn response_validator(&self, path_template: &str, status: &str) -> Arc<Validator> {
        self.operation_validator("get", path_template, status)
    }

    fn operation_validator(
        &self,
        method: &str,
        path_template: &str,
        status: &str,
    ) -> Arc<Validator> {
        self.validator(&format!("{method} {path_template} {status}"), || {
            self.response_schema(method, path_template, status)
        })
    }

    /// A validator for one component schema, e.g. `basic-error`.
    fn component_validator(&self, name: &str) -> Arc<Validator> {
        self.validator(name, || json!({"$ref": format!("#/$defs/{name}")}))
    }

    fn validator(&self, key: &str, root_schema: impl FnOnce() -> Value) -> Arc<Validator> {
        if let Some(validator) = self.validators.lock().expect("cache").get(key) {
            return Arc::clone(validator);
        }
        let root = root_schema();
        let mut defs = Map::new();
        let mut pending = Vec::new();
        referenced_components(&root, &mut pending);
        while let Some(name) = pending.pop() {
            if defs.contains_key(&name) {
                continue;
            }
            let schema = self
                .converted_schemas
                .get(&name)
                .unwrap_or_else(|| panic!("description has no component {name}"));
            referenced_components(schema, &mut pending);
            defs.insert(name, schema.clone());
        }
        let mut document = match root {
            Value::Object(fields) => fields,
            other => panic!("schema of {key} is not an object: {other}"),
        };
        document.insert(
            "$schema".into(),
            "https://json-schema.org/draft/2020-12/schema".into(),
        );
        document.insert("$defs".into(), Value::Object(defs));
        let validator = Arc::new(
            jsonschema::options()
                .should_validate_formats(true)
                .build(&Value::Object(document))
                .unwrap_or_else(|error| panic!("schema of {key} compiles: {error}")),
        );
        self.validators
            .lock()
            .expect("cache")
            .insert(key.to_string(), Arc::clone(&validator));
        validator
    }
}

/// Requests routes and gathers every violation, so one run of the test lists every gap.
struct Checker<'a> {
    test: &'a TestSim,
    violations: Vec<String>,
    checked: BTreeSet<&'static str>,
    current_template: &'static str,
    /// Sent as `Authorization: Bearer …` when set.
    token: Option<String>,
}

impl<'a> Checker<'a> {
    fn new(test: &'a TestSim) -> Self {
        Self {
            test,
            violations: Vec::new(),
            checked: BTreeSet::new(),
            current_template: "",
            token: None,
        }
    }

    /// POSTs `path` (no body), expects `status`, validates the body against `template`'s POST
    /// schema for that status, and returns the body.
    async fn check_post(&mut self, template: &'static str, path: &str, status: u16) -> Value {
        let validator = description().operation_validator("post", template, &status.to_string());
        self.checked.insert(template);
        self.current_template = template;
        let mut request = self.test.client.post(format!("{}{path}", self.test.api));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request reaches the simulator");
        self.validate(&validator, &format!("POST {path}"), response, status)
            .await
    }

    /// GETs `path_and_query`, expects `status`, validates the body against `template`'s schema
    /// for that status, and returns the body.
    async fn check(&mut self, template: &'static str, path_and_query: &str, status: u16) -> Value {
        let validator = description().response_validator(template, &status.to_string());
        self.checked.insert(template);
        self.current_template = template;
        self.check_with(&validator, path_and_query, status).await
    }

    /// GETs `path_and_query`, expects `status`, validates the body with `validator`.
    async fn check_with(
        &mut self,
        validator: &Validator,
        path_and_query: &str,
        status: u16,
    ) -> Value {
        let response = match &self.token {
            Some(token) => self.test.get_as(token, path_and_query).await,
            None => self.test.get(path_and_query).await,
        };
        self.validate(
            validator,
            &format!("GET {path_and_query}"),
            response,
            status,
        )
        .await
    }

    async fn validate(
        &mut self,
        validator: &Validator,
        request_line: &str,
        response: reqwest::Response,
        status: u16,
    ) -> Value {
        let answered = response.status();
        let body: Value = response.json().await.expect("JSON body");
        if answered != status {
            self.violations.push(format!(
                "{request_line} answered {answered}, expected {status}: {body}"
            ));
            return body;
        }
        for error in validator.iter_errors(&body) {
            let message = error.to_string();
            let shortened: String = message.chars().take(300).collect();
            // `/files/7/sha` and `/files/8/sha` are one gap.
            let location: Vec<&str> = error
                .instance_path
                .as_str()
                .split('/')
                .map(|part| {
                    if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                        "*"
                    } else {
                        part
                    }
                })
                .collect();
            self.violations.push(format!(
                "{} at {}: {shortened} (e.g. {request_line})",
                self.current_template,
                location.join("/")
            ));
        }
        body
    }

    fn assert_no_violations(&self) {
        let mut unique: BTreeSet<&str> = BTreeSet::new();
        let mut seen_gaps = BTreeSet::new();
        for violation in &self.violations {
            let gap = violation.split(" (e.g. ").next().unwrap_or(violation);
            if seen_gaps.insert(gap) {
                unique.insert(violation);
            }
        }
        assert!(
            unique.is_empty(),
            "{} answer(s) differ from GitHub's OpenAPI description:\n{}",
            unique.len(),
            unique
                .iter()
                .take(40)
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

const LIST_RUNS: &str = "/repos/{owner}/{repo}/actions/runs";
const GET_RUN: &str = "/repos/{owner}/{repo}/actions/runs/{run_id}";
const GET_ATTEMPT: &str = "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}";
const LIST_ATTEMPT_JOBS: &str =
    "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs";
const LIST_RUN_JOBS: &str = "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs";
const GET_JOB: &str = "/repos/{owner}/{repo}/actions/jobs/{job_id}";
const GET_COMMIT: &str = "/repos/{owner}/{repo}/commits/{ref}";
const COMMIT_PULLS: &str = "/repos/{owner}/{repo}/commits/{commit_sha}/pulls";
const GET_REPO: &str = "/repos/{owner}/{repo}";
const ORG_REPOS: &str = "/orgs/{org}/repos";
const RATE_LIMIT: &str = "/rate_limit";

/// A repository with history of every kind, plus runs caught in every state right now.
fn populate(test: &TestSim) -> Vec<u64> {
    let handle = &test.handle;
    handle.add_repo("acme", "app");
    handle.add_repo("acme", "tools");
    let mut run_ids = handle.generate_history("acme/app", 60, Duration::from_secs(3 * 24 * 3600));
    let rerun_id = handle.create_run("acme/app", RunSpec::default());
    handle.advance(Duration::from_secs(600));
    handle.rerun("acme/app", rerun_id);
    run_ids.push(rerun_id);
    for conclusion in [
        "failure",
        "cancelled",
        "skipped",
        "startup_failure",
        "timed_out",
    ] {
        run_ids.push(handle.create_run(
            "acme/app",
            RunSpec {
                conclusion: Some(conclusion.into()),
                workflow: Some("Release".into()),
                ..RunSpec::default()
            },
        ));
    }
    handle.advance(Duration::from_secs(600));
    run_ids.push(handle.create_run(
        "acme/app",
        RunSpec {
            head_branch: Some("release/v2".into()),
            commit_files: Some(450),
            ..RunSpec::default()
        },
    ));
    run_ids.push(handle.create_run(
        "acme/app",
        RunSpec {
            pre_queue_status: Some("waiting".into()),
            pre_queue_secs: 120,
            ..RunSpec::default()
        },
    ));
    run_ids.push(handle.create_run(
        "acme/app",
        RunSpec {
            queue_secs: 0,
            run_secs: 600,
            jobs: 4,
            ..RunSpec::default()
        },
    ));
    handle.advance(Duration::from_secs(5));
    run_ids
}

#[tokio::test]
async fn every_answer_matches_githubs_openapi_description() {
    let test = start().await;
    let run_ids = populate(&test);
    let mut checker = Checker::new(&test);
    let repo = "/repos/acme/app";

    for query in [
        "?per_page=100",
        "?status=completed&per_page=100&page=1",
        "?status=in_progress",
        "?status=queued&exclude_pull_requests=true",
        "?branch=main&event=push",
        "?created=%3E%3D2026-06-01",
        "?actor=octocat",
    ] {
        checker
            .check(LIST_RUNS, &format!("{repo}/actions/runs{query}"), 200)
            .await;
    }
    let mut shas = BTreeSet::new();
    for run_id in &run_ids {
        let run = checker
            .check(GET_RUN, &format!("{repo}/actions/runs/{run_id}"), 200)
            .await;
        shas.insert(run["head_sha"].as_str().unwrap_or_default().to_string());
        let attempts = run["run_attempt"].as_u64().unwrap_or(1);
        for attempt in 1..=attempts {
            let attempt_path = format!("{repo}/actions/runs/{run_id}/attempts/{attempt}");
            checker.check(GET_ATTEMPT, &attempt_path, 200).await;
            checker
                .check(LIST_ATTEMPT_JOBS, &format!("{attempt_path}/jobs"), 200)
                .await;
        }
        let jobs = checker
            .check(
                LIST_RUN_JOBS,
                &format!("{repo}/actions/runs/{run_id}/jobs?filter=all"),
                200,
            )
            .await;
        for job in jobs["jobs"].as_array().into_iter().flatten() {
            checker
                .check(GET_JOB, &format!("{repo}/actions/jobs/{}", job["id"]), 200)
                .await;
        }
    }
    for sha in &shas {
        checker
            .check(GET_COMMIT, &format!("{repo}/commits/{sha}"), 200)
            .await;
        checker
            .check(COMMIT_PULLS, &format!("{repo}/commits/{sha}/pulls"), 200)
            .await;
    }
    for reference in ["main", "release/v2", "heads/main"] {
        checker
            .check(GET_COMMIT, &format!("{repo}/commits/{reference}"), 200)
            .await;
    }
    checker.check(GET_REPO, repo, 200).await;
    for query in [
        "",
        "?type=all&sort=full_name&direction=asc",
        "?type=sources&sort=created&direction=desc",
        "?sort=updated",
    ] {
        checker
            .check(ORG_REPOS, &format!("/orgs/acme/repos{query}"), 200)
            .await;
    }
    checker.check(RATE_LIMIT, "/rate_limit", 200).await;

    let every_route: BTreeSet<&str> = [
        LIST_RUNS,
        GET_RUN,
        GET_ATTEMPT,
        LIST_ATTEMPT_JOBS,
        LIST_RUN_JOBS,
        GET_JOB,
        GET_COMMIT,
        COMMIT_PULLS,
        GET_REPO,
        ORG_REPOS,
        RATE_LIMIT,
    ]
    .into();
    assert_eq!(checker.checked, every_route, "every route was checked");
    checker.assert_no_violations();
}

#[tokio::test]
async fn error_answers_match_githubs_error_schemas() {
    let test = start().await;
    test.handle.add_repo("acme", "app");
    let mut checker = Checker::new(&test);
    // Most Actions operations document no 404; GitHub answers them with its `basic-error`.
    let basic_error = description().component_validator("basic-error");
    for path in [
        "/repos/acme/app/actions/runs/1",
        "/repos/acme/app/actions/jobs/1",
        "/repos/acme/app/actions/jobs/1/logs",
        "/repos/acme/app/nothing/here",
    ] {
        checker.check_with(&basic_error, path, 404).await;
    }
    checker.check(GET_REPO, "/repos/acme/nothing", 404).await;
    checker
        .check(
            GET_COMMIT,
            "/repos/acme/app/commits/0000000000000000000000000000000000000000",
            422,
        )
        .await;
    checker.assert_no_violations();
}

const GET_APP: &str = "/app";
const LIST_INSTALLATIONS: &str = "/app/installations";
const CREATE_INSTALLATION_TOKEN: &str = "/app/installations/{installation_id}/access_tokens";
const INSTALLATION_REPOS: &str = "/installation/repositories";

#[tokio::test]
async fn github_app_answers_match_githubs_openapi_description() {
    let test = start_with(SimConfig {
        token: Some("ghp_openapi".into()),
        ..SimConfig::default()
    })
    .await;
    let keys = AppKeyPair::generate();
    test.handle.add_app(31, &keys.public_pem);
    let repos: Vec<String> = (0..5).map(|index| format!("acme/repo-{index}")).collect();
    for repo in &repos {
        test.handle
            .generate_history(repo, 3, Duration::from_secs(3600));
    }
    let names: Vec<&str> = repos.iter().map(String::as_str).collect();
    let acme = test.handle.add_installation(31, "acme", &names);
    let suspended = test.handle.add_installation(31, "beta", &[]);
    test.handle.suspend_installation(suspended);

    let mut checker = Checker::new(&test);
    checker.token = Some(test.app_jwt(&keys.private_pem, 31));
    checker.check(GET_APP, "/app", 200).await;
    // The operation's inline item schema joins `account`'s two alternatives with `allOf` (an
    // account that is a user *and* an enterprise), which even GitHub's own example fails; the
    // `installation` component it was generated from says `anyOf`, so the items are checked
    // against that.
    let installations = description().validator(
        "installation[]",
        || json!({"type": "array", "items": {"$ref": "#/$defs/installation"}}),
    );
    checker.checked.insert(LIST_INSTALLATIONS);
    checker.current_template = LIST_INSTALLATIONS;
    for query in ["", "?per_page=1", "?per_page=1&page=2"] {
        let listed = checker
            .check_with(&installations, &format!("/app/installations{query}"), 200)
            .await;
        assert_eq!(
            listed.as_array().map(Vec::len),
            Some(if query.is_empty() { 2 } else { 1 })
        );
    }
    let minted = checker
        .check_post(
            CREATE_INSTALLATION_TOKEN,
            &format!("/app/installations/{acme}/access_tokens"),
            201,
        )
        .await;
    for (installation_id, status) in [(suspended, 403), (1, 404)] {
        checker
            .check_post(
                CREATE_INSTALLATION_TOKEN,
                &format!("/app/installations/{installation_id}/access_tokens"),
                status,
            )
            .await;
    }
    checker.token = minted["token"].as_str().map(str::to_string);
    for query in ["", "?per_page=2&page=2"] {
        checker
            .check(
                INSTALLATION_REPOS,
                &format!("/installation/repositories{query}"),
                200,
            )
            .await;
    }
    checker.token = Some("ghp_openapi".into());
    checker
        .check(INSTALLATION_REPOS, "/installation/repositories", 403)
        .await;
    checker.token = Some("ghs_unknown".into());
    checker
        .check(INSTALLATION_REPOS, "/installation/repositories", 401)
        .await;
    checker.token = None;
    checker
        .check_post(
            CREATE_INSTALLATION_TOKEN,
            &format!("/app/installations/{acme}/access_tokens"),
            401,
        )
        .await;

    let every_route: BTreeSet<&str> = [
        GET_APP,
        LIST_INSTALLATIONS,
        CREATE_INSTALLATION_TOKEN,
        INSTALLATION_REPOS,
    ]
    .into();
    assert_eq!(checker.checked, every_route, "every App route was checked");
    checker.assert_no_violations();
}

const LIST_DELIVERIES: &str = "/app/hook/deliveries";
const GET_DELIVERY: &str = "/app/hook/deliveries/{delivery_id}";
const REDELIVER: &str = "/app/hook/deliveries/{delivery_id}/attempts";

#[tokio::test]
async fn webhook_deliveries_answers_match_githubs_openapi_description() {
    let (test, keys) = start_with_app(SimConfig::default(), 31).await;
    test.handle.add_installation(31, "acme", &["acme/app"]);
    let receiver = Receiver::start("openapi-secret").await;
    test.handle.set_webhook(&receiver.url, "openapi-secret");
    // Successes with an answer, failures with one (401) and without (dropped), a repository
    // outside the installation (null installation_id).
    test.handle.set_webhook_faults(WebhookFaults {
        seed: 5,
        drop_ratio: 0.2,
        wrong_signature_ratio: 0.2,
        ..WebhookFaults::default()
    });
    test.handle.create_run("acme/app", RunSpec::default());
    test.handle.create_run("acme/outside", RunSpec::default());
    test.handle.advance(Duration::from_secs(600));
    settled(&test.handle).await;
    let recorded = test.handle.webhook_deliveries();
    assert!(recorded.iter().any(|delivery| delivery.injected.dropped));
    assert!(recorded.iter().any(|delivery| delivery.status_code == 401));

    let mut checker = Checker::new(&test);
    checker.token = Some(test.app_jwt(&keys.private_pem, 31));
    for query in [
        "",
        "?per_page=100",
        "?status=failure",
        "?status=success&per_page=3",
    ] {
        checker
            .check(
                LIST_DELIVERIES,
                &format!("/app/hook/deliveries{query}"),
                200,
            )
            .await;
    }
    let first_page = test
        .get_as(
            checker.token.as_deref().unwrap_or_default(),
            "/app/hook/deliveries?per_page=2",
        )
        .await;
    let next = link(first_page.headers(), "next").expect("more than one page");
    let next_path = next
        .strip_prefix(&test.api)
        .expect("a link to the simulator");
    checker.check(LIST_DELIVERIES, next_path, 200).await;
    for delivery in &recorded {
        checker
            .check(
                GET_DELIVERY,
                &format!("/app/hook/deliveries/{}", delivery.id),
                200,
            )
            .await;
    }
    let failed = recorded
        .iter()
        .find(|delivery| delivery.injected.dropped)
        .expect("a dropped delivery");
    checker
        .check_post(
            REDELIVER,
            &format!("/app/hook/deliveries/{}/attempts", failed.id),
            202,
        )
        .await;
    checker
        .check(
            LIST_DELIVERIES,
            "/app/hook/deliveries?cursor=yesterday",
            422,
        )
        .await;
    checker
        .check(LIST_DELIVERIES, "/app/hook/deliveries?status=pending", 422)
        .await;
    let basic_error = description().component_validator("basic-error");
    checker
        .check_with(&basic_error, "/app/hook/deliveries/1", 404)
        .await;
    test.handle.advance(Duration::from_secs(3 * 24 * 3600));
    checker.token = Some(test.app_jwt(&keys.private_pem, 31));
    checker
        .check_post(
            REDELIVER,
            &format!("/app/hook/deliveries/{}/attempts", failed.id),
            422,
        )
        .await;
    settled(&test.handle).await;

    let every_route: BTreeSet<&str> = [LIST_DELIVERIES, GET_DELIVERY, REDELIVER].into();
    assert_eq!(
        checker.checked, every_route,
        "every deliveries route was checked"
    );
    checker.assert_no_violations();
}

#[test]
fn the_conversion_keeps_nullable_and_refs_meaningful() {
    let converted = to_json_schema(&json!({
        "type": "object",
        "properties": {
            "nullable": {"type": "string", "nullable": true, "enum": ["a"]},
            "owner": {"allOf": [{"$ref": "#/components/schemas/simple-user"}], "nullable": true},
        },
    }));
    assert_eq!(
        converted["properties"]["nullable"],
        json!({"type": ["string", "null"], "enum": ["a", null]})
    );
    assert_eq!(
        converted["properties"]["owner"],
        json!({"anyOf": [{"allOf": [{"$ref": "#/$defs/simple-user"}]}, {"type": "null"}]})
    );
}
