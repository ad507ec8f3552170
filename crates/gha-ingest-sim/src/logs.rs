//! Job logs: what each job's log contains (built from the real logs in `fixtures/logs/`, given
//! bytes, or a deterministic generated stream of any size), its digest, and the short-lived
//! tokens behind the log origin's URLs.
//!
//! Generated logs are produced chunk by chunk as the client reads, so a 200 MB log never sits in
//! memory.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::{to_datetime, Millis};
use crate::generate::splitmix64;
use crate::lifecycle::job_times;
use crate::model::{Commit, JobPlan, StepPlan};
use crate::payloads::JobContext;

const HLADKI_JOB_LOG: &str =
    include_str!("../fixtures/logs/job-log.excerpt.hladki-my_repos.2022-05-07.txt");
const CHECKOUT_STEP_LOG: &str =
    include_str!("../fixtures/logs/step-log.checkout-with-path.CoChem-TOPOS.2026-10-07.txt");

/// Bytes per chunk written to the log origin's response.
const CHUNK_BYTES: usize = 64 * 1024;
/// Width of the `2026-06-01T00:00:00.0000000Z ` prefix of a log line.
const TIMESTAMP_PREFIX_LEN: usize = 29;

/// What a job's log download serves. The default is `Fixture`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSpec {
    /// A realistic log built from the real logs in the fixtures, with the job's steps, times,
    /// repository and commit: preamble, `##[group]`s, `[command]` lines, ANSI-coloured echoed
    /// scripts, `***` secrets, sometimes a leading UTF-8 BOM.
    #[default]
    Fixture,
    /// Exactly these bytes (any bytes, UTF-8 or not).
    Bytes(Vec<u8>),
    /// `bytes` bytes of deterministic lines `line_len` bytes long (newline included), produced
    /// while streaming: any size, 200 MB included, without holding it in memory.
    Generated {
        /// Total length of the log.
        bytes: u64,
        /// Length of each line including its `\n` (at least 2).
        line_len: usize,
    },
    /// The log expired: the API answers 410.
    Gone,
    /// The log never existed: the API answers 404 even once the job completed.
    Missing,
    /// The API still answers 302 to the log origin, but the log origin answers 404
    /// (`BlobNotFound`) for this job, forever: a log GitHub points at and never serves.
    NeverServed,
}

/// The log spec that applies to a job: the one set with `SimHandle::set_job_log`, else
/// `Missing` for a job that never ran (conclusion `skipped`, no steps), else `Fixture`.
///
/// A skipped job has no log: GITHUB-API.md §1.6 ("a cancelled or skipped job may never have a
/// log") and the job payload (no steps, no runner) agree that nothing ran to write one. The
/// simulator answers such a request with the API's own 404 (GitHub's JSON error body), the
/// answer for a log that never existed; a test wanting the other observed form (a redirect and
/// then a 404 from the log host) sets `NeverServed`.
pub(crate) fn spec_for_job(
    explicit_specs: &HashMap<u64, LogSpec>,
    job_id: u64,
    job: Option<&JobPlan>,
) -> LogSpec {
    if let Some(spec) = explicit_specs.get(&job_id) {
        return spec.clone();
    }
    let never_ran = job.is_some_and(|job| job.conclusion == "skipped" && job.steps.is_empty());
    if never_ran {
        LogSpec::Missing
    } else {
        LogSpec::Fixture
    }
}

/// The body of a log, ready to stream or hash.
#[derive(Debug, Clone)]
pub(crate) enum LogContent {
    InMemory(Bytes),
    Generated(GeneratedLog),
}

impl LogContent {
    /// The content for `spec`; `None` for `Gone`, `Missing` and `NeverServed`.
    pub(crate) fn for_job(
        spec: &LogSpec,
        job: JobContext<'_>,
        commit: Option<&Commit>,
    ) -> Option<Self> {
        match spec {
            LogSpec::Fixture => Some(LogContent::InMemory(Bytes::from(fixture_log(job, commit)))),
            LogSpec::Bytes(bytes) => Some(LogContent::InMemory(Bytes::from(bytes.clone()))),
            LogSpec::Generated { bytes, line_len } => Some(LogContent::Generated(GeneratedLog {
                job_id: job.job.id,
                total_bytes: *bytes,
                line_len: (*line_len).max(2),
                first_line_ms: job_times(job.attempt, job.job).started_ms,
            })),
            LogSpec::Gone | LogSpec::Missing | LogSpec::NeverServed => None,
        }
    }

