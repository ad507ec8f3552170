//! `peers`: MeltanoLabs tap-github and Airbyte source-github on the same history as `backfill`,
//! each against a fresh simulator, by `bench/peers/run_peers.py` (they are Python programs with
//! their own virtualenvs). Their figures sit beside gha-ingest's, measured in the same run.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::scenario::backfill::BASE;

pub fn run(binary: &Path) -> anyhow::Result<Value> {
    eprintln!("==> peers: tap-github and airbyte-source-github on the backfill history");
    let output = Command::new("python3")
        .arg("bench/peers/run_peers.py")
        .arg("--bin")
        .arg(binary)
        .args(["--repos", &BASE.repositories.to_string()])
        .args(["--runs", &BASE.runs.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running bench/peers/run_peers.py")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|line| !line.trim().is_empty());
    match (output.status.success(), last) {
        (true, Some(line)) => serde_json::from_str(line).context("the peers' report is not JSON"),
        _ => bail!("the peers' runner failed ({}):\n{stdout}", output.status),
    }
}
