//! Organisations' own role templates (`custom:<name>`): named sets of permissions, and what
//! any stored role grants.

use super::{Store, StoreError, on_pool, to_millis};
use fdt_api::{OrgId, Permission, Role};
use time::OffsetDateTime;

/// What deleting a custom role did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleDeleted {
    /// Gone.
    Done,
    /// There was none of that name.
    Missing,
    /// Members hold it (this many): change their roles first.
    InUse(i64),
}

/// The permissions in a stored list, without `operator` (which no role grants).
fn parse_permissions(json: &str) -> Vec<Permission> {
    serde_json::from_str::<Vec<Permission>>(json)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| *p != Permission::Operator)
        .collect()
}

impl Store {
    /// `org`'s own roles by name: `(name without the prefix, permissions)`.
    pub async fn custom_roles(
        &self,
        org: &OrgId,
    ) -> Result<Vec<(String, Vec<Permission>)>, StoreError> {
        const SQL: &str =
            "SELECT name, permissions FROM role_templates WHERE org_id = $1 ORDER BY name";
        let rows: Vec<(String, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(org.as_str())
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .map(|(n, p)| (n, parse_permissions(&p)))
            .collect())
    }

    /// `org`'s own role `name`, if it has one.
    pub async fn custom_role(
        &self,
        org: &OrgId,
        name: &str,
    ) -> Result<Option<Vec<Permission>>, StoreError> {
        const SQL: &str = "SELECT permissions FROM role_templates WHERE org_id = $1 AND name = $2";
        let row: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(org.as_str())
            .bind(name)
            .fetch_optional(pool)
            .await?);
        Ok(row.map(|(p,)| parse_permissions(&p)))
    }

    /// Creates or replaces `org`'s own role `name`.
    pub async fn put_custom_role(
        &self,
        org: &OrgId,
        name: &str,
        permissions: &[Permission],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO role_templates (org_id, name, permissions, updated_at) \
                           VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, name) DO UPDATE \
                           SET permissions = excluded.permissions, updated_at = excluded.updated_at";
        let json = serde_json::to_string(permissions).unwrap_or_else(|_| "[]".into());
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(org.as_str())
            .bind(name)
            .bind(json)
            .bind(to_millis(now))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Deletes `org`'s own role `name`, unless members hold it.
    pub async fn delete_custom_role(
        &self,
        org: &OrgId,
        name: &str,
    ) -> Result<RoleDeleted, StoreError> {
        const HELD: &str = "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = $2";
        const SQL: &str = "DELETE FROM role_templates WHERE org_id = $1 AND name = $2";
        let stored = Role::Custom(name.to_owned()).name();
        let outcome = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (held,): (i64,) = sqlx::query_as(HELD)
                .bind(org.as_str())
                .bind(&stored)
                .fetch_one(&mut *tx)
                .await?;
            if held > 0 {
                return Ok(RoleDeleted::InUse(held));
            }
            let n = sqlx::query(SQL)
                .bind(org.as_str())
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            if n == 1 { RoleDeleted::Done } else { RoleDeleted::Missing }
        });
        Ok(outcome)
    }

    /// What the role stored as `role` grants in `org`: a built-in template's permissions, the
    /// organisation's own role's, or nothing for a name this server does not know.
    pub async fn role_permissions(
        &self,
        org: &OrgId,
        role: &str,
    ) -> Result<Vec<Permission>, StoreError> {
        Ok(match Role::parse(role) {
            Some(Role::Builtin(t)) => t.permissions(),
            Some(Role::Custom(name)) => self.custom_role(org, &name).await?.unwrap_or_default(),
            None => Vec::new(),
        })
    }
}
