-- Failure isolation per entity, repository backoff, and indexes for every periodic query.

-- A run, an attempt, a job list or a commit that could not be read. It never blocks anything
-- else: it is retried with backoff on later cycles and, after a bounded number of attempts,
-- given up on with an explicit `*_unavailable` event (written in the same transaction).
CREATE TABLE entity_failures (
    entity_key     TEXT PRIMARY KEY,      -- 'run:<id>', 'attempt:<id>:<n>', 'jobs:<id>:<n>', 'commit:<sha>'
    repo           TEXT NOT NULL,
    kind           TEXT NOT NULL,         -- 'run', 'attempt', 'jobs' or 'commit'
    run_id         INTEGER,
    run_attempt    INTEGER,
    sha            TEXT,
    attempts       INTEGER NOT NULL,
    reason         TEXT NOT NULL,         -- GithubError::reason(): not_found, server_error, ...
    last_error     TEXT NOT NULL,
    first_failed_at TEXT NOT NULL,
    next_retry_at  TEXT NOT NULL,
    given_up_at    TEXT                   -- set once the unavailable event was queued
);
CREATE INDEX entity_failures_by_repo ON entity_failures (repo);
CREATE INDEX entity_failures_given_up ON entity_failures (given_up_at) WHERE given_up_at IS NOT NULL;

-- A repository whose cycles keep failing is not polled again before this instant.
ALTER TABLE repo_cursors ADD COLUMN next_poll_at TEXT;

-- The day an ETag was last sent: ETags of paths no longer polled (sweep windows past the
-- look-back, runs long completed) are pruned by it. Updated at most once a day per row.
ALTER TABLE http_etags ADD COLUMN used_on TEXT;
UPDATE http_etags SET used_on = substr(stored_at, 1, 10);
CREATE INDEX http_etags_by_use ON http_etags (used_on);

-- The dashboard's history and its retention sort all runs by creation.
CREATE INDEX runs_by_created ON runs (created_at DESC, run_id DESC);
-- State pruning past the look-back horizon.
CREATE INDEX runs_completed_by_update ON runs (updated_at) WHERE is_open = 0;
CREATE INDEX commits_by_fetch ON commits (fetched_at);
CREATE INDEX emitted_events_by_time ON emitted_events (emitted_at);
CREATE INDEX outbox_parked ON outbox (parked_at) WHERE parked_at IS NOT NULL;
