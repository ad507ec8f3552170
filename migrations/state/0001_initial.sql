-- The pipeline agent's durable state. Every write that follows from a GitHub answer happens in
-- one transaction with the events it produces (the outbox), so a crash never separates "seen"
-- from "will be published".

-- Repositories to poll: from the config file, from an organisation listing, or added at runtime.
CREATE TABLE repositories (
    full_name   TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,            -- 'config', 'org:<name>' or 'api'
    added_at    TEXT NOT NULL
);

-- Per-repository cursor and poll status.
CREATE TABLE repo_cursors (
    repo                TEXT PRIMARY KEY,
    -- history created before this instant is not ingested (activity after it is)
    tracked_since       TEXT,
    -- every run created at or before this instant has been discovered
    discovered_through  TEXT,
    last_sweep_at       TEXT,
    last_poll_at        TEXT,
    last_poll_ok_at     TEXT,
    last_error          TEXT,
    consecutive_errors  INTEGER NOT NULL DEFAULT 0
);

-- ETags of the GitHub resources we last processed in full, by request path.
CREATE TABLE http_etags (
    request_path TEXT PRIMARY KEY,
    etag         TEXT NOT NULL,
    stored_at    TEXT NOT NULL
);

-- The last observed state of each run (its latest attempt).
CREATE TABLE runs (
    run_id        INTEGER PRIMARY KEY,
    repo          TEXT NOT NULL,
    run_attempt   INTEGER NOT NULL,
    status        TEXT NOT NULL,
    conclusion    TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    is_open       INTEGER NOT NULL,       -- not completed: polled until it is
    facts         TEXT NOT NULL,          -- RunFacts JSON, for the dashboard
    observed_at   TEXT NOT NULL
);
CREATE INDEX runs_open_by_repo ON runs (repo) WHERE is_open = 1;
CREATE INDEX runs_by_repo_created ON runs (repo, created_at);

-- The last observed state of each job (job ids are per attempt).
CREATE TABLE jobs (
    job_id       INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL,
    run_attempt  INTEGER NOT NULL,
    status       TEXT NOT NULL,
    facts        TEXT NOT NULL            -- JobFacts JSON
);
CREATE INDEX jobs_by_run_attempt ON jobs (run_id, run_attempt);

-- Commit metrics, fetched once per repository and SHA.
CREATE TABLE commits (
    repo        TEXT NOT NULL,
    sha         TEXT NOT NULL,
    facts       TEXT NOT NULL,            -- CommitFacts JSON
    fetched_at  TEXT NOT NULL,
    PRIMARY KEY (repo, sha)
);

-- Every event ever queued for publishing, by idempotency key and destination: the guard that
-- makes each fact go out once.
CREATE TABLE emitted_events (
    event_id     TEXT NOT NULL,
    destination  TEXT NOT NULL,
    emitted_at   TEXT NOT NULL,
    PRIMARY KEY (event_id, destination)
);

-- Events recorded but not yet confirmed by the queue. Rows leave only after the queue accepted
-- the message.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    destination  TEXT NOT NULL,           -- 'metrics' or 'log_requests'
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    repo         TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    -- set when the queue refused the message for good (too large, invalid): kept, not retried
    parked_at    TEXT
);
CREATE INDEX outbox_by_destination ON outbox (destination, seq);
