//! Shared harness of the end-to-end tests: the GitHub simulator on loopback HTTP, the pipeline
//! agent wired as in production (real SQLite files, real queues: SQS on moto or the embedded
//! one), and helpers to drain a queue and check every message against the published schemas.

pub mod process;
pub mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gha_ingest_github::{BudgetOptions, ClientOptions, GithubAccess, GithubClient};
use gha_ingest_pipeline::{
    AgentStatus, Clock, OutboxPublisher, PipelineAgent, PipelineOptions, QueueSet, WebhookReceiver,
};
use gha_ingest_queue::testing::{unique_queue_name, MotoServer};
use gha_ingest_queue::{
    EmbeddedQueue, EmbeddedQueueOptions, MessageLimits, MessageQueue, ReceivedMessage,
};
use gha_ingest_sim::{ClockMode, RunningSim, SecondaryLimits, SimConfig, SimHandle, Simulator};
use gha_ingest_store::StateStore;
use tokio::sync::Notify;

pub const TEST_TOKEN: &str = "test-token-1234";
pub const REPO: &str = "acme/webapp";

/// A simulator on a manual clock, and a scratch directory for the daemon's files.
#[derive(Debug)]
pub struct World {
    pub sim: RunningSim,
    pub dir: tempfile::TempDir,
}

impl World {
    pub async fn start() -> World {
        Self::start_with(Self::test_sim_config()).await
    }

    /// The simulator of these tests: the test token, a manual clock, no secondary limits.
    pub fn test_sim_config() -> SimConfig {
        SimConfig {
            token: Some(TEST_TOKEN.to_string()),
            clock: ClockMode::Manual,
            // These tests drive whole histories in seconds of real time, under a daemon whose
            // own ceiling is lifted too: what they check is the facts. GitHub's secondary limits
            // are enforced in the budget tests (`tests/budget.rs`) and the daemon-process tests.
            secondary: SecondaryLimits::disabled(),
            ..SimConfig::default()
        }
    }

    /// A world whose simulator starts with `config`.
    pub async fn start_with(config: SimConfig) -> World {
        gha_ingest_github::install_crypto_provider();
        let loopback = "127.0.0.1:0".parse().unwrap();
        let sim = Simulator::start(config, loopback, loopback)
            .await
            .expect("simulator starts");
        let (owner, name) = REPO.split_once('/').unwrap();
        sim.handle().add_repo(owner, name);
        World {
            sim,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn sim(&self) -> SimHandle {
        self.sim.handle()
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.sqlite")
    }

    pub fn client(&self) -> GithubClient {
        GithubClient::new(self.client_options()).unwrap()
    }

    /// The test daemon's client settings: the simulator's PAT, short retries, a lifted ceiling.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            api_url: self.sim.api_url().parse().unwrap(),
            token: Some(TEST_TOKEN.to_string()),
            user_agent: "gha-ingest-tests".into(),
            request_timeout: Duration::from_secs(10),
            // No ceiling, reserve or pace: these tests check facts, and read whole histories at
            // once as before there was a plan (`tests/budget.rs` tests the plan).
            budget: BudgetOptions {
                points_per_minute: 100_000,
                reserve_percent: 0,
                burst_percent: 100,
                ..BudgetOptions::default()
            },
            max_retries: 5,
            retry_base_delay: Duration::from_millis(20),
            retry_max_delay: Duration::from_millis(200),
            secondary_limit_wait: Duration::from_secs(1),
        }
    }
}

/// A simulator on the wall clock (for a daemon running as a child process, which keeps real
/// time), requiring [`TEST_TOKEN`].
pub async fn start_realtime_sim() -> RunningSim {
    gha_ingest_github::install_crypto_provider();
    let config = SimConfig {
        token: Some(TEST_TOKEN.to_string()),
        clock: ClockMode::RealTime { speed: 1.0 },
        ..SimConfig::default()
    };
    let loopback = "127.0.0.1:0".parse().unwrap();
    Simulator::start(config, loopback, loopback)
        .await
        .expect("simulator starts")
}

