//! Shared fixture for the HTTP tests: a simulator on a manual clock, a real state store and
//! embedded queues in a temporary directory, and the web server on an ephemeral port.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gha_ingest_core::facts::{JobFacts, RunFacts};
use gha_ingest_core::github::{WorkflowJob, WorkflowRun};
use gha_ingest_core::RepoName;
use gha_ingest_github::{BudgetOptions, ClientOptions, GithubAccess, GithubClient};
use gha_ingest_logs::LogAgentStatus;
use gha_ingest_pipeline::AgentStatus;
use gha_ingest_queue::{
    EmbeddedQueue, EmbeddedQueueOptions, MessageQueue, OutgoingMessage, QueueDepth, QueueError,
    ReceiptHandle, ReceivedMessage, SendOutcome,
};
use gha_ingest_sim::{ClockMode, RunSpec, RunningSim, SimConfig, SimHandle, Simulator};
use gha_ingest_store::{ChangeSet, RunUpdate, StateStore};
use gha_ingest_web::WebState;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub const SIM_TOKEN: &str = "sim-token-for-web-tests";
pub const ADMIN_TOKEN: &str = "admin-token-for-web-tests";
pub const READ_TOKEN: &str = "read-token-for-the-web-tests";
pub const REPO: &str = "octo/hello";

/// A queue that is never reachable, for readiness refusals.
#[derive(Debug)]
pub struct UnreachableQueue;

#[async_trait]
impl MessageQueue for UnreachableQueue {
    fn name(&self) -> &str {
        "unreachable"
    }
    async fn send_batch(&self, _: &[OutgoingMessage]) -> Result<SendOutcome, QueueError> {
        Err(self.failure())
    }
    async fn receive(
        &self,
        _: u32,
        _: Duration,
        _: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        Err(self.failure())
    }
    async fn delete(&self, _: &ReceiptHandle) -> Result<(), QueueError> {
        Err(self.failure())
    }
    async fn extend_visibility(&self, _: &ReceiptHandle, _: Duration) -> Result<(), QueueError> {
        Err(self.failure())
    }
    async fn approximate_depth(&self) -> Result<QueueDepth, QueueError> {
        Err(self.failure())
    }
    async fn health_check(&self) -> Result<(), QueueError> {
        Err(self.failure())
    }
}

impl UnreachableQueue {
    fn failure(&self) -> QueueError {
        QueueError::Permanent {
            queue: "unreachable".to_string(),
            operation: "health_check",
            message: "queue does not exist".to_string(),
        }
    }
}

/// How the server under test is set up.
#[derive(Debug, Clone)]
pub struct Setup {
    pub admin_token: Option<String>,
    /// `None`: reads are open (the server is on loopback).
    pub read_token: Option<String>,
    pub with_agents: bool,
    pub with_unreachable_queue: bool,
    pub readiness_ttl: Duration,
    pub max_concurrent_downloads: usize,
    pub downloads_per_client_per_minute: u32,
    pub metrics_require_token: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            admin_token: Some(ADMIN_TOKEN.to_string()),
            read_token: Some(READ_TOKEN.to_string()),
            with_agents: true,
            with_unreachable_queue: false,
            readiness_ttl: Duration::from_secs(5),
            max_concurrent_downloads: 2,
            downloads_per_client_per_minute: 10,
            metrics_require_token: false,
        }
    }
}

pub struct Harness {
    pub sim: RunningSim,
    /// The token [`Harness::get`] sends, if any.
    pub read_token: Option<String>,
    pub spool_dir: std::path::PathBuf,
    pub store: StateStore,
    pub trigger: Arc<Notify>,
    pub base: String,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").field("base", &self.base).finish()
    }
}

