//! A downstream consumer of the embedded queues the daemon writes: receives, notes when each
//! message arrived, deletes. What a scenario measures is read off the messages it returns.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gha_ingest_queue::{EmbeddedQueue, MessageQueue};
use serde_json::Value;

use crate::daemon::{wait_for, Daemon};

/// A message as the consumer saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: DateTime<Utc>,
    pub body: Value,
}

impl Arrival {
    pub fn event_type(&self) -> &str {
        self.body["event_type"].as_str().unwrap_or_default()
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// A timestamp field of `data`.
    pub fn time(&self, field: &str) -> Option<DateTime<Utc>> {
        let text = self.data()[field].as_str()?;
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    }
}

#[derive(Debug)]
pub struct Consumer {
    queue: EmbeddedQueue,
}

impl Consumer {
    /// `queue_name` of a daemon whose files are in `dir`, once the daemon has created them.
    pub async fn of_daemon(
        daemon: &mut Daemon,
        dir: &Path,
        queue_name: &str,
    ) -> anyhow::Result<Consumer> {
        let queue_file = dir.join("queue.sqlite");
        wait_for(
            daemon,
            "the queue file exists",
            Duration::from_secs(30),
            || async { Ok(queue_file.exists()) },
        )
        .await?;
        Consumer::open(&queue_file, queue_name).await
    }

    /// Opens `queue_name` in the daemon's embedded queue file.
    pub async fn open(file: &Path, queue_name: &str) -> anyhow::Result<Consumer> {
        Ok(Consumer {
            queue: EmbeddedQueue::open(file, queue_name, Default::default()).await?,
        })
    }

    /// Everything waiting now, or the first messages to arrive within `wait`: a consumer that
    /// keeps up, so that its own backlog is not measured as the daemon's lag.
    pub async fn take(&self, wait: Duration) -> anyhow::Result<Vec<Arrival>> {
        let mut arrivals = self.take_batch(wait).await?;
        loop {
            let more = self.take_batch(Duration::from_millis(1)).await?;
            if more.is_empty() {
                return Ok(arrivals);
            }
            arrivals.extend(more);
        }
    }

    /// At most one receive's worth (10 messages), deleted as read.
    async fn take_batch(&self, wait: Duration) -> anyhow::Result<Vec<Arrival>> {
        let received = self
            .queue
            .receive(10, wait, Duration::from_secs(60))
            .await?;
        let mut arrivals = Vec::with_capacity(received.len());
        for message in received {
            let at = Utc::now();
            self.queue.delete(&message.receipt).await?;
            arrivals.push(Arrival {
                at,
                body: serde_json::from_str(&message.body)?,
            });
        }
        Ok(arrivals)
    }
}

/// The `p`-th percentile (0–100) of `values`, nearest rank; `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 95.0), Some(95.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
