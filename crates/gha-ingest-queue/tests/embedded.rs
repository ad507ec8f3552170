//! Behaviour of the embedded SQLite queue beyond the shared conformance suite: several consumers
//! and processes on one file, receipts that were superseded, durability across reopening, and
//! option validation.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gha_ingest_queue::{
    EmbeddedQueue, EmbeddedQueueOptions, MessageLimits, MessageQueue, OutgoingMessage, QueueDepth,
    QueueError, ReceiptHandle,
};

const LONG: Duration = Duration::from_secs(60);

fn message(body: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: body.to_owned(),
        attributes: [("repo".to_owned(), "o/r".to_owned())].into(),
        deduplication_id: format!("key-{body}"),
    }
}

async fn open(path: &Path, name: &str) -> EmbeddedQueue {
    EmbeddedQueue::open(path, name, EmbeddedQueueOptions::default())
        .await
        .expect("open the embedded queue")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_consumers_on_one_file_get_disjoint_messages() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("queue.sqlite");
    // Separate opens stand in for separate processes: separate pools, one file.
    let producer = open(&path, "work").await;
    let consumers = [
        open(&path, "work").await,
        open(&path, "work").await,
        open(&path, "work").await,
    ];
    for batch in 0..4 {
        let messages: Vec<OutgoingMessage> = (0..10)
            .map(|index| message(&format!("{batch}-{index}")))
            .collect();
        assert!(producer
            .send_batch(&messages)
            .await
            .expect("send")
            .all_sent());
    }

    let mut tasks = Vec::new();
    for consumer in consumers {
        tasks.push(tokio::spawn(async move {
            let mut bodies = Vec::new();
            loop {
                let received = consumer
                    .receive(3, Duration::from_millis(200), LONG)
                    .await
                    .expect("receive");
                if received.is_empty() {
                    return bodies;
                }
                for delivered in received {
                    consumer.delete(&delivered.receipt).await.expect("delete");
                    bodies.push(delivered.body);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("consumer task"));
    }
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 40, "every message delivered exactly once");
    assert_eq!(distinct.len(), 40);
    assert_eq!(
        producer.approximate_depth().await.expect("depth"),
        QueueDepth::default()
    );
}

#[tokio::test]
async fn a_superseded_receipt_neither_deletes_nor_extends() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let queue = open(&directory.path().join("queue.sqlite"), "work").await;
    queue
        .send_batch(&[message("contested")])
        .await
        .expect("send");
    let first = queue
        .receive(1, Duration::ZERO, Duration::ZERO)
        .await
        .expect("receive");
    let second = queue
        .receive(1, Duration::ZERO, LONG)
        .await
        .expect("receive");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].receive_count, 2);

    // The slow first consumer's delete is a no-op: the second consumer's claim stands.
    queue
        .delete(&first[0].receipt)
        .await
        .expect("delete with an old receipt succeeds");
    assert_eq!(
        queue.approximate_depth().await.expect("depth"),
        QueueDepth {
            visible: 0,
            in_flight: 1
        }
    );
    let error = queue
        .extend_visibility(&first[0].receipt, LONG)
        .await
        .expect_err("an old receipt cannot extend");
    assert!(matches!(error, QueueError::Permanent { .. }), "{error:?}");
    queue
        .extend_visibility(&second[0].receipt, LONG)
        .await
        .expect("the current receipt extends");
    queue.delete(&second[0].receipt).await.expect("delete");
    assert_eq!(
        queue.approximate_depth().await.expect("depth"),
        QueueDepth::default()
    );
}

#[tokio::test]
async fn malformed_receipts_are_rejected() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let queue = open(&directory.path().join("queue.sqlite"), "work").await;
    let receipt = ReceiptHandle("not-a-receipt".to_owned());
    let error = queue.delete(&receipt).await.expect_err("malformed");
    assert!(matches!(error, QueueError::Permanent { .. }), "{error:?}");
    assert!(queue.extend_visibility(&receipt, LONG).await.is_err());
}

#[tokio::test]
async fn named_queues_share_a_file_independently() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("queues.sqlite");
    let events = open(&path, "events").await;
    let logs = open(&path, "logs").await;
    events
        .send_batch(&[message("an event")])
        .await
        .expect("send");
    logs.send_batch(&[message("a log"), message("another log")])
        .await
        .expect("send");
    assert_eq!(events.approximate_depth().await.expect("depth").visible, 1);
    assert_eq!(logs.approximate_depth().await.expect("depth").visible, 2);
    let received = events
        .receive(10, Duration::ZERO, LONG)
        .await
        .expect("receive");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, "an event");
    // A receipt of one queue does not act on another.
    logs.delete(&received[0].receipt).await.expect("no-op");
    assert_eq!(
        events.approximate_depth().await.expect("depth").in_flight,
        1
    );
}

