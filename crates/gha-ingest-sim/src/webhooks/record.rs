//! The record of every delivery, what GitHub shows under an App's "Recent Deliveries" and
//! serves at `GET /app/hook/deliveries`: when it went out, how it was answered, and the exact
//! request, so it can be redelivered byte for byte.
//!
//! Ids are handed out in the order the changes happened (a delivery reserves its id before it
//! is POSTed), so newest-first by id is newest-first by change, as GitHub lists them. The book
//! is bounded by count and by body bytes; the oldest deliveries go first.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::clock::Millis;
use crate::config::WebhookSettings;
use crate::webhooks::stats::WebhookStats;

/// "You can use the REST API to redeliver webhooks that were delivered in the past 3 days";
/// older deliveries are no longer listed either.
pub(crate) const RETENTION_MS: Millis = 3 * 24 * 3_600 * 1_000;

/// The first delivery id, in the range of GitHub's own.
const FIRST_DELIVERY_ID: u64 = 12_000_000_001;

/// What was done to a delivery on purpose (`WebhookFaults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InjectedFaults {
    /// Never POSTed; recorded as "timed out".
    pub dropped: bool,
    /// The second copy of a duplicated delivery.
    pub duplicate: bool,
    /// Held back this long before it was POSTed.
    pub delay: Option<Duration>,
    /// Signed with another secret.
    pub wrong_signature: bool,
}

/// One recorded delivery (`SimHandle::webhook_deliveries`), with the fields of GitHub's
/// `hook-delivery`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    /// Unique and increasing in the order of the changes (a redelivery gets a new one).
    pub id: u64,
    /// `X-GitHub-Delivery`: shared by a delivery, its duplicate and its redeliveries.
    pub guid: String,
    /// `workflow_run` or `workflow_job`.
    pub event: String,
    /// `requested`, `waiting`, `queued`, `in_progress` or `completed`.
    pub action: Option<String>,
    /// The installation the payload names, when the repository belongs to one.
    pub installation_id: Option<u64>,
    pub repository_id: Option<u64>,
    /// Simulated time the POST started (for a dropped delivery: when it was given up).
    pub delivered_at: DateTime<Utc>,
    /// Real time the POST took (the timeout for a dropped delivery).
    pub duration: Duration,
    /// `OK` for a 2xx; otherwise what went wrong: `Invalid HTTP Response: 401`, `timed out`,
    /// `failed to connect`.
    pub status: String,
    /// The answer's status code; 0 when there was none.
    pub status_code: u16,
    pub redelivery: bool,
    /// Where it was POSTed.
    pub url: String,
    /// The request headers as sent (GitHub's spelling).
    pub request_headers: Vec<(String, String)>,
    /// The request body as sent: the bytes the signature covers.
    pub request_body: Bytes,
    pub response_headers: Vec<(String, String)>,
    /// The answer's body as text (its first 64 KiB), if there was an answer.
    pub response_body: Option<String>,
    pub injected: InjectedFaults,
}

impl WebhookDelivery {
    /// GitHub's `status=success` is a status code from 200 to 399; anything else (including
    /// no answer at all) is a failure worth redelivering.
    pub(crate) fn is_success(&self) -> bool {
        (200..400).contains(&self.status_code)
    }

    fn delivered_ms(&self) -> Millis {
        self.delivered_at.timestamp_millis()
    }

    fn is_retained(&self, now_ms: Millis) -> bool {
        now_ms - self.delivered_ms() < RETENTION_MS
    }
}

/// A recorded delivery and the run its change belongs to (its redeliveries keep that run's
/// order: see `deliver`).
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub delivery: WebhookDelivery,
    pub run_id: u64,
}

/// Why a delivery cannot be looked at or redelivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// No such id (or it was evicted).
    Unknown,
    /// Delivered more than three days ago.
    Expired,
}

/// Which deliveries a listing wants (`status=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusFilter {
    Success,
    Failure,
}

/// One page of a listing, newest first.
#[derive(Debug)]
pub(crate) struct Page<'a> {
    pub deliveries: Vec<&'a WebhookDelivery>,
    /// The id the next page starts below, when there is one.
    pub next_below: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct DeliveryBook {
    next_id: u64,
    recorded: BTreeMap<u64, Recorded>,
    body_bytes: usize,
    max_deliveries: usize,
    max_body_bytes: usize,
    pub stats: WebhookStats,
}

impl DeliveryBook {
    pub(crate) fn new(settings: &WebhookSettings) -> Self {
        Self {
            next_id: FIRST_DELIVERY_ID,
            recorded: BTreeMap::new(),
            body_bytes: 0,
            max_deliveries: settings.deliveries_kept.max(1),
            max_body_bytes: settings.delivery_bytes_kept,
            stats: WebhookStats::default(),
        }
    }

    /// The id of a delivery about to go out.
    pub(crate) fn reserve_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Records a delivery's outcome and counts it; forgets the oldest beyond the bounds.
    pub(crate) fn record(&mut self, recorded: Recorded) {
        let delivery = &recorded.delivery;
        let stats = &mut self.stats;
        if delivery.injected.dropped {
            stats.dropped += 1;
        } else {
            stats.sent += 1;
            stats.pending = stats.pending.saturating_sub(1);
            if delivery.status_code == 0 && delivery.status == TIMED_OUT {
                stats.timed_out += 1;
            }
        }
        if (200..300).contains(&delivery.status_code) {
            stats.succeeded += 1;
        } else {
            stats.failed += 1;
        }
        self.body_bytes += delivery.request_body.len();
        self.recorded.insert(delivery.id, recorded);
        while self.recorded.len() > self.max_deliveries
            || (self.body_bytes > self.max_body_bytes && self.recorded.len() > 1)
        {
            let Some((_, oldest)) = self.recorded.pop_first() else {
                break;
            };
            self.body_bytes -= oldest.delivery.request_body.len();
            self.stats.records_evicted += 1;
        }
    }

