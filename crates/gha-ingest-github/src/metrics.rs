//! The GitHub clients' metrics (`gha_ingest_github_*`): every response by endpoint class and
//! status, its latency, the rate limits met, and per credential the request plan (admissions and
//! waiters by class, the ceiling, the reserve) and the primary budget as GitHub last reported it.
//! Every client of the process shares one set of families.
//!
//! Paths are reduced to a closed set of endpoint classes ([`endpoint_class`]) so that run ids,
//! repository names and SHAs never become label values.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::schedule::{BudgetSnapshot, Decision, Priority};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResponseLabels {
    pub endpoint: &'static str,
    /// The HTTP status, or `error` when no response came (connection, timeout).
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitKindLabels {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CredentialLabels {
    pub credential: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    pub credential: String,
    /// `fresh`, `logs`, `commits` or `catchup`.
    pub class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HeldLabels {
    pub credential: String,
    /// `ceiling` (points per minute), `primary` (spent, or the reserve) or `pace`.
    pub reason: &'static str,
}

/// Which rate limit an answer said was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitKind {
    /// The hourly points budget.
    Primary,
    /// Concurrency or points-per-minute limits, which GitHub does not let clients query.
    Secondary,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Every family of the GitHub clients. Cloning shares the values.
#[derive(Debug, Clone)]
pub struct GithubMetrics {
    pub(crate) responses: Family<ResponseLabels, Counter>,
    pub(crate) duration: HistogramFamily<EndpointLabels>,
    pub(crate) failed_attempts: Counter,
    /// Every response and transport failure: the sum of `responses`, for the dashboard.
    answered: Counter,
    pub(crate) rate_limited: Family<LimitKindLabels, Counter>,
    budget_remaining: Family<CredentialLabels, Gauge>,
    budget_limit: Family<CredentialLabels, Gauge>,
    budget_reset: Family<CredentialLabels, FloatGauge>,
    admitted: Family<ClassLabels, Counter>,
    waiting: Family<ClassLabels, Gauge>,
    longest_wait: Family<ClassLabels, FloatGauge>,
    longest_dark: Family<CredentialLabels, FloatGauge>,
    held_back: Family<HeldLabels, Counter>,
    ceiling: Family<CredentialLabels, Gauge>,
    last_minute: Family<CredentialLabels, Gauge>,
    reserve: Family<CredentialLabels, Gauge>,
}

impl Default for GithubMetrics {
    fn default() -> Self {
        GithubMetrics {
            responses: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            failed_attempts: Counter::default(),
            answered: Counter::default(),
            rate_limited: Family::default(),
            budget_remaining: Family::default(),
            budget_limit: Family::default(),
            budget_reset: Family::default(),
            admitted: Family::default(),
            waiting: Family::default(),
            longest_wait: Family::default(),
            longest_dark: Family::default(),
            held_back: Family::default(),
            ceiling: Family::default(),
            last_minute: Family::default(),
            reserve: Family::default(),
        }
    }
}

/// 10 ms .. ~41 s: a 304 on a warm connection up to a 1 MB page from a slow server.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 13))
}

impl GithubMetrics {
    /// Registers every family under `registry`, whose prefix should be `gha_ingest_github`.
    pub fn register(&self, registry: &mut Registry) {
        // Both kinds exist from the start, so `increase()` sees the first hit.
        for kind in ["primary", "secondary"] {
            let _ = self.rate_limited.get_or_create(&LimitKindLabels { kind });
        }
        registry.register(
            "requests",
            "Responses from the GitHub API by endpoint class and HTTP status (error: no response); 304s cost no rate limit",
            self.responses.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from sending a request to GitHub to its response's headers, by endpoint class",
            self.duration.clone(),
        );
        registry.register(
            "request_failures",
            "Request attempts that failed and were retried or given up",
            self.failed_attempts.clone(),
        );
        registry.register(
            "rate_limited",
            "Answers saying a rate limit was hit (primary: the hourly budget; secondary: per-minute or concurrency limits)",
            self.rate_limited.clone(),
        );
        registry.register(
            "rate_limit_remaining_points",
            "Points left in the primary rate-limit window, as GitHub last reported",
            self.budget_remaining.clone(),
        );
        registry.register(
            "rate_limit_limit_points",
            "Size of the primary rate-limit window, as GitHub last reported",
            self.budget_limit.clone(),
        );
        registry.register(
            "rate_limit_reset_timestamp_seconds",
            "Unix time the primary rate-limit window resets",
            self.budget_reset.clone(),
        );
        registry.register(
            "budget_admitted",
            "Requests the credential's scheduler let through (points spent against the secondary limit, 304s included), by class of work",
            self.admitted.clone(),
        );
        registry.register(
            "budget_waiting_requests",
            "Requests waiting for the credential's scheduler now, by class of work",
            self.waiting.clone(),
        );
        registry.register(
            "budget_longest_wait_seconds",
            "The longest a request of this class waited for the credential's scheduler since start",
            self.longest_wait.clone(),
        );
        registry.register(
            "budget_longest_dark_seconds",
            "The longest stretch since start in which fresh work waited and the credential's scheduler let no request at all through: the daemon dark on its budget",
            self.longest_dark.clone(),
        );
        registry.register(
            "budget_held_back",
            "Requests the scheduler made wait, by what held them (ceiling: points per minute; primary: budget spent or down to the reserve; pace: catch-up spread until the reset)",
            self.held_back.clone(),
        );
        registry.register(
            "budget_ceiling_points_per_minute",
            "Points per minute the scheduler admits at most, under GitHub's secondary limit of 900",
            self.ceiling.clone(),
        );
        registry.register(
            "budget_points_last_minute",
            "Points admitted in the last 60 seconds",
            self.last_minute.clone(),
        );
        registry.register(
            "budget_reserve_points",
            "Points of the primary budget only fresh work may spend",
            self.reserve.clone(),
        );
    }

    pub(crate) fn response(&self, path: &str, status: Option<u16>, elapsed: Duration) {
        let endpoint = endpoint_class(path);
        let status = status.map_or_else(|| "error".to_owned(), |code| code.to_string());
        self.answered.inc();
        self.responses
            .get_or_create(&ResponseLabels { endpoint, status })
            .inc();
        self.duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn rate_limited(&self, kind: LimitKind) {
        let kind = match kind {
            LimitKind::Primary => "primary",
            LimitKind::Secondary => "secondary",
        };
        self.rate_limited
            .get_or_create(&LimitKindLabels { kind })
            .inc();
    }

    /// Counts one admission of `credential` at `priority`, and what held it back if anything.
    pub(crate) fn admitted(
        &self,
        credential: &str,
        priority: Priority,
        held_back: Option<Decision>,
    ) {
        self.admitted
            .get_or_create(&ClassLabels {
                credential: credential.to_owned(),
                class: priority.as_str(),
            })
            .inc();
        let reason = match held_back {
            None | Some(Decision::Go | Decision::Yield) => return,
            Some(Decision::Ceiling(_)) => "ceiling",
            Some(Decision::Primary(_)) => "primary",
            Some(Decision::Pace(_)) => "pace",
        };
        self.held_back
            .get_or_create(&HeldLabels {
                credential: credential.to_owned(),
                reason,
            })
            .inc();
    }

    /// Sets the gauges of `credential` from its scheduler's snapshot.
    pub(crate) fn budget(&self, credential: &str, plan: &BudgetSnapshot) {
        let labels = CredentialLabels {
            credential: credential.to_owned(),
        };
        let points = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        for (index, priority) in Priority::ALL.iter().enumerate() {
            let class = ClassLabels {
                credential: credential.to_owned(),
                class: priority.as_str(),
            };
            self.waiting
                .get_or_create(&class)
                .set(i64::from(plan.waiting[index]));
            self.longest_wait
                .get_or_create(&class)
                .set(plan.longest_wait_secs[index]);
        }
        self.longest_dark
            .get_or_create(&labels)
            .set(plan.longest_dark_secs);
        self.ceiling
            .get_or_create(&labels)
            .set(i64::from(plan.points_per_minute_ceiling));
        self.last_minute
            .get_or_create(&labels)
            .set(i64::from(plan.points_last_minute));
        if let Some(reserve) = plan.reserve_points {
            self.reserve.get_or_create(&labels).set(points(reserve));
        }
        let budget = &plan.primary;
        if let Some(remaining) = budget.remaining {
            self.budget_remaining
                .get_or_create(&labels)
                .set(points(remaining));
        }
        if let Some(limit) = budget.limit {
            self.budget_limit.get_or_create(&labels).set(points(limit));
        }
        if let Some(reset) = budget.reset_epoch_secs {
            self.budget_reset.get_or_create(&labels).set(reset as f64);
        }
    }

    /// Requests answered (or failed without an answer), for the dashboard.
    pub fn requests_total(&self) -> u64 {
        self.answered.get()
    }

    /// Answers with `status` summed over endpoint classes, for the dashboard.
    pub fn responses_with_status(&self, status: u16) -> u64 {
        let status = status.to_string();
        ENDPOINT_CLASSES
            .iter()
            .filter_map(|endpoint| {
                self.responses.get(&ResponseLabels {
                    endpoint,
                    status: status.clone(),
                })
            })
            .map(|counter| counter.get())
            .sum()
    }

    pub fn failed_attempts(&self) -> u64 {
        self.failed_attempts.get()
    }

    /// Rate-limit waits of either kind.
    pub fn rate_limit_waits(&self) -> u64 {
        ["primary", "secondary"]
            .into_iter()
            .filter_map(|kind| self.rate_limited.get(&LimitKindLabels { kind }))
            .map(|counter| counter.get())
            .sum()
    }
}

/// Every endpoint class a path can fall in.
pub const ENDPOINT_CLASSES: [&str; 10] = [
    "runs",
    "run",
    "attempt",
    "jobs",
    "commit",
    "pulls",
    "log",
    "repos",
    "rate_limit",
    "other",
];

/// The endpoint class of an API path (with or without its query): a closed set, so no id or name
/// ever becomes a label value.
pub fn endpoint_class(path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["rate_limit"] => "rate_limit",
        ["orgs", _, "repos"] | ["installation", "repositories"] | ["user", "repos"] => "repos",
        ["repos", _, _, "actions", "runs"] => "runs",
        ["repos", _, _, "actions", "runs", _] => "run",
        ["repos", _, _, "actions", "runs", _, "attempts", _] => "attempt",
        ["repos", _, _, "actions", "runs", _, "jobs"]
        | ["repos", _, _, "actions", "runs", _, "attempts", _, "jobs"] => "jobs",
        ["repos", _, _, "actions", "jobs", _, "logs"] => "log",
        ["repos", _, _, "commits", _] => "commit",
        ["repos", _, _, "commits", _, "pulls"] | ["repos", _, _, "pulls", ..] => "pulls",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_in_a_closed_set_of_classes() {
        let cases = [
            ("/repos/acme/web/actions/runs?per_page=100&page=2", "runs"),
            ("repos/acme/web/actions/runs/42", "run"),
            ("/repos/acme/web/actions/runs/42/attempts/2", "attempt"),
            (
                "/repos/acme/web/actions/runs/42/attempts/2/jobs?per_page=100",
                "jobs",
            ),
            ("/repos/acme/web/actions/runs/42/jobs?filter=latest", "jobs"),
            ("/repos/acme/web/actions/jobs/7/logs", "log"),
            ("/repos/acme/web/commits/abc123", "commit"),
            ("/repos/acme/web/commits/abc123/pulls", "pulls"),
            ("/orgs/acme/repos?per_page=100", "repos"),
            ("/installation/repositories", "repos"),
            ("/rate_limit", "rate_limit"),
            ("/zen", "other"),
        ];
        for (path, class) in cases {
            assert_eq!(endpoint_class(path), class, "{path}");
            assert!(ENDPOINT_CLASSES.contains(&class));
        }
    }
}
