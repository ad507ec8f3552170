//! GitHub App authentication end to end, over HTTP against the simulator: installations are
//! discovered, each reads its own repositories with its own token on its own budget, tokens are
//! renewed ahead of expiry and after a refusal without a request failing, and one installation
//! that breaks (suspended) or a key GitHub refuses says so while the others keep flowing.

use std::time::Duration;

use gha_ingest_github::{ClientOptions, GithubAccess, GithubApp, GithubClient};
use gha_ingest_sim::{AppKeyPair, SimConfig};
use gha_ingest_tests::*;
use secrecy::SecretString;

const APP_ID: u64 = 4_242;

/// The App's installations: `acme` with two repositories, `globex` with one.
struct Org {
    acme: u64,
    globex: u64,
    key: AppKeyPair,
}

fn install_app(world: &World) -> Org {
    let sim = world.sim();
    for (owner, name) in [("acme", "webapp"), ("acme", "api"), ("globex", "site")] {
        sim.add_repo(owner, name);
        sim.generate_history(&format!("{owner}/{name}"), 4, Duration::from_secs(3 * 3600));
    }
    let key = AppKeyPair::generate();
    sim.add_app(APP_ID, &key.public_pem);
    let acme = sim.add_installation(APP_ID, "acme", &["acme/webapp", "acme/api"]);
    let globex = sim.add_installation(APP_ID, "globex", &["globex/site"]);
    Org { acme, globex, key }
}

/// The daemon's credentials for the App, with the key as GitHub hands it out (PKCS#1 PEM).
fn app_access(world: &World, private_pem: &str) -> GithubAccess {
    let app = GithubApp::new(APP_ID, &SecretString::from(private_pem.to_string())).unwrap();
    let template = GithubClient::new(ClientOptions {
        token: None,
        ..world.client_options()
    })
    .unwrap();
    GithubAccess::app(app, template, Vec::new())
}

/// The daemon reading through `access`, its installations discovered, and its metrics queue.
async fn start_daemon(
    world: &World,
    access: GithubAccess,
) -> (Daemon, std::sync::Arc<dyn gha_ingest_queue::MessageQueue>) {
    let queue = embedded_queue(world.dir.path(), "metrics").await;
    let queues = gha_ingest_pipeline::QueueSet {
        metrics: queue.clone(),
        log_requests: None,
    };
    let daemon = Daemon::start_with(world, access, queues, test_options()).await;
    daemon.agent.discover_repositories().await;
    (daemon, queue)
}

fn repos_of(messages: &[Received]) -> std::collections::BTreeSet<String> {
    messages
        .iter()
        .map(|message| message.attributes["repo"].clone())
        .collect()
}

#[tokio::test]
async fn each_installation_reads_its_own_repositories_with_its_own_token_and_budget() {
    let world = World::start().await;
    let org = install_app(&world);
    let access = app_access(&world, &org.key.private_pem_pkcs1());
    let (daemon, queue) = start_daemon(&world, access.clone()).await;
    daemon.cycle().await;

    let messages = drain(queue.as_ref()).await;
    assert_eq!(
        repos_of(&messages),
        ["acme/api", "acme/webapp", "globex/site"]
            .map(String::from)
            .into(),
        "every repository of both installations, none listed by hand"
    );
    assert_eq!(completed_run_ids(&messages).len(), 12);
    let stats = world.sim().stats();
    for installation in [org.acme, org.globex] {
        let used = &stats.credentials[&format!("installation:{installation}")];
        assert!(
            used.requests > 0,
            "installation {installation} did its own reads"
        );
        assert_eq!(used.primary_rate_limited + used.secondary_rate_limited, 0);
    }
    assert!(!stats.credentials.contains_key("pat"), "no token was used");
    assert!(!stats.credentials.contains_key("anonymous"));
    let installations = access.installations();
    assert_eq!(installations.len(), 2);
    assert!(installations
        .iter()
        .all(|i| i.error.is_none() && i.tokens_minted == 1));
    let budgets: Vec<String> = access
        .clients()
        .iter()
        .map(|client| client.credential_label())
        .collect();
    assert_eq!(
        budgets,
        [
            format!("installation:{}", org.acme),
            format!("installation:{}", org.globex)
        ]
    );
    daemon.stop().await;
}

