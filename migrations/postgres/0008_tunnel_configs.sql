-- Cloud-managed tunnels: definitions an account keeps in the control plane, run by its agents
-- started with `fdt start --managed`. `definition` is the JSON of an `fdt.toml` tunnel table,
-- checked by the agent's own config code before it is stored (basic-auth passwords stored
-- only as SHA-256 digests). `revision` grows with each change of the row.
CREATE TABLE tunnel_configs (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL,
    definition  TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

-- The change feed relays poll: one row per change of an account's definitions, in change
-- order. An account's newest `seq` is the version of its definitions that relays push.
CREATE TABLE tunnel_config_changes (
    seq         BIGSERIAL PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    changed_at  BIGINT NOT NULL
);
CREATE INDEX tunnel_config_changes_account ON tunnel_config_changes (account_id, seq);
