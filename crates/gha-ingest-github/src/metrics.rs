//! The GitHub client's metrics (`gha_ingest_github_*`): every response by endpoint class and
//! status, its latency, the rate limits met, and the primary budget as GitHub last reported it.
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

use crate::ratelimit::RateLimitSnapshot;

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

/// Every family of one GitHub client. Cloning shares the values.
#[derive(Debug, Clone)]
pub struct GithubMetrics {
    /// Names the credential in `credential` labels (a PAT is `token`; never the token itself).
    credential: String,
    pub(crate) responses: Family<ResponseLabels, Counter>,
    pub(crate) duration: HistogramFamily<EndpointLabels>,
    pub(crate) failed_attempts: Counter,
    /// Every response and transport failure: the sum of `responses`, for the dashboard.
    answered: Counter,
    pub(crate) rate_limited: Family<LimitKindLabels, Counter>,
    budget_remaining: Family<CredentialLabels, Gauge>,
    budget_limit: Family<CredentialLabels, Gauge>,
    budget_reset: Family<CredentialLabels, FloatGauge>,
}

impl Default for GithubMetrics {
    fn default() -> Self {
        GithubMetrics {
            credential: "token".to_owned(),
            responses: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            failed_attempts: Counter::default(),
            answered: Counter::default(),
            rate_limited: Family::default(),
            budget_remaining: Family::default(),
            budget_limit: Family::default(),
            budget_reset: Family::default(),
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

    pub(crate) fn budget(&self, budget: &RateLimitSnapshot) {
        let labels = CredentialLabels {
            credential: self.credential.clone(),
        };
        let points = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
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
