-- Webhook deliveries already taken in, by GitHub's X-GitHub-Delivery GUID: a delivery GitHub
-- sends twice (a redelivery, a retry after a slow answer) is recognised and changes nothing.
-- Kept 8 days, past the longest window in which GitHub redelivers (3 days on github.com, 7 on
-- GitHub Enterprise Server), then pruned.
CREATE TABLE webhook_deliveries (
    delivery_id  TEXT PRIMARY KEY,
    event        TEXT NOT NULL,
    received_at  TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (received_at);