impl Harness {
    pub async fn start(setup: Setup) -> Harness {
        gha_ingest_github::install_crypto_provider();
        let config = SimConfig {
            token: Some(SIM_TOKEN.to_string()),
            clock: ClockMode::Manual,
            ..SimConfig::default()
        };
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let sim = Simulator::start(config, loopback, loopback)
            .await
            .expect("simulator starts");
        let (owner, name) = REPO.split_once('/').unwrap();
        sim.handle().add_repo(owner, name);

        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state.sqlite"))
            .await
            .unwrap();
        let queue_file = dir.path().join("queues.sqlite");
        let mut queues: Vec<(String, Arc<dyn MessageQueue>)> = Vec::new();
        for role in ["metrics", "log_requests", "logs"] {
            let queue = EmbeddedQueue::open(
                &queue_file,
                &role.replace('_', "-"),
                EmbeddedQueueOptions::default(),
            )
            .await
            .unwrap();
            queues.push((role.to_string(), Arc::new(queue)));
        }
        if setup.with_unreachable_queue {
            queues.push(("logs".to_string(), Arc::new(UnreachableQueue)));
        }
        let options = ClientOptions {
            api_url: sim.api_url().parse().unwrap(),
            token: Some(SIM_TOKEN.to_string()),
            user_agent: "gha-ingest-web-tests".into(),
            request_timeout: Duration::from_secs(10),
            budget: BudgetOptions::default(),
            max_retries: 3,
            retry_base_delay: Duration::from_millis(20),
            retry_max_delay: Duration::from_millis(200),
            secondary_limit_wait: Duration::from_secs(1),
        };
        let github = GithubAccess::token(GithubClient::new(options.clone()).unwrap());
        let probe_github = GithubClient::new(ClientOptions {
            budget: BudgetOptions {
                max_concurrent: 1,
                ..BudgetOptions::default()
            },
            max_retries: 0,
            ..options
        })
        .unwrap();
        let spool_dir = dir.path().join("viewer-spool");
        let trigger = Arc::new(Notify::new());
        let state = WebState {
            store: store.clone(),
            pipeline_status: setup.with_agents.then(|| Arc::new(AgentStatus::default())),
            log_status: setup
                .with_agents
                .then(|| Arc::new(LogAgentStatus::default())),
            trigger: setup.with_agents.then(|| trigger.clone()),
            queues,
            github,
            probe_github,
            access: gha_ingest_web::AccessPolicy {
                admin_token: setup.admin_token.clone().map(Into::into),
                read_token: setup.read_token.clone().map(Into::into),
                metrics_require_token: setup.metrics_require_token,
                allowed_hosts: vec!["dashboard.example.com".to_string()],
            },
            log_viewer: gha_ingest_web::LogViewerOptions {
                max_concurrent_downloads: setup.max_concurrent_downloads,
                downloads_per_client_per_minute: setup.downloads_per_client_per_minute,
                ..gha_ingest_web::LogViewerOptions::new(spool_dir.clone())
            },
            readiness_ttl: setup.readiness_ttl,
            metrics_repo_label: true,
            poll_interval_secs: 30,
            quiet_poll_max_secs: 600,
            webhooks: None,
        };
        let shown = format!("{state:?}");
        assert!(
            !shown.contains(ADMIN_TOKEN)
                && !shown.contains(SIM_TOKEN)
                && !shown.contains(READ_TOKEN),
            "no secret in Debug output: {shown}"
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(gha_ingest_web::serve(listener, state, shutdown.clone()));
        Harness {
            sim,
            read_token: setup.read_token.clone(),
            spool_dir,
            store,
            trigger,
            base,
            http: reqwest::Client::new(),
            shutdown,
            server,
            _dir: dir,
        }
    }

    pub fn sim(&self) -> SimHandle {
        self.sim.handle()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A GET with the read token (when one is configured).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = &self.read_token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// A GET without any token.
    pub async fn anonymous(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// A request with the admin token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// Creates a run in the simulator, lets it complete, and stores its facts as the pipeline
    /// agent would. Returns `(run_id, job_ids)`.
    pub async fn completed_run_in_store(&self, jobs: usize) -> (u64, Vec<u64>) {
        let sim = self.sim();
        let run_id = sim.create_run(
            REPO,
            RunSpec {
                jobs,
                queue_secs: 5,
                run_secs: 30,
                ..RunSpec::default()
            },
        );
        sim.advance(Duration::from_secs(120));
        let run: WorkflowRun = serde_json::from_value(sim.run_json(REPO, run_id)).unwrap();
        let job_ids = sim.job_ids(run_id, run.run_attempt);
        let job_facts: Vec<JobFacts> = job_ids
            .iter()
            .map(|job_id| {
                let job: WorkflowJob = serde_json::from_value(sim.job_json(*job_id)).unwrap();
                JobFacts::from_job(REPO, run.run_attempt, &job)
            })
            .collect();
        let facts = RunFacts::from_run(REPO, &run, job_facts, None);
        let changes = ChangeSet {
            runs: vec![RunUpdate { facts }],
            ..ChangeSet::default()
        };
        let repo: RepoName = REPO.parse().unwrap();
        self.store.apply_changes(&repo, &changes).await.unwrap();
        (run_id, job_ids)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("server stops on cancellation")
            .unwrap()
            .unwrap();
        self.sim.shutdown().await;
    }
}
