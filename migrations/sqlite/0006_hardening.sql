-- A traffic record the relay trimmed to fit its size cap (header values, headers or bodies cut).
ALTER TABLE requests ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0;

-- A name whose last tunnel ended stays its owner's for the reconnect grace period, so another
-- account cannot bind it while the relay still holds visitors' requests for it.
CREATE TABLE name_graces (
    name_key    TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    released_at INTEGER NOT NULL
) STRICT;
CREATE INDEX name_graces_released ON name_graces (released_at);
