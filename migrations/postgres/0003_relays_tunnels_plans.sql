-- Relays, live tunnel bindings, reserved names, plans and usage.
-- Booleans are BIGINT 0/1 and times Unix milliseconds (BIGINT), as in SQLite, so one set
-- of queries serves both databases.

-- The plan an account is on (`free`, `pro`, `team`); the limits of each live in code
-- (fdt_api::plans), so changing a limit needs no migration.
ALTER TABLE accounts ADD COLUMN plan TEXT NOT NULL DEFAULT 'free';

-- Relays as their last heartbeat described them. Health is derived from last_seen_at.
CREATE TABLE relays (
    id            TEXT PRIMARY KEY,
    region        TEXT NOT NULL,
    agent_addr    TEXT NOT NULL,             -- host:port agents dial (UDP)
    server_name   TEXT NOT NULL,             -- name in the relay's certificate
    version       TEXT NOT NULL,
    capacity      BIGINT NOT NULL,          -- agent sessions it takes at most
    weight        BIGINT NOT NULL,          -- relative share of new agents
    draining      BIGINT NOT NULL,          -- 1: send no new agents
    sessions      BIGINT NOT NULL,          -- load at the last heartbeat
    tunnels       BIGINT NOT NULL,
    connections   BIGINT NOT NULL,
    boot_id       TEXT NOT NULL,             -- changes when the relay process restarts
    last_seq      BIGINT NOT NULL,          -- last heartbeat applied (exactly-once reports)
    registered_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);

-- One row per live name: who holds it and whether it is pooled. Inserting it is how a bind
-- claims a name; its primary key is what serialises two relays binding the same name.
-- name_key: `host:<label>` for http/tls, `tcp:<region>:<port>` for tcp.
CREATE TABLE live_names (
    name_key     TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    authtoken_id TEXT,
    pooling      BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Live tunnels: one row per tunnel bound on a relay (pooled names have several).
CREATE TABLE bindings (
    id            TEXT PRIMARY KEY,
    name_key      TEXT NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    authtoken_id  TEXT,
    relay_id      TEXT NOT NULL,
    boot_id       TEXT NOT NULL,
    proto         TEXT NOT NULL CHECK (proto IN ('http', 'tls', 'tcp')),
    public_url    TEXT NOT NULL,
    pooling       BIGINT NOT NULL,
    agent_version TEXT NOT NULL,
    started_at    BIGINT NOT NULL
);
CREATE INDEX bindings_name ON bindings (name_key);
CREATE INDEX bindings_account ON bindings (account_id);
CREATE INDEX bindings_relay ON bindings (relay_id);

-- Tunnels the cloud ended (taken over elsewhere, stopped by their owner) that their relay must
-- still close; handed out in the relay's next heartbeat answer.
CREATE TABLE binding_evictions (
    relay_id   TEXT NOT NULL,
    binding_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (relay_id, binding_id)
);

-- Names an account keeps whether or not a tunnel is online: subdomains, and TCP ports in a
-- region.
CREATE TABLE reserved_names (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('subdomain', 'tcp_address')),
    subdomain   TEXT UNIQUE,
    region      TEXT,
    port        BIGINT,
    description TEXT,
    created_at  BIGINT NOT NULL,
    UNIQUE (region, port),
    CHECK ((kind = 'subdomain' AND subdomain IS NOT NULL AND port IS NULL)
        OR (kind = 'tcp_address' AND subdomain IS NULL AND port IS NOT NULL AND region IS NOT NULL))
);
CREATE INDEX reserved_names_account ON reserved_names (account_id);

-- Traffic per account per UTC day, summed from relay heartbeats.
CREATE TABLE usage_daily (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    day         TEXT NOT NULL,               -- YYYY-MM-DD
    requests    BIGINT NOT NULL,
    bytes_in    BIGINT NOT NULL,
    bytes_out   BIGINT NOT NULL,
    connections BIGINT NOT NULL,
    PRIMARY KEY (account_id, day)
);
