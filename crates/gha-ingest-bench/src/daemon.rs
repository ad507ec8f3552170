//! The daemon under test, as ops run it: the release binary as a child process, configured by
//! environment variables, measured from `/proc` (CPU of the process, its peak RSS) and stopped
//! with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

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
