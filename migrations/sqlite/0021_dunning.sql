-- Dunning: an account whose subscription is past due gets reminders on a schedule and a grace
-- period; recovered when a payment goes through, downgraded to free when the grace ends.
-- One open case per account.
CREATE TABLE dunning (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    provider         TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    grace_ends_at    INTEGER NOT NULL,
    next_reminder_at INTEGER,
    reminders_sent   INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL,
    closed_at        INTEGER
) STRICT;
CREATE UNIQUE INDEX dunning_open ON dunning (account_id) WHERE state = 'open';

-- The outbox (0012) also carries billing emails: which account they are about, and what kind.
ALTER TABLE email_outbox ADD COLUMN account_id TEXT;
ALTER TABLE email_outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'invitation';
