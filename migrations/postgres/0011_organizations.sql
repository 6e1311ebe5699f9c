-- Organisations and their members. Every account becomes the owner of a one-member
-- organisation with the same random suffix (acc_X → org_X), named after its email; accounts
-- created later get theirs at sign-up. Members hold a role template by name (owner, admin,
-- developer, viewer, billing), which grants the permissions routes ask for.
CREATE TABLE organizations (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, account_id)
);
CREATE INDEX memberships_account ON memberships (account_id);

INSERT INTO organizations (id, name, created_at)
    SELECT 'org_' || substr(id, 5), email, created_at FROM accounts;
INSERT INTO memberships (org_id, account_id, role, created_at)
    SELECT 'org_' || substr(id, 5), id, 'owner', created_at FROM accounts;
