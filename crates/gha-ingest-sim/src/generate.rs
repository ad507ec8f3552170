//! Deterministic generation of plans: ids with realistic gaps, jobs and their steps, commits and
//! their files, pull requests. Randomness comes only from the world's seeded RNG (call order
//! matters) or from hashes of stable inputs (commit files), so a seed reproduces a world.

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::Rng;

use crate::clock::Millis;
use crate::model::{
    JobPlan, RunnerInfo, StepPlan, StepTimeStyle, FIRST_CHECK_SUITE_ID, FIRST_JOB_ID, FIRST_RUN_ID,
};

/// The users that act in every generated world: `(login, id, name, email)`.
pub(crate) const USERS: [(&str, u64, &str, &str); 5] = [
    ("octocat", 1, "Octo Cat", "octocat@github.com"),
    ("monalisa", 2, "Monalisa Octocat", "mona@github.com"),
    ("hubot", 3, "Hubot", "hubot@github.com"),
    ("dev-ana", 4, "Ana Developer", "ana@example.com"),
    ("release-bot", 5, "Release Bot", "release-bot@example.com"),
];

/// The workflows every repository has: `(name, file, job names)`.
pub(crate) const WORKFLOWS: [(&str, &str, [&str; 4]); 3] = [
    (
        "CI",
        "ci.yml",
        [
            "build",
            "test (ubuntu-latest)",
            "test (windows-latest)",
            "coverage",
        ],
    ),
    ("Lint", "lint.yml", ["clippy", "fmt", "audit", "docs"]),
    (
        "Release",
        "release.yml",
        ["package", "publish", "deploy", "notify"],
    ),
];

const COMMIT_MESSAGES: [&str; 10] = [
    "Fix flaky integration test",
    "Bump tokio from 1.40.0 to 1.41.1",
    "Add retry to the log downloader",
    "Refactor cursor handling\n\nKeep the cursor and the outbox in one transaction.",
    "Update README.md",
    "Speed up the CI cache",
    "Handle a null head_branch in workflow runs",
    "Tighten clippy lints",
    "Document the queue topology",
    "Merge branch 'main' into feature/rate-limits",
];

/// Middle steps a job draws from, in the order they run.
const MIDDLE_STEPS: [&str; 6] = [
    "Run dtolnay/rust-toolchain@stable",
    "Run Swatinem/rust-cache@v2",
    "Run cargo build --locked",
    "Run cargo test --workspace",
    "Run cargo clippy --all-targets -- -D warnings",
    "Run actions/upload-artifact@v4",
];

/// Hands out ids: increasing, unique across repositories, with small gaps like GitHub's
/// globally shared sequences.
#[derive(Debug)]
pub(crate) struct IdAllocator {
    next_run_id: u64,
    next_job_id: u64,
    next_check_suite_id: u64,
    next_pull_id: u64,
    next_hosted_runner_id: u64,
}

impl IdAllocator {
    pub(crate) fn new() -> Self {
        Self {
            next_run_id: FIRST_RUN_ID,
            next_job_id: FIRST_JOB_ID,
            next_check_suite_id: FIRST_CHECK_SUITE_ID,
            next_pull_id: 1_900_000_000,
            next_hosted_runner_id: 10,
        }
    }

    pub(crate) fn run_id(&mut self, rng: &mut StdRng) -> u64 {
        take_with_gap(&mut self.next_run_id, rng, 7)
    }

    pub(crate) fn job_id(&mut self, rng: &mut StdRng) -> u64 {
        take_with_gap(&mut self.next_job_id, rng, 11)
    }

    pub(crate) fn check_suite_id(&mut self, rng: &mut StdRng) -> u64 {
        take_with_gap(&mut self.next_check_suite_id, rng, 5)
    }

    pub(crate) fn pull_id(&mut self, rng: &mut StdRng) -> u64 {
        take_with_gap(&mut self.next_pull_id, rng, 50)
    }

    fn hosted_runner_id(&mut self) -> u64 {
        let id = self.next_hosted_runner_id;
        self.next_hosted_runner_id += 1;
        id
    }
}

fn take_with_gap(next: &mut u64, rng: &mut StdRng, max_gap: u64) -> u64 {
    let id = *next;
    *next += rng.gen_range(1..=max_gap);
    id
}

