-- Operators: admin accounts, suspension, relay drain requests and the audit log of admin actions.

ALTER TABLE accounts ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN suspended_at INTEGER;

-- Set by an admin; sent to the relay in its heartbeat answer (it then reports draining and gets
-- no new agents).
ALTER TABLE relays ADD COLUMN drain_requested INTEGER NOT NULL DEFAULT 0;

-- Append-only record of admin actions.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,                 -- admin account ID
    action     TEXT NOT NULL,                 -- e.g. user.suspend, tunnel.close, relay.drain
    target     TEXT NOT NULL,                 -- the account, tunnel or relay acted on
    detail     TEXT NOT NULL                  -- JSON
);
CREATE INDEX audit_log_at ON audit_log (at);
