//! The audit log's storage: appends linked into the hash chains ([`crate::audit::chain`]), the
//! rows in order for verification and export, and signed checkpoints of the head.
//!
//! Appends are serialised on the global head's row in `audit_heads` (an `UPDATE` takes its row
//! lock on PostgreSQL and the write lock on SQLite), so two appends never link to the same
//! predecessor. The first append after the chain migration seals the rows written before it.

use super::{Store, StoreError, from_millis, on_pool, to_millis};
use crate::audit::chain::{self, Fields, GENESIS, Stored};
use fdt_api::AuditEntry;
use time::OffsetDateTime;

/// An action to record.
#[derive(Debug, Clone, Default)]
pub struct NewAudit<'a> {
    /// The organisation (today: the account) it belongs to; empty for fleet-wide actions.
    pub scope: &'a str,
    /// Who acted.
    pub actor: &'a str,
    /// What happened.
    pub action: &'a str,
    /// On what.
    pub target: &'a str,
    /// Details.
    pub detail: serde_json::Value,
    /// The client's address.
    pub ip: Option<std::net::IpAddr>,
    /// The client's user agent (cut to 256 characters).
    pub user_agent: Option<&'a str>,
}

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    at: i64,
    scope: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
    ip: String,
    user_agent: String,
    prev_hash: Option<Vec<u8>>,
    hash: Option<Vec<u8>>,
    scope_prev_hash: Option<Vec<u8>>,
    scope_hash: Option<Vec<u8>>,
}

