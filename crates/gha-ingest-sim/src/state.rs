//! The state shared by the two servers and every `SimHandle`: one `Arc<Shared>`, each part
//! behind its own short-held std mutex (never held across an `.await`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::SimClock;
use crate::config::{SimConfig, DEFAULT_LOG_URL_TTL};
use crate::faults::FaultBook;
use crate::logs::{LogSpec, LogTokens};
use crate::payloads::Templates;
use crate::ratelimit::RateLimiter;
use crate::stats::SimStats;
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
    pub rate_limit: Mutex<RateLimiter>,
    pub log_tokens: Mutex<LogTokens>,
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
            rate_limit: Mutex::new(RateLimiter::new(config.rate_limit_per_hour, started_ms)),
            log_tokens: Mutex::new(LogTokens::new(config.seed, DEFAULT_LOG_URL_TTL)),
            api_origin,
            log_origin,
            config,
        }
    }
}