    /// A delivery still offered at `now_ms` (three days).
    pub(crate) fn retained(&self, id: u64, now_ms: Millis) -> Result<&Recorded, Missing> {
        let recorded = self.recorded.get(&id).ok_or(Missing::Unknown)?;
        if recorded.delivery.is_retained(now_ms) {
            Ok(recorded)
        } else {
            Err(Missing::Expired)
        }
    }

    /// Up to `per_page` retained deliveries with ids below `below`, newest first.
    pub(crate) fn page(
        &self,
        now_ms: Millis,
        below: Option<u64>,
        per_page: usize,
        filter: Option<StatusFilter>,
    ) -> Page<'_> {
        let wanted = |delivery: &WebhookDelivery| match filter {
            None => true,
            Some(StatusFilter::Success) => delivery.is_success(),
            Some(StatusFilter::Failure) => !delivery.is_success(),
        };
        let mut matching = self
            .recorded
            .range(..below.unwrap_or(u64::MAX))
            .rev()
            .map(|(_, recorded)| &recorded.delivery)
            .filter(|delivery| delivery.is_retained(now_ms) && wanted(delivery));
        let deliveries: Vec<&WebhookDelivery> = matching.by_ref().take(per_page).collect();
        let has_more = matching.next().is_some();
        let next_below = deliveries
            .last()
            .filter(|_| has_more)
            .map(|delivery| delivery.id);
        Page {
            deliveries,
            next_below,
        }
    }

    /// Every recorded delivery, oldest first.
    pub(crate) fn all(&self) -> Vec<WebhookDelivery> {
        self.recorded
            .values()
            .map(|recorded| recorded.delivery.clone())
            .collect()
    }
}

/// The status of a delivery the receiver did not answer in time (and of a dropped one).
pub(crate) const TIMED_OUT: &str = "timed out";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::to_datetime;

    const NOW_MS: Millis = 1_780_272_000_000;

    fn delivery(id: u64, delivered_ms: Millis, status_code: u16) -> Recorded {
        Recorded {
            delivery: WebhookDelivery {
                id,
                guid: format!("guid-{id}"),
                event: "workflow_run".into(),
                action: Some("requested".into()),
                installation_id: None,
                repository_id: Some(1),
                delivered_at: to_datetime(delivered_ms),
                duration: Duration::from_millis(3),
                status: if status_code == 200 { "OK" } else { TIMED_OUT }.into(),
                status_code,
                redelivery: false,
                url: "http://127.0.0.1:9/hook".into(),
                request_headers: vec![],
                request_body: Bytes::from_static(b"{}"),
                response_headers: vec![],
                response_body: None,
                injected: InjectedFaults::default(),
            },
            run_id: 1,
        }
    }

    fn ids(page: &Page<'_>) -> Vec<u64> {
        page.deliveries.iter().map(|delivery| delivery.id).collect()
    }

    #[test]
    fn pages_go_newest_first_below_the_cursor_and_filter_by_outcome() {
        let mut book = DeliveryBook::new(&WebhookSettings::default());
        for id in 1..=5 {
            book.stats.pending += 1;
            book.record(delivery(id, NOW_MS, if id % 2 == 0 { 0 } else { 200 }));
        }
        let first = book.page(NOW_MS, None, 2, None);
        assert_eq!((ids(&first), first.next_below), (vec![5, 4], Some(4)));
        let last = book.page(NOW_MS, Some(2), 2, None);
        assert_eq!((ids(&last), last.next_below), (vec![1], None));
        let failures = book.page(NOW_MS, None, 10, Some(StatusFilter::Failure));
        assert_eq!(ids(&failures), [4, 2]);
        assert_eq!(book.stats.failed, 2);
        assert_eq!(book.stats.timed_out, 2);
        assert_eq!(book.stats.pending, 0);
    }

    #[test]
    fn deliveries_older_than_three_days_are_neither_listed_nor_offered() {
        let mut book = DeliveryBook::new(&WebhookSettings::default());
        book.record(delivery(1, NOW_MS - RETENTION_MS, 200));
        book.record(delivery(2, NOW_MS - RETENTION_MS + 1, 200));
        assert_eq!(ids(&book.page(NOW_MS, None, 10, None)), [2]);
        assert_eq!(book.retained(1, NOW_MS).err(), Some(Missing::Expired));
        assert_eq!(book.retained(3, NOW_MS).err(), Some(Missing::Unknown));
        assert!(book.retained(2, NOW_MS).is_ok());
    }

    #[test]
    fn the_oldest_are_forgotten_beyond_the_bounds() {
        let mut book = DeliveryBook::new(&WebhookSettings {
            deliveries_kept: 3,
            ..WebhookSettings::default()
        });
        for id in 1..=5 {
            book.record(delivery(id, NOW_MS, 200));
        }
        assert_eq!(ids(&book.page(NOW_MS, None, 10, None)), [5, 4, 3]);
        assert_eq!(book.stats.records_evicted, 2);
        let mut small = DeliveryBook::new(&WebhookSettings {
            delivery_bytes_kept: 5,
            ..WebhookSettings::default()
        });
        for id in 1..=5 {
            small.record(delivery(id, NOW_MS, 200));
        }
        assert_eq!(small.all().len(), 2, "two 2-byte bodies fit in 5 bytes");
    }
}
