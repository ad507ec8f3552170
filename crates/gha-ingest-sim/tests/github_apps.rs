//! GitHub App authentication as GitHub does it: a JWT signed with the App's key lists its
//! installations and mints installation tokens; a token sees its installation's repositories
//! and nothing else, expires on the simulated clock, and dies with a suspension. Every refusal
//! carries GitHub's status and message.

mod common;

use std::time::Duration;

use common::{header, link, sign_jwt, start_with, TestSim};
use gha_ingest_sim::{AppKeyPair, SimConfig};
use serde_json::{json, Value};

const APP_ID: u64 = 4_242;
const PAT: &str = "ghp_organisation_admin";

/// A simulator with a token configured, App `APP_ID` registered, and the key pair it signs
/// with.
async fn start_with_app(config: SimConfig) -> (TestSim, AppKeyPair) {
    let config = SimConfig {
        token: Some(PAT.into()),
        ..config
    };
    common::start_with_app(config, APP_ID).await
}

async fn message_of(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("JSON body");
    body["message"].as_str().unwrap_or_default().to_string()
}

fn full_names(page: &Value) -> Vec<String> {
    page["repositories"]
        .as_array()
        .expect("repositories array")
        .iter()
        .map(|repo| repo["full_name"].as_str().expect("full_name").to_string())
        .collect()
}

#[tokio::test]
async fn a_jwt_mints_a_token_that_lists_exactly_the_installed_repositories_across_pages() {
    let (test, keys) = start_with_app(SimConfig::default()).await;
    for name in ["api", "web", "docs", "infra"] {
        test.handle.add_repo("acme", name);
    }
    test.handle.add_repo("acme", "secret");
    test.handle.add_repo("other", "api");
    // Installed before one of its repositories exists: names resolve at request time.
    let installation_id = test.handle.add_installation(
        APP_ID,
        "acme",
        &["acme/api", "acme/web", "acme/docs", "acme/later"],
    );
    test.handle
        .add_installation_repo(installation_id, "acme/infra");
    test.handle.add_repo("acme", "later");

    let jwt = test.app_jwt(&keys.private_pem, APP_ID);
    let app = test.get_as(&jwt, "/app").await;
    assert_eq!(app.status(), 200);
    let app: Value = app.json().await.expect("json");
    assert_eq!(
        (app["id"].as_u64(), app["installations_count"].as_u64()),
        (Some(APP_ID), Some(1))
    );

    let installations = test.get_as(&jwt, "/app/installations").await;
    assert_eq!(installations.status(), 200);
    let installations: Value = installations.json().await.expect("json");
    assert_eq!(installations[0]["id"].as_u64(), Some(installation_id));
    assert_eq!(installations[0]["account"]["login"], "acme");
    assert_eq!(installations[0]["app_id"].as_u64(), Some(APP_ID));
    let tokens_url = installations[0]["access_tokens_url"].as_str().expect("url");
    assert_eq!(
        tokens_url,
        format!(
            "{}/app/installations/{installation_id}/access_tokens",
            test.api
        )
    );

    let minted = test.mint_at(tokens_url, &jwt).await;
    let token = minted["token"].as_str().expect("token");
    assert!(token.starts_with("ghs_"), "{token}");
    assert_eq!(
        minted["expires_at"], "2026-06-01T01:00:00Z",
        "an hour on the simulated clock"
    );
    assert_eq!(minted["repository_selection"], "selected");
    assert_eq!(minted["permissions"]["actions"], "read");

    let first = test
        .get_as(token, "/installation/repositories?per_page=3")
        .await;
    assert_eq!(first.status(), 200);
    let next = link(first.headers(), "next").expect("a second page");
    assert!(
        next.starts_with(&format!("{}/installation/repositories?", test.api)),
        "{next}"
    );
    let first: Value = first.json().await.expect("json");
    assert_eq!(first["total_count"], 5);
    assert_eq!(first["repository_selection"], "selected");
    let second = test
        .client
        .get(&next)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(second.status(), 200);
    assert!(link(second.headers(), "next").is_none(), "two pages");
    let second: Value = second.json().await.expect("json");
    let mut listed = full_names(&first);
    listed.extend(full_names(&second));
    assert_eq!(
        listed,
        [
            "acme/api",
            "acme/docs",
            "acme/infra",
            "acme/later",
            "acme/web"
        ],
        "exactly the installed repositories, each once, in name order"
    );
    let served_alone = test.get_as(token, "/repos/acme/api").await;
    assert_eq!(served_alone.status(), 200);
    let served_alone: Value = served_alone.json().await.expect("json");
    assert_eq!(
        first["repositories"][0], served_alone,
        "full repository objects"
    );
}

