//! Behaviour of the SQS implementation beyond the shared conformance suite, against a real moto
//! server: resolving queues by name, classifying failures, creating queues, FIFO queues.

use std::net::TcpListener;
use std::time::Duration;

use gha_ingest_queue::testing::{unique_queue_name, MotoServer, TEST_REGION};
use gha_ingest_queue::{
    MessageLimits, MessageQueue, OutgoingMessage, QueueError, SqsQueueSettings,
};

const LONG: Duration = Duration::from_secs(60);

fn message(body: &str, repo: &str, deduplication_id: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: body.to_owned(),
        attributes: [("repo".to_owned(), repo.to_owned())].into(),
        deduplication_id: deduplication_id.to_owned(),
    }
}

#[tokio::test]
async fn a_queue_is_found_by_name_or_url() {
    let server = MotoServer::shared();
    let name = unique_queue_name("by-name");
    let url = server.create_queue(&name, None).await;
    assert_eq!(
        server.create_queue(&name, None).await,
        url,
        "ensure_queue is idempotent"
    );

    let by_name = server.connect(&name, MessageLimits::default()).await;
    assert_eq!(by_name.queue_url().await.unwrap(), url);
    assert_eq!(by_name.name(), name);
    let by_url = server.connect(&url, MessageLimits::default()).await;
    assert_eq!(by_url.name(), name);

    by_name
        .send_batch(&[message("hello", "o/r", "k1")])
        .await
        .expect("send");
    let received = by_url
        .receive(1, Duration::from_secs(5), LONG)
        .await
        .expect("receive");
    assert_eq!(received.len(), 1);
}

#[tokio::test]
async fn a_missing_queue_is_a_permanent_error() {
    let server = MotoServer::shared();
    let missing = unique_queue_name("missing");
    // Connecting never looks (a daemon must start while its queue is still being created):
    // the first use resolves the name, and a missing queue is a permanent error there.
    let by_name = server
        .try_connect(server.settings(&missing), MessageLimits::default())
        .await
        .expect("connecting does not contact SQS");
    let error = by_name.health_check().await.expect_err("no such queue");
    assert!(
        matches!(
            error,
            QueueError::Permanent {
                operation: "health_check",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains(&missing), "{error}");
    // Created late, it is found on the next use.
    server.create_queue(&missing, None).await;
    by_name.health_check().await.expect("the queue exists now");

    // By URL, likewise.
    let missing = unique_queue_name("missing");
    let url = format!("{}/123456789012/{missing}", server.endpoint_url());
    let queue = server.connect(&url, MessageLimits::default()).await;
    let error = queue.health_check().await.expect_err("no such queue");
    assert!(!error.is_retryable(), "{error:?}");
    let error = queue
        .send_batch(&[message("lost", "o/r", "k")])
        .await
        .expect_err("no such queue");
    assert!(!error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transient_error() {
    let server = MotoServer::shared();
    // A port nobody listens on.
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let settings = SqsQueueSettings {
        queue: format!("http://127.0.0.1:{closed_port}/123456789012/nowhere"),
        region: Some(TEST_REGION.to_owned()),
        endpoint_url: Some(format!("http://127.0.0.1:{closed_port}")),
    };
    let queue = server
        .try_connect(settings, MessageLimits::default())
        .await
        .expect("connect by url");
    let error = queue.health_check().await.expect_err("nothing listens");
    assert!(error.is_retryable(), "{error:?}");
    assert!(
        error.to_string().contains("health_check on queue nowhere"),
        "{error}"
    );
}

#[tokio::test]
async fn fifo_queues_deduplicate_and_keep_order_per_repository() {
    let server = MotoServer::shared();
    let name = format!("{}.fifo", unique_queue_name("fifo"));
    let url = server.create_queue(&name, Some(3)).await;
    let queue = server.connect(&url, MessageLimits::default()).await;
    let batch = [
        message("first", "o/a", "event-1"),
        message("first again", "o/a", "event-1"),
        message("second", "o/a", "event-2"),
        // Not a valid deduplication id (spaces, too long): hashed rather than rejected.
        message("third", "o/a", &"event 3 ".repeat(40)),
    ];
    let outcome = queue.send_batch(&batch).await.expect("send");
    assert!(outcome.all_sent(), "{:?}", outcome.failed);

    let mut bodies = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while bodies.len() < 3 && std::time::Instant::now() < deadline {
        for delivered in queue
            .receive(10, Duration::from_secs(1), LONG)
            .await
            .expect("receive")
        {
            queue.delete(&delivered.receipt).await.expect("delete");
            bodies.push(delivered.body);
        }
    }
    assert_eq!(bodies, vec!["first", "second", "third"]);
}

#[tokio::test]
async fn the_dead_letter_queue_is_found_through_the_redrive_policy() {
    let server = MotoServer::shared();
    let plain = unique_queue_name("no-redrive");
    server.create_queue(&plain, None).await;
    let plain = server.connect(&plain, MessageLimits::default()).await;
    assert_eq!(plain.dead_letter_depth().await.unwrap(), None);

    let name = unique_queue_name("redriven");
    server.create_queue(&name, Some(1)).await;
    let queue = server.connect(&name, MessageLimits::default()).await;
    assert_eq!(queue.dead_letter_depth().await.unwrap(), Some(0));
    queue
        .send_batch(&[message("poison", "o/r", "p1")])
        .await
        .expect("send");
    // Received once and not deleted: the next receive moves it past maxReceiveCount 1.
    let first = queue
        .receive(1, Duration::from_secs(5), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = queue
        .receive(1, Duration::from_secs(1), Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        second.is_empty(),
        "the message went to the dead-letter queue"
    );
    assert_eq!(queue.dead_letter_depth().await.unwrap(), Some(1));
}
