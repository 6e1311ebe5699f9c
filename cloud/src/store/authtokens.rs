//! Authtokens: stored by SHA-256 hash, listed by display prefix, revoked softly (the row stays
//! for the audit trail and so that a revoked token is never mistaken for an unknown one).
//!
//! Every query that takes a token ID also takes the caller's account, so one account can never
//! read or revoke another's token — it looks exactly like a token that does not exist.

use super::{Store, StoreError, from_millis, on_pool, parse_id, to_millis};
use fdt_api::{AccountId, AuthtokenId};
use time::OffsetDateTime;

/// Appends one revoked token to the relays' feed (after [`feed_lock`]).
pub(super) const FEED_INSERT: &str =
    "INSERT INTO authtoken_revocations (authtoken_id, revoked_at) VALUES ($1, $2)";

/// The statement a transaction runs before it appends to the revocation feed, and its key; `None`
/// on SQLite.
///
/// A relay reads the feed by position (`seq > cursor`) and moves its cursor to the last one it
/// saw, so the feed must only ever become visible as a prefix. On PostgreSQL a sequence hands
/// numbers out at insert time, not at commit: a transaction that took 5 and commits after the one
/// that took 6 would land behind a cursor already at 6, and that token's sessions would never be
/// closed. Writers therefore take one transaction-scoped advisory lock before they insert, held
/// until they commit, so numbers are taken and made visible in the same order. Revocations are
/// rare, so serializing them costs nothing. SQLite has a single writer already.
pub(super) fn feed_lock(store: &Store) -> Option<(&'static str, i64)> {
    /// "fdtr" in the high bytes, apart from the job leases' "fdtj".
    const KEY: i64 = 0x6664_7472_0000_0001;
    matches!(store, Store::Postgres(_)).then_some(("SELECT pg_advisory_xact_lock($1)", KEY))
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewAuthtoken<'a> {
    /// Token ID.
    pub id: &'a AuthtokenId,
    /// Owning account.
    pub account_id: &'a AccountId,
    /// SHA-256 of the secret.
    pub token_hash: &'a [u8],
    /// Display prefix (`fdt_` + 8 characters).
    pub prefix: &'a str,
    /// Description.
    pub description: Option<&'a str>,
    /// The person who made it (a member of the owning organisation).
    pub created_by: &'a AccountId,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A stored, live authtoken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthtokenRecord {
    /// Token ID.
    pub id: AuthtokenId,
    /// Owning account.
    pub account_id: AccountId,
    /// Display prefix.
    pub prefix: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last exchange for an agent session.
    pub last_used_at: Option<OffsetDateTime>,
}

impl AuthtokenRecord {
    /// The token as the API lists it.
    pub fn to_api(&self) -> fdt_api::AuthtokenInfo {
        fdt_api::AuthtokenInfo {
            id: self.id.clone(),
            prefix: self.prefix.clone(),
            description: self.description.clone(),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AuthtokenRow {
    id: String,
    account_id: String,
    prefix: String,
    description: Option<String>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl TryFrom<AuthtokenRow> for AuthtokenRecord {
    type Error = StoreError;

    fn try_from(r: AuthtokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            account_id: parse_id(&r.account_id)?,
            prefix: r.prefix,
            description: r.description,
            created_at: from_millis(r.created_at)?,
            last_used_at: r.last_used_at.map(from_millis).transpose()?,
        })
    }
}

impl Store {
    /// Stores a new authtoken.
    pub async fn create_authtoken(
        &self,
        t: NewAuthtoken<'_>,
    ) -> Result<AuthtokenRecord, StoreError> {
        const SQL: &str = "INSERT INTO authtokens (id, account_id, token_hash, prefix, description, created_at, created_by) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(t.id.as_str())
                .bind(t.account_id.as_str())
                .bind(t.token_hash)
                .bind(t.prefix)
                .bind(t.description)
                .bind(to_millis(t.created_at))
                .bind(t.created_by.as_str())
                .execute(pool)
                .await?;
        });
        Ok(AuthtokenRecord {
            id: t.id.clone(),
            account_id: t.account_id.clone(),
            prefix: t.prefix.to_owned(),
            description: t.description.map(str::to_owned),
            created_at: from_millis(to_millis(t.created_at))?,
            last_used_at: None,
        })
    }

    /// The account's live tokens, oldest first.
    pub async fn list_authtokens(
        &self,
        account_id: &AccountId,
    ) -> Result<Vec<AuthtokenRecord>, StoreError> {
        const SQL: &str = "SELECT id, account_id, prefix, description, created_at, last_used_at \
                           FROM authtokens WHERE account_id = $1 AND revoked_at IS NULL \
                           ORDER BY created_at, id";
        let rows: Vec<AuthtokenRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(account_id.as_str())
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Revokes the account's token `id`; `false` if there is no such live token *of this
    /// account*.
    pub async fn revoke_authtoken(
        &self,
        account_id: &AccountId,
        id: &AuthtokenId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // The soft revocation and its entry in the relays' feed commit together.
        const SQL: &str = "UPDATE authtokens SET revoked_at = $1 \
                           WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL";
        let now_ms = to_millis(now);
        let lock = feed_lock(self);
        let done = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(SQL)
                .bind(now_ms)
                .bind(id.as_str())
                .bind(account_id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done == 1 {
                if let Some((sql, key)) = lock {
                    sqlx::query(sql).bind(key).execute(&mut *tx).await?;
                }
                sqlx::query(FEED_INSERT)
                    .bind(id.as_str())
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            done
        });
        Ok(done == 1)
    }

    /// Authtokens revoked after `cursor` (a position in the revocation feed), oldest first, at
    /// most `limit`, with the position of the last one returned (`cursor` itself when none).
    pub async fn revocations_after(
        &self,
        cursor: i64,
        limit: i64,
    ) -> Result<(Vec<AuthtokenId>, i64), StoreError> {
        const SQL: &str = "SELECT seq, authtoken_id FROM authtoken_revocations \
                           WHERE seq > $1 ORDER BY seq LIMIT $2";
        let rows: Vec<(i64, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(cursor)
            .bind(limit)
            .fetch_all(pool)
            .await?);
        let next = rows.last().map_or(cursor, |(seq, _)| *seq);
        let ids = rows
            .into_iter()
            .map(|(_, id)| parse_id(&id))
            .collect::<Result<_, _>>()?;
        Ok((ids, next))
    }

    /// Looks a presented secret up by hash; when it is a live token, records the use and
    /// returns it. This is the check behind the agent's token exchange.
    pub async fn use_authtoken(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<AuthtokenRecord>, StoreError> {
        const SQL: &str = "UPDATE authtokens SET last_used_at = $1 \
                           WHERE token_hash = $2 AND revoked_at IS NULL \
                           RETURNING id, account_id, prefix, description, created_at, last_used_at";
        let row: Option<AuthtokenRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(to_millis(now))
            .bind(token_hash)
            .fetch_optional(pool)
            .await?);
        row.map(TryInto::try_into).transpose()
    }
}