/// Options for tests: sweep on every cycle unless a test says otherwise.
pub fn test_options() -> PipelineOptions {
    PipelineOptions {
        poll_interval: Duration::from_millis(100),
        reconcile_interval: Duration::ZERO,
        reconcile_lookback_days: 35,
        backfill_days: 40,
        emit_log_requests: false,
        ..PipelineOptions::default()
    }
}

/// The pipeline agent and its publisher, driven one cycle at a time.
#[derive(Debug)]
pub struct Daemon {
    pub agent: PipelineAgent,
    pub publisher: OutboxPublisher,
    pub store: StateStore,
    /// What a webhook receiver shares with the agent, as the binary wires it.
    wiring: (Arc<AgentStatus>, Arc<Notify>, PipelineOptions, Clock),
}

impl Daemon {
    pub async fn start(world: &World, queues: QueueSet, options: PipelineOptions) -> Daemon {
        let daemon =
            Self::start_with(world, GithubAccess::token(world.client()), queues, options).await;
        daemon
            .store
            .add_repository(&REPO.parse().unwrap(), "config")
            .await
            .unwrap();
        daemon
    }

    /// A daemon reading GitHub with `access`, following no repository yet.
    pub async fn start_with(
        world: &World,
        access: GithubAccess,
        queues: QueueSet,
        options: PipelineOptions,
    ) -> Daemon {
        let sim = world.sim();
        let clock = Clock::from_fn(move || sim.now());
        let store = StateStore::open(&world.state_path())
            .await
            .expect("state store opens")
            .with_clock(clock.clone());
        let status = Arc::new(AgentStatus::default());
        let published = Arc::new(Notify::new());
        let wiring = (
            status.clone(),
            published.clone(),
            options.clone(),
            clock.clone(),
        );
        let agent = PipelineAgent::new(
            access,
            store.clone(),
            options,
            status.clone(),
            published.clone(),
        )
        .with_clock(clock);
        let publisher = OutboxPublisher::new(store.clone(), queues, published, status);
        Daemon {
            agent,
            publisher,
            store,
            wiring,
        }
    }

    /// Webhooks on: a receiver writing to this daemon's store and outbox, beside its agent.
    pub fn receive_webhooks(&self) -> WebhookReceiver {
        let (status, published, options, clock) = &self.wiring;
        WebhookReceiver::new(
            self.store.clone(),
            options,
            status.metrics().clone(),
            published.clone(),
            clock.clone(),
        )
    }

    /// One poll cycle of every repository, then publish everything it produced.
    pub async fn cycle(&self) -> u64 {
        self.agent.poll_all_once().await;
        self.publisher
            .publish_pending()
            .await
            .expect("publishing succeeds")
    }

    pub async fn stop(self) {
        self.store.close().await;
    }
}

/// A fresh SQS queue on the shared moto server.
pub async fn moto_queue(prefix: &str) -> (Arc<MotoServer>, Arc<dyn MessageQueue>) {
    let moto = MotoServer::shared();
    let name = unique_queue_name(prefix);
    moto.create_queue(&name, None).await;
    let queue = moto.connect(&name, MessageLimits::default()).await;
    (moto, Arc::new(queue))
}

pub async fn embedded_queue(dir: &Path, name: &str) -> Arc<dyn MessageQueue> {
    Arc::new(
        EmbeddedQueue::open(
            &dir.join("queue.sqlite"),
            name,
            EmbeddedQueueOptions::default(),
        )
        .await
        .expect("embedded queue opens"),
    )
}

/// A message as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: serde_json::Value,
    pub attributes: BTreeMap<String, String>,
}

impl Received {
    pub fn event_type(&self) -> &str {
        self.body["event_type"].as_str().unwrap()
    }

    pub fn event_id(&self) -> &str {
        self.body["event_id"].as_str().unwrap()
    }
}

/// Receives and deletes every message until the queue stays empty (two empty receives in a row).
pub async fn take_all(queue: &dyn MessageQueue) -> Vec<ReceivedMessage> {
    let mut taken = Vec::new();
    let mut empty_receives = 0;
    while empty_receives < 2 {
        let batch = queue
            .receive(10, Duration::from_millis(200), Duration::from_secs(60))
            .await
            .expect("receive succeeds");
        if batch.is_empty() {
            empty_receives += 1;
            continue;
        }
        empty_receives = 0;
        for message in batch {
            queue
                .delete(&message.receipt)
                .await
                .expect("delete succeeds");
            taken.push(message);
        }
    }
    taken
}

