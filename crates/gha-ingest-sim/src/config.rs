//! The simulator's settings: the seed that makes the generated world reproducible, the token it
//! demands, its primary rate limit and how its clock moves.
//!
//! Plain structs with defaults; the daemon's CLI owns parsing them from flags.

use std::time::Duration;

/// How the simulator starts. `SimConfig::default()` is a manual clock, seed 1, no token, 5,000
/// requests an hour.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of every generated id gap, name, duration and log line.
    pub seed: u64,
    /// When set, every API request must carry `Authorization: Bearer <token>` or
    /// `Authorization: token <token>`; otherwise the API answers 401 as GitHub does.
    pub token: Option<String>,
    /// Primary (`core`) rate limit per hourly window, 5,000 for a personal access token.
    pub rate_limit_per_hour: u32,
    /// How simulated time moves.
    pub clock: ClockMode,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            token: None,
            rate_limit_per_hour: DEFAULT_RATE_LIMIT_PER_HOUR,
            clock: ClockMode::Manual,
        }
    }
}

/// GitHub's primary limit for a user token.
pub const DEFAULT_RATE_LIMIT_PER_HOUR: u32 = 5_000;

/// How long a log redirect URL stays valid by default: GitHub documents one minute.
pub const DEFAULT_LOG_URL_TTL: Duration = Duration::from_secs(60);

/// How simulated time moves.
#[derive(Debug, Clone, PartialEq)]
pub enum ClockMode {
    /// Time stands still at 2026-06-01T00:00:00Z until `SimHandle::advance` moves it: tests
    /// decide exactly when runs change state.
    Manual,
    /// Simulated time is the wall-clock time at start plus real elapsed time times `speed`
    /// (`speed: 60.0` makes a minute pass every second); `SimHandle::advance` still jumps ahead.
    /// For the demo.
    RealTime {
        /// Simulated seconds per real second.
        speed: f64,
    },
}
