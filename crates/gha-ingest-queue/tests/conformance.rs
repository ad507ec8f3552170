//! The `MessageQueue` conformance suite: one set of behaviour tests, run against every
//! implementation, so the embedded queue cannot drift from SQS.
//!
//! - `embedded::*` runs each case on a fresh SQLite file in a temporary directory.
//! - `sqs::*` runs each case on a fresh queue of a real moto server over HTTP, with the real
//!   `aws-sdk-sqs` client (a fresh queue because moto, like SQS, refuses a second PurgeQueue within
//!   60 s). moto must be installed: `scripts/test` does it, or set `MOTO_SERVER`.
//!
//! Cases only assert what both implementations promise (see the trait's documentation); behaviour
//! specific to one of them is tested in `embedded.rs` and `sqs.rs`. Message counts stay small
//! because moto handles about a hundred messages a second.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gha_ingest_queue::limits::{DEFAULT_MAX_MESSAGE_BYTES, SQS_MAX_MESSAGE_BYTES};
use gha_ingest_queue::testing::{dead_letter_queue_name, unique_queue_name, MotoServer};
use gha_ingest_queue::{
    EmbeddedQueue, EmbeddedQueueOptions, MessageLimits, MessageQueue, OutgoingMessage, QueueDepth,
    QueueError, ReceivedMessage,
};

/// What a case needs from its queue.
#[derive(Debug, Clone, Copy)]
struct QueueSpec {
    max_receive_count: Option<u32>,
    max_message_bytes: usize,
}

impl Default for QueueSpec {
    fn default() -> Self {
        QueueSpec {
            max_receive_count: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// A queue under test, its dead-letter queue when the spec asked for one, and whatever keeps
/// them alive (a temporary directory, a moto server).
struct QueueUnderTest {
    queue: Arc<dyn MessageQueue>,
    dead_letter: Option<Arc<dyn MessageQueue>>,
    _keep_alive: Box<dyn std::any::Any + Send>,
}

type Opener = fn(QueueSpec) -> Pin<Box<dyn Future<Output = QueueUnderTest> + Send>>;

fn open_embedded(spec: QueueSpec) -> Pin<Box<dyn Future<Output = QueueUnderTest> + Send>> {
    Box::pin(async move {
        let directory = tempfile::tempdir().expect("temporary directory");
        let options = EmbeddedQueueOptions {
            max_receive_count: spec.max_receive_count,
            limits: MessageLimits {
                max_message_bytes: spec.max_message_bytes,
            },
            ..EmbeddedQueueOptions::default()
        };
        let queue = EmbeddedQueue::open(
            &directory.path().join("queue.sqlite"),
            "conformance",
            options,
        )
        .await
        .expect("open the embedded queue");
        let dead_letter = spec
            .max_receive_count
            .map(|_| Arc::new(queue.dead_letter_queue()) as Arc<dyn MessageQueue>);
        QueueUnderTest {
            queue: Arc::new(queue),
            dead_letter,
            _keep_alive: Box::new(directory),
        }
    })
}

fn open_sqs(spec: QueueSpec) -> Pin<Box<dyn Future<Output = QueueUnderTest> + Send>> {
    Box::pin(async move {
        let server = MotoServer::shared();
        let name = unique_queue_name("conformance");
        let limits = MessageLimits {
            max_message_bytes: spec.max_message_bytes,
        };
        let url = server.create_queue(&name, spec.max_receive_count).await;
        let queue = server.connect(&url, limits).await;
        let dead_letter = match spec.max_receive_count {
            Some(_) => Some(
                Arc::new(server.connect(&dead_letter_queue_name(&name), limits).await)
                    as Arc<dyn MessageQueue>,
            ),
            None => None,
        };
        QueueUnderTest {
            queue: Arc::new(queue),
            dead_letter,
            _keep_alive: Box::new(server),
        }
    })
}

/// Declares every case as a test of one backend.
macro_rules! conformance_suite {
    ($backend:ident, $open:expr) => {
        mod $backend {
            conformance_suite!(@cases $open;
                round_trip_keeps_body_and_attributes,
                batch_of_ten_is_delivered_and_eleven_rejected,
                oversize_entry_fails_alone,
                attribute_count_characters_and_byte_size_are_validated,
                expired_visibility_redelivers_with_a_higher_count,
                delete_removes_the_message,
                extend_visibility_keeps_it_hidden,
                long_poll_returns_when_a_message_arrives,
                empty_long_poll_waits_then_returns_nothing,
                depth_counts_visible_and_in_flight,
                dead_letter_after_max_receives,
                batch_over_one_mebibyte_is_delivered_with_raised_limit,
            );
        }
    };
    (@cases $open:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                super::cases::$case($open).await;
            }
        )*
    };
}

conformance_suite!(embedded, super::open_embedded);
conformance_suite!(sqs, super::open_sqs);

fn message(body: &str, attributes: &[(&str, &str)]) -> OutgoingMessage {
    OutgoingMessage {
        body: body.to_owned(),
        attributes: attributes
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        deduplication_id: format!("dedup-{}", body.len()),
    }
}

/// Receives until `expected` messages arrived or `timeout` passed.
async fn receive_until(
    queue: &dyn MessageQueue,
    expected: usize,
    timeout: Duration,
) -> Vec<ReceivedMessage> {
    let deadline = Instant::now() + timeout;
    let mut received = Vec::new();
    while received.len() < expected && Instant::now() < deadline {
        let batch = queue
            .receive(10, Duration::from_secs(1), Duration::from_secs(60))
            .await
            .expect("receive");
        received.extend(batch);
    }
    received
}

async fn send_all(queue: &dyn MessageQueue, messages: &[OutgoingMessage]) {
    let outcome = queue.send_batch(messages).await.expect("send_batch");
    assert!(outcome.all_sent(), "failed entries: {:?}", outcome.failed);
}

mod cases {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);
    const WAIT: Duration = Duration::from_secs(5);
    const SHORT_LEASE: Duration = Duration::from_secs(1);

