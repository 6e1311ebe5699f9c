-- Organisations' own role templates: named sets of permissions, held as `custom:<name>`.
CREATE TABLE role_templates (
    org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    permissions TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, name)
) STRICT;
