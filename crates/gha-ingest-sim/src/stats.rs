//! Counters of everything the simulator served, so tests and benchmarks can assert on API cost
//! ("idle polling costs 0 rate-limit points").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A snapshot of the counters since start or the last `reset_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Requests to the API origin (admin routes under `/_sim/` excluded).
    pub requests_total: u64,
    /// API requests by route template, e.g. `GET /repos/{owner}/{repo}/actions/runs`
    /// (`/repositories/{id}/…` aliases count under the `/repos/{owner}/{repo}/…` template;
    /// unknown paths under `GET {unknown}`).
    pub by_route: BTreeMap<String, u64>,
    /// API responses by status code.
    pub by_status: BTreeMap<u16, u64>,
    /// `304 Not Modified` answers (free of rate-limit points).
    pub not_modified_total: u64,
    /// Primary rate-limit points spent.
    pub rate_limit_points_used: u64,
    /// Requests refused because the primary limit was exhausted.
    pub rate_limited_total: u64,
    /// Secondary rate-limit answers (injected).
    pub secondary_rate_limited_total: u64,
    /// Injected faults that fired, on either origin.
    pub faults_fired_total: u64,
    /// Requests refused for missing or wrong credentials.
    pub unauthorized_total: u64,
    /// `302` redirects to the log origin.
    pub log_redirects_total: u64,
    /// Requests to the log origin, whatever their outcome.
    pub log_requests_total: u64,
    /// Log bodies the log origin started to serve (200).
    pub log_downloads_total: u64,
    /// Log bytes handed to the network.
    pub log_bytes_served_total: u64,
    /// Log-origin requests refused because they carried an `Authorization` header.
    pub log_authorization_rejected_total: u64,
}

impl SimStats {
    pub(crate) fn record_api_response(&mut self, route_template: &str, status: u16) {
        self.requests_total += 1;
        *self.by_route.entry(route_template.to_string()).or_default() += 1;
        *self.by_status.entry(status).or_default() += 1;
    }
}
