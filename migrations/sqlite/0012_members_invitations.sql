-- Members join organisations by invitation: a single-use token (stored hashed) sent by email
-- through the outbox, for one address and one role, expiring. Authtokens remember who made
-- them, so removing a member revokes the ones it made for that organisation.
ALTER TABLE authtokens ADD COLUMN created_by TEXT;

CREATE TABLE invitations (
    id          TEXT PRIMARY KEY NOT NULL,
    org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER
) STRICT;

-- Mail to send (an SMTP sender, when configured, drains it; tests read it).
CREATE TABLE email_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at    INTEGER
);