#[tokio::test]
async fn tokens_are_renewed_ahead_of_expiry_and_after_a_refusal_without_a_failed_request() {
    // Installation tokens that live 4 s: renewed a quarter of their life ahead, after 3 s.
    let world = World::start_with(SimConfig {
        installation_token_ttl: Duration::from_secs(4),
        ..World::test_sim_config()
    })
    .await;
    let org = install_app(&world);
    let access = app_access(&world, &org.key.private_pem);
    let (daemon, queue) = start_daemon(&world, access.clone()).await;
    daemon.cycle().await;
    drain(queue.as_ref()).await;
    let minted = |access: &GithubAccess| -> u64 {
        access.installations().iter().map(|i| i.tokens_minted).sum()
    };
    let refused = || {
        world
            .sim()
            .stats()
            .by_status
            .get(&401)
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(minted(&access), 2);
    // (The first JWT was refused once: the simulator's clock is not this host's, and the App
    // learnt GitHub's time from that answer.)
    let refused_at_start = refused();

    tokio::time::sleep(Duration::from_millis(3_500)).await;
    daemon.cycle().await;
    assert_eq!(minted(&access), 4, "renewed ahead of expiry");
    assert_eq!(
        refused(),
        refused_at_start,
        "no request was sent with an expired token"
    );

    // Every token GitHub issued is revoked: the next request of each installation is refused
    // once, a new token is minted, and the request goes through.
    world.sim().expire_installation_tokens();
    let run_id = world.sim().create_run("globex/site", Default::default());
    world.sim().advance(Duration::from_secs(3_600));
    daemon.cycle().await;
    let messages = drain(queue.as_ref()).await;
    assert!(
        completed_run_ids(&messages).contains(&run_id),
        "the run after the revocation arrived"
    );
    assert_eq!(minted(&access), 6, "one more token per installation");
    // Requests in flight together were all refused; each retried with the one new token.
    assert!(
        refused() > refused_at_start,
        "the revoked tokens were refused"
    );
    assert!(access.installations().iter().all(|i| i.error.is_none()));
    assert_eq!(
        access.metrics().failed_attempts(),
        0,
        "no request failed: each refusal was answered by a new token"
    );
    assert_eq!(world.sim().stats().installation_tokens_issued_total, 6);
    daemon.stop().await;
}

#[tokio::test]
async fn a_suspended_installation_stops_alone_with_an_error_that_names_it() {
    let world = World::start().await;
    let org = install_app(&world);
    let access = app_access(&world, &org.key.private_pem);
    let (daemon, queue) = start_daemon(&world, access.clone()).await;
    daemon.cycle().await;
    drain(queue.as_ref()).await;

    world.sim().suspend_installation(org.globex);
    let acme_run = world.sim().create_run("acme/api", Default::default());
    let globex_run = world.sim().create_run("globex/site", Default::default());
    world.sim().advance(Duration::from_secs(3_600));
    daemon.cycle().await;
    let messages = drain(queue.as_ref()).await;
    let completed = completed_run_ids(&messages);
    assert!(
        completed.contains(&acme_run),
        "the other installation flows"
    );
    assert!(!completed.contains(&globex_run));

    let cursor = daemon
        .store
        .cursor(&"globex/site".parse().unwrap())
        .await
        .unwrap();
    let error = cursor
        .last_error
        .expect("the suspended installation's repository failed");
    assert!(
        error.contains(&format!("installation:{}", org.globex)) && error.contains("suspended"),
        "{error}"
    );
    let acme = daemon
        .store
        .cursor(&"acme/api".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(acme.last_error, None);
    daemon.stop().await;
}

#[tokio::test]
async fn a_key_github_refuses_is_named_as_such() {
    let world = World::start().await;
    install_app(&world);
    let someone_else = AppKeyPair::generate();
    let access = app_access(&world, &someone_else.private_pem);
    let error = access.discover().await.expect_err("GitHub refuses the JWT");
    let text = error.to_string();
    assert!(
        text.contains(&format!("app:{APP_ID}")) && text.contains("private key is this App's"),
        "{text}"
    );
    assert!(!text.contains("BEGIN"), "no key material in the error");
    assert_eq!(error.class(), gha_ingest_github::ErrorClass::Fatal);
}

/// GitHub Enterprise Server's REST API lives under `https://HOST/api/v3`: the App's own
/// endpoints, the installations' repositories and every page link stay under it.
#[tokio::test]
async fn a_github_enterprise_server_base_url_is_kept_for_every_request() {
    let world = World::start().await;
    let org = install_app(&world);
    let app = GithubApp::new(APP_ID, &SecretString::from(org.key.private_pem.clone())).unwrap();
    let template = GithubClient::new(ClientOptions {
        api_url: format!("{}/api/v3/", world.sim.api_url()).parse().unwrap(),
        token: None,
        ..world.client_options()
    })
    .unwrap();
    let access = GithubAccess::app(app, template, Vec::new());
    let (daemon, queue) = start_daemon(&world, access).await;
    daemon.cycle().await;
    let messages = drain(queue.as_ref()).await;
    assert_eq!(completed_run_ids(&messages).len(), 12);
    let stats = world.sim().stats();
    assert_eq!(
        stats.enterprise_requests_total, stats.requests_total,
        "every request went under /api/v3: {stats:?}"
    );
    daemon.stop().await;
}
