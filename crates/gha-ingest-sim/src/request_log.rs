//! A bounded log of API requests for benchmarks: when each arrived (real time), with which
//! credential, on which route, and how it was answered, so a benchmark can plot request rates
//! per credential and prove a client stayed under GitHub's limits.
//!
//! Entries are stored compactly (a `&'static` route template, the credential as a small enum)
//! and turned into `RequestLogEntry` only when taken: at the 1,000,000-entry cap the log holds
//! about 50 MB. Past the cap the oldest entries are dropped and counted.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::credentials::Credential;

/// Entries kept at most; older ones are dropped first.
pub(crate) const REQUEST_LOG_CAPACITY: usize = 1_000_000;

/// One API request, as `SimHandle::take_request_log` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogEntry {
    /// When the request arrived: real (monotonic) milliseconds since the simulator started.
    pub at_ms_since_start: u64,
    /// `"pat"`, `"anonymous"`, `"app:{id}"`, `"installation:{id}"`, or `"unauthenticated"`
    /// for a request refused with 401 before it had a credential.
    pub credential: String,
    /// The route template, as in `SimStats::by_route`.
    pub route: String,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug, Clone, Copy)]
struct LoggedRequest {
    at_ms_since_start: u64,
    credential: Option<Credential>,
    route: &'static str,
    status: u16,
}

#[derive(Debug)]
pub(crate) struct RequestLog {
    entries: VecDeque<LoggedRequest>,
    capacity: usize,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Appends a request; returns whether an older entry had to be dropped for it.
    pub(crate) fn record(
        &mut self,
        at_ms_since_start: u64,
        credential: Option<Credential>,
        route: &'static str,
        status: u16,
    ) -> bool {
        let dropped = self.entries.len() >= self.capacity;
        if dropped {
            self.entries.pop_front();
        }
        self.entries.push_back(LoggedRequest {
            at_ms_since_start,
            credential,
            route,
            status,
        });
        dropped
    }

    /// Every entry since the last take, oldest first; the log is empty afterwards.
    pub(crate) fn take(&mut self) -> Vec<RequestLogEntry> {
        std::mem::take(&mut self.entries)
            .into_iter()
            .map(|logged| RequestLogEntry {
                at_ms_since_start: logged.at_ms_since_start,
                credential: logged
                    .credential
                    .map_or_else(|| "unauthenticated".to_string(), |c| c.to_string()),
                route: logged.route.to_string(),
                status: logged.status,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_entries_make_room_and_a_take_empties_the_log() {
        let mut log = RequestLog::new(2);
        assert!(!log.record(1, Some(Credential::Pat), "GET /rate_limit", 200));
        assert!(!log.record(2, None, "GET {unknown}", 401));
        assert!(log.record(3, Some(Credential::Installation(4)), "GET /rate_limit", 200));
        let taken = log.take();
        assert_eq!(
            taken
                .iter()
                .map(|entry| (entry.at_ms_since_start, entry.credential.as_str()))
                .collect::<Vec<_>>(),
            [(2, "unauthenticated"), (3, "installation:4")]
        );
        assert!(log.take().is_empty());
    }
}
