-- Payment providers' webhook events, stored (raw body) before they are processed; one row per
-- provider and event ID, so a redelivery, however concurrent, has one effect.
CREATE TABLE billing_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    created     INTEGER NOT NULL,
    body        TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    state       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    UNIQUE (provider, event_id)
) STRICT;

-- Subscriptions as the providers report them: the newest event seen for each (created, in the
-- provider's clock) wins; an older one never overwrites it. A subscription stays with the
-- account it was created for.
CREATE TABLE subscriptions (
    provider        TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    plan            TEXT NOT NULL,
    status          TEXT NOT NULL,
    period_end      INTEGER,
    event_at        INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (provider, subscription_id)
) STRICT;
CREATE INDEX subscriptions_account ON subscriptions (account_id);
