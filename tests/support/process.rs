//! The `gha-ingest` binary as a child process: started with a clean environment, killed when
//! the test is done with it (or fails), waited on with a deadline that shows its output.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::daemon_binary;

/// A daemon started by a test: killed when dropped, so a test that fails midway leaves no process
/// behind.
#[derive(Debug)]
pub struct DaemonChild(Child);

impl DaemonChild {
    pub fn spawn(command: &mut Command) -> DaemonChild {
        DaemonChild(command.spawn().expect("daemon starts"))
    }
}

impl std::ops::Deref for DaemonChild {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for DaemonChild {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for DaemonChild {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The daemon's command with nothing of the test's environment but `PATH`.
pub fn base_command() -> Command {
    let mut command = Command::new(daemon_binary());
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// Polls `condition` every 100 ms; past `timeout`, fails with the daemon's output (`log`).
pub async fn wait_until<F, Fut>(
    what: &str,
    log: &std::path::Path,
    timeout: Duration,
    mut condition: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !condition().await {
        if Instant::now() >= deadline {
            let output = std::fs::read_to_string(log).unwrap_or_default();
            panic!("timed out waiting until {what}; daemon output:\n{output}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, as an orchestrator stops a container: the daemon must exit with code 0.
pub fn stop_gracefully(daemon: &mut Child) {
    let pid = daemon.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = daemon.wait().unwrap();
    assert!(status.success(), "graceful stop exited with {status:?}");
}
