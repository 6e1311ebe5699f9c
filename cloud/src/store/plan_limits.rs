//! Bringing an account back within its plan after the plan shrank: tunnels online beyond the
//! plan's count end (the newest first), each with the reason its relay passes to the agent.

use super::tunnels::{GRACE_NAME, LIVE_BINDINGS, RELEASE_NAME};
use super::{Store, StoreError, on_pool, parse_id, to_millis};
use fdt_api::{AccountId, TunnelId};
use time::OffsetDateTime;

impl Store {
    /// Ends `account`'s online tunnels beyond the `keep` oldest (on healthy relays, heard from
    /// at or after `healthy_cutoff`), in one transaction: each binding row goes, its name gets
    /// the usual reconnect grace, and its relay is told to close it with `reason`. Returns the
    /// tunnels ended.
    pub async fn evict_over_limit(
        &self,
        account: &AccountId,
        keep: u32,
        healthy_cutoff: OffsetDateTime,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<TunnelId>, StoreError> {
        let sql = format!(
            "SELECT t.id, t.relay_id, t.name_key FROM ({LIVE_BINDINGS} AND b.account_id = $2) t \
             ORDER BY t.started_at, t.id"
        );
        let now_ms = to_millis(now);
        let ended: Vec<String> = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let live: Vec<(String, String, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(to_millis(healthy_cutoff))
                    .bind(account.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
            let mut ended = Vec::new();
            for (id, relay, name) in live.into_iter().skip(keep as usize) {
                sqlx::query("DELETE FROM bindings WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(GRACE_NAME).bind(&name).bind(now_ms).execute(&mut *tx).await?;
                sqlx::query(RELEASE_NAME).bind(&name).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO binding_evictions (relay_id, binding_id, created_at, reason) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (relay_id, binding_id) \
                     DO UPDATE SET reason = excluded.reason",
                )
                .bind(&relay)
                .bind(&id)
                .bind(now_ms)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                ended.push(id);
            }
            tx.commit().await?;
            ended
        });
        ended.iter().map(|id| parse_id(id)).collect()
    }
}
