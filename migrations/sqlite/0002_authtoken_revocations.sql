-- Revocation feed for relays: one row per revoked authtoken, in revocation order. `seq` only
-- grows (AUTOINCREMENT never reuses a value), so a relay's cursor never misses or repeats one.
CREATE TABLE authtoken_revocations (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    authtoken_id TEXT NOT NULL REFERENCES authtokens (id) ON DELETE CASCADE,
    revoked_at   INTEGER NOT NULL
);
