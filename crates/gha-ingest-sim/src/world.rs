//! The world's state and the operations that change it: adding repositories, creating runs,
//! generating history, re-running. Lookups for the routes live here too. One `Mutex<World>`
//! guards all of it; every operation is short and synchronous.

use std::collections::HashMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::clock::Millis;
use crate::generate::{
    commit_message, commit_totals, plan_jobs, random_file_count, random_sha, IdAllocator, USERS,
    WORKFLOWS,
};
use crate::lifecycle::cancel_attempt_at;
use crate::model::{
    Attempt, Commit, JobLocation, JobPlan, PullPlan, Repo, Run, User, Workflow, FIRST_OWNER_ID,
    FIRST_REPO_ID, FIRST_WORKFLOW_ID,
};
use crate::payloads::{repo_json, user_json, JobContext, RunContext, Templates};
use crate::spec::{RunSpec, SimError};

const DEFAULT_BRANCH: &str = "main";
const SECOND_MS: Millis = 1_000;

#[derive(Debug)]
pub(crate) struct World {
    pub templates: Arc<Templates>,
    rng: StdRng,
    ids: IdAllocator,
    pub repos: Vec<Repo>,
    repo_index_by_name: HashMap<String, usize>,
    repo_index_by_id: HashMap<u64, usize>,
    owner_ids: HashMap<String, u64>,
    /// Owner id → the owner's login as first written.
    owner_logins: HashMap<u64, String>,
    /// Lower-case owner → its repositories' indexes, in creation order: an organisation's
    /// listing without a scan of every repository.
    repos_by_owner: HashMap<String, Vec<usize>>,
    pub runs: HashMap<u64, Run>,
    pub jobs: HashMap<u64, JobLocation>,
    pub users: Vec<User>,
    next_repo_id: u64,
    next_owner_id: u64,
    next_workflow_id: u64,
}

/// Everything about a run that a new attempt or run needs, decided before ids are handed out.
#[derive(Debug, Clone)]
struct NewRun {
    repo_index: usize,
    workflow_index: usize,
    event: String,
    head_branch: Option<String>,
    head_sha: String,
    actor_index: usize,
    created_ms: Millis,
    pre_queue_status: Option<String>,
    pre_queue_ms: Millis,
    queue_ms: Millis,
    run_ms: Millis,
    conclusion: String,
    job_count: usize,
    /// The run spec's job names; the workflow's when `None`.
    job_names: Option<Vec<String>>,
}

fn secs_to_ms(secs: u64) -> Millis {
    Millis::try_from(secs.saturating_mul(1_000)).unwrap_or(Millis::MAX / 4)
}

fn floor_to_second(ms: Millis) -> Millis {
    ms.div_euclid(SECOND_MS) * SECOND_MS
}

impl World {
    pub(crate) fn new(seed: u64, templates: Arc<Templates>) -> Self {
        let users = USERS
            .iter()
            .map(|(login, id, display_name, email)| User {
                login: (*login).to_string(),
                display_name: (*display_name).to_string(),
                email: (*email).to_string(),
                json: user_json(&templates, login, *id, "User"),
            })
            .collect();
        Self {
            templates,
            rng: StdRng::seed_from_u64(seed),
            ids: IdAllocator::new(),
            repos: Vec::new(),
            repo_index_by_name: HashMap::new(),
            repo_index_by_id: HashMap::new(),
            owner_ids: HashMap::new(),
            owner_logins: HashMap::new(),
            repos_by_owner: HashMap::new(),
            runs: HashMap::new(),
            jobs: HashMap::new(),
            users,
            next_repo_id: FIRST_REPO_ID,
            next_owner_id: FIRST_OWNER_ID,
            next_workflow_id: FIRST_WORKFLOW_ID,
        }
    }

