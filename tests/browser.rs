//! The dashboard in a real browser: Debian's headless chromium, driven by `browser/dashboard.mjs`
//! (playwright-core), against the daemon binary, the simulator and the embedded queue. As an
//! operator at an organisation would, it enters the read token, sees the configured
//! repository's runs with the failed one in red and the running one in amber, filters by
//! repository, opens a job's log, then with the admin token adds a repository and triggers a
//! collection; it fails if the dashboard stops doing any of that.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gha_ingest_sim::RunSpec;
use gha_ingest_tests::*;

const ADMIN_TOKEN: &str = "browser-test-admin-token-0123";
const READ_TOKEN: &str = "browser-test-read-token-0123";
/// Configured from the start: history, one failed run and one still running.
const CONFIGURED_REPO: &str = "acme/payments-api";
/// Configured too, so filtering by repository has something to hide.
const OTHER_REPO: &str = "acme/webapp";
/// Added through the dashboard.
const NEW_REPO: &str = "acme/dashboard-demo";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_adds_a_repository_collects_and_reads_a_job_log_in_the_dashboard() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/test (it runs `npm ci` in tests/browser)"
    );
    let sim = start_realtime_sim().await;
    for repo in [CONFIGURED_REPO, OTHER_REPO, NEW_REPO] {
        let (owner, name) = repo.split_once('/').unwrap();
        sim.handle().add_repo(owner, name);
        sim.handle()
            .generate_history(repo, 5, Duration::from_secs(3600));
    }
    let quick = |conclusion: &str, run_secs| RunSpec {
        jobs: 2,
        queue_secs: 0,
        run_secs,
        conclusion: Some(conclusion.to_string()),
        workflow: Some("deploy".to_string()),
        ..RunSpec::default()
    };
    sim.handle()
        .create_run(CONFIGURED_REPO, quick("failure", 1));
    sim.handle()
        .create_run(CONFIGURED_REPO, quick("success", 3600));
    // The failed run completes before the daemon's first poll; the other keeps running.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let mut daemon = Command::new(daemon_binary())
        .arg("run")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_API_URL", sim.api_url())
        .env("GITHUB_TOKEN", TEST_TOKEN)
        .env("GHA_INGEST_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("GHA_INGEST_READ_TOKEN", READ_TOKEN)
        .env(
            "GHA_INGEST__PIPELINE__REPOSITORIES",
            format!("{CONFIGURED_REPO},{OTHER_REPO}"),
        )
        .env("GHA_INGEST__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("GHA_INGEST__PIPELINE__POLL_INTERVAL_SECS", "60")
        .env("GHA_INGEST__STORE__PATH", dir.path().join("state.sqlite"))
        .env(
            "GHA_INGEST__QUEUE__EMBEDDED__PATH",
            dir.path().join("queue.sqlite"),
        )
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(format!("{url}healthz"))
        .await
        .map(|answer| answer.status().is_success())
        .unwrap_or(false)
    {
        assert!(
            Instant::now() < deadline,
            "the dashboard never answered /healthz"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let screenshot = dir.path().join("dashboard.png");
    let output = Command::new("node")
        .current_dir(&browser_dir)
        .arg("dashboard.mjs")
        .args([
            url.as_str(),
            READ_TOKEN,
            ADMIN_TOKEN,
            CONFIGURED_REPO,
            NEW_REPO,
        ])
        .arg(&screenshot)
        .output()
        .expect("node runs (install Node.js)");
    let pid = daemon.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = daemon.wait();
    assert!(
        output.status.success(),
        "browser test failed:\n{}{}\ndaemon output:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default()
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "no real screenshot was taken"
    );
    // GHA_INGEST_SCREENSHOT_DIR=docs keeps the screenshots (how docs/dashboard*.png are made).
    if let Ok(keep) = std::env::var("GHA_INGEST_SCREENSHOT_DIR") {
        std::fs::copy(&screenshot, Path::new(&keep).join("dashboard.png")).unwrap();
        std::fs::copy(
            dir.path().join("dashboard-log.png"),
            Path::new(&keep).join("dashboard-log.png"),
        )
        .unwrap();
    }
    sim.shutdown().await;
}
