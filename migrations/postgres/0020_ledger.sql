-- The finance ledger: append-only, double-entry. A transaction per money event (charge,
-- refund, payout), one per provider, kind and provider reference; its entries sum to zero in
-- its currency. A charge keeps how much of it was refunded (checked and moved in one statement,
-- so refunds can never exceed it). Operators acknowledge each transaction.
CREATE TABLE ledger_txns (
    seq         BIGSERIAL PRIMARY KEY,
    provider    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    ref         TEXT NOT NULL,
    parent_ref  TEXT,
    account_id  TEXT,
    currency    TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    refunded    BIGINT NOT NULL DEFAULT 0,
    event_id    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    acked_at    BIGINT,
    acked_by    TEXT,
    UNIQUE (provider, kind, ref)
);
CREATE INDEX ledger_txns_created ON ledger_txns (created_at);

CREATE TABLE ledger_entries (
    seq      BIGSERIAL PRIMARY KEY,
    txn_seq  BIGINT NOT NULL REFERENCES ledger_txns (seq),
    book     TEXT NOT NULL,
    amount   BIGINT NOT NULL,
    currency TEXT NOT NULL
);
CREATE INDEX ledger_entries_txn ON ledger_entries (txn_seq);
