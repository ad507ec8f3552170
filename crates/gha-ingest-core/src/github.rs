//! GitHub's REST payloads for runs, jobs, steps and commits, decoded as leniently as GitHub is.
//!
//! Real payloads are looser than the documented enums and than octocrab's models: `head_branch`,
//! `workflow_name`, `runner_*`, `conclusion` and `completed_at` can be null, step numbers skip,
//! step times carry offsets and milliseconds, and statuses such as `pending` or conclusions such
//! as `startup_failure` appear. So every optional field is an `Option`, statuses stay strings
//! (unknown values are kept, not fatal), unknown fields are ignored, and timestamps are parsed as
//! full RFC 3339 and normalised to UTC.
//!
//! A list page is decoded item by item: one run or job GitHub sent malformed (a missing `id`, a
//! timestamp that does not parse) is set aside as a [`MalformedItem`], with its id where it has
//! one, and the rest of the page is used. One odd item must not silence its repository.

use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// The status string GitHub uses for a finished run or job.
pub const STATUS_COMPLETED: &str = "completed";

/// How far a job has come, by status: a job only moves forward through these, so a state of
/// lower progress than the one stored is an older view (a late answer, an older webhook
/// delivery) and never replaces it. Statuses not listed rank [`JOB_PROGRESS_OTHER`].
pub const JOB_PROGRESS: [(&str, u8); 6] = [
    ("requested", 0),
    ("waiting", 0),
    ("pending", 0),
    ("queued", 1),
    ("in_progress", 2),
    (STATUS_COMPLETED, 3),
];
/// The progress of a status GitHub has not documented: with `queued`.
pub const JOB_PROGRESS_OTHER: u8 = 1;

/// The progress of a job in `status` (see [`JOB_PROGRESS`]).
pub fn job_progress(status: &str) -> u8 {
    JOB_PROGRESS
        .iter()
        .find(|(name, _)| *name == status)
        .map_or(JOB_PROGRESS_OTHER, |(_, progress)| *progress)
}

/// `GET /repos/{owner}/{repo}/actions/runs` and its filtered variants.
#[derive(Debug, Clone, Default)]
pub struct RunList {
    pub total_count: u64,
    pub workflow_runs: Vec<WorkflowRun>,
    /// Items of the page that could not be decoded.
    pub malformed: Vec<MalformedItem>,
}

/// An item of a list page that could not be decoded, set aside so the rest of the page is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedItem {
    /// Its `id`, when that much could be read.
    pub id: Option<u64>,
    pub error: String,
}

impl<'de> Deserialize<'de> for RunList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let page = LenientPage::read(deserializer, "workflow_runs")?;
        Ok(RunList {
            total_count: page.total_count,
            workflow_runs: page.items,
            malformed: page.malformed,
        })
    }
}

impl<'de> Deserialize<'de> for JobList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let page = LenientPage::read(deserializer, "jobs")?;
        Ok(JobList {
            total_count: page.total_count,
            jobs: page.items,
            malformed: page.malformed,
        })
    }
}

/// One page of a GitHub list, `{"total_count": n, "<items_field>": [...]}`, decoded item by item.
struct LenientPage<T> {
    total_count: u64,
    items: Vec<T>,
    malformed: Vec<MalformedItem>,
}

impl<T: DeserializeOwned> LenientPage<T> {
    fn read<'de, D: Deserializer<'de>>(
        deserializer: D,
        items_field: &'static str,
    ) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PageVisitor {
            items_field,
            item: PhantomData,
        })
    }
}

/// Reads a page's fields in one pass: the items are cut out as raw JSON once each (a page of
/// runs is about a megabyte), `total_count` is read, and every other field is skipped unread.
struct PageVisitor<T> {
    items_field: &'static str,
    item: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> Visitor<'de> for PageVisitor<T> {
    type Value = LenientPage<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "a GitHub list page of `{}`", self.items_field)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut fields: A) -> Result<Self::Value, A::Error> {
        let mut total_count = 0;
        let mut raw_items: Vec<Box<RawValue>> = Vec::new();
        while let Some(field) = fields.next_key::<String>()? {
            if field == "total_count" {
                // A count that is not a number is no reason to lose the page.
                let raw: Box<RawValue> = fields.next_value()?;
                total_count = serde_json::from_str(raw.get()).unwrap_or_default();
            } else if field == self.items_field {
                raw_items = fields.next_value()?;
            } else {
                fields.next_value::<IgnoredAny>()?;
            }
        }
        let (items, malformed) = decode_each(&raw_items);
        Ok(LenientPage {
            total_count,
            items,
            malformed,
        })
    }
}

