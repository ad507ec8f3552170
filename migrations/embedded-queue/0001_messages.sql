-- The embedded queue (crates/gha-ingest-queue/src/embedded.rs): the messages of every named queue
-- in one table, keyed by queue name. A dead-letter queue is just another queue name ("<name>-dlq").
CREATE TABLE queue_messages (
    -- Send order: receive hands out the oldest visible messages first.
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_name TEXT NOT NULL,
    -- Stable across redeliveries, like an SQS MessageId.
    message_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    -- The string attributes as a JSON object.
    attributes TEXT NOT NULL,
    -- The event's idempotency key, kept for consumers and debugging; standard queues do not dedupe.
    deduplication_id TEXT NOT NULL,
    sent_at_ms INTEGER NOT NULL,
    -- Unix milliseconds until which the message is hidden; set by receive and extend.
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    -- The receipt of the latest delivery, NULL until received; only it can delete or extend.
    receipt TEXT
) STRICT;

-- Receive scans a queue in send order, skipping the few in-flight messages.
CREATE INDEX queue_messages_by_queue ON queue_messages (queue_name, sequence);

CREATE UNIQUE INDEX queue_messages_by_receipt ON queue_messages (receipt);
