//! `gha-ingest demo`: the simulator, the daemon and the embedded queue in one process, so the
//! whole pipeline can be seen working on a fresh machine with nothing installed or configured.
//! The configuration is built by the same loader as production, from environment overrides.
//! The simulator pushes every change to the daemon's webhook receiver, as GitHub would, and the
//! daemon polls beside it.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use gha_ingest_sim::{ClockMode, SimConfig, Simulator};

const DEMO_TOKEN: &str = "demo-token-not-a-secret";
/// The dashboard's admin token in the demo (type it into the dashboard to add repositories).
/// Printed at start: the demo listens on loopback and its tokens are not secrets.
const DEMO_ADMIN_TOKEN: &str = "demo-admin-token-not-a-secret";
/// The dashboard's read token in the demo (type it into the dashboard to see the data).
const DEMO_READ_TOKEN: &str = "demo-read-token-not-a-secret";
const DEMO_REPOS: [&str; 2] = ["acme/webapp", "acme/payments-api"];
/// The secret the simulator signs its webhook deliveries with.
const DEMO_WEBHOOK_SECRET: &str = "demo-webhook-secret-not-a-secret";

pub async fn run(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let loopback = "127.0.0.1:0".parse().expect("a valid loopback address");
    let config = SimConfig {
        token: Some(DEMO_TOKEN.to_string()),
        clock: ClockMode::RealTime { speed: 1.0 },
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, loopback, loopback)
        .await
        .context("starting the simulator")?;
    let repos: Vec<String> = DEMO_REPOS.iter().map(|repo| repo.to_string()).collect();
    crate::sim_command::populate(&sim.handle(), &repos, 40)?;

    let mut env: HashMap<String, String> = std::env::vars().collect();
    let overrides = [
        ("GITHUB_API_URL", sim.api_url()),
        ("GITHUB_TOKEN", DEMO_TOKEN.to_string()),
        ("GHA_INGEST__PIPELINE__REPOSITORIES", repos.join(",")),
        ("GHA_INGEST__PIPELINE__POLL_INTERVAL_SECS", "5".to_string()),
        (
            "GHA_INGEST__PIPELINE__RECONCILE_INTERVAL_SECS",
            "60".to_string(),
        ),
        (
            "GHA_INGEST__STORE__PATH",
            data_dir.join("state.sqlite").display().to_string(),
        ),
        ("GHA_INGEST__QUEUE__BACKEND", "embedded".to_string()),
        ("GHA_INGEST_ADMIN_TOKEN", DEMO_ADMIN_TOKEN.to_string()),
        ("GHA_INGEST_READ_TOKEN", DEMO_READ_TOKEN.to_string()),
        ("GHA_INGEST__WEBHOOKS__ENABLED", "true".to_string()),
        ("GHA_INGEST_WEBHOOK_SECRET", DEMO_WEBHOOK_SECRET.to_string()),
        (
            "GHA_INGEST__QUEUE__EMBEDDED__PATH",
            data_dir.join("queue.sqlite").display().to_string(),
        ),
    ];
    for (key, value) in overrides {
        env.insert(key.to_string(), value);
    }
    let settings = gha_ingest_config::load(None, &env)
        .map_err(|error| anyhow::anyhow!("demo configuration: {error}"))?;
    tracing::info!(simulator = %sim.api_url(), data_dir = %data_dir.display(),
        dashboard = %format!("http://{}/", settings.http.listen),
        "demo running: simulator + both agents + embedded queue + dashboard; Ctrl-C stops it");
    println!(
        "dashboard: http://{}/  read token: {DEMO_READ_TOKEN}  admin token: {DEMO_ADMIN_TOKEN}",
        settings.http.listen
    );

    // Deliveries sent before the receiver listens fail, as they would on GitHub; polling reads
    // what they carried.
    let receiver = crate::healthcheck::local_url(settings.http.listen, &settings.webhooks.path);
    sim.handle()
        .try_set_webhook(&receiver, DEMO_WEBHOOK_SECRET)
        .context("pointing the simulator's webhook at the daemon")?;

    let shutdown = crate::shutdown::on_signal();
    let activity = tokio::spawn(crate::sim_command::keep_busy(
        sim.handle(),
        repos,
        20,
        shutdown.clone(),
    ));
    let outcome = crate::app::run(
        settings,
        crate::app::Agents {
            pipeline: true,
            logs: true,
        },
        shutdown,
    )
    .await;
    let _ = activity.await;
    sim.shutdown().await;
    outcome
}
