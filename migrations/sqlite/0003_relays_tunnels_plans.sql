-- Relays, live tunnel bindings, reserved names, plans and usage.
-- Booleans are INTEGER 0/1 and times Unix milliseconds, as in PostgreSQL (BIGINT), so one set
-- of queries serves both databases.

-- The plan an account is on (`free`, `pro`, `team`); the limits of each live in code
-- (fdt_api::plans), so changing a limit needs no migration.
ALTER TABLE accounts ADD COLUMN plan TEXT NOT NULL DEFAULT 'free';

-- Relays as their last heartbeat described them. Health is derived from last_seen_at.
CREATE TABLE relays (
    id            TEXT PRIMARY KEY NOT NULL,
    region        TEXT NOT NULL,
    agent_addr    TEXT NOT NULL,             -- host:port agents dial (UDP)
    server_name   TEXT NOT NULL,             -- name in the relay's certificate
    version       TEXT NOT NULL,
    capacity      INTEGER NOT NULL,          -- agent sessions it takes at most
    weight        INTEGER NOT NULL,          -- relative share of new agents
    draining      INTEGER NOT NULL,          -- 1: send no new agents
    sessions      INTEGER NOT NULL,          -- load at the last heartbeat
    tunnels       INTEGER NOT NULL,
    connections   INTEGER NOT NULL,
    boot_id       TEXT NOT NULL,             -- changes when the relay process restarts
    last_seq      INTEGER NOT NULL,          -- last heartbeat applied (exactly-once reports)
    registered_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL
) STRICT;

-- One row per live name: who holds it and whether it is pooled. Inserting it is how a bind
-- claims a name; its primary key is what serialises two relays binding the same name.
-- name_key: `host:<label>` for http/tls, `tcp:<region>:<port>` for tcp.
CREATE TABLE live_names (
    name_key     TEXT PRIMARY KEY NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    authtoken_id TEXT,
    pooling      INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

-- Live tunnels: one row per tunnel bound on a relay (pooled names have several).
CREATE TABLE bindings (
    id            TEXT PRIMARY KEY NOT NULL,
    name_key      TEXT NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    authtoken_id  TEXT,
    relay_id      TEXT NOT NULL,
    boot_id       TEXT NOT NULL,
    proto         TEXT NOT NULL CHECK (proto IN ('http', 'tls', 'tcp')),
    public_url    TEXT NOT NULL,
    pooling       INTEGER NOT NULL,
    agent_version TEXT NOT NULL,
    started_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX bindings_name ON bindings (name_key);
CREATE INDEX bindings_account ON bindings (account_id);
CREATE INDEX bindings_relay ON bindings (relay_id);

-- Tunnels the cloud ended (taken over elsewhere, stopped by their owner) that their relay must
-- still close; handed out in the relay's next heartbeat answer.
CREATE TABLE binding_evictions (
    relay_id   TEXT NOT NULL,
    binding_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (relay_id, binding_id)
) STRICT;

-- Names an account keeps whether or not a tunnel is online: subdomains, and TCP ports in a
-- region.
CREATE TABLE reserved_names (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('subdomain', 'tcp_address')),
    subdomain   TEXT UNIQUE,
    region      TEXT,
    port        INTEGER,
    description TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (region, port),
    CHECK ((kind = 'subdomain' AND subdomain IS NOT NULL AND port IS NULL)
        OR (kind = 'tcp_address' AND subdomain IS NULL AND port IS NOT NULL AND region IS NOT NULL))
) STRICT;
CREATE INDEX reserved_names_account ON reserved_names (account_id);

-- Traffic per account per UTC day, summed from relay heartbeats.
CREATE TABLE usage_daily (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    day         TEXT NOT NULL,               -- YYYY-MM-DD
    requests    INTEGER NOT NULL,
    bytes_in    INTEGER NOT NULL,
    bytes_out   INTEGER NOT NULL,
    connections INTEGER NOT NULL,
    PRIMARY KEY (account_id, day)
) STRICT;