/// [`take_all`], as a consumer sees the messages: each must match its schema and carry the
/// filtering attributes.
pub async fn drain(queue: &dyn MessageQueue) -> Vec<Received> {
    take_all(queue)
        .await
        .into_iter()
        .map(|message| {
            if let Err(errors) = schema::validate_event(&message.body) {
                panic!(
                    "message does not match its schema: {errors}\n{}",
                    message.body
                );
            }
            let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
            assert_eq!(
                message.attributes.get("event_type").map(String::as_str),
                body["event_type"].as_str()
            );
            assert_eq!(
                message.attributes.get("schema_version").map(String::as_str),
                Some("1")
            );
            assert!(message.attributes.contains_key("repo"));
            Received {
                body,
                attributes: message.attributes,
            }
        })
        .collect()
}

/// Counts messages by `event_type`.
pub fn count_by_type(messages: &[Received]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in messages {
        *counts.entry(message.event_type().to_string()).or_insert(0) += 1;
    }
    counts
}

/// The runs that got a `workflow_run_completed` event.
pub fn completed_run_ids(messages: &[Received]) -> std::collections::HashSet<u64> {
    messages
        .iter()
        .filter(|message| message.event_type() == "workflow_run_completed")
        .map(|message| message.body["data"]["run_id"].as_u64().unwrap())
        .collect()
}

/// Event ids that occur more than once.
pub fn duplicate_ids(messages: &[Received]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    messages
        .iter()
        .filter(|message| !seen.insert(message.event_id().to_string()))
        .map(|message| message.event_id().to_string())
        .collect()
}

/// The path of the `gha-ingest` binary built next to this test executable.
pub fn daemon_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target_dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = target_dir.join("gha-ingest");
    assert!(
        binary.exists(),
        "{} not found: build it first (`cargo build -p gha-ingest`; scripts/test does)",
        binary.display()
    );
    binary
}

/// Rebuilds each job's log from its `job_log_fetched` parts: `job_id -> bytes`, for the jobs whose
/// parts have all arrived. Panics on inconsistent parts.
pub fn reassemble_logs(messages: &[Received]) -> BTreeMap<u64, Vec<u8>> {
    use base64::Engine;
    let mut parts: BTreeMap<u64, BTreeMap<u64, serde_json::Value>> = BTreeMap::new();
    for message in messages
        .iter()
        .filter(|message| message.event_type() == "job_log_fetched")
    {
        let data = &message.body["data"];
        let job_id = data["job_id"].as_u64().unwrap();
        parts
            .entry(job_id)
            .or_default()
            .insert(data["part_index"].as_u64().unwrap(), data.clone());
    }
    let mut logs = BTreeMap::new();
    for (job_id, job_parts) in parts {
        let count = job_parts.values().next().unwrap()["part_count"]
            .as_u64()
            .unwrap();
        if job_parts.len() as u64 != count {
            continue;
        }
        let mut bytes = Vec::new();
        for (index, data) in &job_parts {
            assert_eq!(
                data["part_offset"].as_u64().unwrap(),
                bytes.len() as u64,
                "job {job_id} part {index} offset"
            );
            let content = data["log_content"].as_str().unwrap();
            let decoded = match data["content_encoding"].as_str().unwrap() {
                "utf-8" => content.as_bytes().to_vec(),
                "base64" => base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .unwrap(),
                other => panic!("unknown encoding {other}"),
            };
            assert_eq!(decoded.len() as u64, data["part_bytes"].as_u64().unwrap());
            bytes.extend(decoded);
        }
        let first = job_parts.values().next().unwrap();
        assert_eq!(
            bytes.len() as u64,
            first["log_bytes"].as_u64().unwrap(),
            "job {job_id} length"
        );
        assert_eq!(
            sha256_hex(&bytes),
            first["log_sha256"].as_str().unwrap(),
            "job {job_id} digest"
        );
        logs.insert(job_id, bytes);
    }
    logs
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
