//! Injected faults: errors, secondary rate limits, garbled bodies, delays and log-host errors
//! that fire on the next matching requests, exactly `times` times each.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A fault to inject (see `SimHandle::inject_fault`). Over HTTP (`POST /_sim/faults`):
/// `{"route_contains": "/actions/runs", "kind": {"status": 502}, "times": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Fires only on requests whose path contains this text; `None` matches every API route
    /// (every log URL for `LogHostStatus`).
    #[serde(default)]
    pub route_contains: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// How many matching requests it fires on.
    #[serde(default = "one_time")]
    pub times: u32,
}

fn one_time() -> u32 {
    1
}

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and a GitHub-like JSON error body (500, 502, 503, …). Costs no
    /// rate-limit point.
    Status(u16),
    /// Answer 403 or 429 with `retry-after` and GitHub's secondary rate-limit message. Costs no
    /// rate-limit point.
    SecondaryRateLimit {
        /// Value of the `retry-after` header.
        retry_after_secs: u64,
        /// 403 or 429.
        status: u16,
    },
    /// Answer 200 with the real body cut in half (invalid JSON). Costs a point.
    MalformedJson,
    /// Wait this long, then answer normally (JSON: milliseconds).
    Delay(#[serde(with = "duration_millis")] Duration),
    /// The log origin answers this status (it never touches API routes).
    LogHostStatus(u16),
}

mod duration_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// Which origin a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Api,
    LogHost,
}

/// The pending faults, oldest first.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    pending: Vec<Fault>,
}

impl FaultBook {
    pub(crate) fn inject(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.pending.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    /// Takes one firing of the oldest fault matching a request, if any.
    pub(crate) fn take(&mut self, origin: Origin, path: &str) -> Option<FaultKind> {
        let index = self.pending.iter().position(|fault| {
            let fires_on_origin = matches!(
                (&fault.kind, origin),
                (FaultKind::LogHostStatus(_), Origin::LogHost)
            ) || (!matches!(fault.kind, FaultKind::LogHostStatus(_))
                && origin == Origin::Api);
            fires_on_origin
                && fault
                    .route_contains
                    .as_deref()
                    .is_none_or(|needle| path.contains(needle))
        })?;
        let fault = &mut self.pending[index];
        fault.times -= 1;
        let kind = fault.kind.clone();
        if fault.times == 0 {
            self.pending.remove(index);
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_fires_exactly_its_times_on_matching_routes_only() {
        let mut book = FaultBook::default();
        book.inject(Fault {
            route_contains: Some("/jobs".to_string()),
            kind: FaultKind::Status(502),
            times: 2,
        });
        assert_eq!(book.take(Origin::Api, "/repos/o/r/actions/runs"), None);
        assert_eq!(book.take(Origin::LogHost, "/logs/x"), None);
        assert_eq!(
            book.take(Origin::Api, "/repos/o/r/actions/runs/1/jobs"),
            Some(FaultKind::Status(502))
        );
        assert_eq!(
            book.take(Origin::Api, "/repos/o/r/actions/jobs/2"),
            Some(FaultKind::Status(502))
        );
        assert_eq!(book.take(Origin::Api, "/repos/o/r/actions/jobs/2"), None);
    }

    #[test]
    fn faults_read_from_json() {
        let fault: Fault = serde_json::from_str(r#"{"kind":{"delay":1500},"times":3}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fault.kind, FaultKind::Delay(Duration::from_millis(1500)));
        let fault: Fault = serde_json::from_str(
            r#"{"route_contains":"/runs","kind":{"secondary_rate_limit":{"retry_after_secs":60,"status":429}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fault.times, 1);
        let fault: Fault =
            serde_json::from_str(r#"{"kind":"malformed_json"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fault.kind, FaultKind::MalformedJson);
    }
}