    /// The body in chunks, produced lazily.
    pub(crate) fn into_chunks(self) -> Box<dyn Iterator<Item = Bytes> + Send> {
        match self {
            LogContent::InMemory(bytes) => {
                let total = bytes.len();
                Box::new(
                    (0..total)
                        .step_by(CHUNK_BYTES)
                        .map(move |start| bytes.slice(start..(start + CHUNK_BYTES).min(total))),
                )
            }
            LogContent::Generated(generated) => Box::new(generated.chunks()),
        }
    }

    /// `(length, sha256 hex)` of the whole body.
    pub(crate) fn digest(self) -> (u64, String) {
        let mut hasher = Sha256::new();
        let mut length = 0u64;
        for chunk in self.into_chunks() {
            length += chunk.len() as u64;
            hasher.update(&chunk);
        }
        (length, hex::encode(hasher.finalize()))
    }
}

/// A deterministic log of any length: line `i` is
/// `<time>.<i mod 10^7, 7 digits>Z generated log line <i, 10 digits> <filler>\n`, cut to
/// `line_len` bytes; the last line may be cut short.
#[derive(Debug, Clone)]
pub(crate) struct GeneratedLog {
    job_id: u64,
    total_bytes: u64,
    line_len: usize,
    first_line_ms: Millis,
}

impl GeneratedLog {
    fn chunks(self) -> GeneratedChunks {
        let line_template = self.line_template();
        GeneratedChunks {
            log: self,
            line_template,
            next_line: 0,
            emitted_bytes: 0,
        }
    }

    fn line_template(&self) -> Vec<u8> {
        let seconds = to_datetime(self.first_line_ms).format("%Y-%m-%dT%H:%M:%S");
        let mut line = format!("{seconds}.0000000Z generated log line 0000000000 ").into_bytes();
        let filler_seed = splitmix64(self.job_id);
        const FILLER: &[u8] = b"the quick brown fox jumps over the lazy dog 0123456789 ";
        let filler_start = (filler_seed % FILLER.len() as u64) as usize;
        let mut filler_position = filler_start;
        while line.len() < self.line_len - 1 {
            line.push(FILLER[filler_position % FILLER.len()]);
            filler_position += 1;
        }
        line.truncate(self.line_len - 1);
        line.push(b'\n');
        line
    }
}

#[derive(Debug)]
struct GeneratedChunks {
    log: GeneratedLog,
    line_template: Vec<u8>,
    next_line: u64,
    emitted_bytes: u64,
}

/// Byte range of the fraction digits and of the line number inside a line template.
const FRACTION_DIGITS: std::ops::Range<usize> = 20..27;
const LINE_NUMBER_DIGITS: std::ops::Range<usize> = 48..58;

fn write_decimal(slot: &mut [u8], mut value: u64) {
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

impl Iterator for GeneratedChunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let remaining = self.log.total_bytes - self.emitted_bytes;
        if remaining == 0 {
            return None;
        }
        let chunk_len = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(CHUNK_BYTES.max(self.log.line_len));
        let mut chunk = Vec::with_capacity(chunk_len + self.log.line_len);
        while chunk.len() < chunk_len {
            let start = chunk.len();
            chunk.extend_from_slice(&self.line_template);
            let line = &mut chunk[start..];
            if line.len() >= FRACTION_DIGITS.end {
                write_decimal(&mut line[FRACTION_DIGITS], self.next_line % 10_000_000);
            }
            if line.len() > LINE_NUMBER_DIGITS.end {
                write_decimal(&mut line[LINE_NUMBER_DIGITS], self.next_line);
            }
            self.next_line += 1;
        }
        chunk.truncate(chunk_len);
        self.emitted_bytes += chunk_len as u64;
        Some(Bytes::from(chunk))
    }
}

