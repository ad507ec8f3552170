//! `SimHandle`: the programmatic control of a running simulator, for tests, the CLI and the
//! demo. Cheap to clone (an `Arc` inside). Every method is synchronous and returns quickly,
//! except `job_log_digest` of a large generated log, which reads the whole log once (cached).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::clock::{lock, to_datetime, Millis};
use crate::credentials::Credential;
use crate::faults::Fault;
use crate::logs::{spec_for_job, LogContent, LogSpec};
use crate::payloads::{render_job, render_run, RunShape};
use crate::request_log::RequestLogEntry;
use crate::spec::{RunSpec, SimError};
use crate::state::{CachedDigest, Shared};
use crate::stats::SimStats;
use crate::webhooks;

/// Controls a running simulator.
#[derive(Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SimHandle")
            .field("api_origin", &self.shared.api_origin)
            .field("log_origin", &self.shared.log_origin)
            .finish_non_exhaustive()
    }
}

fn duration_to_ms(duration: Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX / 4)
}

impl SimHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The API origin, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn api_url(&self) -> String {
        self.shared.api_origin.clone()
    }

    /// The log origin, e.g. `http://127.0.0.1:40124`.
    pub fn log_url(&self) -> String {
        self.shared.log_origin.clone()
    }

    /// Adds the repository `owner/name`; adding it again changes nothing.
    pub fn add_repo(&self, owner: &str, name: &str) {
        let now_ms = self.shared.clock.now_ms();
        lock(&self.shared.world).add_repo(owner, name, now_ms);
    }

    /// Generates `runs` completed runs in `repo` ("owner/name", added if needed), created evenly
    /// over `[now - spread, now)`, and returns their ids oldest first.
    ///
    /// The mix is realistic: 1–4 jobs of 3–9 steps each, several workflows per commit (shared
    /// head SHAs), mostly `success` with some `failure` (a third of them re-run successfully, so
    /// `run_attempt` 2), `cancelled`, `skipped`, `timed_out`, and a rare `startup_failure`, which
    /// has no jobs at all, as on GitHub; now and then a null `head_branch`.
    ///
    /// # Panics
    /// If `repo` is not of the form `owner/name`; see `try_generate_history`.
    pub fn generate_history(&self, repo: &str, runs: usize, spread: Duration) -> Vec<u64> {
        self.try_generate_history(repo, runs, spread)
            .unwrap_or_else(|error| panic!("generate_history: {error}"))
    }

    /// `generate_history` that reports a malformed repository name instead of panicking.
    pub fn try_generate_history(
        &self,
        repo: &str,
        runs: usize,
        spread: Duration,
    ) -> Result<Vec<u64>, SimError> {
        let now_ms = self.shared.clock.now_ms();
        let mut world = lock(&self.shared.world);
        let repo_index = world.ensure_repo(repo, now_ms)?;
        Ok(world.generate_history(repo_index, runs, duration_to_ms(spread), now_ms))
    }

    /// Creates a run in `repo` ("owner/name", added if needed) now, in status `queued` (or the
    /// spec's pre-queue status); it moves on by itself as the clock advances: `queued` for
    /// `queue_secs`, `in_progress` for `run_secs`, then `completed`.
    ///
    /// # Panics
    /// If `repo` is not of the form `owner/name`; see `try_create_run`.
    pub fn create_run(&self, repo: &str, spec: RunSpec) -> u64 {
        self.try_create_run(repo, spec)
            .unwrap_or_else(|error| panic!("create_run: {error}"))
    }

    /// `create_run` that reports a malformed repository name instead of panicking.
    pub fn try_create_run(&self, repo: &str, spec: RunSpec) -> Result<u64, SimError> {
        let now_ms = self.shared.clock.now_ms();
        let run_id = {
            let mut world = lock(&self.shared.world);
            let repo_index = world.ensure_repo(repo, now_ms)?;
            world.create_run(repo_index, &spec, now_ms)
        };
        webhooks::watch_new_attempt(&self.shared, run_id, 1);
        Ok(run_id)
    }

    /// Re-runs a run now and returns the new attempt number: `run_attempt` + 1, status back to
    /// `queued` with the run's original durations, `run_started_at` and `updated_at` = now,
    /// `created_at` unchanged, `previous_attempt_url` set, new job ids. Earlier attempts' jobs
    /// stay reachable (`filter=all`, `/attempts/{n}/jobs`). An attempt still going is cancelled
    /// at this instant. The new attempt ends in `success`.
    ///
    /// # Panics
    /// If the repository or run does not exist; see `try_rerun`.
    pub fn rerun(&self, repo: &str, run_id: u64) -> u32 {
        self.try_rerun(repo, run_id)
            .unwrap_or_else(|error| panic!("rerun: {error}"))
    }

    /// `rerun` that reports an unknown repository or run instead of panicking.
    pub fn try_rerun(&self, repo: &str, run_id: u64) -> Result<u32, SimError> {
        let now_ms = self.shared.clock.now_ms();
        let attempt_number = {
            let mut world = lock(&self.shared.world);
            let repo_index = world
                .repo_index(repo)
                .ok_or_else(|| SimError::UnknownRepo(repo.to_string()))?;
            world.rerun(repo_index, run_id, now_ms)?
        };
        // Also reports the cancellation of the attempt it superseded, if that one was going.
        webhooks::watch_new_attempt(&self.shared, run_id, attempt_number);
        Ok(attempt_number)
    }

    /// Deletes a run for good, as `DELETE /repos/{owner}/{repo}/actions/runs/{run_id}` does on
    /// GitHub: afterwards the run, its attempts, its jobs and their logs answer 404 (GitHub's
    /// JSON error body), and it is gone from the lists. Log URLs already handed out stop working.
    ///
    /// # Panics
    /// If the repository or run does not exist; see `try_delete_run`.
    pub fn delete_run(&self, repo: &str, run_id: u64) {
        self.try_delete_run(repo, run_id)
            .unwrap_or_else(|error| panic!("delete_run: {error}"));
    }

    /// `delete_run` that reports an unknown repository or run instead of panicking.
    pub fn try_delete_run(&self, repo: &str, run_id: u64) -> Result<(), SimError> {
        let job_ids = {
            let mut world = lock(&self.shared.world);
            let repo_index = world
                .repo_index(repo)
                .ok_or_else(|| SimError::UnknownRepo(repo.to_string()))?;
            world.delete_run(repo_index, run_id)?
        };
        let mut log_specs = lock(&self.shared.log_specs);
        let mut digest_cache = lock(&self.shared.digest_cache);
        for job_id in job_ids {
            log_specs.remove(&job_id);
            digest_cache.remove(&job_id);
        }
        Ok(())
    }

    /// Makes every API request whose path contains `route_contains` answer 404 (GitHub's JSON
    /// error body), as a GitHub Enterprise Server without that endpoint does, until
    /// `enable_all_routes`. Unlike a `Fault`, it never wears off. Such a 404 is counted and
    /// costs a rate-limit point, like any other 404.
    pub fn disable_route(&self, route_contains: &str) {
        lock(&self.shared.disabled_routes).push(route_contains.to_string());
    }

    /// Serves the run `run_id` malformed from now on, in lists and on its own URL: its
    /// `created_at` is not a time, as a payload GitHub garbled (or a proxy mangled) would be.
    /// The other runs of the same page stay well formed.
    pub fn serve_run_malformed(&self, run_id: u64) {
        lock(&self.shared.malformed_runs).insert(run_id);
    }

    /// Undoes every `disable_route`.
    pub fn enable_all_routes(&self) {
        lock(&self.shared.disabled_routes).clear();
    }

    /// Moves simulated time forward. Meant for `ClockMode::Manual`; with `RealTime` it jumps
    /// ahead on top of the flowing time. With a webhook set, the deliveries of every change it
    /// passes are queued, in order, before it returns.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
        webhooks::look(&self.shared);
    }

    /// Simulated now.
    pub fn now(&self) -> DateTime<Utc> {
        to_datetime(self.shared.clock.now_ms())
    }

    /// Counters since start or the last `reset_stats`.
    pub fn stats(&self) -> SimStats {
        lock(&self.shared.stats).clone()
    }

    /// Zeroes the counters (not the rate-limit windows, the secondary limits' minute or the
    /// request log).
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = SimStats::default();
    }

    /// Replaces GitHub's secondary limits from the next request on, counting from zero (a
    /// benchmark lifts them to prepare a state, then measures under them).
    pub fn set_secondary_limits(&self, limits: crate::SecondaryLimits) {
        self.shared.secondary.set_limits(limits);
    }

    /// Arms a fault for the next `fault.times` matching requests. Faults fire oldest first.
    pub fn inject_fault(&self, fault: Fault) {
        lock(&self.shared.faults).inject(fault);
    }

    /// Disarms every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Sets the remaining primary rate-limit points of the current window of the personal
    /// access token (or of anonymous requests, when no token is configured); at 0 every such
    /// request but `GET /rate_limit` answers 403 with `x-ratelimit-remaining: 0`. Installations
    /// keep their own budgets (`set_installation_rate_limit_remaining`).
    pub fn set_rate_limit_remaining(&self, remaining: u32) {
        let now_ms = self.shared.clock.now_ms();
        lock(&self.shared.rate_limit)
            .budget(Credential::Pat, now_ms)
            .set_remaining(remaining, now_ms);
    }

    /// `set_rate_limit_remaining` for the budget every token of one installation shares. The
    /// installation need not exist yet.
    pub fn set_installation_rate_limit_remaining(&self, installation_id: u64, remaining: u32) {
        let now_ms = self.shared.clock.now_ms();
        lock(&self.shared.rate_limit)
            .budget(Credential::Installation(installation_id), now_ms)
            .set_remaining(remaining, now_ms);
    }

    /// Registers GitHub App `app_id` with its public key, an SPKI `PUBLIC KEY` or PKCS#1
    /// `RSA PUBLIC KEY` PEM (`AppKeyPair::public_pem`). Registering it again replaces the key.
    /// JWTs signed with the matching private key and `iss` = `app_id` are then accepted on the
    /// `/app…` routes.
    ///
    /// # Panics
    /// If the PEM is not an RSA public key; see `try_add_app`.
    pub fn add_app(&self, app_id: u64, public_key_pem: &str) {
        self.try_add_app(app_id, public_key_pem)
            .unwrap_or_else(|error| panic!("add_app: {error}"));
    }

    /// `add_app` that reports a bad key instead of panicking.
    pub fn try_add_app(&self, app_id: u64, public_key_pem: &str) -> Result<(), SimError> {
        let now_ms = self.shared.clock.now_ms();
        lock(&self.shared.apps).add_app(app_id, public_key_pem, now_ms)
    }

    /// Installs App `app_id` on the account `account_login` with `repos` (`owner/name`)
    /// selected, and returns the installation id. The repositories may be added with
    /// `add_repo` before or after: an installation resolves its names at request time, and
    /// lists and serves only those that exist.
    ///
    /// # Panics
    /// If the App is unknown or a name is not `owner/name`; see `try_add_installation`.
    pub fn add_installation(&self, app_id: u64, account_login: &str, repos: &[&str]) -> u64 {
        self.try_add_installation(app_id, account_login, repos)
            .unwrap_or_else(|error| panic!("add_installation: {error}"))
    }

    /// `add_installation` that reports an unknown App or a malformed name instead of panicking.
    pub fn try_add_installation(
        &self,
        app_id: u64,
        account_login: &str,
        repos: &[&str],
    ) -> Result<u64, SimError> {
        let now_ms = self.shared.clock.now_ms();
        // Lock order: world → apps.
        let mut world = lock(&self.shared.world);
        let mut apps = lock(&self.shared.apps);
        if apps.app(app_id).is_none() {
            return Err(SimError::UnknownApp(app_id));
        }
        let account_id = world.ensure_owner_id(account_login);
        apps.add_installation(app_id, account_login, account_id, repos, now_ms)
    }

    /// Adds `repo` (`owner/name`) to an installation's selected repositories.
    ///
    /// # Panics
    /// If the installation is unknown or the name is not `owner/name`; see
    /// `try_add_installation_repo`.
    pub fn add_installation_repo(&self, installation_id: u64, repo: &str) {
        self.try_add_installation_repo(installation_id, repo)
            .unwrap_or_else(|error| panic!("add_installation_repo: {error}"));
    }

    /// `add_installation_repo` that reports errors instead of panicking.
    pub fn try_add_installation_repo(
        &self,
        installation_id: u64,
        repo: &str,
    ) -> Result<(), SimError> {
        lock(&self.shared.apps).add_installation_repo(installation_id, repo)
    }

    /// Suspends an installation, as an organisation owner can: GitHub then refuses to mint
    /// tokens for it (403 "This installation has been suspended") and its existing tokens
    /// answer 401 "Bad credentials".
    ///
    /// # Panics
    /// If the installation is unknown; see `try_suspend_installation`.
    pub fn suspend_installation(&self, installation_id: u64) {
        self.try_suspend_installation(installation_id)
            .unwrap_or_else(|error| panic!("suspend_installation: {error}"));
    }

    /// `suspend_installation` that reports an unknown installation instead of panicking.
    pub fn try_suspend_installation(&self, installation_id: u64) -> Result<(), SimError> {
        let now_ms = self.shared.clock.now_ms();
        lock(&self.shared.apps).suspend(installation_id, now_ms)
    }

    /// Every installation token issued so far expires now (401 "Bad credentials" from here
    /// on); tokens minted afterwards live their full `SimConfig::installation_token_ttl`.
    pub fn expire_installation_tokens(&self) {
        let now_ms = self.shared.clock.now_ms();
        lock(&self.shared.apps).expire_all_tokens(now_ms);
    }

    /// The API requests since the previous take (or the start), oldest first, and empties the
    /// log. It keeps the newest 1,000,000; older ones are dropped and counted in
    /// `SimStats::request_log_dropped_total`.
    pub fn take_request_log(&self) -> Vec<RequestLogEntry> {
        lock(&self.shared.request_log).take()
    }

    /// Chooses what a job's log download serves (default `LogSpec::Fixture`).
    pub fn set_job_log(&self, job_id: u64, spec: LogSpec) {
        lock(&self.shared.log_specs).insert(job_id, spec);
        lock(&self.shared.digest_cache).remove(&job_id);
    }

    /// How long log URLs stay valid, in simulated time (default 60 s, as GitHub's); affects URLs
    /// issued from now on. On the manual clock a URL expires only when `advance` passes its
    /// expiry; in real-time mode at speed 1 this is real time.
    pub fn set_log_url_ttl(&self, ttl: Duration) {
        lock(&self.shared.log_tokens).set_ttl(ttl);
    }

    /// `(length, sha256 hex)` of the log a correct downloader receives for `job_id` once the
    /// job has completed; `None` for an unknown job or a `Gone`/`Missing`/`NeverServed` log. For a large
    /// generated log the first call reads it all once (about a second per 200 MB).
    pub fn job_log_digest(&self, job_id: u64) -> Option<(u64, String)> {
        let spec = {
            let world = lock(&self.shared.world);
            let job = world.job_context(job_id).map(|context| context.job);
            spec_for_job(&lock(&self.shared.log_specs), job_id, job)
        };
        if let Some(cached) = lock(&self.shared.digest_cache).get(&job_id) {
            if cached.spec == spec {
                return Some(cached.digest.clone());
            }
        }
        let content = {
            let world = lock(&self.shared.world);
            let context = world.job_context(job_id)?;
            let commit = context.repo.commits.get(&context.run.head_sha);
            LogContent::for_job(&spec, context, commit)?
        };
        let is_generated = matches!(content, LogContent::Generated(_));
        let digest = content.digest();
        if is_generated {
            let cached = CachedDigest {
                spec,
                digest: digest.clone(),
            };
            lock(&self.shared.digest_cache).insert(job_id, cached);
        }
        Some(digest)
    }

    /// Run ids of `repo`, oldest `created_at` first (ties by id): the reverse of the API's
    /// list order. Empty for an unknown repository.
    pub fn list_run_ids(&self, repo: &str) -> Vec<u64> {
        let world = lock(&self.shared.world);
        world
            .repo_index(repo)
            .map(|index| {
                world.repos[index]
                    .runs_by_created
                    .iter()
                    .map(|(_, run_id)| *run_id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Job ids of one attempt of a run, in the order the API lists them.
    pub fn job_ids(&self, run_id: u64, attempt: u32) -> Vec<u64> {
        let world = lock(&self.shared.world);
        world
            .runs
            .get(&run_id)
            .and_then(|run| run.attempt(attempt))
            .map(|attempt| attempt.jobs.iter().map(|job| job.id).collect())
            .unwrap_or_default()
    }

    /// The run as `GET /repos/{owner}/{repo}/actions/runs/{run_id}` returns it now;
    /// `Value::Null` if unknown.
    pub fn run_json(&self, repo: &str, run_id: u64) -> Value {
        let now_ms = self.shared.clock.now_ms();
        let world = lock(&self.shared.world);
        let Some(run) = world
            .repo_index(repo)
            .and_then(|repo_index| world.run_in_repo(repo_index, run_id))
        else {
            return Value::Null;
        };
        let context = world.run_context(run, run.latest_attempt());
        render_run(&world.templates, context, RunShape::Single, false, now_ms)
    }

    /// The job as `GET /repos/{owner}/{repo}/actions/jobs/{job_id}` returns it now;
    /// `Value::Null` if unknown.
    pub fn job_json(&self, job_id: u64) -> Value {
        let now_ms = self.shared.clock.now_ms();
        let world = lock(&self.shared.world);
        world.job_context(job_id).map_or(Value::Null, |context| {
            render_job(&world.templates, context, now_ms)
        })
    }

    /// `(files, additions, deletions)` of a commit of `repo`, for assertions on commit metrics.
    pub fn commit_stats(&self, repo: &str, sha: &str) -> Option<(usize, u64, u64)> {
        let world = lock(&self.shared.world);
        let repo_index = world.repo_index(repo)?;
        let commit = world.repos[repo_index].commits.get(sha)?;
        Some((commit.file_count, commit.additions, commit.deletions))
    }
}
