-- OAuth 2.0 device authorization (RFC 8628) for `fdt login` and the desktop app: a device
-- code (stored hashed) and the short user code a signed-in user approves in the console.
-- `state`: pending, approved, denied or used (the authtoken was handed out, once).
CREATE TABLE device_codes (
    device_hash   BLOB PRIMARY KEY NOT NULL,
    user_code     TEXT NOT NULL UNIQUE,
    client_name   TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending',
    account_id    TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    interval_secs INTEGER NOT NULL,
    last_poll_at  INTEGER
) STRICT;
CREATE INDEX device_codes_expires ON device_codes (expires_at);
