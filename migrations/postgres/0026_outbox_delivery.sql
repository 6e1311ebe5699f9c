-- Sending the outbox through SMTP: attempts so far, when the next may run, and the last error.
-- A permanent refusal (5xx) or the last attempt leaves failed_at set and the row unsent.
ALTER TABLE email_outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE email_outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE email_outbox ADD COLUMN last_error TEXT;
ALTER TABLE email_outbox ADD COLUMN failed_at BIGINT;
