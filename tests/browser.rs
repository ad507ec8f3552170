//! The dashboard in a real browser: Debian's headless chromium, driven by `browser/dashboard.mjs`
//! (playwright-core), against the daemon binary, the simulator and the embedded queue. It adds a
//! repository, triggers a collection, waits for the repository's runs to show and opens a job's
//! log; it fails if the dashboard stops showing any of that.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gha_ingest_tests::*;

const ADMIN_TOKEN: &str = "browser-test-admin";
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
    let (owner, name) = NEW_REPO.split_once('/').unwrap();
    sim.handle().add_repo(owner, name);
    sim.handle()
        .generate_history(NEW_REPO, 5, Duration::from_secs(3600));

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
        .args([url.as_str(), ADMIN_TOKEN, NEW_REPO])
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