pub(crate) fn random_sha(rng: &mut StdRng) -> String {
    let bytes: [u8; 20] = rng.gen();
    hex::encode(bytes)
}

pub(crate) fn commit_message(rng: &mut StdRng) -> String {
    COMMIT_MESSAGES[rng.gen_range(0..COMMIT_MESSAGES.len())].to_string()
}

/// What a job ends with when its run ends with `run_conclusion`. Jobs only know success,
/// failure, cancelled and skipped.
pub(crate) fn job_conclusion_for(run_conclusion: &str) -> &'static str {
    match run_conclusion {
        "success" | "neutral" => "success",
        "cancelled" => "cancelled",
        "skipped" => "skipped",
        _ => "failure",
    }
}

/// Plans `job_count` jobs of an attempt that runs for `run_ms`.
///
/// Timing is fixed so tests can reason about it: job `i` starts `min(2 s × i, run/4)` after the
/// attempt starts and ends `min(1 s × i, run/4)` before it ends, so job 0 spans the whole attempt
/// and carries the run's conclusion; the others succeed.
pub(crate) fn plan_jobs(
    rng: &mut StdRng,
    ids: &mut IdAllocator,
    job_names: &[String],
    job_count: usize,
    run_ms: Millis,
    run_conclusion: &str,
) -> Vec<JobPlan> {
    if run_conclusion == "startup_failure" {
        // A workflow file that fails to start never gets jobs.
        return Vec::new();
    }
    (0..job_count)
        .map(|job_index| {
            let index = Millis::try_from(job_index).unwrap_or(Millis::MAX / 4);
            let is_skipped = run_conclusion == "skipped";
            let (start_offset_ms, end_offset_ms) = if is_skipped {
                (0, 0)
            } else {
                (
                    (index * 2_000).min(run_ms / 4),
                    run_ms - (index * 1_000).min(run_ms / 4),
                )
            };
            let conclusion = if job_index == 0 || is_skipped {
                job_conclusion_for(run_conclusion)
            } else {
                "success"
            };
            let name = job_names
                .get(job_index)
                .cloned()
                .unwrap_or_else(|| format!("job {}", job_index + 1));
            let id = ids.job_id(rng);
            let steps = if is_skipped {
                Vec::new()
            } else {
                plan_steps(rng, end_offset_ms - start_offset_ms, conclusion)
            };
            let is_self_hosted = rng.gen_bool(0.25);
            let (labels, runner) = if is_self_hosted {
                let runner_number = rng.gen_range(1..=8);
                (
                    vec![
                        "self-hosted".to_string(),
                        "linux".to_string(),
                        "x64".to_string(),
                    ],
                    RunnerInfo {
                        id: runner_number,
                        name: format!("build-runner-{runner_number}"),
                        group_id: 1,
                        group_name: "Default".to_string(),
                    },
                )
            } else {
                let runner_id = ids.hosted_runner_id();
                let label = if name.contains("windows") {
                    "windows-latest"
                } else {
                    "ubuntu-latest"
                };
                (
                    vec![label.to_string()],
                    RunnerInfo {
                        id: runner_id,
                        name: format!("GitHub Actions {runner_id}"),
                        group_id: 2,
                        group_name: "GitHub Actions".to_string(),
                    },
                )
            };
            let step_time_style = match rng.gen_range(0..3) {
                0 => StepTimeStyle::PacificOffset,
                1 => StepTimeStyle::UtcOffset,
                _ => StepTimeStyle::UtcZ,
            };
            JobPlan {
                id,
                name,
                labels,
                runner,
                start_offset_ms,
                end_offset_ms,
                conclusion: conclusion.to_string(),
                steps,
                step_time_style,
                log_has_bom: rng.gen_bool(0.25),
            }
        })
        .collect()
}

