//! Counters of everything the simulator served, so tests and benchmarks can assert on API cost
//! ("idle polling costs 0 rate-limit points") and on how close each credential came to GitHub's
//! limits ("never more than 900 points in a minute").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::credentials::Credential;

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
    /// Secondary rate-limit answers, injected (`FaultKind::SecondaryRateLimit`) or enforced
    /// (`SimConfig::secondary`).
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
    /// API requests by the credential they were made with, keyed `"pat"`, `"anonymous"`,
    /// `"app:{id}"` or `"installation:{id}"` (a request refused with 401 because its credential
    /// is missing, unknown or expired has none and is not here).
    #[serde(default)]
    pub credentials: BTreeMap<String, CredentialStats>,
    /// Installation tokens minted by `POST /app/installations/{id}/access_tokens`.
    #[serde(default)]
    pub installation_tokens_issued_total: u64,
    /// Request-log entries dropped because the log was full (see `SimHandle::take_request_log`).
    #[serde(default)]
    pub request_log_dropped_total: u64,
    /// API requests that came under GitHub Enterprise Server's `/api/v3` base.
    #[serde(default)]
    pub enterprise_requests_total: u64,
}

/// What one credential spent and how hard it pushed the limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialStats {
    /// API requests made with it, whatever the answer.
    pub requests: u64,
    /// Primary rate-limit points it spent.
    pub primary_points_used: u64,
    /// Its requests refused because its primary budget was exhausted.
    pub primary_rate_limited: u64,
    /// Its requests answered with a secondary rate limit, injected or enforced.
    pub secondary_rate_limited: u64,
    /// The most points it spent within any sliding 60 s of real time (measured even with the
    /// points limit off).
    pub max_points_per_minute: u32,
    /// The most of its requests being answered at once (measured even with the limit off).
    pub max_concurrent: u32,
}

impl SimStats {
    pub(crate) fn record_api_response(
        &mut self,
        route_template: &str,
        credential: Option<Credential>,
        status: u16,
    ) {
        self.requests_total += 1;
        if let Some(count) = self.by_route.get_mut(route_template) {
            *count += 1;
        } else {
            self.by_route.insert(route_template.to_string(), 1);
        }
        *self.by_status.entry(status).or_default() += 1;
        if let Some(credential) = credential {
            self.credential_mut(credential).requests += 1;
        }
    }

    /// The counters of `credential`, created at its first request.
    pub(crate) fn credential_mut(&mut self, credential: Credential) -> &mut CredentialStats {
        self.credentials.entry(credential.to_string()).or_default()
    }
}
