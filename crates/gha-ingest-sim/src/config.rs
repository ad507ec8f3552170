//! The simulator's settings: the seed that makes the generated world reproducible, the token it
//! demands, its primary and secondary rate limits, GitHub App token lifetimes, how it delivers
//! webhooks and how its clock moves.
//!
//! Plain structs with defaults; the daemon's CLI owns parsing them from flags. Every default is
//! GitHub's published figure, so a client tested against the defaults is tested against what
//! github.com enforces for an organisation-scale client.

use std::time::Duration;

/// How the simulator starts. `SimConfig::default()` is a manual clock, seed 1, no token, 5,000
/// requests an hour for the token (or anonymous requests) and for each App installation, an
/// hourly window, GitHub's secondary limits (900 points a minute, 100 concurrent requests) and
/// installation tokens that live an hour, and GitHub's webhook delivery timeout (10 s).
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of every generated id gap, name, duration and log line.
    pub seed: u64,
    /// The personal access token. When set, every API request must carry
    /// `Authorization: Bearer <token>` or `Authorization: token <token>` (or a GitHub App
    /// credential: a JWT on `/app…` routes, an installation token elsewhere); otherwise the API
    /// answers 401 as GitHub does. When `None`, requests without `Authorization` are served as
    /// anonymous, but a presented token that is not a known credential still answers 401.
    pub token: Option<String>,
    /// Primary (`core`) rate limit per window of the personal access token, and of anonymous
    /// requests when no token is configured: 5,000 (GitHub's figure for a user token).
    pub rate_limit_per_hour: u32,
    /// Primary rate limit per window of each GitHub App installation, shared by every token
    /// minted for it: 5,000 (GitHub's minimum; it grows with repositories and users, up to
    /// 12,500, or 15,000 on Enterprise Cloud).
    pub installation_rate_limit_per_hour: u32,
    /// Primary rate limit per window of requests authenticated as the App itself (its JWT):
    /// GitHub publishes no figure; a small budget, so a client that polls with the JWT notices.
    pub app_rate_limit_per_hour: u32,
    /// Length of the primary window, GitHub's hour by default. Tests and benchmarks compress it
    /// (`x-ratelimit-reset` follows). Measured on the simulated clock.
    pub rate_limit_window: Duration,
    /// Secondary limits, enforced per credential on the real clock.
    pub secondary: SecondaryLimits,
    /// How long an installation token lives, on the simulated clock: GitHub's hour by default.
    pub installation_token_ttl: Duration,
    /// With no `token` configured: treat any presented token that is not a GitHub App credential
    /// as the personal access token (budget `"pat"`) instead of answering 401. For benchmarks
    /// that run third-party clients which insist on sending some token. Off by default.
    pub accept_any_token: bool,
    /// How webhook deliveries are POSTed once `SimHandle::set_webhook` names a receiver.
    pub webhooks: WebhookSettings,
    /// How simulated time moves.
    pub clock: ClockMode,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            token: None,
            rate_limit_per_hour: DEFAULT_RATE_LIMIT_PER_HOUR,
            installation_rate_limit_per_hour: DEFAULT_INSTALLATION_RATE_LIMIT_PER_HOUR,
            app_rate_limit_per_hour: DEFAULT_APP_RATE_LIMIT_PER_HOUR,
            rate_limit_window: DEFAULT_RATE_LIMIT_WINDOW,
            secondary: SecondaryLimits::default(),
            installation_token_ttl: DEFAULT_INSTALLATION_TOKEN_TTL,
            accept_any_token: false,
            webhooks: WebhookSettings::default(),
            clock: ClockMode::Manual,
        }
    }
}

/// GitHub's secondary limits, per credential. `None` turns a limit off.
///
/// A request over either limit answers 403 with `retry-after: 60` and GitHub's "secondary rate
/// limit" message, and spends no primary point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondaryLimits {
    /// Points over a sliding 60 s of real time: `GET`/`HEAD` cost 1, `POST`/`PATCH`/`PUT`/`DELETE`
    /// cost 5, 304s included. GitHub's figure is 900 per endpoint; the simulator sums over every
    /// endpoint, the conservative bound.
    pub points_per_minute: Option<u32>,
    /// Requests being answered at once: GitHub's figure is 100.
    pub max_concurrent: Option<u32>,
}

impl SecondaryLimits {
    /// Both limits off.
    pub const fn disabled() -> Self {
        Self {
            points_per_minute: None,
            max_concurrent: None,
        }
    }
}

impl Default for SecondaryLimits {
    /// GitHub's published figures: 900 points a minute, 100 concurrent requests.
    fn default() -> Self {
        Self {
            points_per_minute: Some(DEFAULT_SECONDARY_POINTS_PER_MINUTE),
            max_concurrent: Some(DEFAULT_SECONDARY_MAX_CONCURRENT),
        }
    }
}

/// How webhook deliveries leave the simulator. Timeouts are real time: a receiver is a real
/// server, whatever the simulated clock does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    /// How long a delivery may take, from connecting to the end of the answer, before it is
    /// recorded as failed ("timed out"): GitHub's 10 s (30 s on GitHub Enterprise Server).
    pub timeout: Duration,
    /// Deliveries being POSTed at once. Each run's deliveries go out one after another in the
    /// order its changes happened (they share a lane); different runs go out side by side.
    pub max_concurrent: usize,
    /// Deliveries recorded at most (`GET /app/hook/deliveries`, `SimHandle::webhook_deliveries`);
    /// older ones are dropped first.
    pub deliveries_kept: usize,
    /// Request bodies recorded at most, in bytes, so a long benchmark does not hold gigabytes of
    /// payloads (one is about 15 KB); older deliveries are dropped first.
    pub delivery_bytes_kept: usize,
}

impl Default for WebhookSettings {
    /// GitHub's 10 s timeout, 8 deliveries at once, 100,000 deliveries or 256 MiB of bodies kept.
    fn default() -> Self {
        Self {
            timeout: DEFAULT_WEBHOOK_TIMEOUT,
            max_concurrent: 8,
            deliveries_kept: 100_000,
            delivery_bytes_kept: 256 << 20,
        }
    }
}

/// "Your server should respond with a 2XX response within 10 seconds of receiving a webhook
/// delivery. If your server takes longer than that to respond, then GitHub terminates the
/// connection and considers the delivery a failure."
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// GitHub's primary limit for a user token.
pub const DEFAULT_RATE_LIMIT_PER_HOUR: u32 = 5_000;

/// GitHub's minimum primary limit for an App installation.
pub const DEFAULT_INSTALLATION_RATE_LIMIT_PER_HOUR: u32 = 5_000;

/// The simulator's budget for requests made with an App's JWT (GitHub publishes none).
pub const DEFAULT_APP_RATE_LIMIT_PER_HOUR: u32 = 1_000;

/// GitHub's primary window.
pub const DEFAULT_RATE_LIMIT_WINDOW: Duration = Duration::from_secs(3_600);

/// GitHub's secondary limit on points per minute (per endpoint on GitHub, in total here).
pub const DEFAULT_SECONDARY_POINTS_PER_MINUTE: u32 = 900;

/// GitHub's secondary limit on concurrent requests.
pub const DEFAULT_SECONDARY_MAX_CONCURRENT: u32 = 100;

/// "The installation access token will expire after 1 hour."
pub const DEFAULT_INSTALLATION_TOKEN_TTL: Duration = Duration::from_secs(3_600);

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
