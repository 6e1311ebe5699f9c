-- Revocation feed for relays: one row per revoked authtoken, in revocation order. `seq` only
-- grows, so a relay's cursor never misses or repeats one.
CREATE TABLE authtoken_revocations (
    seq          BIGSERIAL PRIMARY KEY,
    authtoken_id TEXT NOT NULL REFERENCES authtokens (id) ON DELETE CASCADE,
    revoked_at   BIGINT NOT NULL
);
