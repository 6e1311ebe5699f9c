-- Fixed-window attempt counters, shared by every control-plane replica on one database: failed
-- logins, registrations, device and SSO sign-ins, payment-provider calls. `subject` is the
-- SHA-256 of what is counted (an address, an email, an account), so the table holds no
-- addresses or emails; a window ends at `ends_at` (ms) and its row is then dead, swept by the
-- retention job.
CREATE TABLE rate_windows (
    scope    TEXT NOT NULL,
    subject  BYTEA NOT NULL,
    ends_at  BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);
CREATE INDEX rate_windows_ends_at ON rate_windows (ends_at);