#[tokio::test]
async fn jwts_github_would_refuse_answer_401_with_its_messages() {
    let (test, keys) = start_with_app(SimConfig::default()).await;
    let installation_id = test.handle.add_installation(APP_ID, "acme", &[]);
    let now = test.handle.now().timestamp();
    let stranger = AppKeyPair::generate();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"iss": APP_ID, "iat": now - 60, "exp": now + 540}),
        &jsonwebtoken::EncodingKey::from_secret(b"shared secret"),
    )
    .expect("HS256 signs");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "signed by another key",
            sign_jwt(&stranger.private_pem, json!({"iss": APP_ID, "iat": now - 60, "exp": now + 540})),
            "A JSON web token could not be decoded",
        ),
        ("not RS256", hs256, "A JSON web token could not be decoded"),
        (
            "expired",
            sign_jwt(&keys.private_pem, json!({"iss": APP_ID, "iat": now - 660, "exp": now - 60})),
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        ),
        (
            "exp too far ahead",
            sign_jwt(&keys.private_pem, json!({"iss": APP_ID, "iat": now - 60, "exp": now + 600})),
            "'Expiration time' claim ('exp') is too far in the future",
        ),
        (
            "iat in the future",
            sign_jwt(&keys.private_pem, json!({"iss": APP_ID, "iat": now + 120, "exp": now + 300})),
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        ),
        (
            "no exp",
            sign_jwt(&keys.private_pem, json!({"iss": APP_ID, "iat": now})),
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        ),
        (
            "unknown App",
            sign_jwt(&keys.private_pem, json!({"iss": 1, "iat": now - 60, "exp": now + 540})),
            "Integration not found",
        ),
    ];
    for (case, jwt, expected_message) in cases {
        for path in ["/app", "/app/installations"] {
            let response = test.get_as(&jwt, path).await;
            assert_eq!(response.status(), 401, "{case} on {path}");
            assert_eq!(message_of(response).await, expected_message, "{case}");
        }
        let mint = test
            .post_as(
                &jwt,
                &format!("/app/installations/{installation_id}/access_tokens"),
            )
            .await;
        assert_eq!(mint.status(), 401, "{case} cannot mint");
    }

    // What GitHub accepts: `iss` as a string or the client id, iat up to 60 s ahead, a PKCS#1
    // key file (what GitHub hands out), exp exactly 10 minutes after iat.
    let client_id = test
        .get_as(&test.app_jwt(&keys.private_pem, APP_ID), "/app")
        .await;
    let client_id: Value = client_id.json().await.expect("json");
    let client_id = client_id["client_id"]
        .as_str()
        .expect("client_id")
        .to_string();
    let accepted = [
        sign_jwt(
            &keys.private_pem,
            json!({"iss": APP_ID.to_string(), "iat": now - 60, "exp": now + 540}),
        ),
        sign_jwt(
            &keys.private_pem,
            json!({"iss": client_id, "iat": now, "exp": now + 600}),
        ),
        sign_jwt(
            &keys.private_pem,
            json!({"iss": APP_ID, "iat": now + 60, "exp": now + 120}),
        ),
        sign_jwt(
            &keys.private_pem_pkcs1(),
            json!({"iss": APP_ID, "iat": now - 60, "exp": now + 540}),
        ),
    ];
    for jwt in &accepted {
        assert_eq!(test.get_as(jwt, "/app").await.status(), 200, "{jwt}");
    }

    // Time is the simulator's: the same JWT expires when the manual clock passes its exp.
    let jwt = test.app_jwt(&keys.private_pem, APP_ID);
    assert_eq!(test.get_as(&jwt, "/app").await.status(), 200);
    test.handle.advance(Duration::from_secs(540));
    assert_eq!(test.get_as(&jwt, "/app").await.status(), 401);
}

#[tokio::test]
async fn installation_tokens_expire_on_the_simulated_clock() {
    let (test, keys) = start_with_app(SimConfig {
        installation_token_ttl: Duration::from_secs(600),
        ..SimConfig::default()
    })
    .await;
    test.handle.add_repo("acme", "app");
    let installation_id = test.handle.add_installation(APP_ID, "acme", &["acme/app"]);
    let token = test
        .installation_token(&keys.private_pem, APP_ID, installation_id)
        .await;
    test.handle.advance(Duration::from_secs(599));
    assert_eq!(test.get_as(&token, "/repos/acme/app").await.status(), 200);
    test.handle.advance(Duration::from_secs(1));
    let expired = test.get_as(&token, "/repos/acme/app").await;
    assert_eq!(expired.status(), 401);
    assert_eq!(message_of(expired).await, "Bad credentials");
    let renewed = test
        .installation_token(&keys.private_pem, APP_ID, installation_id)
        .await;
    assert_eq!(test.get_as(&renewed, "/repos/acme/app").await.status(), 200);
}

