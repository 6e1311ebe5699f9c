//! Cloud-managed tunnel definitions, and the change feed relays poll to push them to agents.
//! Every query that takes a definition's ID also takes the caller's account, and every write
//! appends to the feed in the same transaction, so a relay never misses a committed change
//! (on SQLite; on PostgreSQL see `changes_after`).

use super::{Store, StoreError, from_millis, is_unique_violation, on_pool, parse_id, to_millis};
use fdt_api::{AccountId, TunnelConfigId, TunnelDefinition};
use time::OffsetDateTime;

/// A stored definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelConfigRecord {
    /// ID.
    pub id: TunnelConfigId,
    /// Name, unique in the account.
    pub name: String,
    /// Whether agents run it.
    pub enabled: bool,
    /// The definition (basic-auth passwords as digests).
    pub definition: TunnelDefinition,
    /// Grows with each change.
    pub revision: i64,
    /// Created at.
    pub created_at: OffsetDateTime,
    /// Last changed at.
    pub updated_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    enabled: bool,
    definition: String,
    revision: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for TunnelConfigRecord {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            definition: serde_json::from_str(&r.definition)
                .map_err(|e| StoreError::Corrupt(format!("definition of {}: {e}", r.id)))?,
            name: r.name,
            enabled: r.enabled,
            revision: r.revision,
            created_at: from_millis(r.created_at)?,
            updated_at: from_millis(r.updated_at)?,
        })
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWrite {
    /// Done; the row as it is now.
    Done(Box<TunnelConfigRecord>),
    /// Another definition of the account has the name.
    NameTaken,
    /// The account holds the most definitions it may.
    LimitReached,
    /// No such definition in this account.
    NotFound,
}

/// A definition to store.
#[derive(Debug, Clone)]
pub struct NewTunnelConfig<'a> {
    /// Name.
    pub name: &'a str,
    /// Whether agents run it.
    pub enabled: bool,
    /// The checked definition.
    pub definition: &'a TunnelDefinition,
}

const COLUMNS: &str = "id, name, enabled, definition, revision, created_at, updated_at";

/// Appends to the change feed; run in the transaction of the change.
const LOG_CHANGE: &str =
    "INSERT INTO tunnel_config_changes (account_id, changed_at) VALUES ($1, $2)";

fn encode(d: &TunnelDefinition) -> Result<String, StoreError> {
    serde_json::to_string(d).map_err(|e| StoreError::Corrupt(format!("encoding a definition: {e}")))
}

