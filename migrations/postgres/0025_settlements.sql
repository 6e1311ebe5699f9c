-- Signed settlement receipts (what a provider paid out and what it settles), stored once per
-- receipt ID with the body as received, and the differences reconciling them against the
-- ledger found: each an incident with its amounts until an operator resolves it.
CREATE TABLE settlements (
    id          TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    currency    TEXT NOT NULL,
    payout      TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    items       BIGINT NOT NULL,
    mismatches  BIGINT NOT NULL,
    body        TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE billing_incidents (
    seq BIGSERIAL PRIMARY KEY,
    settlement_id TEXT NOT NULL REFERENCES settlements (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    reference     TEXT NOT NULL,
    currency      TEXT NOT NULL,
    expected      BIGINT NOT NULL,
    actual        BIGINT NOT NULL,
    opened_at     BIGINT NOT NULL,
    resolved_at   BIGINT,
    resolved_by   TEXT,
    note          TEXT
);
CREATE INDEX billing_incidents_open ON billing_incidents (resolved_at, opened_at);