#[tokio::test]
async fn expire_installation_tokens_ends_every_token_already_issued() {
    let (test, keys) = start_with_app(SimConfig::default()).await;
    test.handle.add_repo("acme", "app");
    test.handle.add_repo("beta", "app");
    let acme = test.handle.add_installation(APP_ID, "acme", &["acme/app"]);
    let beta = test.handle.add_installation(APP_ID, "beta", &["beta/app"]);
    let acme_token = test
        .installation_token(&keys.private_pem, APP_ID, acme)
        .await;
    let beta_token = test
        .installation_token(&keys.private_pem, APP_ID, beta)
        .await;
    test.handle.expire_installation_tokens();
    for (token, repo) in [(&acme_token, "acme/app"), (&beta_token, "beta/app")] {
        let response = test.get_as(token, &format!("/repos/{repo}")).await;
        assert_eq!(response.status(), 401, "{repo}");
        assert_eq!(message_of(response).await, "Bad credentials");
    }
    let fresh = test
        .installation_token(&keys.private_pem, APP_ID, acme)
        .await;
    assert_eq!(test.get_as(&fresh, "/repos/acme/app").await.status(), 200);

    // The same over the admin API.
    let admin = test
        .client
        .post(format!("{}/_sim/installations/expire_tokens", test.api))
        .send()
        .await
        .expect("request");
    assert_eq!(admin.status(), 204);
    assert_eq!(test.get_as(&fresh, "/repos/acme/app").await.status(), 401);
}

#[tokio::test]
async fn a_suspended_installation_cannot_mint_and_its_tokens_answer_401() {
    let (test, keys) = start_with_app(SimConfig::default()).await;
    test.handle.add_repo("acme", "app");
    let installation_id = test.handle.add_installation(APP_ID, "acme", &["acme/app"]);
    let token = test
        .installation_token(&keys.private_pem, APP_ID, installation_id)
        .await;
    test.handle.suspend_installation(installation_id);

    let old_token = test.get_as(&token, "/repos/acme/app").await;
    assert_eq!(old_token.status(), 401);
    assert_eq!(message_of(old_token).await, "Bad credentials");
    let jwt = test.app_jwt(&keys.private_pem, APP_ID);
    let mint = test
        .post_as(
            &jwt,
            &format!("/app/installations/{installation_id}/access_tokens"),
        )
        .await;
    assert_eq!(mint.status(), 403);
    assert_eq!(
        message_of(mint).await,
        "This installation has been suspended"
    );
    let listed: Value = test
        .get_as(&jwt, "/app/installations")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed[0]["suspended_at"], "2026-06-01T00:00:00Z");

    let unknown = test
        .post_as(&jwt, "/app/installations/1/access_tokens")
        .await;
    assert_eq!(unknown.status(), 404);
    let admin = test
        .client
        .post(format!("{}/_sim/installations/1/suspend", test.api))
        .send()
        .await
        .expect("request");
    assert_eq!(admin.status(), 404, "unknown installation");
}

