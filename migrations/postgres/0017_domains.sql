-- Custom domains: an account proves control with a TXT record carrying the row's own token and
-- routes the name to one of its subdomains. Several accounts may hold the same name pending;
-- only one row per name is verified (and served) at a time.
CREATE TABLE domains (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    domain           TEXT NOT NULL,
    txt_token        TEXT NOT NULL,
    cname_target     TEXT NOT NULL UNIQUE,
    mode             TEXT NOT NULL,
    route_kind       TEXT,
    route_ref        TEXT,
    failure          TEXT NOT NULL,
    state            TEXT NOT NULL,
    verified_at      BIGINT,
    misses           BIGINT NOT NULL DEFAULT 0,
    next_check_at    BIGINT NOT NULL,
    last_error       TEXT,
    cert_error       TEXT,
    cert_next_at     BIGINT,
    cert_failures    BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX domains_served ON domains (domain) WHERE state = 'verified';
CREATE INDEX domains_account ON domains (account_id, created_at);
CREATE INDEX domains_due ON domains (next_check_at);

-- Certificates served for a domain, newest version last. Private keys are sealed with the
-- configured key (AES-256-GCM), never stored in the clear.
CREATE TABLE domain_certificates (
    domain_id   TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    version     BIGINT NOT NULL,
    source      TEXT NOT NULL,
    chain_pem   TEXT NOT NULL,
    key_sealed  BYTEA NOT NULL,
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    renew_after BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (domain_id, version)
);

-- Pending ACME HTTP-01 challenges, answered by relays for the domain they name.
CREATE TABLE acme_http_challenges (
    token             TEXT PRIMARY KEY,
    domain            TEXT NOT NULL,
    key_authorization TEXT NOT NULL,
    expires_at        BIGINT NOT NULL
);

-- The ACME account per directory URL (its credentials sealed like certificate keys).
CREATE TABLE acme_accounts (
    directory   TEXT PRIMARY KEY,
    credentials BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

-- One row whose counter moves whenever anything relays serve changes, so relays can ask
-- "anything new?" cheaply.
CREATE TABLE domain_epoch (
    id      SMALLINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO domain_epoch (id, version) VALUES (1, 0);

-- What happened to each domain (verified, lost, certificate issued, renewed, failed), newest
-- last, for its owner's event list.
CREATE TABLE domain_events (
    seq        BIGSERIAL PRIMARY KEY,
    domain_id  TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX domain_events_domain ON domain_events (domain_id, seq);

-- Incidents an owner acknowledges and resolves: a renewal that failed, a certificate expiring
-- in under 7 days (or expired), validation lost. One open incident per domain and kind.
CREATE TABLE domain_incidents (
    seq         BIGSERIAL PRIMARY KEY,
    domain_id   TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    opened_at   BIGINT NOT NULL,
    acked_at    BIGINT,
    acked_by    TEXT,
    resolved_at BIGINT
);
CREATE UNIQUE INDEX domain_incidents_open ON domain_incidents (domain_id, kind) WHERE resolved_at IS NULL;