/// One line of a log: time in 100 ns ticks since the epoch, text without the newline.
struct LogLine {
    ticks: i64,
    text: String,
}

fn format_log_time(ticks: i64) -> String {
    let seconds = ticks.div_euclid(10_000_000);
    let fraction = ticks.rem_euclid(10_000_000);
    format!(
        "{}.{fraction:07}Z",
        to_datetime(seconds * 1_000).format("%Y-%m-%dT%H:%M:%S")
    )
}

/// Spreads `texts` over `[start_ms, end_ms]`, strictly increasing.
fn timed_lines(texts: Vec<String>, start_ms: Millis, end_ms: Millis) -> Vec<LogLine> {
    let start_ticks = start_ms * 10_000;
    let span_ticks = (end_ms - start_ms).max(0) * 10_000;
    let count = i64::try_from(texts.len()).unwrap_or(1).max(1);
    texts
        .into_iter()
        .enumerate()
        .map(|(index, text)| {
            let index = i64::try_from(index).unwrap_or(0);
            LogLine {
                ticks: start_ticks + span_ticks * index / count + index * 37,
                text,
            }
        })
        .collect()
}

/// The text of a fixture log, without its timestamps.
fn fixture_texts(log: &str) -> impl Iterator<Item = &str> {
    log.lines()
        .map(|line| line.get(TIMESTAMP_PREFIX_LEN..).unwrap_or(""))
}

/// A realistic log of one job, built from the real logs.
pub(crate) fn fixture_log(context: JobContext<'_>, commit: Option<&Commit>) -> Vec<u8> {
    let JobContext {
        repo,
        workflow,
        run,
        attempt,
        job,
    } = context;
    let job_started_ms = job_times(attempt, job).started_ms;
    let head_sha = run.head_sha.as_str();
    let subject = commit
        .and_then(|commit| commit.message.lines().next())
        .unwrap_or("Update README.md");
    let branch = run.head_branch.as_deref().unwrap_or(&repo.default_branch);
    let work_dir = format!("/home/runner/work/{0}/{0}", repo.name);

    let mut lines: Vec<LogLine> = Vec::new();
    for step in &job.steps {
        if step.conclusion == "skipped" {
            continue;
        }
        let texts: Vec<String> = match step.name.as_str() {
            "Set up job" => preamble_texts(
                &repo.full_name,
                &workflow.file_name,
                branch,
                &job.labels,
                &job.runner.name,
            ),
            "Run actions/checkout@v4" => fixture_texts(CHECKOUT_STEP_LOG)
                // The fixture checked out into a sub-directory; this job checks out at the root.
                .filter(|text| !text.starts_with("  path: "))
                .map(|text| {
                    text.replace(
                        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
                        "actions/checkout@v4",
                    )
                    .replace("ProfJJK-CoChem/CoChem-TORQ", &repo.full_name)
                    .replace(
                        "/home/runner/work/CoChem-TOPOS/CoChem-TOPOS/.cochem-dependencies/torq",
                        &work_dir,
                    )
                    .replace("79fbb111125e50627a1a2c129888a45496f368d4", head_sha)
                    .replace("79fbb11", head_sha.get(..7).unwrap_or(head_sha))
                    .replace(
                        "Accept exact reviewed TOPOS handoffs into durable TORQ storage",
                        subject,
                    )
                })
                .collect(),
            "Post Run actions/checkout@v4" => post_checkout_texts(&work_dir),
            "Complete job" => vec!["Cleaning up orphan processes".to_string()],
            other => command_step_texts(other, step, &work_dir),
        };
        lines.extend(timed_lines(
            texts,
            job_started_ms + step.start_offset_ms,
            job_started_ms + step.end_offset_ms,
        ));
    }

    let mut log = Vec::with_capacity(lines.iter().map(|line| line.text.len() + 30).sum());
    if job.log_has_bom {
        log.extend_from_slice("\u{feff}".as_bytes());
    }
    for line in lines {
        log.extend_from_slice(format_log_time(line.ticks).as_bytes());
        log.push(b' ');
        log.extend_from_slice(line.text.as_bytes());
        log.push(b'\n');
    }
    log
}