    pub async fn round_trip_keeps_body_and_attributes(open: Opener) {
        let under_test = open(QueueSpec::default()).await;
        let queue = under_test.queue.as_ref();
        queue.health_check().await.expect("health check");
        assert!(!queue.name().is_empty());
        let body = r#"{"event_type":"workflow_run_completed","text":"é 😀 tab	end"}"#;
        let attributes = [
            ("event_type", "workflow_run_completed"),
            ("repo", "octo-org/octo-repo"),
            ("schema_version", "1"),
        ];
        send_all(queue, &[message(body, &attributes)]).await;

        let received = queue.receive(10, WAIT, LONG).await.expect("receive");
        assert_eq!(received.len(), 1);
        let delivered = &received[0];
        assert_eq!(delivered.body, body);
        let expected: BTreeMap<String, String> = attributes
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        assert_eq!(delivered.attributes, expected);
        assert_eq!(delivered.receive_count, 1);
        assert!(!delivered.message_id.is_empty());

        queue.delete(&delivered.receipt).await.expect("delete");
        let after = queue
            .receive(10, Duration::ZERO, LONG)
            .await
            .expect("receive");
        assert!(after.is_empty(), "deleted message came back: {after:?}");
    }

    pub async fn batch_of_ten_is_delivered_and_eleven_rejected(open: Opener) {
        let under_test = open(QueueSpec::default()).await;
        let queue = under_test.queue.as_ref();
        let messages: Vec<OutgoingMessage> = (0..10)
            .map(|index| {
                message(
                    &format!("message {index}"),
                    &[("index", &index.to_string())],
                )
            })
            .collect();
        send_all(queue, &messages).await;

        let received = receive_until(queue, 10, Duration::from_secs(10)).await;
        let bodies: BTreeSet<&str> = received
            .iter()
            .map(|message| message.body.as_str())
            .collect();
        let expected: BTreeSet<&str> = messages
            .iter()
            .map(|message| message.body.as_str())
            .collect();
        assert_eq!(bodies, expected);
        let ids: BTreeSet<&str> = received
            .iter()
            .map(|message| message.message_id.as_str())
            .collect();
        assert_eq!(ids.len(), 10, "message ids are unique");
        for delivered in &received {
            assert_eq!(
                delivered.attributes["index"],
                delivered.body.trim_start_matches("message ")
            );
        }

        let eleven: Vec<OutgoingMessage> = (0..11)
            .map(|index| message(&format!("extra {index}"), &[]))
            .collect();
        let error = queue
            .send_batch(&eleven)
            .await
            .expect_err("11 messages are too many");
        assert!(matches!(error, QueueError::InvalidMessage(_)), "{error:?}");
        assert!(!error.is_retryable());
        let extra = queue
            .receive(10, Duration::ZERO, LONG)
            .await
            .expect("receive");
        assert!(extra.is_empty(), "a rejected batch sent nothing: {extra:?}");
    }

