-- When each of the control plane's secrets was created (keys: their file's time) or first
-- seen (relay secrets, from the config), by a public fingerprint: the admin view of secret
-- rotation health ages them against configured maximums.
CREATE TABLE secret_ages (
    kind        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    since       INTEGER NOT NULL,
    PRIMARY KEY (kind, fingerprint)
) STRICT;