#[tokio::test]
async fn an_installation_token_sees_only_its_installations_repositories() {
    let (test, keys) = start_with_app(SimConfig::default()).await;
    test.handle.add_repo("acme", "app");
    test.handle.add_repo("acme", "private-stuff");
    let run_outside =
        test.handle
            .generate_history("acme/private-stuff", 1, Duration::from_secs(600))[0];
    let installation_id = test.handle.add_installation(APP_ID, "acme", &["acme/app"]);
    let token = test
        .installation_token(&keys.private_pem, APP_ID, installation_id)
        .await;

    let outside_id = test.get_as(PAT, "/repos/acme/private-stuff").await;
    assert_eq!(
        outside_id.status(),
        200,
        "the token of the configuration sees everything"
    );
    let outside_id: Value = outside_id.json().await.expect("json");
    let outside_id = outside_id["id"].as_u64().expect("id");

    assert_eq!(test.get_as(&token, "/repos/ACME/App").await.status(), 200);
    for path in [
        "/repos/acme/private-stuff".to_string(),
        "/repos/acme/private-stuff/actions/runs".to_string(),
        format!("/repos/acme/private-stuff/actions/runs/{run_outside}"),
        format!("/repositories/{outside_id}"),
        "/repos/nobody/nothing".to_string(),
    ] {
        let response = test.get_as(&token, &path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(message_of(response).await, "Not Found");
    }
    let org: Value = test
        .get_as(&token, "/orgs/acme/repos")
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = org
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|repo| repo["full_name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["acme/app"],
        "the organisation as the installation sees it"
    );
    let pat_org: Value = test
        .get_as(PAT, "/orgs/acme/repos")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(pat_org.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn each_credential_is_accepted_only_where_github_accepts_it() {
    let (test, keys) = start_with_app(SimConfig::default()).await;
    test.handle.add_repo("acme", "app");
    let installation_id = test.handle.add_installation(APP_ID, "acme", &["acme/app"]);
    let jwt = test.app_jwt(&keys.private_pem, APP_ID);
    let token = test
        .installation_token(&keys.private_pem, APP_ID, installation_id)
        .await;

    let jwt_on_repo = test.get_as(&jwt, "/repos/acme/app").await;
    assert_eq!(jwt_on_repo.status(), 403);
    assert_eq!(
        message_of(jwt_on_repo).await,
        "Resource not accessible by integration"
    );
    for credential in [token.as_str(), PAT] {
        let on_app = test.get_as(credential, "/app/installations").await;
        assert_eq!(on_app.status(), 401);
        assert_eq!(
            message_of(on_app).await,
            "A JSON web token could not be decoded"
        );
    }
    let pat_on_installation = test.get_as(PAT, "/installation/repositories").await;
    assert_eq!(pat_on_installation.status(), 403);
    assert!(message_of(pat_on_installation)
        .await
        .starts_with("You must authenticate with an installation access token"));
    let someone_elses = test
        .post_as(
            &jwt,
            &format!("/app/installations/{}/access_tokens", installation_id + 1),
        )
        .await;
    assert_eq!(someone_elses.status(), 404);
    assert_eq!(test.get_as(&jwt, "/rate_limit").await.status(), 200);
}

#[tokio::test]
async fn without_a_configured_token_unknown_tokens_are_refused_not_treated_as_anonymous() {
    let test = start_with(SimConfig::default()).await;
    test.handle.add_repo("acme", "app");
    assert_eq!(test.get("/repos/acme/app").await.status(), 200, "anonymous");
    let presented = test.get_as("ghp_whatever", "/repos/acme/app").await;
    assert_eq!(presented.status(), 401);
    assert_eq!(message_of(presented).await, "Bad credentials");
    let expired_lookalike = test
        .get_as(
            "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
            "/repos/acme/app",
        )
        .await;
    assert_eq!(expired_lookalike.status(), 401);

    let lenient = start_with(SimConfig {
        accept_any_token: true,
        ..SimConfig::default()
    })
    .await;
    lenient.handle.add_repo("acme", "app");
    let any = lenient.get_as("ghp_whatever", "/repos/acme/app").await;
    assert_eq!(any.status(), 200, "accept_any_token");
    assert_eq!(header(&any, "x-ratelimit-remaining"), "4999");
    assert!(lenient.handle.stats().credentials.contains_key("pat"));
}

#[tokio::test]
async fn twelve_hundred_repositories_across_four_installations_are_served_by_lookup() {
    let (test, keys) = start_with_app(SimConfig::default()).await;
    let owners = ["north", "south", "east", "west"];
    let mut installations = Vec::new();
    for owner in owners {
        let repos: Vec<String> = (0..300)
            .map(|index| format!("{owner}/svc-{index:03}"))
            .collect();
        for repo in &repos {
            let (repo_owner, name) = repo.split_once('/').expect("owner/name");
            test.handle.add_repo(repo_owner, name);
        }
        let names: Vec<&str> = repos.iter().map(String::as_str).collect();
        installations.push(test.handle.add_installation(APP_ID, owner, &names));
    }
    let started = std::time::Instant::now();
    let token = test
        .installation_token(&keys.private_pem, APP_ID, installations[2])
        .await;
    let mut url = format!("{}/installation/repositories?per_page=100", test.api);
    let mut listed = Vec::new();
    loop {
        let response = test
            .client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let next = link(response.headers(), "next");
        let page: Value = response.json().await.expect("json");
        assert_eq!(page["total_count"], 300);
        listed.extend(full_names(&page));
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(listed.len(), 300);
    assert!(listed.iter().all(|name| name.starts_with("east/")));
    assert_eq!(
        test.get_as(&token, "/repos/east/svc-299").await.status(),
        200
    );
    assert_eq!(
        test.get_as(&token, "/repos/west/svc-000").await.status(),
        404
    );
    let org: Value = test
        .get_as(&token, "/orgs/east/repos?per_page=100&page=3")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(org.as_array().map(Vec::len), Some(100));
    // Generous for a debug build on a slow machine; a scan per request would still pass, so
    // this only catches something quadratic.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