    /// Adds `owner/name` unless it exists (names compare case-insensitively, as on GitHub);
    /// `now_ms` is its creation time.
    pub(crate) fn add_repo(&mut self, owner: &str, name: &str, now_ms: Millis) -> usize {
        let full_name = format!("{owner}/{name}");
        if let Some(index) = self.repo_index(&full_name) {
            return index;
        }
        let repo_id = self.next_repo_id;
        self.next_repo_id += self.rng.gen_range(1..=900);
        let owner_id = self.ensure_owner_id(owner);
        let workflows = WORKFLOWS
            .iter()
            .map(|(workflow_name, file_name, job_names)| {
                let id = self.next_workflow_id;
                self.next_workflow_id += self.rng.gen_range(1..=40);
                Workflow {
                    id,
                    name: (*workflow_name).to_string(),
                    file_name: (*file_name).to_string(),
                    job_names: job_names.iter().map(|job| (*job).to_string()).collect(),
                    next_run_number: 1,
                }
            })
            .collect();
        let rendered = repo_json(
            &self.templates,
            owner,
            name,
            repo_id,
            owner_id,
            DEFAULT_BRANCH,
        );
        let index = self.repos.len();
        self.repos.push(Repo {
            id: repo_id,
            owner: owner.to_string(),
            name: name.to_string(),
            full_name: full_name.clone(),
            default_branch: DEFAULT_BRANCH.to_string(),
            workflows,
            runs_by_created: Vec::new(),
            commits: HashMap::new(),
            branch_heads: HashMap::new(),
            created_ms: floor_to_second(now_ms),
            next_pull_number: 1,
            rendered,
        });
        self.repo_index_by_name
            .insert(full_name.to_lowercase(), index);
        self.repo_index_by_id.insert(repo_id, index);
        self.repos_by_owner
            .entry(owner.to_lowercase())
            .or_default()
            .push(index);
        index
    }

    /// The id of the account `owner` (any case), handed out at its first mention.
    pub(crate) fn ensure_owner_id(&mut self, owner: &str) -> u64 {
        let key = owner.to_lowercase();
        if let Some(id) = self.owner_ids.get(&key) {
            return *id;
        }
        let id = self.next_owner_id;
        self.next_owner_id += self.rng.gen_range(1..=90);
        self.owner_ids.insert(key, id);
        self.owner_logins.insert(id, owner.to_string());
        id
    }

