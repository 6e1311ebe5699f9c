-- The audit log proves itself: each row carries the SHA-256 of its fields and of the row
-- before it, in the global chain and in its scope's chain (the organisation whose action it
-- is; an account's own until organisations exist). `audit_heads` holds each chain's last row
-- (scope '' is the global chain), so appends link in O(1); `audit_checkpoints` holds signed
-- heads, against which a cut tail is caught. Rows written before this migration are sealed
-- into the chain by the server at start (their hashes are NULL until then).
ALTER TABLE audit_log ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN prev_hash BLOB;
ALTER TABLE audit_log ADD COLUMN hash BLOB;
ALTER TABLE audit_log ADD COLUMN scope_prev_hash BLOB;
ALTER TABLE audit_log ADD COLUMN scope_hash BLOB;
CREATE INDEX audit_log_scope ON audit_log (scope, seq);

CREATE TABLE audit_heads (
    scope TEXT PRIMARY KEY NOT NULL,
    seq   INTEGER NOT NULL,
    hash  BLOB NOT NULL
) STRICT;

CREATE TABLE audit_checkpoints (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    at    INTEGER NOT NULL,
    seq   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    token TEXT NOT NULL
);

-- Append-only: a chained row is never changed or removed (sealing a pre-chain row's hashes is
-- the one update allowed). Someone with the database file can drop this; the chain and the
-- checkpoints still tell.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN OLD.hash IS NOT NULL
  OR NEW.seq IS NOT OLD.seq OR NEW.at IS NOT OLD.at OR NEW.actor IS NOT OLD.actor
  OR NEW.action IS NOT OLD.action OR NEW.target IS NOT OLD.target OR NEW.detail IS NOT OLD.detail
  OR NEW.scope IS NOT OLD.scope OR NEW.ip IS NOT OLD.ip OR NEW.user_agent IS NOT OLD.user_agent
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