/// Plans 3–9 steps filling `duration_ms`: "Set up job", the checkout, 0–5 middle steps, maybe
/// the checkout's post step, "Complete job". Main steps are numbered 1..m and the post and
/// complete steps 2m, 2m+1, … as GitHub numbers them (quirk 5: numbers skip).
pub(crate) fn plan_steps(
    rng: &mut StdRng,
    duration_ms: Millis,
    job_conclusion: &str,
) -> Vec<StepPlan> {
    let step_count = rng.gen_range(3..=9usize);
    let has_post_checkout = step_count >= 5;
    let middle_count = step_count - 3 - usize::from(has_post_checkout);
    let mut middle_indices = sample(rng, MIDDLE_STEPS.len(), middle_count).into_vec();
    middle_indices.sort_unstable();

    let mut main_names = vec!["Set up job", "Run actions/checkout@v4"];
    main_names.extend(middle_indices.iter().map(|&index| MIDDLE_STEPS[index]));
    let mut tail_names = Vec::new();
    if has_post_checkout {
        tail_names.push("Post Run actions/checkout@v4");
    }
    tail_names.push("Complete job");

    // The last main step is the one that fails or is cancelled.
    let deciding_index = main_names.len() - 1;
    let main_count = u32::try_from(main_names.len()).unwrap_or(u32::MAX / 4);
    let mut planned: Vec<(u32, &str, u64, &str)> = Vec::with_capacity(step_count);
    for (index, name) in main_names.iter().enumerate() {
        let number = u32::try_from(index).unwrap_or(0) + 1;
        let weight = if index == 0 {
            rng.gen_range(1..=3)
        } else {
            rng.gen_range(2..=20)
        };
        let conclusion = if index == deciding_index {
            match job_conclusion {
                "failure" => "failure",
                "cancelled" => "cancelled",
                _ => "success",
            }
        } else {
            "success"
        };
        planned.push((number, name, weight, conclusion));
    }
    for (offset, name) in tail_names.iter().enumerate() {
        let number = 2 * main_count + u32::try_from(offset).unwrap_or(0);
        planned.push((number, name, 1, "success"));
    }

    let total_weight: u64 = planned.iter().map(|(_, _, weight, _)| weight).sum();
    let duration = u64::try_from(duration_ms.max(0)).unwrap_or(0);
    let mut cumulative_weight = 0u64;
    let mut step_start_ms: Millis = 0;
    planned
        .into_iter()
        .enumerate()
        .map(|(index, (number, name, weight, conclusion))| {
            cumulative_weight += weight;
            let is_last = index + 1 == step_count;
            let step_end_ms = if is_last {
                duration_ms.max(0)
            } else {
                Millis::try_from(duration * cumulative_weight / total_weight.max(1)).unwrap_or(0)
            };
            let step = StepPlan {
                number,
                name: name.to_string(),
                start_offset_ms: step_start_ms,
                end_offset_ms: step_end_ms,
                conclusion: conclusion.to_string(),
            };
            step_start_ms = step_end_ms;
            step
        })
        .collect()
}

/// How many files a generated commit touches: mostly a few, sometimes hundreds, rarely more
/// than GitHub lists (3,000).
pub(crate) fn random_file_count(rng: &mut StdRng, allow_huge: bool) -> usize {
    let roll = rng.gen_range(0..100);
    match roll {
        0..=69 => rng.gen_range(1..=10),
        70..=89 => rng.gen_range(11..=60),
        90..=97 => rng.gen_range(61..=300),
        _ if allow_huge => rng.gen_range(301..=3_500),
        _ => rng.gen_range(61..=300),
    }
}

/// A file of a commit, derived from `(sha, index)` alone so huge commits need no storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitFile {
    pub filename: String,
    pub additions: u64,
    pub deletions: u64,
    pub status: FileStatus,
    pub is_binary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileStatus {
    Added,
    Modified,
    Removed,
    Renamed { previous_filename: String },
}

impl FileStatus {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            FileStatus::Added => "added",
            FileStatus::Modified => "modified",
            FileStatus::Removed => "removed",
            FileStatus::Renamed { .. } => "renamed",
        }
    }
}

impl CommitFile {
    /// The blob SHA of the file after the commit: 40 hex digits derived from the commit and the
    /// file name, so the same file of the same commit always has the same blob.
    pub(crate) fn blob_sha(&self, commit_sha: &str) -> String {
        let high = splitmix64(fnv1a(commit_sha.as_bytes()) ^ fnv1a(self.filename.as_bytes()));
        let middle = splitmix64(high);
        let low = splitmix64(middle);
        format!("{high:016x}{middle:016x}{:08x}", low >> 32)
    }

