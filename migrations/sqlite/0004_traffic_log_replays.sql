-- The cloud traffic log and replay jobs. Times are Unix milliseconds; headers are JSON arrays of
-- [name, value] pairs, already redacted; bodies live in the object store under the keys named.

CREATE TABLE requests (
    id               TEXT PRIMARY KEY NOT NULL,   -- made by the relay: a resent report is a no-op
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    tunnel_id        TEXT,
    name_key         TEXT,                        -- the tunnel's name (replays go to whoever holds it)
    relay_id         TEXT NOT NULL,
    method           TEXT NOT NULL,
    host             TEXT NOT NULL,
    path             TEXT NOT NULL,
    status           INTEGER,
    error_code       TEXT,
    request_headers  TEXT NOT NULL,
    response_headers TEXT NOT NULL,
    bytes_in         INTEGER NOT NULL,
    bytes_out        INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    visitor_ip       TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    request_body     TEXT,                        -- object store key
    response_body    TEXT
) STRICT;
CREATE INDEX requests_account_time ON requests (account_id, started_at DESC, id DESC);
CREATE INDEX requests_time ON requests (started_at);

-- Replays: at-least-once delivery to the agent (which runs each job ID once).
CREATE TABLE replay_jobs (
    id              TEXT PRIMARY KEY NOT NULL,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    request_id      TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    idempotency_key TEXT,
    modify          TEXT NOT NULL,                -- JSON of the changes asked for
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'done', 'failed')),
    attempts        INTEGER NOT NULL,
    relay_id        TEXT,                         -- where it was last sent
    status          INTEGER,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    finished_at     INTEGER,
    UNIQUE (account_id, idempotency_key)
) STRICT;
CREATE INDEX replay_jobs_state ON replay_jobs (state, created_at);