impl Store {
    /// Stores a new definition unless the name is taken in the account or it holds `max`.
    pub async fn create_tunnel_config(
        &self,
        id: &TunnelConfigId,
        account: &AccountId,
        new: &NewTunnelConfig<'_>,
        max: usize,
        now: OffsetDateTime,
    ) -> Result<ConfigWrite, StoreError> {
        let definition = encode(new.definition)?;
        let now_ms = to_millis(now);
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let result = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // Write first, count after: on SQLite the write takes the lock, so the count is
            // true until commit; on PostgreSQL two racing creates may both pass (one over the
            // limit at worst), which a limit of this kind tolerates.
            let inserted = sqlx::query(
                "INSERT INTO tunnel_configs (id, account_id, name, enabled, definition, revision, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
            )
            .bind(id.as_str())
            .bind(account.as_str())
            .bind(new.name)
            .bind(new.enabled)
            .bind(&definition)
            .bind(now_ms)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Ok(ConfigWrite::NameTaken),
                Err(e) => return Err(e.into()),
            }
            let (held,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM tunnel_configs WHERE account_id = $1")
                    .bind(account.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
            if held > max {
                return Ok(ConfigWrite::LimitReached);
            }
            sqlx::query(LOG_CHANGE)
                .bind(account.as_str())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        });
        result?;
        self.tunnel_config_write(account, id).await
    }

    /// Replaces definition `id` of `account` (name, enabled and definition).
    pub async fn replace_tunnel_config(
        &self,
        id: &TunnelConfigId,
        account: &AccountId,
        new: &NewTunnelConfig<'_>,
        now: OffsetDateTime,
    ) -> Result<ConfigWrite, StoreError> {
        let definition = encode(new.definition)?;
        let now_ms = to_millis(now);
        let result = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE tunnel_configs SET name = $1, enabled = $2, definition = $3, \
                 revision = revision + 1, updated_at = $4 WHERE id = $5 AND account_id = $6",
            )
            .bind(new.name)
            .bind(new.enabled)
            .bind(&definition)
            .bind(now_ms)
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await;
            match updated {
                Ok(r) if r.rows_affected() == 0 => return Ok(ConfigWrite::NotFound),
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Ok(ConfigWrite::NameTaken),
                Err(e) => return Err(e.into()),
            }
            sqlx::query(LOG_CHANGE)
                .bind(account.as_str())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        });
        result?;
        self.tunnel_config_write(account, id).await
    }

    /// Starts (`true`) or stops definition `id` of `account`. Setting what is already set
    /// changes nothing and logs no change.
    pub async fn set_tunnel_config_enabled(
        &self,
        id: &TunnelConfigId,
        account: &AccountId,
        enabled: bool,
        now: OffsetDateTime,
    ) -> Result<ConfigWrite, StoreError> {
        let now_ms = to_millis(now);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE tunnel_configs SET enabled = $1, revision = revision + 1, updated_at = $2 \
                 WHERE id = $3 AND account_id = $4 AND enabled <> $1",
            )
            .bind(enabled)
            .bind(now_ms)
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 1 {
                sqlx::query(LOG_CHANGE)
                .bind(account.as_str())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        self.tunnel_config_write(account, id).await
    }

    /// Deletes definition `id` of `account`; `false` if there is none.
    pub async fn delete_tunnel_config(
        &self,
        id: &TunnelConfigId,
        account: &AccountId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now_ms = to_millis(now);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM tunnel_configs WHERE id = $1 AND account_id = $2")
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 1 {
                sqlx::query(LOG_CHANGE)
                .bind(account.as_str())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(deleted == 1)
        })
    }

    /// Definition `id`, if `account` has it.
    pub async fn tunnel_config(
        &self,
        account: &AccountId,
        id: &TunnelConfigId,
    ) -> Result<Option<TunnelConfigRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tunnel_configs WHERE id = $1 AND account_id = $2");
        let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?);
        row.map(TryInto::try_into).transpose()
    }

    /// The account's definitions by name, with their version: the newest change's position in
    /// the feed (0 when the account never had any).
    pub async fn tunnel_configs(
        &self,
        account: &AccountId,
    ) -> Result<(i64, Vec<TunnelConfigRecord>), StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM tunnel_configs WHERE account_id = $1 ORDER BY name");
        // One transaction, so the version read is the one the rows belong to.
        let (version, rows): (Option<i64>, Vec<Row>) = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (version,): (Option<i64>,) = sqlx::query_as(
                "SELECT MAX(seq) FROM tunnel_config_changes WHERE account_id = $1",
            )
            .bind(account.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(account.as_str())
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            (version, rows)
        });
        let records = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?;
        Ok((version.unwrap_or(0), records))
    }

    /// Accounts whose definitions changed after `cursor` (a position in the feed), each once,
    /// from at most `limit` changes, with the position of the last change read (`cursor` when
    /// none). On PostgreSQL a change may commit after a later one; relays also refetch their
    /// accounts' definitions now and then, which bounds how long such a change waits.
    pub async fn tunnel_config_changes_after(
        &self,
        cursor: i64,
        limit: i64,
    ) -> Result<(Vec<AccountId>, i64), StoreError> {
        const SQL: &str = "SELECT seq, account_id FROM tunnel_config_changes \
                           WHERE seq > $1 ORDER BY seq LIMIT $2";
        let rows: Vec<(i64, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(cursor)
            .bind(limit)
            .fetch_all(pool)
            .await?);
        let next = rows.last().map_or(cursor, |(seq, _)| *seq);
        let mut accounts: Vec<AccountId> = Vec::new();
        for (_, id) in rows {
            let id = parse_id(&id)?;
            if !accounts.contains(&id) {
                accounts.push(id);
            }
        }
        Ok((accounts, next))
    }

    /// Forgets feed entries older than `before`, keeping each account's newest (its version).
    pub async fn purge_tunnel_config_changes(
        &self,
        before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM tunnel_config_changes WHERE changed_at < $1 \
                           AND seq < (SELECT MAX(seq) FROM tunnel_config_changes c \
                                      WHERE c.account_id = tunnel_config_changes.account_id)";
        Ok(on_pool!(self, pool => sqlx::query(SQL)
            .bind(to_millis(before))
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// The outcome of a write that went through: the row, read back.
    async fn tunnel_config_write(
        &self,
        account: &AccountId,
        id: &TunnelConfigId,
    ) -> Result<ConfigWrite, StoreError> {
        Ok(match self.tunnel_config(account, id).await? {
            Some(r) => ConfigWrite::Done(Box::new(r)),
            None => ConfigWrite::NotFound,
        })
    }
}
