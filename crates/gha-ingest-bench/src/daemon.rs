//! The daemon under test, as ops run it: the release binary as a child process, configured by
//! environment variables, measured from `/proc` (CPU of the process, its peak RSS) and stopped
//! with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use gha_ingest_core::RepoName;
use gha_ingest_store::StateStore;

pub const TOKEN: &str = "bench-token";

/// A running daemon and where it keeps its files.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    pub dir: PathBuf,
}

/// What the daemon cost, read just before it was stopped.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub cpu_secs: f64,
    pub peak_rss_mib: f64,
}

impl Daemon {
    /// Starts `binary run` against the simulator at `api_url`, state and embedded queue in `dir`,
    /// plus `env` (each scenario's settings).
    pub fn start(
        binary: &Path,
        api_url: &str,
        dir: &Path,
        args: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<Daemon> {
        let output = std::fs::File::create(dir.join("daemon.log"))?;
        let mut command = Command::new(binary);
        command
            .arg("run")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GITHUB_API_URL", api_url)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GHA_INGEST__STORE__PATH", dir.join("state.sqlite"))
            .env(
                "GHA_INGEST__QUEUE__EMBEDDED__PATH",
                dir.join("queue.sqlite"),
            )
            .env("GHA_INGEST__HTTP__ENABLED", "false")
            .env("GHA_INGEST__TELEMETRY__LOG_LEVEL", "warn")
            .stdout(Stdio::from(output.try_clone()?))
            .stderr(Stdio::from(output));
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Daemon {
            child,
            dir: dir.to_owned(),
        })
    }

    /// The pipeline agent alone (no log agent), as the scenarios that count API requests run
    /// it, with `env` on top.
    pub(crate) fn start_pipeline(
        binary: &Path,
        api_url: &str,
        dir: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<Daemon> {
        let mut all = vec![("GHA_INGEST__LOGS__ENABLED", "false".to_owned())];
        all.extend(env.iter().cloned());
        Daemon::start(binary, api_url, dir, &["--agents", "pipeline"], &all)
    }

    /// CPU seconds (user + system) and peak RSS so far.
    pub fn usage(&self) -> anyhow::Result<Usage> {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |index: usize| -> f64 {
            fields
                .get(index)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
        let cpu_secs = (ticks(11) + ticks(12)) / clock_ticks_per_sec();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let peak_kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0.0);
        Ok(Usage {
            cpu_secs,
            peak_rss_mib: peak_kib / 1024.0,
        })
    }

    /// SIGTERM, then waits for the exit; an exit other than 0 is an error (with the daemon's
    /// output, which says why).
    pub fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the daemon exited with {status}:\n{}", self.output_tail());
        }
        Ok(())
    }

    /// The last lines of the daemon's output, for error messages.
    pub fn output_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Fails when the daemon has exited on its own.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the daemon exited with {status}:\n{}", self.output_tail());
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Polls `condition` every 50 ms until it holds, failing after `limit` or if the daemon dies.
pub async fn wait_for<F, Fut>(
    daemon: &mut Daemon,
    what: &str,
    limit: Duration,
    mut condition: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if condition().await? {
            return Ok(());
        }
        daemon.check_alive()?;
        if std::time::Instant::now() > deadline {
            bail!(
                "timed out after {limit:?} waiting until {what}:\n{}",
                daemon.output_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The daemon's request budget lifted, as the simulator's limits are where a scenario measures
/// the cost of the work itself: no ceiling a backfill could meet, no reserve, no pace.
pub(crate) const LIFTED_BUDGET: [(&str, &str); 3] = [
    ("GHA_INGEST__GITHUB__POINTS_PER_MINUTE", "1000000"),
    ("GHA_INGEST__GITHUB__PRIMARY_RESERVE_PERCENT", "0"),
    ("GHA_INGEST__GITHUB__CATCHUP_BURST_PERCENT", "100"),
];

/// Starts the pipeline agent alone (no log agent) on `repos` with the budget lifted and
/// `settings`, and waits until every one of the history's `expected_runs` is stored completed
/// and published.
pub async fn ingest_history(
    binary: &Path,
    api_url: &str,
    dir: &Path,
    repos: &[String],
    expected_runs: u64,
    settings: &[(&str, String)],
) -> anyhow::Result<Daemon> {
    let mut env = vec![("GHA_INGEST__PIPELINE__REPOSITORIES", repos.join(","))];
    env.extend(LIFTED_BUDGET.map(|(key, value)| (key, value.to_owned())));
    env.extend(settings.iter().cloned());
    let mut daemon = Daemon::start_pipeline(binary, api_url, dir, &env)?;
    let names: Vec<RepoName> = repos
        .iter()
        .map(|repo| repo.parse())
        .collect::<Result<_, _>>()?;
    let state_path = dir.join("state.sqlite");
    // The daemon creates the database; open it once it is there.
    wait_for(
        &mut daemon,
        "the state database exists",
        Duration::from_secs(30),
        || async { Ok(state_path.exists()) },
    )
    .await?;
    let store = StateStore::open(&state_path).await?;
    wait_for(
        &mut daemon,
        "every run is stored completed and published",
        Duration::from_secs(1800),
        || async {
            let mut stored = 0;
            for repo in &names {
                stored += store.count_runs(repo).await?;
            }
            Ok(stored >= expected_runs
                && store.poll_overview().await?.open_runs == 0
                && store.outbox_backlog().await? == 0)
        },
    )
    .await?;
    store.close().await;
    Ok(daemon)
}
