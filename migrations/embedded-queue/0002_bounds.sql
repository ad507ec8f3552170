-- The embedded queue is bounded like SQS: messages older than the retention are dropped, and
-- past a size cap the oldest go first. The body's size is kept per row so the cap is summed
-- without reading the bodies.
ALTER TABLE queue_messages ADD COLUMN body_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE queue_messages SET body_bytes = length(CAST(body AS BLOB));
CREATE INDEX queue_messages_by_age ON queue_messages (queue_name, sent_at_ms);