fn preamble_texts(
    full_name: &str,
    workflow_file: &str,
    branch: &str,
    labels: &[String],
    runner_name: &str,
) -> Vec<String> {
    fixture_texts(HLADKI_JOB_LOG)
        .take_while(|text| !text.starts_with("##[group]Run "))
        .map(|text| {
            if text.starts_with("Requested labels: ") {
                format!("Requested labels: {}", labels.join(", "))
            } else if text.starts_with("Job defined at: ") {
                format!("Job defined at: {full_name}/.github/workflows/{workflow_file}@refs/heads/{branch}")
            } else if text.starts_with("Job is about to start running on the hosted runner: ") {
                format!("Job is about to start running on the runner: {runner_name} (hosted)")
            } else {
                text.to_string()
            }
        })
        .collect()
}

fn post_checkout_texts(work_dir: &str) -> Vec<String> {
    vec![
        "Post job cleanup.".to_string(),
        "[command]/usr/bin/git version".to_string(),
        "git version 2.55.0".to_string(),
        "Temporarily overriding HOME='/home/runner/work/_temp/4c342749-cea9-4cc4-99e3-7888dd5730ce' before making global git config changes".to_string(),
        "Adding repository directory to the temporary git global config as a safe directory".to_string(),
        format!("[command]/usr/bin/git config --global --add safe.directory {work_dir}"),
        "[command]/usr/bin/git config --local --name-only --get-regexp core\\.sshCommand".to_string(),
        "[command]/usr/bin/git config --local --name-only --get-regexp http\\.https\\:\\/\\/github\\.com\\/\\.extraheader".to_string(),
        "http.https://github.com/.extraheader".to_string(),
        "[command]/usr/bin/git config --local --unset-all http.https://github.com/.extraheader".to_string(),
    ]
}

/// A `run:` or `uses:` step: the group header, the echoed script in cyan (as GitHub prints it),
/// then output, and the error line if the step failed.
fn command_step_texts(step_name: &str, step: &StepPlan, work_dir: &str) -> Vec<String> {
    let command = step_name.strip_prefix("Run ").unwrap_or(step_name);
    let mut texts = vec![format!("##[group]Run {command}")];
    let is_action = command.contains('@');
    if is_action {
        texts.push("with:".to_string());
        texts.push("  token: ***".to_string());
        texts.push("##[endgroup]".to_string());
    } else {
        texts.push(format!("\u{1b}[36;1m{command}\u{1b}[0m"));
        texts.push("shell: /usr/bin/bash -e {0}".to_string());
        texts.push("env:".to_string());
        texts.push("  CARGO_TERM_COLOR: always".to_string());
        texts.push("##[endgroup]".to_string());
    }
    let crate_name = work_dir.rsplit('/').next().unwrap_or("app");
    let output: &[String] = &match command {
        c if c.starts_with("cargo build") => vec![
            format!("   Compiling {crate_name} v0.1.0 ({work_dir})"),
            "    Finished `dev` profile [unoptimized + debuginfo] target(s) in 42.17s".to_string(),
        ],
        c if c.starts_with("cargo test") => vec![
            "running 12 tests".to_string(),
            "test cursor::tests::advances_only_after_publish ... ok".to_string(),
            "test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.41s".to_string(),
        ],
        c if c.starts_with("cargo clippy") => vec![
            "##[warning]unused variable: `attempt`".to_string(),
            "    Finished `dev` profile [unoptimized + debuginfo] target(s) in 18.02s".to_string(),
        ],
        c if c.starts_with("Swatinem/rust-cache") => vec![
            "Cache not found for keys: v0-rust-ubuntu-latest".to_string(),
        ],
        c if c.starts_with("dtolnay/rust-toolchain") => vec![
            "[command]/home/runner/.cargo/bin/rustup toolchain install stable --profile minimal".to_string(),
            "info: using existing install for 'stable-x86_64-unknown-linux-gnu'".to_string(),
        ],
        _ => vec!["Done.".to_string()],
    };
    texts.extend(output.iter().cloned());
    match step.conclusion.as_str() {
        "failure" => texts.push("##[error]Process completed with exit code 101.".to_string()),
        "cancelled" => texts.push("##[error]The operation was canceled.".to_string()),
        _ => {}
    }
    texts
}

