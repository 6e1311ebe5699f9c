//! Relays: registration and heartbeats (with their reports of ended tunnels and usage,
//! applied exactly once per `(boot_id, seq)`), and the fleet as assignment sees it.

use super::tunnels::{GRACE_NAME, RELEASE_NAME};
use super::{Store, StoreError, from_millis, on_pool, parse_id, to_millis};
use fdt_api::{RelayHeartbeat, RelayLoad, TunnelId, TunnelProto};
use time::OffsetDateTime;

/// A relay as its last applied heartbeat described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRecord {
    /// Relay ID.
    pub id: String,
    /// Region.
    pub region: String,
    /// QUIC address agents dial.
    pub agent_addr: String,
    /// Certificate name.
    pub server_name: String,
    /// Software version.
    pub version: String,
    /// Sessions it takes.
    pub capacity: u32,
    /// Relative share.
    pub weight: u32,
    /// Draining.
    pub draining: bool,
    /// Load at the last heartbeat.
    pub load: RelayLoad,
    /// Last heartbeat.
    pub last_seen_at: OffsetDateTime,
}

impl RelayRecord {
    /// Heard from at or after `cutoff` (the health window's start).
    pub fn heard_since(&self, cutoff: OffsetDateTime) -> bool {
        self.last_seen_at >= cutoff
    }
}

#[derive(sqlx::FromRow)]
struct RelayRow {
    id: String,
    region: String,
    agent_addr: String,
    server_name: String,
    version: String,
    capacity: i64,
    weight: i64,
    draining: i64,
    sessions: i64,
    tunnels: i64,
    connections: i64,
    last_seen_at: i64,
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

impl TryFrom<RelayRow> for RelayRecord {
    type Error = StoreError;

    fn try_from(r: RelayRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            region: r.region,
            agent_addr: r.agent_addr,
            server_name: r.server_name,
            version: r.version,
            capacity: to_u32(r.capacity),
            weight: to_u32(r.weight),
            draining: r.draining != 0,
            load: RelayLoad {
                sessions: to_u32(r.sessions),
                tunnels: to_u32(r.tunnels),
                connections: to_u32(r.connections),
            },
            last_seen_at: from_millis(r.last_seen_at)?,
        })
    }
}

/// What a heartbeat did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    /// False for a repeat of a heartbeat already applied (its reports were not counted again).
    pub applied: bool,
    /// The relay came back with a new boot: its earlier tunnels were ended.
    pub restarted: bool,
    /// Tunnels the relay must close.
    pub evict: Vec<TunnelId>,
    /// Reasons given for some of them.
    pub reasons: Vec<(TunnelId, String)>,
}

/// Most evictions handed out per heartbeat.
const MAX_EVICTIONS: i64 = 5_000;

const RELAY_COLUMNS: &str = "id, region, agent_addr, server_name, version, capacity, weight, \
     draining, sessions, tunnels, connections, last_seen_at";

