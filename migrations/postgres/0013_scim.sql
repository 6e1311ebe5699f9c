-- SCIM 2.0 provisioning (RFC 7643/7644). An organisation's identity provider holds bearer
-- tokens (stored hashed) and keeps Users and Groups here as their SCIM documents. A User is
-- linked to the account that signs in with its userName; a Group may map to a role template.
CREATE TABLE scim_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE scim_resources (
    id          TEXT PRIMARY KEY NOT NULL,
    org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    -- A User's userName, lowercased: unique in the organisation (RFC 7643 §4.1.1).
    name_key    TEXT NOT NULL,
    account_id  TEXT REFERENCES accounts (id),
    doc         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX scim_users_by_name ON scim_resources (org_id, name_key) WHERE kind = 'User';
CREATE UNIQUE INDEX scim_users_by_account ON scim_resources (org_id, account_id)
    WHERE account_id IS NOT NULL;
CREATE INDEX scim_resources_by_org ON scim_resources (org_id, kind, created_at);

-- How groups map to role templates, and the role of a User in no mapped group.
CREATE TABLE scim_settings (
    org_id       TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    default_role TEXT NOT NULL,
    group_roles  TEXT NOT NULL
);

-- The organisation whose provisioning created an account: it may link it again after a
-- deprovisioning, where any other account must join by invitation first.
ALTER TABLE accounts ADD COLUMN provisioned_by TEXT;
