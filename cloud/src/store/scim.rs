//! SCIM provisioning state: an organisation's SCIM tokens (hashed), its provisioned Users and
//! Groups as documents, and how its groups map to role templates. Every read and write names
//! the organisation, so one organisation's token never reaches another's resources.

use super::{Store, StoreError, from_millis, is_unique_violation, on_pool, parse_id, to_millis};
use fdt_api::{AccountId, OrgId};
use time::OffsetDateTime;

/// The most resources of one kind an organisation keeps (lists are read whole to filter).
pub const MAX_SCIM_RESOURCES: i64 = 20_000;

/// A stored User or Group.
#[derive(Debug, Clone)]
pub struct ScimRecord {
    /// Its id.
    pub id: String,
    /// `User` or `Group`.
    pub kind: String,
    /// A User's linked account.
    pub account_id: Option<AccountId>,
    /// Its document (JSON object, without `id` and `meta`).
    pub doc: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

type ScimRow = (String, String, Option<String>, String, i64, i64);

fn to_record(
    (id, kind, account, doc, created, updated): ScimRow,
) -> Result<ScimRecord, StoreError> {
    Ok(ScimRecord {
        id,
        kind,
        account_id: account.as_deref().map(parse_id).transpose()?,
        doc,
        created_at: from_millis(created)?,
        updated_at: from_millis(updated)?,
    })
}

/// A resource to store.
#[derive(Debug, Clone)]
pub struct ScimWrite<'a> {
    /// Its organisation.
    pub org: &'a OrgId,
    /// `User` or `Group`.
    pub kind: &'a str,
    /// Its id.
    pub id: &'a str,
    /// A User's lowercased userName; a Group's id (groups' names need not be unique).
    pub name_key: &'a str,
    /// A User's account.
    pub account_id: Option<&'a AccountId>,
    /// The document.
    pub doc: &'a str,
    /// Now.
    pub now: OffsetDateTime,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimWritten {
    /// Stored.
    Done,
    /// Another User of the organisation has this userName or account.
    Taken,
    /// No such resource (update).
    Missing,
    /// The organisation holds [`MAX_SCIM_RESOURCES`] of this kind already (insert).
    Full,
}

/// A SCIM token as listed (never its secret).
#[derive(Debug, Clone)]
pub struct ScimTokenRecord {
    /// Its id.
    pub id: String,
    /// What its owner called it.
    pub name: String,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str = "id, kind, account_id, doc, created_at, updated_at";

impl Store {
    /// Stores a new SCIM token for `org`.
    pub async fn create_scim_token(
        &self,
        org: &OrgId,
        id: &str,
        name: &str,
        token_hash: &[u8],
        created_by: &AccountId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO scim_tokens (id, org_id, name, token_hash, created_by, created_at) \
                           VALUES ($1, $2, $3, $4, $5, $6)";
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(id)
            .bind(org.as_str())
            .bind(name)
            .bind(token_hash)
            .bind(created_by.as_str())
            .bind(to_millis(now))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// `org`'s live SCIM tokens, newest first.
    pub async fn scim_tokens(&self, org: &OrgId) -> Result<Vec<ScimTokenRecord>, StoreError> {
        const SQL: &str = "SELECT id, name, created_by, created_at FROM scim_tokens \
                           WHERE org_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id";
        let rows: Vec<(String, String, String, i64)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(org.as_str())
            .fetch_all(pool)
            .await?);
        rows.into_iter()
            .map(|(id, name, created_by, at)| {
                Ok(ScimTokenRecord {
                    id,
                    name,
                    created_by,
                    created_at: from_millis(at)?,
                })
            })
            .collect()
    }

    /// Revokes `org`'s token `id`; `false` when it has no such live token.
    pub async fn revoke_scim_token(
        &self,
        org: &OrgId,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE scim_tokens SET revoked_at = $1 \
                           WHERE org_id = $2 AND id = $3 AND revoked_at IS NULL";
        let n = on_pool!(self, pool => sqlx::query(SQL)
            .bind(to_millis(now))
            .bind(org.as_str())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// The live token whose secret hashes to `token_hash`: `(token id, organisation)`.
    pub async fn scim_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(String, OrgId)>, StoreError> {
        const SQL: &str =
            "SELECT id, org_id FROM scim_tokens WHERE token_hash = $1 AND revoked_at IS NULL";
        let row: Option<(String, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(token_hash)
            .fetch_optional(pool)
            .await?);
        row.map(|(id, org)| Ok((id, parse_id(&org)?))).transpose()
    }

    /// `org`'s resources of `kind`, newest first, at most [`MAX_SCIM_RESOURCES`].
    pub async fn scim_resources(
        &self,
        org: &OrgId,
        kind: &str,
    ) -> Result<Vec<ScimRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM scim_resources WHERE org_id = $1 AND kind = $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let rows: Vec<ScimRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(org.as_str())
            .bind(kind)
            .bind(MAX_SCIM_RESOURCES)
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(to_record).collect()
    }

    /// `org`'s resource `id` of `kind`.
    pub async fn scim_resource(
        &self,
        org: &OrgId,
        kind: &str,
        id: &str,
    ) -> Result<Option<ScimRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM scim_resources WHERE org_id = $1 AND kind = $2 AND id = $3"
        );
        let row: Option<ScimRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(org.as_str())
            .bind(kind)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        row.map(to_record).transpose()
    }

