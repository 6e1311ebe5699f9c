-- OpenID Connect single sign-on per organisation: its identity provider (issuer, client),
-- which email domains may sign in, and how a group claim maps to roles; sign-ins in flight
-- (single-use state, nonce and PKCE verifier, stored hashed by state); and the identities
-- (issuer, subject) linked to accounts.
CREATE TABLE sso_configs (
    org_id          TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    issuer          TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    client_secret   TEXT,
    allowed_domains TEXT NOT NULL,
    groups_claim    TEXT NOT NULL,
    group_roles     TEXT NOT NULL,
    default_role    TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE sso_logins (
    state_hash    BLOB PRIMARY KEY NOT NULL,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
) STRICT;
CREATE INDEX sso_logins_by_expiry ON sso_logins (expires_at);

CREATE TABLE sso_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
) STRICT;