    pub async fn oversize_entry_fails_alone(open: Opener) {
        let under_test = open(QueueSpec::default()).await;
        let queue = under_test.queue.as_ref();
        let too_large = "x".repeat(DEFAULT_MAX_MESSAGE_BYTES + 1);
        let outcome = queue
            .send_batch(&[
                message("first", &[]),
                message(&too_large, &[]),
                message("third", &[]),
            ])
            .await
            .expect("send_batch");
        assert_eq!(outcome.failed.len(), 1, "{:?}", outcome.failed);
        assert_eq!(outcome.failed[0].0, 1);
        assert_eq!(
            outcome.failed[0].1,
            QueueError::MessageTooLarge {
                bytes: DEFAULT_MAX_MESSAGE_BYTES + 1,
                limit: DEFAULT_MAX_MESSAGE_BYTES
            }
        );
        let received = receive_until(queue, 2, WAIT).await;
        let bodies: BTreeSet<&str> = received
            .iter()
            .map(|message| message.body.as_str())
            .collect();
        assert_eq!(bodies, BTreeSet::from(["first", "third"]));
    }

    pub async fn attribute_count_characters_and_byte_size_are_validated(open: Opener) {
        let under_test = open(QueueSpec::default()).await;
        let queue = under_test.queue.as_ref();
        let names: Vec<String> = (0..11).map(|index| format!("attribute{index}")).collect();
        let eleven: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "value")).collect();
        // Fits in characters (131,073) but not in bytes (262,146): SQS counts bytes, moto does not.
        let two_byte_characters = "é".repeat(DEFAULT_MAX_MESSAGE_BYTES / 2 + 1);
        // The body fits alone; its attribute (4 + 6 + 10 bytes) pushes it over.
        let body_near_limit = "b".repeat(DEFAULT_MAX_MESSAGE_BYTES - 10);
        let batch = [
            message("eleven attributes", &eleven),
            message("control \u{1} character", &[]),
            message("bad attribute value", &[("repo", "non\u{FFFE}character")]),
            message("reserved attribute name", &[("AWS.trace", "x")]),
            message(&two_byte_characters, &[]),
            message(&body_near_limit, &[("name", "0123456789")]),
            message("valid, ten attributes", &eleven[..10]),
        ];
        let outcome = queue.send_batch(&batch).await.expect("send_batch");
        let failed: Vec<usize> = outcome.failed.iter().map(|(index, _)| *index).collect();
        assert_eq!(failed, vec![0, 1, 2, 3, 4, 5], "{:?}", outcome.failed);
        for (index, error) in &outcome.failed {
            assert!(!error.is_retryable());
            match index {
                0..=3 => assert!(
                    matches!(error, QueueError::InvalidMessage(_)),
                    "{index}: {error:?}"
                ),
                4 => assert_eq!(
                    error,
                    &QueueError::MessageTooLarge {
                        bytes: DEFAULT_MAX_MESSAGE_BYTES + 2,
                        limit: DEFAULT_MAX_MESSAGE_BYTES
                    }
                ),
                _ => assert!(
                    matches!(error, QueueError::MessageTooLarge { .. }),
                    "{index}: {error:?}"
                ),
            }
        }
        let received = receive_until(queue, 1, WAIT).await;
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].body, "valid, ten attributes");
        assert_eq!(received[0].attributes.len(), 10);
        let nothing_else = queue
            .receive(10, Duration::ZERO, LONG)
            .await
            .expect("receive");
        assert!(nothing_else.is_empty(), "{nothing_else:?}");
    }

    pub async fn expired_visibility_redelivers_with_a_higher_count(open: Opener) {
        let under_test = open(QueueSpec::default()).await;
        let queue = under_test.queue.as_ref();
        send_all(queue, &[message("redeliver me", &[])]).await;

        let first = queue.receive(1, WAIT, SHORT_LEASE).await.expect("receive");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].receive_count, 1);
        let second = queue.receive(1, WAIT, LONG).await.expect("receive");
        assert_eq!(
            second.len(),
            1,
            "the message came back after its visibility timeout"
        );
        assert_eq!(second[0].message_id, first[0].message_id);
        assert_eq!(second[0].body, "redeliver me");
        assert_eq!(second[0].receive_count, 2);
        assert_ne!(
            second[0].receipt, first[0].receipt,
            "every delivery has a fresh receipt"
        );

        // An outdated receipt does not fail a delete (what it does is implementation-specific).
        queue
            .delete(&first[0].receipt)
            .await
            .expect("delete with an outdated receipt");
        queue.delete(&second[0].receipt).await.expect("delete");
        queue
            .delete(&second[0].receipt)
            .await
            .expect("deleting twice succeeds");
        let after = queue
            .receive(10, Duration::ZERO, LONG)
            .await
            .expect("receive");
        assert!(after.is_empty(), "{after:?}");
    }

    pub async fn delete_removes_the_message(open: Opener) {
        let under_test = open(QueueSpec::default()).await;
        let queue = under_test.queue.as_ref();
        send_all(queue, &[message("delete me", &[]), message("keep me", &[])]).await;
        let received = receive_until(queue, 2, WAIT).await;
        assert_eq!(received.len(), 2);
        let deleted = received
            .iter()
            .find(|message| message.body == "delete me")
            .expect("delivered");
        let kept = received
            .iter()
            .find(|message| message.body == "keep me")
            .expect("delivered");
        queue.delete(&deleted.receipt).await.expect("delete");
        // Release the other one at once; only it may come back.
        queue
            .extend_visibility(&kept.receipt, Duration::ZERO)
            .await
            .expect("release");

        let again = receive_until(queue, 2, Duration::from_secs(3)).await;
        let bodies: Vec<&str> = again.iter().map(|message| message.body.as_str()).collect();
        assert_eq!(bodies, vec!["keep me"]);
        queue.delete(&again[0].receipt).await.expect("delete");
        assert_eq!(
            queue.approximate_depth().await.expect("depth"),
            QueueDepth::default()
        );
    }

    pub async fn extend_visibility_keeps_it_hidden(open: Opener) {
        let under_test = open(QueueSpec::default()).await;
        let queue = under_test.queue.as_ref();
        send_all(queue, &[message("lease me", &[])]).await;
        let received = queue.receive(1, WAIT, SHORT_LEASE).await.expect("receive");
        assert_eq!(received.len(), 1);
        queue
            .extend_visibility(&received[0].receipt, LONG)
            .await
            .expect("extend");

        // Well past the original one-second lease, it stays hidden.
        let hidden = queue
            .receive(10, Duration::from_secs(2), LONG)
            .await
            .expect("receive");
        assert!(
            hidden.is_empty(),
            "the extended lease was ignored: {hidden:?}"
        );
        assert_eq!(
            queue.approximate_depth().await.expect("depth"),
            QueueDepth {
                visible: 0,
                in_flight: 1
            }
        );

        // A zero timeout hands it back at once.
        queue
            .extend_visibility(&received[0].receipt, Duration::ZERO)
            .await
            .expect("release");
        let again = queue.receive(10, WAIT, LONG).await.expect("receive");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].receive_count, 2);

        queue.delete(&again[0].receipt).await.expect("delete");
        let error = queue
            .extend_visibility(&again[0].receipt, LONG)
            .await
            .expect_err("a deleted message cannot be extended");
        assert!(matches!(error, QueueError::Permanent { .. }), "{error:?}");
    }

    pub async fn long_poll_returns_when_a_message_arrives(open: Opener) {
        let under_test = open(QueueSpec::default()).await;
        let sender = Arc::clone(&under_test.queue);
        let send_after = Duration::from_millis(800);
        let started = Instant::now();
        let send = tokio::spawn(async move {
            tokio::time::sleep(send_after).await;
            send_all(sender.as_ref(), &[message("worth the wait", &[])]).await;
        });
        let received = under_test
            .queue
            .receive(10, Duration::from_secs(15), LONG)
            .await
            .expect("receive");
        let elapsed = started.elapsed();
        send.await.expect("sender task");
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].body, "worth the wait");
        assert!(
            elapsed >= send_after,
            "returned before the send: {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "did not return early: {elapsed:?}"
        );
    }

    pub async fn empty_long_poll_waits_then_returns_nothing(open: Opener) {
        let under_test = open(QueueSpec::default()).await;
        let started = Instant::now();
        let received = under_test
            .queue
            .receive(10, Duration::from_secs(1), LONG)
            .await
            .expect("receive");
        let elapsed = started.elapsed();
        assert!(received.is_empty());
        assert!(
            elapsed >= Duration::from_millis(900),
            "did not wait: {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "waited too long: {elapsed:?}"
        );
    }

    pub async fn depth_counts_visible_and_in_flight(open: Opener) {
        let under_test = open(QueueSpec::default()).await;
        let queue = under_test.queue.as_ref();
        assert_eq!(
            queue.approximate_depth().await.expect("depth"),
            QueueDepth::default()
        );
        let messages: Vec<OutgoingMessage> = (0..3)
            .map(|index| message(&format!("m{index}"), &[]))
            .collect();
        send_all(queue, &messages).await;
        assert_eq!(
            queue.approximate_depth().await.expect("depth"),
            QueueDepth {
                visible: 3,
                in_flight: 0
            }
        );
        let received = queue.receive(1, WAIT, LONG).await.expect("receive");
        assert_eq!(received.len(), 1);
        assert_eq!(
            queue.approximate_depth().await.expect("depth"),
            QueueDepth {
                visible: 2,
                in_flight: 1
            }
        );
        queue.delete(&received[0].receipt).await.expect("delete");
        assert_eq!(
            queue.approximate_depth().await.expect("depth"),
            QueueDepth {
                visible: 2,
                in_flight: 0
            }
        );
    }

    pub async fn dead_letter_after_max_receives(open: Opener) {
        let under_test = open(QueueSpec {
            max_receive_count: Some(2),
            ..QueueSpec::default()
        })
        .await;
        let queue = under_test.queue.as_ref();
        let dead_letter = under_test
            .dead_letter
            .as_deref()
            .expect("a dead-letter queue");
        send_all(queue, &[message("poison", &[("repo", "o/r")])]).await;

        for expected_count in 1..=2 {
            let received = queue.receive(1, WAIT, SHORT_LEASE).await.expect("receive");
            assert_eq!(received.len(), 1, "delivery {expected_count}");
            assert_eq!(received[0].receive_count, expected_count);
        }
        // The third attempt moves it instead of delivering it.
        let third = queue
            .receive(10, Duration::from_secs(3), LONG)
            .await
            .expect("receive");
        assert!(third.is_empty(), "delivered beyond max receives: {third:?}");

        let dead = receive_until(dead_letter, 1, WAIT).await;
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].body, "poison");
        assert_eq!(dead[0].attributes["repo"], "o/r");
        assert_eq!(
            queue.approximate_depth().await.expect("depth"),
            QueueDepth::default()
        );
    }

    pub async fn batch_over_one_mebibyte_is_delivered_with_raised_limit(open: Opener) {
        let under_test = open(QueueSpec {
            max_message_bytes: SQS_MAX_MESSAGE_BYTES,
            ..QueueSpec::default()
        })
        .await;
        let queue = under_test.queue.as_ref();
        // One message of exactly 1 MiB (attribute included) and nine of 200 kB: 2.8 MB in all,
        // more than one SendMessageBatch request may carry.
        let attribute = [("part", "0")];
        let largest = format!(
            "00{}",
            "x".repeat(SQS_MAX_MESSAGE_BYTES - 2 - ("part".len() + "String".len() + 1))
        );
        let mut messages = vec![message(&largest, &attribute)];
        for index in 1..10 {
            messages.push(message(&format!("{index:02}{}", "y".repeat(199_998)), &[]));
        }
        send_all(queue, &messages).await;

        let received = receive_until(queue, 10, Duration::from_secs(15)).await;
        let mut delivered: Vec<(String, usize)> = received
            .iter()
            .map(|message| (message.body[..2].to_owned(), message.body.len()))
            .collect();
        delivered.sort();
        let mut expected: Vec<(String, usize)> = messages
            .iter()
            .map(|message| (message.body[..2].to_owned(), message.body.len()))
            .collect();
        expected.sort();
        assert_eq!(delivered, expected);
    }
}
