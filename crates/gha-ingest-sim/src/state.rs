//! The state shared by the two servers and every `SimHandle`: one `Arc<Shared>`, each part
//! behind its own short-held std mutex (never held across an `.await`).
//!
//! Lock order where two are held at once: webhook scheduler → world → apps; world → log specs →
//! log tokens; primary budgets → stats; world → webhook receiver or delivery book (leaves).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::apps::AppRegistry;
use crate::clock::SimClock;
use crate::config::{SimConfig, DEFAULT_LOG_URL_TTL};
use crate::faults::FaultBook;
use crate::logs::{LogSpec, LogTokens};
use crate::payloads::Templates;
use crate::ratelimit::PrimaryBudgets;
use crate::request_log::{RequestLog, REQUEST_LOG_CAPACITY};
use crate::secondary::SecondaryLimiter;
use crate::stats::SimStats;
use crate::webhooks::WebhookHub;
use crate::world::World;

/// A log digest and the spec it was computed for.
#[derive(Debug, Clone)]
pub(crate) struct CachedDigest {
    pub spec: LogSpec,
    /// `(length, sha256 hex)`.
    pub digest: (u64, String),
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub config: SimConfig,
    pub clock: SimClock,
    pub world: Mutex<World>,
    pub log_specs: Mutex<HashMap<u64, LogSpec>>,
    /// Digests of generated logs, which take a while to compute, by job.
    pub digest_cache: Mutex<HashMap<u64, CachedDigest>>,
    pub stats: Mutex<SimStats>,
    pub faults: Mutex<FaultBook>,
    /// Path fragments of API routes that answer 404 until re-enabled (`disable_route`).
    pub disabled_routes: Mutex<Vec<String>>,
    /// Runs served malformed (`created_at` that is not a time) wherever they appear.
    pub malformed_runs: Mutex<std::collections::HashSet<u64>>,
    /// Primary budgets, one per credential.
    pub rate_limit: Mutex<PrimaryBudgets>,
    /// Secondary limits; an `Arc` because admitted requests hold a slot until they are dropped.
    pub secondary: Arc<SecondaryLimiter>,
    pub apps: Mutex<AppRegistry>,
    pub request_log: Mutex<RequestLog>,
    /// Real time at start: the origin of the request log's timestamps.
    pub started_at: tokio::time::Instant,
    pub log_tokens: Mutex<LogTokens>,
    /// Webhook deliveries: what to watch, where to send, what was sent.
    pub webhooks: WebhookHub,
    pub api_origin: String,
    pub log_origin: String,
}

impl Shared {
    pub(crate) fn new(config: SimConfig, api_origin: String, log_origin: String) -> Self {
        let templates = Arc::new(Templates::load(&api_origin));
        let clock = SimClock::new(config.clock.clone());
        let started_ms = clock.now_ms();
        Self {
            clock,
            world: Mutex::new(World::new(config.seed, templates)),
            log_specs: Mutex::new(HashMap::new()),
            digest_cache: Mutex::new(HashMap::new()),
            stats: Mutex::new(SimStats::default()),
            faults: Mutex::new(FaultBook::default()),
            disabled_routes: Mutex::new(Vec::new()),
            malformed_runs: Mutex::new(std::collections::HashSet::new()),
            rate_limit: Mutex::new(PrimaryBudgets::new(&config, started_ms)),
            secondary: SecondaryLimiter::new(config.secondary),
            apps: Mutex::new(AppRegistry::default()),
            request_log: Mutex::new(RequestLog::new(REQUEST_LOG_CAPACITY)),
            started_at: tokio::time::Instant::now(),
            log_tokens: Mutex::new(LogTokens::new(config.seed, DEFAULT_LOG_URL_TTL)),
            webhooks: WebhookHub::new(&config.webhooks, config.seed),
            api_origin,
            log_origin,
            config,
        }
    }
}