/// Decodes each raw item on its own; the ones that fail are set aside with their id and error.
fn decode_each<T: DeserializeOwned>(items: &[Box<RawValue>]) -> (Vec<T>, Vec<MalformedItem>) {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<u64>,
    }
    let mut decoded = Vec::with_capacity(items.len());
    let mut malformed = Vec::new();
    for item in items {
        match serde_json::from_str::<T>(item.get()) {
            Ok(value) => decoded.push(value),
            Err(error) => malformed.push(MalformedItem {
                id: serde_json::from_str::<IdOnly>(item.get())
                    .ok()
                    .and_then(|item| item.id),
                error: error.to_string(),
            }),
        }
    }
    (decoded, malformed)
}

/// A workflow run (one attempt of it: the fields describe the latest attempt).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WorkflowRun {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub head_branch: Option<String>,
    #[serde(default)]
    pub head_sha: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub run_number: Option<u64>,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub display_title: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub workflow_id: Option<u64>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub pull_requests: Vec<PullRequestRef>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub actor: Option<Account>,
    #[serde(default)]
    pub triggering_actor: Option<Account>,
    /// Absent on very old payloads: those runs were never re-run, so attempt 1.
    #[serde(default = "first_attempt")]
    pub run_attempt: u32,
    #[serde(default)]
    pub run_started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub previous_attempt_url: Option<String>,
}

impl WorkflowRun {
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("unknown")
    }

    pub fn is_completed(&self) -> bool {
        self.status() == STATUS_COMPLETED
    }
}

fn first_attempt() -> u32 {
    1
}

/// The minimal pull request object embedded in a run: only the number and id matter to us.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PullRequestRef {
    #[serde(default)]
    pub id: Option<u64>,
    pub number: u64,
}

/// A user or bot as it appears in `actor`, `triggering_actor` and `author`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Account {
    pub login: String,
    #[serde(default)]
    pub id: Option<u64>,
}

/// `GET .../runs/{id}/jobs` and `.../runs/{id}/attempts/{n}/jobs`.
#[derive(Debug, Clone, Default)]
pub struct JobList {
    pub total_count: u64,
    pub jobs: Vec<WorkflowJob>,
    /// Items of the page that could not be decoded.
    pub malformed: Vec<MalformedItem>,
}

/// A job of one run attempt. Each attempt's jobs have their own ids.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WorkflowJob {
    pub id: u64,
    pub run_id: u64,
    #[serde(default)]
    pub run_attempt: Option<u32>,
    #[serde(default)]
    pub head_sha: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub steps: Vec<WorkflowStep>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: Vec<String>,
    #[serde(default)]
    pub runner_id: Option<u64>,
    #[serde(default)]
    pub runner_name: Option<String>,
    #[serde(default)]
    pub runner_group_id: Option<u64>,
    #[serde(default)]
    pub runner_group_name: Option<String>,
    #[serde(default)]
    pub workflow_name: Option<String>,
    #[serde(default)]
    pub head_branch: Option<String>,
}

impl WorkflowJob {
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("unknown")
    }

    pub fn is_completed(&self) -> bool {
        self.status() == STATUS_COMPLETED
    }
}

/// A step inside a job. `number` is a key, not an index: GitHub skips numbers.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WorkflowStep {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub conclusion: Option<String>,
    pub number: i64,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
}

/// `GET /repos/{owner}/{repo}/commits/{ref}` (one page of it: files are paginated past 300).
#[derive(Debug, Clone, Deserialize)]
pub struct Commit {
    pub sha: String,
    pub commit: CommitDetail,
    #[serde(default)]
    pub author: Option<Account>,
    #[serde(default)]
    pub stats: Option<CommitStats>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub files: Vec<CommitFile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitDetail {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub author: Option<GitIdentity>,
    #[serde(default)]
    pub committer: Option<GitIdentity>,
}

/// The name, email and date recorded in the git object (not a GitHub account).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct GitIdentity {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub date: Option<DateTime<Utc>>,
}