    /// A small unified-diff hunk consistent with the file's counts.
    pub(crate) fn patch(&self) -> String {
        let shown_additions = self.additions.min(3);
        let shown_deletions = self.deletions.min(3);
        let mut patch = format!(
            "@@ -1,{} +1,{} @@",
            self.deletions.max(1),
            self.additions.max(1)
        );
        for line in 0..shown_deletions {
            patch.push_str(&format!("\n-old line {line}"));
        }
        for line in 0..shown_additions {
            patch.push_str(&format!("\n+new line {line}"));
        }
        patch
    }
}

const FILE_DIRECTORIES: [&str; 6] = [
    "src",
    "src/routes",
    "crates/core/src",
    "docs",
    "tests",
    "assets",
];

pub(crate) fn commit_file(sha: &str, index: usize) -> CommitFile {
    let hash = splitmix64(fnv1a(sha.as_bytes()) ^ (index as u64).wrapping_mul(0x9E37_79B9));
    let directory = FILE_DIRECTORIES[(hash % 6) as usize];
    let is_binary = directory == "assets";
    let extension = match directory {
        "docs" => "md",
        "assets" => "png",
        _ => "rs",
    };
    let filename = format!("{directory}/file_{index:05}.{extension}");
    let status = match (hash >> 8) % 20 {
        0 => FileStatus::Added,
        1 => FileStatus::Removed,
        2 => FileStatus::Renamed {
            previous_filename: format!("{directory}/old_file_{index:05}.{extension}"),
        },
        _ => FileStatus::Modified,
    };
    let (additions, deletions) = if is_binary {
        (0, 0)
    } else {
        match status {
            FileStatus::Added => ((hash >> 16) % 200 + 1, 0),
            FileStatus::Removed => (0, (hash >> 16) % 120 + 1),
            _ => ((hash >> 16) % 120, (hash >> 32) % 60),
        }
    };
    CommitFile {
        filename,
        additions,
        deletions,
        status,
        is_binary,
    }
}

/// `(additions, deletions)` over all of a commit's files, listed or not.
pub(crate) fn commit_totals(sha: &str, file_count: usize) -> (u64, u64) {
    (0..file_count)
        .map(|index| commit_file(sha, index))
        .fold((0, 0), |(additions, deletions), file| {
            (additions + file.additions, deletions + file.deletions)
        })
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn steps_fill_the_job_and_skip_numbers_after_the_main_steps() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let steps = plan_steps(&mut rng, 90_000, "failure");
            assert!((3..=9).contains(&steps.len()));
            assert_eq!(steps[0].name, "Set up job");
            assert_eq!(steps[0].start_offset_ms, 0);
            assert_eq!(steps.last().map(|step| step.end_offset_ms), Some(90_000));
            assert_eq!(
                steps.last().map(|step| step.name.as_str()),
                Some("Complete job")
            );
            for pair in steps.windows(2) {
                assert_eq!(pair[0].end_offset_ms, pair[1].start_offset_ms);
                assert!(pair[0].number < pair[1].number);
            }
            let main_count = steps
                .iter()
                .filter(|s| !s.name.starts_with("Post") && s.name != "Complete job")
                .count() as u32;
            assert_eq!(
                steps.last().map(|s| s.number),
                Some(2 * main_count + u32::from(steps.len() >= 5))
            );
            assert_eq!(
                steps.iter().filter(|s| s.conclusion == "failure").count(),
                1
            );
        }
    }

    #[test]
    fn commit_files_are_stable_and_totals_cover_every_file() {
        let sha = "acb5820ced9479c074f688cc328bf03f341a511d";
        assert_eq!(commit_file(sha, 7), commit_file(sha, 7));
        let (additions, deletions) = commit_totals(sha, 4);
        let by_hand = (0..4)
            .map(|i| commit_file(sha, i))
            .fold((0, 0), |acc, f| (acc.0 + f.additions, acc.1 + f.deletions));
        assert_eq!((additions, deletions), by_hand);
    }

    #[test]
    fn ids_increase_and_start_in_githubs_ranges() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut ids = IdAllocator::new();
        let first = ids.run_id(&mut rng);
        let second = ids.run_id(&mut rng);
        assert_eq!(first, FIRST_RUN_ID);
        assert!(second > first);
        assert_eq!(ids.job_id(&mut rng), FIRST_JOB_ID);
    }
}
