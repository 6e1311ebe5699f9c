-- The audit log proves itself: each row carries the SHA-256 of its fields and of the row
-- before it, in the global chain and in its scope's chain (the organisation whose action it
-- is; an account's own until organisations exist). `audit_heads` holds each chain's last row
-- (scope '' is the global chain), so appends link in O(1); `audit_checkpoints` holds signed
-- heads, against which a cut tail is caught. Rows written before this migration are sealed
-- into the chain by the server at start (their hashes are NULL until then).
ALTER TABLE audit_log ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN prev_hash BYTEA;
ALTER TABLE audit_log ADD COLUMN hash BYTEA;
ALTER TABLE audit_log ADD COLUMN scope_prev_hash BYTEA;
ALTER TABLE audit_log ADD COLUMN scope_hash BYTEA;
CREATE INDEX audit_log_scope ON audit_log (scope, seq);

CREATE TABLE audit_heads (
    scope TEXT PRIMARY KEY NOT NULL,
    seq   BIGINT NOT NULL,
    hash  BYTEA NOT NULL
);

CREATE TABLE audit_checkpoints (
    id    BIGSERIAL PRIMARY KEY,
    at    BIGINT NOT NULL,
    seq   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    token TEXT NOT NULL
);

-- Append-only: a chained row is never changed or removed (sealing a pre-chain row's hashes is
-- the one update allowed). A superuser can disable this; the chain and the checkpoints still
-- tell.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.hash IS NULL
       AND (NEW.seq, NEW.at, NEW.actor, NEW.action, NEW.target, NEW.detail, NEW.scope, NEW.ip, NEW.user_agent)
           IS NOT DISTINCT FROM
           (OLD.seq, OLD.at, OLD.actor, OLD.action, OLD.target, OLD.detail, OLD.scope, OLD.ip, OLD.user_agent)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
