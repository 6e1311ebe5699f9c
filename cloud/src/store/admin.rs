//! Operators' storage: admin flag, suspension and relay drain requests (the audit log is
//! [`super::audit`]).

use super::tunnels::{GRACE_NAME, RELEASE_NAME};
use super::{Store, StoreError, from_millis, on_pool, parse_id, to_millis};
use fdt_api::{AccountId, AdminUser, Plan};
use time::OffsetDateTime;

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    plan: String,
    is_admin: i64,
    suspended_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<UserRow> for AdminUser {
    type Error = StoreError;

    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            email: r.email,
            plan: r
                .plan
                .parse::<Plan>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            admin: r.is_admin != 0,
            suspended: r.suspended_at.is_some(),
            created_at: from_millis(r.created_at)?,
        })
    }
}

const USER_COLUMNS: &str = "id, email, plan, is_admin, suspended_at, created_at";

impl Store {
    /// Makes the account with this (normalized) email an operator; false when there is none.
    pub async fn grant_admin(&self, email: &str) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE accounts SET is_admin = 1 WHERE email = $1";
        let n = on_pool!(self, pool => sqlx::query(SQL).bind(email).execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// Whether the account is a (not suspended) operator.
    pub async fn is_admin(&self, account: &AccountId) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT is_admin FROM accounts WHERE id = $1 AND suspended_at IS NULL";
        let row: Option<(i64,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?);
        Ok(row.is_some_and(|(a,)| a != 0))
    }

    /// Whether the account is suspended.
    pub async fn is_suspended(&self, account: &AccountId) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT suspended_at FROM accounts WHERE id = $1";
        let row: Option<(Option<i64>,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?);
        Ok(row.is_some_and(|(s,)| s.is_some()))
    }

    /// Accounts whose email contains `q` (all when `None`), oldest first.
    pub async fn search_accounts(
        &self,
        q: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AdminUser>, StoreError> {
        let pattern = q.map(|q| {
            // LIKE wildcards in the query are matched literally.
            let escaped = q
                .to_ascii_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM accounts WHERE (CAST($1 AS TEXT) IS NULL OR email LIKE $1 ESCAPE '\\') \
             ORDER BY created_at, id LIMIT $2"
        );
        let rows: Vec<UserRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(pattern)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// One account as operators see it.
    pub async fn admin_user(&self, account: &AccountId) -> Result<Option<AdminUser>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM accounts WHERE id = $1");
        let row: Option<UserRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?);
        row.map(TryInto::try_into).transpose()
    }

    /// Suspends (or, with `suspend = false`, reinstates) an account. Suspending also ends its
    /// login sessions and its live tunnels (their relays are told to close them); it keeps its
    /// data. Returns the tunnels closed, or `None` when there is no such account.
    pub async fn set_suspended(
        &self,
        account: &AccountId,
        suspend: bool,
        now: OffsetDateTime,
    ) -> Result<Option<usize>, StoreError> {
        let now_ms = to_millis(now);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = if suspend {
                sqlx::query("UPDATE accounts SET suspended_at = $2 WHERE id = $1 AND suspended_at IS NULL")
            } else {
                sqlx::query("UPDATE accounts SET suspended_at = NULL WHERE id = $1 AND $2 > 0")
            }
            .bind(account.as_str())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM accounts WHERE id = $1")
                .bind(account.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Ok(None);
            }
            let mut closed = 0;
            if suspend && n == 1 {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $2, revoke_reason = 'suspended' \
                     WHERE account_id = $1 AND revoked_at IS NULL",
                )
                .bind(account.as_str())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                let gone: Vec<(String, String, String)> = sqlx::query_as(
                    "DELETE FROM bindings WHERE account_id = $1 RETURNING id, relay_id, name_key",
                )
                .bind(account.as_str())
                .fetch_all(&mut *tx)
                .await?;
                for (id, relay, name) in &gone {
                    sqlx::query(GRACE_NAME).bind(name).bind(now_ms).execute(&mut *tx).await?;
                    sqlx::query(RELEASE_NAME).bind(name).execute(&mut *tx).await?;
                    sqlx::query(
                        "INSERT INTO binding_evictions (relay_id, binding_id, created_at) \
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(relay)
                    .bind(id)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                closed = gone.len();
            }
            tx.commit().await?;
            Ok(Some(closed))
        })
    }

    /// Asks a relay to drain (or not); false when there is no such relay.
    pub async fn set_drain(&self, relay: &str, drain: bool) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE relays SET drain_requested = $2 WHERE id = $1";
        let n = on_pool!(self, pool => sqlx::query(SQL)
            .bind(relay)
            .bind(i64::from(drain))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Whether an operator asked `relay` to drain.
    pub async fn drain_requested(&self, relay: &str) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT drain_requested FROM relays WHERE id = $1";
        let row: Option<(i64,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(relay)
            .fetch_optional(pool)
            .await?);
        Ok(row.is_some_and(|(d,)| d != 0))
    }
}
