-- Signed settlement receipts (what a provider paid out and what it settles), stored once per
-- receipt ID with the body as received, and the differences reconciling them against the
-- ledger found: each an incident with its amounts until an operator resolves it.
CREATE TABLE settlements (
    id          TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    currency    TEXT NOT NULL,
    payout      TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    items       INTEGER NOT NULL,
    mismatches  INTEGER NOT NULL,
    body        TEXT NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;

CREATE TABLE billing_incidents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    settlement_id TEXT NOT NULL REFERENCES settlements (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    reference     TEXT NOT NULL,
    currency      TEXT NOT NULL,
    expected      INTEGER NOT NULL,
    actual        INTEGER NOT NULL,
    opened_at     INTEGER NOT NULL,
    resolved_at   INTEGER,
    resolved_by   TEXT,
    note          TEXT
) STRICT;
CREATE INDEX billing_incidents_open ON billing_incidents (resolved_at, opened_at);
