-- Catch-up beside fresh polling, and a cadence per repository.

-- History not read yet: runs created in [catchup_from, catchup_to] (a first poll's backfill, or a
-- gap behind a full first page). Polling of fresh runs goes on meanwhile; a separate lane reads
-- this range at the lowest priority and clears it when done. `catchup_backfill` says whether its
-- events are the repository's history (source "backfill") or runs a poll missed (source "poll").
ALTER TABLE repo_cursors ADD COLUMN catchup_from TEXT;
ALTER TABLE repo_cursors ADD COLUMN catchup_to TEXT;
ALTER TABLE repo_cursors ADD COLUMN catchup_backfill INTEGER NOT NULL DEFAULT 0;

-- Polls in a row that found nothing open and nothing changed: each doubles the wait before the
-- next, up to pipeline.quiet_poll_max_secs.
ALTER TABLE repo_cursors ADD COLUMN quiet_polls INTEGER NOT NULL DEFAULT 0;

CREATE INDEX repo_cursors_catchup ON repo_cursors (repo) WHERE catchup_from IS NOT NULL;