    /// `org`'s User linked to `account`, if any.
    pub async fn scim_user_of(
        &self,
        org: &OrgId,
        account: &AccountId,
    ) -> Result<Option<ScimRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM scim_resources WHERE org_id = $1 AND kind = 'User' AND account_id = $2"
        );
        let row: Option<ScimRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(org.as_str())
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?);
        row.map(to_record).transpose()
    }

    /// Stores a new resource.
    pub async fn insert_scim_resource(&self, w: &ScimWrite<'_>) -> Result<ScimWritten, StoreError> {
        const COUNT: &str = "SELECT COUNT(*) FROM scim_resources WHERE org_id = $1 AND kind = $2";
        const SQL: &str = "INSERT INTO scim_resources \
                           (id, org_id, kind, name_key, account_id, doc, created_at, updated_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";
        let (held,): (i64,) = on_pool!(self, pool => sqlx::query_as(COUNT)
            .bind(w.org.as_str())
            .bind(w.kind)
            .fetch_one(pool)
            .await?);
        if held >= MAX_SCIM_RESOURCES {
            return Ok(ScimWritten::Full);
        }
        let result = on_pool!(self, pool => sqlx::query(SQL)
            .bind(w.id)
            .bind(w.org.as_str())
            .bind(w.kind)
            .bind(w.name_key)
            .bind(w.account_id.map(AccountId::as_str))
            .bind(w.doc)
            .bind(to_millis(w.now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
        match result {
            Ok(_) => Ok(ScimWritten::Done),
            Err(e) if is_unique_violation(&e) => Ok(ScimWritten::Taken),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces a resource's document (and a User's name and account).
    pub async fn update_scim_resource(&self, w: &ScimWrite<'_>) -> Result<ScimWritten, StoreError> {
        const SQL: &str = "UPDATE scim_resources SET name_key = $1, account_id = $2, doc = $3, \
                           updated_at = $4 WHERE org_id = $5 AND kind = $6 AND id = $7";
        let result = on_pool!(self, pool => sqlx::query(SQL)
            .bind(w.name_key)
            .bind(w.account_id.map(AccountId::as_str))
            .bind(w.doc)
            .bind(to_millis(w.now))
            .bind(w.org.as_str())
            .bind(w.kind)
            .bind(w.id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
        match result {
            Ok(1) => Ok(ScimWritten::Done),
            Ok(_) => Ok(ScimWritten::Missing),
            Err(e) if is_unique_violation(&e) => Ok(ScimWritten::Taken),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes `org`'s resource `id` of `kind`; `false` when there was none.
    pub async fn delete_scim_resource(
        &self,
        org: &OrgId,
        kind: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM scim_resources WHERE org_id = $1 AND kind = $2 AND id = $3";
        let n = on_pool!(self, pool => sqlx::query(SQL)
            .bind(org.as_str())
            .bind(kind)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// `org`'s settings as stored: `(default role, group roles JSON)`.
    pub async fn scim_settings(&self, org: &OrgId) -> Result<Option<(String, String)>, StoreError> {
        const SQL: &str = "SELECT default_role, group_roles FROM scim_settings WHERE org_id = $1";
        Ok(on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(org.as_str())
            .fetch_optional(pool)
            .await?))
    }

    /// Replaces `org`'s settings.
    pub async fn set_scim_settings(
        &self,
        org: &OrgId,
        default_role: &str,
        group_roles: &str,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO scim_settings (org_id, default_role, group_roles) \
                           VALUES ($1, $2, $3) ON CONFLICT (org_id) DO UPDATE \
                           SET default_role = excluded.default_role, group_roles = excluded.group_roles";
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(org.as_str())
            .bind(default_role)
            .bind(group_roles)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Which organisation's provisioning created `account`, if any.
    pub async fn provisioned_by(&self, account: &AccountId) -> Result<Option<OrgId>, StoreError> {
        const SQL: &str = "SELECT provisioned_by FROM accounts WHERE id = $1";
        let row: Option<(Option<String>,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?);
        row.and_then(|(o,)| o).as_deref().map(parse_id).transpose()
    }

    /// Records that `org`'s provisioning created `account`.
    pub async fn set_provisioned_by(
        &self,
        account: &AccountId,
        org: &OrgId,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE accounts SET provisioned_by = $1 WHERE id = $2";
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(org.as_str())
            .bind(account.as_str())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Makes `account` a member of `org` with `role`, or gives an existing member `role`
    /// (owners keep theirs: provisioning never makes or unmakes owners).
    pub async fn provision_member(
        &self,
        org: &OrgId,
        account: &AccountId,
        role: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO memberships (org_id, account_id, role, created_at) \
                           VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, account_id) DO UPDATE \
                           SET role = excluded.role WHERE memberships.role <> 'owner'";
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(org.as_str())
            .bind(account.as_str())
            .bind(role)
            .bind(to_millis(now))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }
}

impl Store {
    /// Gives `account` a new sign-in address; `false` when another account has it.
    pub async fn set_account_email(
        &self,
        account: &AccountId,
        email: &str,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE accounts SET email = $1 WHERE id = $2";
        let result = on_pool!(self, pool => sqlx::query(SQL)
            .bind(email)
            .bind(account.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
