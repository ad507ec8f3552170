//! The outbox's metrics (`gha_ingest_store_*`), read from the state database when `/metrics` is
//! scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::database::StateStore;
use crate::error::StoreError;
use crate::outbox::Destination;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DestinationLabels {
    /// `metrics` or `log_requests`.
    pub destination: &'static str,
}

/// Every family of the state database. Cloning shares the values.
#[derive(Debug, Clone, Default)]
pub struct StoreMetrics {
    outbox_backlog: Family<DestinationLabels, Gauge>,
    parked: Gauge,
}

impl StoreMetrics {
    /// Registers every family under `registry`, whose prefix should be `gha_ingest_store`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "outbox_backlog_messages",
            "Events in the outbox not yet confirmed by the queue, by destination",
            self.outbox_backlog.clone(),
        );
        registry.register(
            "parked_messages",
            "Messages parked in the outbox after the queue refused them for good",
            self.parked.clone(),
        );
    }

    /// Reads the outbox's figures; called when `/metrics` is scraped.
    pub async fn refresh(&self, store: &StateStore) -> Result<(), StoreError> {
        for destination in Destination::ALL {
            let depth = store.outbox_depth(destination).await?;
            self.outbox_backlog
                .get_or_create(&DestinationLabels {
                    destination: destination.as_str(),
                })
                .set(i64::try_from(depth).unwrap_or(i64::MAX));
        }
        let parked = store.parked_count().await?;
        self.parked.set(i64::try_from(parked).unwrap_or(i64::MAX));
        Ok(())
    }
}