impl Row {
    fn fields(&self) -> Fields {
        Fields {
            seq: self.seq,
            at_ms: self.at,
            scope: self.scope.clone(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            detail: self.detail.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

const COLUMNS: &str = "seq, at, scope, actor, action, target, detail, ip, user_agent, \
                       prev_hash, hash, scope_prev_hash, scope_hash";

/// Most characters of a user agent kept.
const MAX_USER_AGENT: usize = 256;

fn to_hash(v: Option<Vec<u8>>) -> Result<[u8; 32], StoreError> {
    v.as_deref()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::Corrupt("an audit head without a 32-byte hash".into()))
}

impl Store {
    /// Appends `ev`, linked into the global chain and its scope's.
    pub async fn append_audit(
        &self,
        ev: &NewAudit<'_>,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let user_agent: String = ev
            .user_agent
            .unwrap_or_default()
            .chars()
            .take(MAX_USER_AGENT)
            .collect();
        let mut fields = Fields {
            seq: 0,
            at_ms: to_millis(now),
            scope: ev.scope.to_owned(),
            actor: ev.actor.to_owned(),
            action: ev.action.to_owned(),
            target: ev.target.to_owned(),
            detail: ev.detail.to_string(),
            ip: ev.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            user_agent,
        };
        let seq = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // The lock that orders appends; absent until the first append seals the log.
            let locked = sqlx::query("UPDATE audit_heads SET seq = seq WHERE scope = ''")
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if locked == 0 {
                // First append since the chain exists: link the rows written before it, in
                // order, then take the head's lock.
                let old: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM audit_log ORDER BY seq"
                )))
                .fetch_all(&mut *tx)
                .await?;
                let mut head = (0i64, GENESIS);
                let mut scopes: std::collections::HashMap<String, [u8; 32]> = Default::default();
                for r in &old {
                    let f = r.fields();
                    let (prev, hash, scoped) = chain::link(&head.1, scopes.get(&f.scope), &f);
                    sqlx::query(
                        "UPDATE audit_log SET prev_hash = $1, hash = $2, scope_prev_hash = $3, \
                         scope_hash = $4 WHERE seq = $5",
                    )
                    .bind(prev.to_vec())
                    .bind(hash.to_vec())
                    .bind(scoped.map(|(p, _)| p.to_vec()))
                    .bind(scoped.map(|(_, h)| h.to_vec()))
                    .bind(r.seq)
                    .execute(&mut *tx)
                    .await?;
                    if let Some((_, h)) = scoped {
                        scopes.insert(f.scope.clone(), h);
                    }
                    head = (r.seq, hash);
                }
                for (scope, hash) in scopes.iter().map(|(s, h)| (s.as_str(), h)).chain([("", &head.1)]) {
                    sqlx::query(
                        "INSERT INTO audit_heads (scope, seq, hash) VALUES ($1, $2, $3) \
                         ON CONFLICT (scope) DO NOTHING",
                    )
                    .bind(scope)
                    .bind(head.0)
                    .bind(hash.to_vec())
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query("UPDATE audit_heads SET seq = seq WHERE scope = ''")
                    .execute(&mut *tx)
                    .await?;
            }
            let (head_seq, head_hash): (i64, Vec<u8>) =
                sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE scope = ''")
                    .fetch_one(&mut *tx)
                    .await?;
            let scope_head: Option<(Vec<u8>,)> = if fields.scope.is_empty() {
                None
            } else {
                sqlx::query_as("SELECT hash FROM audit_heads WHERE scope = $1")
                    .bind(&fields.scope)
                    .fetch_optional(&mut *tx)
                    .await?
            };
            let global = to_hash(Some(head_hash))?;
            let scope_prev = scope_head.map(|(h,)| to_hash(Some(h))).transpose()?;
            fields.seq = head_seq + 1;
            let (prev, hash, scoped) = chain::link(&global, scope_prev.as_ref(), &fields);
            sqlx::query(
                "INSERT INTO audit_log (seq, at, scope, actor, action, target, detail, ip, \
                 user_agent, prev_hash, hash, scope_prev_hash, scope_hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(fields.seq)
            .bind(fields.at_ms)
            .bind(&fields.scope)
            .bind(&fields.actor)
            .bind(&fields.action)
            .bind(&fields.target)
            .bind(&fields.detail)
            .bind(&fields.ip)
            .bind(&fields.user_agent)
            .bind(prev.to_vec())
            .bind(hash.to_vec())
            .bind(scoped.map(|(p, _)| p.to_vec()))
            .bind(scoped.map(|(_, h)| h.to_vec()))
            .execute(&mut *tx)
            .await?;
            const HEAD: &str = "INSERT INTO audit_heads (scope, seq, hash) VALUES ($1, $2, $3) \
                                ON CONFLICT (scope) DO UPDATE SET seq = excluded.seq, hash = excluded.hash";
            sqlx::query(HEAD)
                .bind("")
                .bind(fields.seq)
                .bind(hash.to_vec())
                .execute(&mut *tx)
                .await?;
            if let Some((_, sh)) = scoped {
                sqlx::query(HEAD)
                    .bind(&fields.scope)
                    .bind(fields.seq)
                    .bind(sh.to_vec())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            fields.seq
        });
        Ok(seq)
    }

    /// Audit entries with `seq` below `before` (all when `None`), newest first.
    pub async fn audit_entries(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2");
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        rows.into_iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.seq,
                    at: from_millis(r.at)?,
                    detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
                    actor: r.actor,
                    scope: r.scope,
                    action: r.action,
                    target: r.target,
                    ip: r.ip,
                    user_agent: r.user_agent,
                })
            })
            .collect()
    }

    /// Every row from `after` on (exclusive), in `seq` order, at most `limit`, as stored (for
    /// verification and export).
    pub async fn audit_rows(&self, after: i64, limit: i64) -> Result<Vec<Stored>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .map(|r| Stored {
                fields: r.fields(),
                prev_hash: r.prev_hash,
                hash: r.hash,
                scope_prev_hash: r.scope_prev_hash,
                scope_hash: r.scope_hash,
            })
            .collect())
    }

    /// Keeps a signed checkpoint of the head `(seq, hash)`.
    pub async fn add_audit_checkpoint(
        &self,
        seq: i64,
        hash: &[u8; 32],
        token: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str =
            "INSERT INTO audit_checkpoints (at, seq, hash, token) VALUES ($1, $2, $3, $4)";
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(to_millis(now))
            .bind(seq)
            .bind(hash.to_vec())
            .bind(token)
            .execute(pool)
            .await
            .map(drop)?);
        Ok(())
    }

    /// The signed checkpoints kept, oldest first.
    /// The row the newest checkpoint covers (0 with none).
    pub async fn last_audit_checkpoint_seq(&self) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints";
        let (seq,): (i64,) = on_pool!(self, pool => sqlx::query_as(SQL).fetch_one(pool).await?);
        Ok(seq)
    }

    /// Every kept checkpoint's token, oldest first.
    pub async fn audit_checkpoints(&self) -> Result<Vec<String>, StoreError> {
        const SQL: &str = "SELECT token FROM audit_checkpoints ORDER BY id";
        let rows: Vec<(String,)> =
            on_pool!(self, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }
}