    /// The indexes of `owner`'s repositories (any case), oldest first.
    pub(crate) fn repos_of_owner(&self, owner: &str) -> &[usize] {
        self.repos_by_owner
            .get(&owner.to_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    pub(crate) fn repo_index(&self, full_name: &str) -> Option<usize> {
        self.repo_index_by_name
            .get(&full_name.to_lowercase())
            .copied()
    }

    /// `repo_index` for a name already in lower case (no allocation).
    pub(crate) fn repo_index_lowercase(&self, lowercase_full_name: &str) -> Option<usize> {
        debug_assert_eq!(lowercase_full_name, lowercase_full_name.to_lowercase());
        self.repo_index_by_name.get(lowercase_full_name).copied()
    }

    pub(crate) fn repo_index_by_id(&self, repo_id: u64) -> Option<usize> {
        self.repo_index_by_id.get(&repo_id).copied()
    }

    pub(crate) fn owner_id(&self, owner: &str) -> Option<u64> {
        self.owner_ids.get(&owner.to_lowercase()).copied()
    }

    pub(crate) fn owner_by_id(&self, owner_id: u64) -> Option<&str> {
        self.owner_logins.get(&owner_id).map(String::as_str)
    }

    /// The repository named `owner/name`, added if needed.
    pub(crate) fn ensure_repo(
        &mut self,
        full_name: &str,
        now_ms: Millis,
    ) -> Result<usize, SimError> {
        match full_name.split_once('/') {
            Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(self.add_repo(owner, name, now_ms))
            }
            _ => Err(SimError::InvalidRepoName(full_name.to_string())),
        }
    }

    pub(crate) fn create_run(&mut self, repo_index: usize, spec: &RunSpec, now_ms: Millis) -> u64 {
        let created_ms = floor_to_second(now_ms);
        let repo = &self.repos[repo_index];
        let workflow_index = spec
            .workflow
            .as_deref()
            .and_then(|wanted| {
                repo.workflows
                    .iter()
                    .position(|workflow| workflow.name.eq_ignore_ascii_case(wanted))
            })
            .unwrap_or(0);
        let head_branch = spec
            .head_branch
            .clone()
            .unwrap_or_else(|| repo.default_branch.clone());
        let head_sha = spec
            .head_sha
            .clone()
            .unwrap_or_else(|| random_sha(&mut self.rng));
        let file_count = match spec.commit_files {
            Some(count) => Some(count),
            None if !self.repos[repo_index].commits.contains_key(&head_sha) => {
                Some(self.rng.gen_range(1..=10))
            }
            None => None,
        };
        self.ensure_commit(
            repo_index,
            &head_sha,
            Some(&head_branch),
            created_ms - 30 * SECOND_MS,
            file_count,
        );
        if let (Some(message), Some(commit)) = (
            &spec.commit_message,
            self.repos[repo_index].commits.get_mut(&head_sha),
        ) {
            commit.message.clone_from(message);
        }
        self.insert_run(NewRun {
            repo_index,
            workflow_index,
            event: spec.event.clone().unwrap_or_else(|| "push".to_string()),
            head_branch: Some(head_branch),
            head_sha,
            actor_index: 0,
            created_ms,
            pre_queue_status: spec.pre_queue_status.clone(),
            pre_queue_ms: if spec.pre_queue_status.is_some() {
                secs_to_ms(spec.pre_queue_secs)
            } else {
                0
            },
            queue_ms: secs_to_ms(spec.queue_secs),
            run_ms: secs_to_ms(spec.run_secs),
            conclusion: spec
                .conclusion
                .clone()
                .unwrap_or_else(|| "success".to_string()),
            job_count: spec.job_names.as_ref().map_or(spec.jobs, Vec::len),
            job_names: spec.job_names.clone(),
        })
    }

    /// Completed runs created evenly over `[now - spread, now)`, oldest first, with the real
    /// mix: several workflows per commit (shared head SHAs), failures and some re-runs, an
    /// occasional `startup_failure` (no jobs), `skipped`, `timed_out` and null `head_branch`.
    pub(crate) fn generate_history(
        &mut self,
        repo_index: usize,
        run_count: usize,
        spread_ms: Millis,
        now_ms: Millis,
    ) -> Vec<u64> {
        let mut run_ids = Vec::with_capacity(run_count);
        let mut previous: Option<(String, Option<String>, String)> = None;
        let workflow_count = self.repos[repo_index].workflows.len();
        let count = Millis::try_from(run_count.max(1)).unwrap_or(Millis::MAX / 4);
        for index in 0..run_count {
            let position = Millis::try_from(index).unwrap_or(0);
            let created_ms =
                floor_to_second(now_ms - spread_ms + spread_ms.saturating_mul(position) / count);
            let reuse_previous_commit = previous.is_some() && self.rng.gen_bool(0.3);
            let (head_sha, head_branch, event) = match (&previous, reuse_previous_commit) {
                (Some(previous), true) => previous.clone(),
                _ => {
                    let (event, branch) = self.random_event_and_branch(repo_index);
                    let sha = random_sha(&mut self.rng);
                    let file_count = random_file_count(&mut self.rng, true);
                    let committed_ms = created_ms - self.rng.gen_range(10..=3_600) * SECOND_MS;
                    self.ensure_commit(
                        repo_index,
                        &sha,
                        branch.as_deref(),
                        committed_ms,
                        Some(file_count),
                    );
                    (sha, branch, event)
                }
            };
            previous = Some((head_sha.clone(), head_branch.clone(), event.clone()));
            let conclusion = match self.rng.gen_range(0..100) {
                0..=79 => "success",
                80..=91 => "failure",
                92..=95 => "cancelled",
                96 => "skipped",
                97..=98 => "startup_failure",
                _ => "timed_out",
            };
            let available_ms = (now_ms - created_ms - SECOND_MS).max(0);
            let (mut queue_ms, mut run_ms) = if conclusion == "startup_failure" {
                (0, SECOND_MS)
            } else {
                (
                    self.rng.gen_range(2..=60) * SECOND_MS,
                    self.rng.gen_range(30..=600) * SECOND_MS,
                )
            };
            if queue_ms + run_ms > available_ms {
                // Squeeze the run so it has finished by now, as history must.
                let total_ms = queue_ms + run_ms;
                queue_ms = queue_ms * available_ms / total_ms;
                run_ms = available_ms - queue_ms;
            }
            let new_run = NewRun {
                repo_index,
                workflow_index: self.rng.gen_range(0..workflow_count),
                event,
                head_branch,
                head_sha,
                actor_index: self.rng.gen_range(0..self.users.len()),
                created_ms,
                pre_queue_status: None,
                pre_queue_ms: 0,
                queue_ms,
                run_ms,
                conclusion: conclusion.to_string(),
                job_count: self.rng.gen_range(1..=4),
                job_names: None,
            };
            let run_id = self.insert_run(new_run);
            if conclusion == "failure" && self.rng.gen_bool(0.35) {
                self.maybe_add_past_rerun(run_id, now_ms);
            }
            run_ids.push(run_id);
        }
        run_ids
    }

    fn random_event_and_branch(&mut self, repo_index: usize) -> (String, Option<String>) {
        let default_branch = self.repos[repo_index].default_branch.clone();
        let branch_number = self.rng.gen_range(1..=400);
        let (event, branch) = match self.rng.gen_range(0..100) {
            0..=64 => ("push", default_branch),
            65..=69 => ("push", format!("release/v1.{}", branch_number % 20)),
            70..=89 => ("pull_request", format!("feature/change-{branch_number}")),
            90..=94 => ("schedule", default_branch),
            _ => ("workflow_dispatch", default_branch),
        };
        // GitHub sends a null head_branch now and then (quirk); so does the simulator.
        let branch = (!self.rng.gen_bool(0.03)).then_some(branch);
        (event.to_string(), branch)
    }

    /// A historical re-run of a failed run that succeeded, if it fits before `now_ms`.
    fn maybe_add_past_rerun(&mut self, run_id: u64, now_ms: Millis) {
        let Some(run) = self.runs.get(&run_id) else {
            return;
        };
        let first_attempt = run.latest_attempt();
        let requested_ms = first_attempt.completed_ms() + self.rng.gen_range(5..=120) * SECOND_MS;
        let queue_ms = run.base_queue_ms;
        let run_ms = run.base_run_ms;
        if requested_ms + queue_ms + run_ms >= now_ms {
            return;
        }
        let triggering_actor_index = self.rng.gen_range(0..self.users.len());
        self.append_attempt(run_id, requested_ms, triggering_actor_index, "success");
    }

    /// A new attempt of `run_id`, requested at `now_ms`: attempt+1, queued again with the
    /// original durations and new job ids; an attempt still going is cancelled at `now_ms`.
    pub(crate) fn rerun(
        &mut self,
        repo_index: usize,
        run_id: u64,
        now_ms: Millis,
    ) -> Result<u32, SimError> {
        let unknown_run = || SimError::UnknownRun {
            repo: self.repos[repo_index].full_name.clone(),
            run_id,
        };
        let run = self.runs.get_mut(&run_id).ok_or_else(unknown_run)?;
        if run.repo_index != repo_index {
            return Err(unknown_run());
        }
        let mut requested_ms = floor_to_second(now_ms);
        if let Some(latest) = run.attempts.last_mut() {
            if latest.completed_ms() > now_ms {
                cancel_attempt_at(latest, requested_ms);
            }
            // Never before the previous attempt ended (it may have ended within this second).
            requested_ms = requested_ms.max(latest.completed_ms());
        }
        let triggering_actor_index = 1 % self.users.len().max(1);
        Ok(self.append_attempt(run_id, requested_ms, triggering_actor_index, "success"))
    }

    fn append_attempt(
        &mut self,
        run_id: u64,
        requested_ms: Millis,
        triggering_actor_index: usize,
        conclusion: &str,
    ) -> u32 {
        let Some(run) = self.runs.get(&run_id) else {
            return 0;
        };
        let job_names = run.job_names.clone();
        let number = u32::try_from(run.attempts.len()).unwrap_or(u32::MAX - 1) + 1;
        let (queue_ms, run_ms) = (run.base_queue_ms, run.base_run_ms);
        let job_count = run.base_job_count.max(1);
        let check_suite_id = self.ids.check_suite_id(&mut self.rng);
        let jobs = plan_jobs(
            &mut self.rng,
            &mut self.ids,
            &job_names,
            job_count,
            run_ms,
            conclusion,
        );
        self.index_jobs(run_id, number, &jobs);
        let attempt = Attempt {
            number,
            requested_ms,
            pre_queue_status: None,
            pre_queue_ms: 0,
            queue_ms,
            run_ms,
            conclusion: conclusion.to_string(),
            triggering_actor_index,
            check_suite_id,
            jobs,
        };
        if let Some(run) = self.runs.get_mut(&run_id) {
            run.attempts.push(attempt);
        }
        number
    }

    fn index_jobs(&mut self, run_id: u64, attempt_number: u32, jobs: &[JobPlan]) {
        for (job_index, job) in jobs.iter().enumerate() {
            self.jobs.insert(
                job.id,
                JobLocation {
                    run_id,
                    attempt_number,
                    job_index,
                },
            );
        }
    }

    fn insert_run(&mut self, new_run: NewRun) -> u64 {
        let run_id = self.ids.run_id(&mut self.rng);
        let check_suite_id = self.ids.check_suite_id(&mut self.rng);
        let repo = &mut self.repos[new_run.repo_index];
        let workflow = &mut repo.workflows[new_run.workflow_index];
        let run_number = workflow.next_run_number;
        workflow.next_run_number += 1;
        let job_names = new_run
            .job_names
            .clone()
            .unwrap_or_else(|| workflow.job_names.clone());
        if let Some(branch) = &new_run.head_branch {
            repo.branch_heads
                .insert(branch.clone(), new_run.head_sha.clone());
        }
        let jobs = plan_jobs(
            &mut self.rng,
            &mut self.ids,
            &job_names,
            new_run.job_count,
            new_run.run_ms,
            &new_run.conclusion,
        );
        self.index_jobs(run_id, 1, &jobs);
        let attempt = Attempt {
            number: 1,
            requested_ms: new_run.created_ms,
            pre_queue_status: new_run.pre_queue_status,
            pre_queue_ms: new_run.pre_queue_ms,
            queue_ms: new_run.queue_ms,
            run_ms: new_run.run_ms,
            conclusion: new_run.conclusion,
            triggering_actor_index: new_run.actor_index,
            check_suite_id,
            jobs,
        };
        let repo = &mut self.repos[new_run.repo_index];
        let sort_key = (new_run.created_ms, run_id);
        let position = repo
            .runs_by_created
            .partition_point(|existing| *existing < sort_key);
        repo.runs_by_created.insert(position, sort_key);
        self.runs.insert(
            run_id,
            Run {
                id: run_id,
                repo_index: new_run.repo_index,
                workflow_index: new_run.workflow_index,
                run_number,
                event: new_run.event,
                head_branch: new_run.head_branch,
                head_sha: new_run.head_sha,
                actor_index: new_run.actor_index,
                created_ms: new_run.created_ms,
                base_queue_ms: new_run.queue_ms,
                base_run_ms: new_run.run_ms,
                base_job_count: new_run.job_count,
                job_names,
                attempts: vec![attempt],
            },
        );
        run_id
    }

    /// Creates the commit `sha` in the repository unless it exists; `file_count`, when given,
    /// (re)sets how many files it touches.
    fn ensure_commit(
        &mut self,
        repo_index: usize,
        sha: &str,
        branch: Option<&str>,
        timestamp_ms: Millis,
        file_count: Option<usize>,
    ) {
        if let Some(existing) = self.repos[repo_index].commits.get_mut(sha) {
            if let Some(file_count) = file_count {
                let (additions, deletions) = commit_totals(sha, file_count);
                existing.file_count = file_count;
                existing.additions = additions;
                existing.deletions = deletions;
            }
            return;
        }
        let file_count = file_count.unwrap_or_else(|| random_file_count(&mut self.rng, false));
        let (additions, deletions) = commit_totals(sha, file_count);
        let message = commit_message(&mut self.rng);
        let author_index = self.rng.gen_range(0..self.users.len());
        let author = &self.users[author_index];
        let (author_name, author_email) = (author.display_name.clone(), author.email.clone());
        let default_branch = self.repos[repo_index].default_branch.clone();
        let pull_count = match self.rng.gen_range(0..10) {
            0..=4 => 0,
            5..=8 => 1,
            _ => 2,
        };
        let mut pulls = Vec::with_capacity(pull_count);
        for pull_index in 0..pull_count {
            let repo = &mut self.repos[repo_index];
            let number = repo.next_pull_number;
            repo.next_pull_number += 1;
            let on_feature_branch = branch.is_some_and(|branch| branch != default_branch);
            let head_ref = match branch {
                Some(branch) if on_feature_branch && pull_index == 0 => branch.to_string(),
                _ => format!("feature/pr-{number}"),
            };
            let title = message.lines().next().unwrap_or("Change").to_string();
            let created_ms = timestamp_ms - self.rng.gen_range(3_600..=259_200) * SECOND_MS;
            pulls.push(PullPlan {
                id: self.ids.pull_id(&mut self.rng),
                number,
                title,
                head_ref,
                base_ref: default_branch.clone(),
                is_open: on_feature_branch,
                created_ms,
            });
        }
        let commit = Commit {
            sha: sha.to_string(),
            tree_sha: random_sha(&mut self.rng),
            parent_sha: random_sha(&mut self.rng),
            message,
            author_name,
            author_email,
            author_index,
            timestamp_ms,
            file_count,
            additions,
            deletions,
            pulls,
        };
        self.repos[repo_index]
            .commits
            .insert(sha.to_string(), commit);
    }

    /// Deletes a run for good: its attempts and jobs go with it, and it leaves the lists.
    /// Returns the ids of its jobs (of every attempt). The branch heads and commits stay, as a
    /// deleted run on GitHub leaves the git history alone.
    pub(crate) fn delete_run(
        &mut self,
        repo_index: usize,
        run_id: u64,
    ) -> Result<Vec<u64>, SimError> {
        if self.run_in_repo(repo_index, run_id).is_none() {
            return Err(SimError::UnknownRun {
                repo: self.repos[repo_index].full_name.clone(),
                run_id,
            });
        }
        let Some(run) = self.runs.remove(&run_id) else {
            return Ok(Vec::new());
        };
        self.repos[repo_index]
            .runs_by_created
            .retain(|(_, listed_id)| *listed_id != run_id);
        let job_ids: Vec<u64> = run
            .attempts
            .iter()
            .flat_map(|attempt| attempt.jobs.iter().map(|job| job.id))
            .collect();
        for job_id in &job_ids {
            self.jobs.remove(job_id);
        }
        Ok(job_ids)
    }

    pub(crate) fn run_in_repo(&self, repo_index: usize, run_id: u64) -> Option<&Run> {
        self.runs
            .get(&run_id)
            .filter(|run| run.repo_index == repo_index)
    }

    pub(crate) fn run_context<'a>(&'a self, run: &'a Run, attempt: &'a Attempt) -> RunContext<'a> {
        let repo = &self.repos[run.repo_index];
        RunContext {
            repo,
            workflow: &repo.workflows[run.workflow_index],
            run,
            attempt,
            commit: repo.commits.get(&run.head_sha),
            users: &self.users,
        }
    }

    pub(crate) fn job_context(&self, job_id: u64) -> Option<JobContext<'_>> {
        let location = self.jobs.get(&job_id)?;
        let run = self.runs.get(&location.run_id)?;
        let attempt = run.attempt(location.attempt_number)?;
        let job = attempt.jobs.get(location.job_index)?;
        let repo = &self.repos[run.repo_index];
        Some(JobContext {
            repo,
            workflow: &repo.workflows[run.workflow_index],
            run,
            attempt,
            job,
        })
    }
}