/// Whole-commit line counts (not per page).
#[derive(Debug, Clone, Copy, Deserialize, Default)]
pub struct CommitStats {
    #[serde(default)]
    pub additions: u64,
    #[serde(default)]
    pub deletions: u64,
    #[serde(default)]
    pub total: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitFile {
    pub filename: String,
}

/// An item of `GET /repos/{owner}/{repo}/commits/{sha}/pulls`.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestSummary {
    pub id: u64,
    pub number: u64,
}

/// An item of `GET /orgs/{org}/repos`.
#[derive(Debug, Clone, Deserialize)]
pub struct OrgRepository {
    pub full_name: String,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub disabled: bool,
}

/// GitHub sends `null` where an empty list is meant; treat both alike.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_malformed_run_is_set_aside_and_the_page_is_used() {
        let page = r#"{"total_count": 3, "workflow_runs": [
            {"id": 1, "created_at": "2026-06-01T00:00:00Z", "updated_at": "2026-06-01T00:01:00Z"},
            {"id": 2, "created_at": "not a time", "updated_at": "2026-06-01T00:01:00Z"},
            {"name": "no id at all"}
        ]}"#;
        let list: RunList = serde_json::from_str(page).unwrap();
        assert_eq!(list.total_count, 3);
        assert_eq!(
            list.workflow_runs
                .iter()
                .map(|run| run.id)
                .collect::<Vec<_>>(),
            [1]
        );
        let ids: Vec<Option<u64>> = list.malformed.iter().map(|item| item.id).collect();
        assert_eq!(ids, [Some(2), None]);
        assert!(!list.malformed[0].error.is_empty());
        let jobs: JobList =
            serde_json::from_str(r#"{"total_count": 1, "jobs": [{"id": "x"}]}"#).unwrap();
        assert!(jobs.jobs.is_empty());
        assert_eq!(jobs.malformed.len(), 1);
    }

    #[test]
    fn a_page_reads_its_items_whatever_else_it_holds() {
        let page = r#"{"extra": {"workflow_runs": []}, "total_count": "many",
            "workflow_runs": [{"id": 7, "created_at": "2026-06-01T00:00:00Z",
                "updated_at": "2026-06-01T00:01:00Z", "repository": {"id": 1}}],
            "after": [1, 2]}"#;
        let list: RunList = serde_json::from_str(page).unwrap();
        assert_eq!(list.total_count, 0, "a count that is not a number");
        assert_eq!(list.workflow_runs.len(), 1);
        assert_eq!(list.workflow_runs[0].id, 7);
        let empty: JobList = serde_json::from_str(r#"{"total_count": 0}"#).unwrap();
        assert!(empty.jobs.is_empty() && empty.malformed.is_empty());
        assert!(serde_json::from_str::<RunList>(r#"{"workflow_runs": 3}"#).is_err());
        assert!(serde_json::from_str::<RunList>("[]").is_err());
    }

    #[test]
    fn step_times_with_offsets_are_normalised_to_utc() {
        let step: WorkflowStep = serde_json::from_str(
            r#"{"name":"Set up job","status":"completed","conclusion":"success","number":16,
                "started_at":"2020-01-20T09:42:40.000-08:00","completed_at":"2020-01-20T09:42:41.500-08:00"}"#,
        )
        .unwrap();
        assert_eq!(
            step.started_at.unwrap().to_rfc3339(),
            "2020-01-20T17:42:40+00:00"
        );
        assert_eq!(step.number, 16);
    }

    #[test]
    fn nulls_and_unknown_values_do_not_fail_decoding() {
        let job: WorkflowJob = serde_json::from_str(
            r#"{"id":1,"run_id":2,"status":"pending","conclusion":null,"head_branch":null,
                "workflow_name":null,"runner_name":null,"steps":null,"labels":["x"],"brand_new_field":{}}"#,
        )
        .unwrap();
        assert_eq!(job.status(), "pending");
        assert!(job.steps.is_empty());
        assert_eq!(job.labels, vec!["x".to_string()]);
    }
}