impl Store {
    /// Applies a relay heartbeat at `now`: registers or updates the relay, ends the tunnels of
    /// a previous boot and the ones reported ended, adds the usage reports, and returns the
    /// evictions pending for the relay. A heartbeat whose `seq` is not above the last one
    /// applied for its boot only refreshes `last_seen_at`.
    pub async fn apply_heartbeat(
        &self,
        hb: &RelayHeartbeat,
        now: OffsetDateTime,
    ) -> Result<HeartbeatOutcome, StoreError> {
        let now_ms = to_millis(now);
        let seq = i64::try_from(hb.seq).unwrap_or(i64::MAX);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // A write first: SQLite then holds the write lock for the whole transaction, so
            // the read below cannot go stale before the writes that depend on it.
            sqlx::query("UPDATE relays SET last_seen_at = $2 WHERE id = $1")
                .bind(&hb.relay_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            let prev: Option<(String, i64)> =
                sqlx::query_as("SELECT boot_id, last_seq FROM relays WHERE id = $1")
                    .bind(&hb.relay_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let duplicate = matches!(&prev, Some((boot, last)) if *boot == hb.boot_id && seq <= *last);
            let restarted = matches!(&prev, Some((boot, _)) if *boot != hb.boot_id);
            if !duplicate {
                if restarted {
                    let names: Vec<(String,)> = sqlx::query_as(
                        "DELETE FROM bindings WHERE relay_id = $1 AND boot_id <> $2 RETURNING name_key",
                    )
                    .bind(&hb.relay_id)
                    .bind(&hb.boot_id)
                    .fetch_all(&mut *tx)
                    .await?;
                    for (name,) in &names {
                        sqlx::query(GRACE_NAME).bind(name).bind(now_ms).execute(&mut *tx).await?;
                        sqlx::query(RELEASE_NAME).bind(name).execute(&mut *tx).await?;
                    }
                    sqlx::query("DELETE FROM binding_evictions WHERE relay_id = $1")
                        .bind(&hb.relay_id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO relays (id, region, agent_addr, server_name, version, capacity, \
                     weight, draining, sessions, tunnels, connections, boot_id, last_seq, \
                     registered_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
                     ON CONFLICT (id) DO UPDATE SET region = excluded.region, \
                     agent_addr = excluded.agent_addr, server_name = excluded.server_name, \
                     version = excluded.version, capacity = excluded.capacity, \
                     weight = excluded.weight, draining = excluded.draining, \
                     sessions = excluded.sessions, tunnels = excluded.tunnels, \
                     connections = excluded.connections, boot_id = excluded.boot_id, \
                     last_seq = excluded.last_seq, last_seen_at = excluded.last_seen_at",
                )
                .bind(&hb.relay_id)
                .bind(&hb.region)
                .bind(&hb.agent_addr)
                .bind(&hb.server_name)
                .bind(&hb.version)
                .bind(i64::from(hb.capacity))
                .bind(i64::from(hb.weight))
                .bind(i64::from(hb.draining))
                .bind(i64::from(hb.load.sessions))
                .bind(i64::from(hb.load.tunnels))
                .bind(i64::from(hb.load.connections))
                .bind(&hb.boot_id)
                .bind(seq)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                for id in &hb.ended {
                    let name: Option<(String,)> = sqlx::query_as(
                        "DELETE FROM bindings WHERE id = $1 AND relay_id = $2 RETURNING name_key",
                    )
                    .bind(id.as_str())
                    .bind(&hb.relay_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((name,)) = name {
                        sqlx::query(GRACE_NAME).bind(&name).bind(now_ms).execute(&mut *tx).await?;
                        sqlx::query(RELEASE_NAME).bind(&name).execute(&mut *tx).await?;
                    }
                    sqlx::query("DELETE FROM binding_evictions WHERE relay_id = $1 AND binding_id = $2")
                        .bind(&hb.relay_id)
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                for u in &hb.usage {
                    // Reports for accounts deleted since are dropped, not failed on.
                    sqlx::query(
                        "INSERT INTO usage_daily (account_id, day, requests, bytes_in, bytes_out, connections) \
                         SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM accounts WHERE id = $1) \
                         ON CONFLICT (account_id, day) DO UPDATE SET \
                         requests = usage_daily.requests + excluded.requests, \
                         bytes_in = usage_daily.bytes_in + excluded.bytes_in, \
                         bytes_out = usage_daily.bytes_out + excluded.bytes_out, \
                         connections = usage_daily.connections + excluded.connections",
                    )
                    .bind(u.account_id.as_str())
                    .bind(&u.day)
                    .bind(i64::try_from(u.requests).unwrap_or(i64::MAX))
                    .bind(i64::try_from(u.bytes_in).unwrap_or(i64::MAX))
                    .bind(i64::try_from(u.bytes_out).unwrap_or(i64::MAX))
                    .bind(i64::try_from(u.connections).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let evict: Vec<(String, Option<String>)> = sqlx::query_as(
                "SELECT binding_id, reason FROM binding_evictions WHERE relay_id = $1 \
                 ORDER BY created_at LIMIT $2",
            )
            .bind(&hb.relay_id)
            .bind(MAX_EVICTIONS)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(HeartbeatOutcome {
                applied: !duplicate,
                restarted,
                evict: evict.iter().map(|(id, _)| parse_id(id)).collect::<Result<_, _>>()?,
                reasons: evict
                    .iter()
                    .filter_map(|(id, r)| Some((id, r.as_ref()?)))
                    .map(|(id, r)| Ok((parse_id(id)?, r.clone())))
                    .collect::<Result<_, StoreError>>()?,
            })
        })
    }

    /// Every registered relay, by region then ID.
    pub async fn list_relays(&self) -> Result<Vec<RelayRecord>, StoreError> {
        let sql = format!("SELECT {RELAY_COLUMNS} FROM relays ORDER BY region, id");
        let rows: Vec<RelayRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(pool).await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The relays heard from at or after `cutoff` that hold a live binding of `name_key` on
    /// their current boot, each once, by ID (at most 16: a pooled name's relays).
    pub async fn placement(
        &self,
        name_key: &str,
        cutoff: OffsetDateTime,
    ) -> Result<Vec<fdt_api::PlacedRelay>, StoreError> {
        const SQL: &str = "SELECT DISTINCT r.id, r.region, r.agent_addr, r.server_name, b.proto \
             FROM bindings b JOIN relays r ON r.id = b.relay_id AND r.boot_id = b.boot_id \
             WHERE b.name_key = $1 AND r.last_seen_at >= $2 ORDER BY r.id LIMIT 16";
        let rows: Vec<(String, String, String, String, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(name_key)
            .bind(to_millis(cutoff))
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .filter_map(|(relay_id, region, agent_addr, server_name, proto)| {
                Some(fdt_api::PlacedRelay {
                    relay_id,
                    region,
                    agent_addr,
                    server_name,
                    // The column's CHECK allows only the three kinds.
                    proto: TunnelProto::parse(&proto)?,
                })
            })
            .collect())
    }

    /// The names of live bindings started at or after `since_ms`, oldest first, at most
    /// `limit`, with their start times (the placement feed).
    pub async fn bound_since(
        &self,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        const SQL: &str = "SELECT name_key, started_at FROM bindings WHERE started_at >= $1 \
             ORDER BY started_at LIMIT $2";
        Ok(on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(since_ms)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// The start time of the latest live binding, 0 when there is none.
    pub async fn latest_bound_at(&self) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT COALESCE(MAX(started_at), 0) FROM bindings";
        let (at,): (i64,) = on_pool!(self, pool => sqlx::query_as(SQL).fetch_one(pool).await?);
        Ok(at)
    }

    /// One registered relay with its current boot, if it was heard from at or after `cutoff`.
    pub async fn healthy_relay_boot(
        &self,
        relay_id: &str,
        cutoff: OffsetDateTime,
    ) -> Result<Option<(String, String)>, StoreError> {
        const SQL: &str = "SELECT region, boot_id FROM relays WHERE id = $1 AND last_seen_at >= $2";
        Ok(on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(relay_id)
            .bind(to_millis(cutoff))
            .fetch_optional(pool)
            .await?))
    }
}
