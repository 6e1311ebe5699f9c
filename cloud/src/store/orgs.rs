//! Organisations and memberships. Today every account owns exactly its own organisation
//! (`acc_X` → `org_X`, made at sign-up or by the migration that introduced them), and the role
//! it holds there decides what its calls may do.

use super::{Store, StoreError, on_pool, parse_id};
use fdt_api::{AccountId, OrgId, RoleTemplate};

/// The organisation an account owns from sign-up: the same random suffix.
pub fn own_org(account: &AccountId) -> OrgId {
    let suffix = account
        .as_str()
        .strip_prefix(AccountId::PREFIX)
        .unwrap_or_default();
    // An account ID's suffix is a valid ID suffix by construction.
    OrgId::from_suffix(suffix).unwrap_or_else(|_| unreachable!("account IDs have valid suffixes"))
}

/// The account whose resources an organisation's are (its founder: `org_X` → `acc_X`), until
/// resources carry organisation IDs.
pub fn org_owner(org: &OrgId) -> AccountId {
    let suffix = org.as_str().strip_prefix(OrgId::PREFIX).unwrap_or_default();
    AccountId::from_suffix(suffix).unwrap_or_else(|_| unreachable!("org IDs have valid suffixes"))
}

/// An organisation as one of its members sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The organisation.
    pub org_id: OrgId,
    /// Its name.
    pub name: String,
    /// The member's role, when it names a built-in template.
    pub role: Option<RoleTemplate>,
    /// The role as stored (`developer`, `custom:deployers`).
    pub role_name: String,
}

/// The stored name of a role template.
pub fn role_name(role: RoleTemplate) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A stored role's template, if it names one this server knows.
pub fn parse_role(role: &str) -> Option<RoleTemplate> {
    serde_json::from_value(serde_json::Value::String(role.to_owned())).ok()
}

impl Store {
    /// The role `account` holds in `org` as stored; `None` when it is not a member.
    pub async fn member_role(
        &self,
        org: &OrgId,
        account: &AccountId,
    ) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT role FROM memberships WHERE org_id = $1 AND account_id = $2";
        let row: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(org.as_str())
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?);
        Ok(row.map(|(r,)| r))
    }

    /// Gives `account` the role `role` in `org` (it must be a member); `false` if it is not.
    pub async fn set_role(
        &self,
        org: &OrgId,
        account: &AccountId,
        role: impl Into<fdt_api::Role>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE memberships SET role = $1 WHERE org_id = $2 AND account_id = $3";
        let name = role.into().name();
        let n = on_pool!(self, pool => sqlx::query(SQL)
            .bind(name)
            .bind(org.as_str())
            .bind(account.as_str())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// The organisations `account` belongs to, by name.
    pub async fn memberships(&self, account: &AccountId) -> Result<Vec<Membership>, StoreError> {
        const SQL: &str = "SELECT o.id, o.name, m.role FROM memberships m \
                           JOIN organizations o ON o.id = m.org_id \
                           WHERE m.account_id = $1 ORDER BY o.name, o.id";
        let rows: Vec<(String, String, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(account.as_str())
            .fetch_all(pool)
            .await?);
        rows.into_iter()
            .map(|(id, name, role)| {
                Ok(Membership {
                    org_id: parse_id(&id)?,
                    name,
                    role: parse_role(&role),
                    role_name: role,
                })
            })
            .collect()
    }
}
