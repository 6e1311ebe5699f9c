-- Two checkouts paid for one account (two tabs, or two providers, before either was live) make
-- two live subscriptions. The one live first stays; the others are duplicates, cancelled at
-- the provider at once and their charges refunded. live_since: when a subscription first
-- became live (ms; NULL for rows from before, which count as the oldest); duplicate_of: the
-- subscription kept instead ('provider/id').
ALTER TABLE subscriptions ADD COLUMN live_since INTEGER;
ALTER TABLE subscriptions ADD COLUMN duplicate_of TEXT;
-- A charge's subscription, when the provider names it: a duplicate's charges are refunded.
ALTER TABLE ledger_txns ADD COLUMN subscription_id TEXT;
CREATE INDEX ledger_txns_subscription ON ledger_txns (provider, subscription_id)
    WHERE subscription_id IS NOT NULL;
-- Each duplicate charge's refund, claimed once whichever comes first: the duplicate found
-- after its charge, or the charge after its duplicate.
CREATE TABLE duplicate_refunds (
    provider        TEXT NOT NULL,
    charge_ref      TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    claimed_at      INTEGER NOT NULL,
    refund_id       TEXT,
    error           TEXT,
    PRIMARY KEY (provider, charge_ref)
) STRICT;