/// Opaque, short-lived log URLs: token → job, valid for a while of simulated time (the caller
/// passes the simulator's "now"), so on the manual clock a URL expires exactly when a test
/// advances past it.
#[derive(Debug)]
pub(crate) struct LogTokens {
    /// Token → (job id, expiry in simulator milliseconds).
    by_token: HashMap<String, (u64, Millis)>,
    issued: u64,
    seed: u64,
    ttl: Duration,
}

impl LogTokens {
    pub(crate) fn new(seed: u64, ttl: Duration) -> Self {
        Self {
            by_token: HashMap::new(),
            issued: 0,
            seed,
            ttl,
        }
    }

    pub(crate) fn set_ttl(&mut self, ttl: Duration) {
        self.ttl = ttl;
    }

    pub(crate) fn issue(&mut self, job_id: u64, now_ms: Millis) -> String {
        if self.by_token.len() > 10_000 {
            self.by_token
                .retain(|_, (_, expires_ms)| *expires_ms > now_ms);
        }
        self.issued += 1;
        let mut hasher = Sha256::new();
        hasher.update(self.seed.to_le_bytes());
        hasher.update(self.issued.to_le_bytes());
        hasher.update(job_id.to_le_bytes());
        let token = hex::encode(hasher.finalize());
        let ttl_ms = Millis::try_from(self.ttl.as_millis()).unwrap_or(Millis::MAX / 4);
        self.by_token
            .insert(token.clone(), (job_id, now_ms.saturating_add(ttl_ms)));
        token
    }

    /// The job behind a token still valid at `now_ms`.
    pub(crate) fn resolve(&self, token: &str, now_ms: Millis) -> Option<u64> {
        let (job_id, expires_ms) = self.by_token.get(token)?;
        (now_ms < *expires_ms).then_some(*job_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(bytes: u64, line_len: usize) -> LogContent {
        LogContent::Generated(GeneratedLog {
            job_id: 9,
            total_bytes: bytes,
            line_len,
            first_line_ms: 1_780_272_000_000,
        })
    }

    #[test]
    fn generated_logs_have_the_exact_length_and_line_shape() {
        let content: Vec<u8> = generated(1_000, 100)
            .into_chunks()
            .flat_map(|c| c.to_vec())
            .collect();
        assert_eq!(content.len(), 1_000);
        let text = String::from_utf8(content).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10);
        assert!(lines[3].starts_with("2026-06-01T00:00:00.0000003Z generated log line 0000000003 "));
        assert!(lines.iter().all(|line| line.len() == 99));
    }

    #[test]
    fn generated_log_digest_matches_streamed_bytes_across_chunk_boundaries() {
        let total = (CHUNK_BYTES * 3 + 17) as u64;
        let streamed: Vec<u8> = generated(total, 77)
            .into_chunks()
            .flat_map(|c| c.to_vec())
            .collect();
        let (length, sha) = generated(total, 77).digest();
        assert_eq!(length, total);
        assert_eq!(sha, hex::encode(Sha256::digest(&streamed)));
    }

    #[test]
    fn tiny_lines_still_work() {
        let content: Vec<u8> = generated(9, 3)
            .into_chunks()
            .flat_map(|c| c.to_vec())
            .collect();
        assert_eq!(content, b"20\n20\n20\n");
    }

    #[test]
    fn log_times_have_seven_fraction_digits() {
        assert_eq!(
            format_log_time(17_802_720_000_000_005),
            "2026-06-01T00:00:00.0000005Z"
        );
    }

    #[test]
    fn tokens_resolve_until_they_expire_on_the_given_clock() {
        let issued_ms = 1_780_272_000_000;
        let mut tokens = LogTokens::new(1, Duration::from_secs(60));
        let token = tokens.issue(42, issued_ms);
        assert_eq!(tokens.resolve(&token, issued_ms), Some(42));
        assert_eq!(tokens.resolve(&token, issued_ms + 59_999), Some(42));
        assert_eq!(tokens.resolve("nope", issued_ms), None);
        assert_eq!(tokens.resolve(&token, issued_ms + 60_000), None);
    }
}
