-- The finance ledger: append-only, double-entry. A transaction per money event (charge,
-- refund, payout), one per provider, kind and provider reference; its entries sum to zero in
-- its currency. A charge keeps how much of it was refunded (checked and moved in one statement,
-- so refunds can never exceed it). Operators acknowledge each transaction.
CREATE TABLE ledger_txns (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    provider    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    ref         TEXT NOT NULL,
    parent_ref  TEXT,
    account_id  TEXT,
    currency    TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    refunded    INTEGER NOT NULL DEFAULT 0,
    event_id    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    acked_at    INTEGER,
    acked_by    TEXT,
    UNIQUE (provider, kind, ref)
) STRICT;
CREATE INDEX ledger_txns_created ON ledger_txns (created_at);

CREATE TABLE ledger_entries (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    txn_seq  INTEGER NOT NULL REFERENCES ledger_txns (seq),
    book     TEXT NOT NULL,
    amount   INTEGER NOT NULL,
    currency TEXT NOT NULL
) STRICT;
CREATE INDEX ledger_entries_txn ON ledger_entries (txn_seq);
