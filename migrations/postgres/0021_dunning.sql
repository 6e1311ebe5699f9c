-- Dunning: an account whose subscription is past due gets reminders on a schedule and a grace
-- period; recovered when a payment goes through, downgraded to free when the grace ends.
-- One open case per account.
CREATE TABLE dunning (
    seq              BIGSERIAL PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    provider         TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    grace_ends_at    BIGINT NOT NULL,
    next_reminder_at BIGINT,
    reminders_sent   BIGINT NOT NULL DEFAULT 0,
    state            TEXT NOT NULL,
    closed_at        BIGINT
);
CREATE UNIQUE INDEX dunning_open ON dunning (account_id) WHERE state = 'open';

-- The outbox (0012) also carries billing emails: which account they are about, and what kind.
ALTER TABLE email_outbox ADD COLUMN account_id TEXT;
ALTER TABLE email_outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'invitation';