#[tokio::test]
async fn messages_survive_reopening_the_file() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("nested").join("queue.sqlite");
    {
        let queue = open(&path, "work").await;
        let outcome = queue.send_batch(&[message("durable")]).await.expect("send");
        assert!(outcome.all_sent());
        let received = queue
            .receive(1, Duration::ZERO, Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(received.len(), 1);
    }
    let reopened = open(&path, "work").await;
    let received = reopened
        .receive(1, Duration::ZERO, LONG)
        .await
        .expect("receive");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, "durable");
    assert_eq!(received[0].receive_count, 2, "the count survives too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_opens_of_a_new_file_all_succeed() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = Arc::new(directory.path().join("queue.sqlite"));
    let opens: Vec<_> = (0..4)
        .map(|index| {
            let path = Arc::clone(&path);
            tokio::spawn(async move {
                EmbeddedQueue::open(
                    &path,
                    &format!("queue{index}"),
                    EmbeddedQueueOptions::default(),
                )
                .await
            })
        })
        .collect();
    for open in opens {
        let queue = open.await.expect("task").expect("open");
        queue.health_check().await.expect("health check");
    }
}

#[tokio::test]
async fn a_long_poll_wakes_for_a_send_from_another_handle() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("queue.sqlite");
    let receiver = open(&path, "work").await;
    let sender = open(&path, "work").await;
    let started = std::time::Instant::now();
    let send = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sender
            .send_batch(&[message("wake up")])
            .await
            .expect("send");
    });
    let received = receiver
        .receive(10, Duration::from_secs(10), LONG)
        .await
        .expect("receive");
    send.await.expect("sender task");
    assert_eq!(received.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn invalid_options_are_refused() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("queue.sqlite");
    let zero_receives = EmbeddedQueueOptions {
        max_receive_count: Some(0),
        ..EmbeddedQueueOptions::default()
    };
    assert!(EmbeddedQueue::open(&path, "work", zero_receives)
        .await
        .is_err());
    let too_large = EmbeddedQueueOptions {
        limits: MessageLimits {
            max_message_bytes: 2 * 1_048_576,
        },
        ..EmbeddedQueueOptions::default()
    };
    assert!(EmbeddedQueue::open(&path, "work", too_large).await.is_err());
    let error = EmbeddedQueue::open(&path, "bad/name", EmbeddedQueueOptions::default())
        .await
        .expect_err("invalid name");
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("bad/name"), "{error}");
}

#[tokio::test]
async fn past_its_size_cap_the_queue_drops_its_oldest_messages_and_counts_them() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let options = EmbeddedQueueOptions {
        max_bytes: 1_000,
        ..EmbeddedQueueOptions::default()
    };
    let queue = EmbeddedQueue::open(&directory.path().join("queue.sqlite"), "capped", options)
        .await
        .unwrap();
    for index in 0..20 {
        let body = format!("{index:03}{}", "x".repeat(97));
        queue.send_batch(&[message(&body)]).await.unwrap();
    }
    // The first send checked the bounds; the rest were within the minute: check now.
    let dropped = queue.enforce_bounds().await.unwrap();
    assert_eq!(
        dropped, 11,
        "down to 90% of the cap: 9 messages of 100 bytes kept"
    );
    assert_eq!(queue.dropped_total(), 11);
    let kept: BTreeSet<String> = queue
        .receive(10, Duration::ZERO, Duration::from_secs(30))
        .await
        .unwrap()
        .into_iter()
        .map(|received| received.body[..3].to_string())
        .collect();
    let newest: BTreeSet<String> = (11..20).map(|index| format!("{index:03}")).collect();
    assert_eq!(kept, newest, "the oldest went first");
}

#[tokio::test]
async fn messages_past_the_retention_are_dropped() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let options = EmbeddedQueueOptions {
        retention: Duration::ZERO,
        ..EmbeddedQueueOptions::default()
    };
    let queue = EmbeddedQueue::open(&directory.path().join("queue.sqlite"), "expiring", options)
        .await
        .unwrap();
    queue
        .send_batch(&[message("one"), message("two")])
        .await
        .unwrap();
    // A retention of zero: anything sent before this millisecond is past it (the send itself
    // may have checked already; either way both are dropped, and counted once).
    tokio::time::sleep(Duration::from_millis(2)).await;
    queue.enforce_bounds().await.unwrap();
    assert_eq!(queue.dropped_total(), 2);
    assert!(queue
        .receive(10, Duration::ZERO, Duration::from_secs(30))
        .await
        .unwrap()
        .is_empty());
}
