-- Accounts, login sessions with their refresh tokens, and authtokens.
-- Times are Unix milliseconds (INTEGER), the same representation as in the PostgreSQL schema,
-- so one set of queries serves both databases. Secrets are stored only as SHA-256 hashes
-- (passwords as Argon2id PHC strings).

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,       -- normalized: trimmed, lower-case
    password_hash TEXT NOT NULL,              -- Argon2id, PHC format
    created_at    INTEGER NOT NULL
) STRICT;

-- One row per login: the family of refresh tokens that login started.
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER,                    -- set by logout or refresh-token reuse
    revoke_reason TEXT
) STRICT;
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL CHECK (length(token_hash) = 32),
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER                        -- set when exchanged; a second use is reuse
) STRICT;
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE authtokens (
    id           TEXT PRIMARY KEY NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash   BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    prefix       TEXT NOT NULL,               -- fdt_ + 8 characters, for people to recognise
    description  TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX authtokens_account ON authtokens (account_id);
