//! Live tunnels ("bindings") and the names they hold.
//!
//! A bind claims its name by inserting the name's `live_names` row; the row's primary key
//! serialises two relays binding one name at once (the second insert waits for the first
//! transaction, then sees its row). A name stays claimed while any binding on a healthy relay
//! holds it; bindings on relays that stopped heartbeating are reaped when the name is bound
//! again, so an agent that fails over to another relay gets its name back at once.

use super::{Store, StoreError, from_millis, on_pool, parse_id, to_millis};
use fdt_api::plans::limit;
use fdt_api::{AccountId, AuthtokenId, Entitlements, TunnelId, TunnelInfo, TunnelProto};
use time::OffsetDateTime;

/// Before [`RELEASE_NAME`]: remembers who held a name that no binding holds any more, and
/// when (`$1` = name key, `$2` = now in ms), so the name stays theirs for the reconnect grace
/// period. Without it another account could bind the name while a relay still held visitors'
/// requests for it, and receive them.
pub(crate) const GRACE_NAME: &str = "INSERT INTO name_graces (name_key, account_id, released_at) \
     SELECT name_key, account_id, $2 FROM live_names WHERE name_key = $1 \
     AND NOT EXISTS (SELECT 1 FROM bindings WHERE name_key = $1) \
     ON CONFLICT (name_key) DO UPDATE SET account_id = excluded.account_id, \
     released_at = excluded.released_at";

/// Frees a name's `live_names` row once no binding holds it (`$1` = name key).
pub(crate) const RELEASE_NAME: &str = "DELETE FROM live_names WHERE name_key = $1 \
     AND NOT EXISTS (SELECT 1 FROM bindings WHERE name_key = $1)";

/// The key a name is claimed under: `host:<label>` for http and tls (one host name serves
/// both), `tcp:<region>:<port>` for tcp (a reserved TCP address is a port in a region).
pub fn name_key(
    proto: TunnelProto,
    subdomain: Option<&str>,
    region: &str,
    port: Option<u16>,
) -> String {
    match proto {
        TunnelProto::Http | TunnelProto::Tls => format!("host:{}", subdomain.unwrap_or_default()),
        TunnelProto::Tcp => format!("tcp:{region}:{}", port.unwrap_or_default()),
    }
}

/// A [`name_key`] read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKey<'a> {
    /// `host:<label>`.
    Host(&'a str),
    /// `tcp:<region>:<port>`.
    Tcp {
        /// The region.
        region: &'a str,
        /// The port.
        port: u16,
    },
}

impl<'a> NameKey<'a> {
    /// `key` read back; `None` for a key [`name_key`] does not write.
    pub fn parse(key: &'a str) -> Option<Self> {
        if let Some(label) = key.strip_prefix("host:") {
            return Some(Self::Host(label));
        }
        let (region, port) = key.strip_prefix("tcp:")?.rsplit_once(':')?;
        Some(Self::Tcp {
            region,
            port: port.parse().ok()?,
        })
    }
}

/// The subdomain or port a name key holds.
fn split_name_key(key: &str) -> (Option<String>, Option<u16>) {
    match NameKey::parse(key) {
        Some(NameKey::Host(label)) => (Some(label.to_owned()), None),
        Some(NameKey::Tcp { port, .. }) => (None, Some(port)),
        None => (None, None),
    }
}

/// A bind to record.
#[derive(Debug, Clone)]
pub struct NewBinding<'a> {
    /// The new tunnel's ID.
    pub id: &'a TunnelId,
    /// [`name_key`] of the name.
    pub name_key: &'a str,
    /// Subdomain (http, tls) or port (tcp) in a reservation lookup.
    pub reservation: ReservationKey<'a>,
    /// The agent's account.
    pub account_id: &'a AccountId,
    /// The authtoken behind the agent's session.
    pub authtoken_id: Option<&'a AuthtokenId>,
    /// The relay.
    pub relay_id: &'a str,
    /// Its boot.
    pub boot_id: &'a str,
    /// Traffic kind.
    pub proto: TunnelProto,
    /// Public URL.
    pub public_url: &'a str,
    /// Pooling asked for.
    pub pooling: bool,
    /// Agent version.
    pub agent_version: &'a str,
    /// The agent's replica group and this session's index in it: the other replica's
    /// bindings of the name stay.
    pub ha_group: Option<(&'a str, u8)>,
}

/// What identifies a name among reservations.
#[derive(Debug, Clone, Copy)]
pub enum ReservationKey<'a> {
    /// A subdomain.
    Subdomain(&'a str),
    /// A port in a region.
    TcpAddress {
        /// Region.
        region: &'a str,
        /// Port.
        port: u16,
    },
}

/// The limits a bind is checked against.
#[derive(Debug, Clone)]
pub struct BindLimits {
    /// The account's plan.
    pub entitlements: Entitlements,
    /// Relays heard from before this are unhealthy (their tunnels do not count).
    pub healthy_cutoff: OffsetDateTime,
    /// First day of the current month, `YYYY-MM-DD` (bandwidth is counted from it).
    pub month_start: String,
    /// Names released after this are still their last owner's (the reconnect grace period):
    /// another account binding one gets `InUse`.
    pub grace_cutoff: OffsetDateTime,
}

/// The answer to a bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindOutcome {
    /// Recorded; `replaced` are tunnels of the same agent this one took the name from, with
    /// the relay holding each.
    Granted {
        /// `(tunnel, relay)` pairs ended by the takeover.
        replaced: Vec<(TunnelId, String)>,
    },
    /// A live tunnel of another account, or of another agent without pooling, holds it.
    InUse,
    /// Another account reserved it.
    Reserved,
    /// A plan limit: its name and the limit's value.
    LimitExceeded(&'static str, u64),
}

#[derive(sqlx::FromRow)]
struct BindingRow {
    id: String,
    name_key: String,
    authtoken_id: Option<String>,
    relay_id: String,
    region: String,
    proto: String,
    public_url: String,
    pooling: i64,
    agent_version: String,
    started_at: i64,
}

impl BindingRow {
    fn into_api(self) -> Result<TunnelInfo, StoreError> {
        let (subdomain, port) = split_name_key(&self.name_key);
        Ok(TunnelInfo {
            id: parse_id(&self.id)?,
            proto: TunnelProto::parse(&self.proto)
                .ok_or_else(|| StoreError::Corrupt(format!("proto {:?}", self.proto)))?,
            public_url: self.public_url,
            subdomain,
            port,
            pooling: self.pooling != 0,
            relay_id: self.relay_id,
            region: self.region,
            agent_version: self.agent_version,
            authtoken_id: self.authtoken_id.as_deref().map(parse_id).transpose()?,
            started_at: from_millis(self.started_at)?,
        })
    }
}

/// Queues a tunnel for its relay to close (`$1` relay, `$2` tunnel, `$3` now).
const EVICT: &str = "INSERT INTO binding_evictions (relay_id, binding_id, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

/// Bindings on healthy relays (current boot), with their relay's region. `$1` = health cutoff.
/// Queries extend it with constant text only (hence `AssertSqlSafe` where they are built).
pub(crate) const LIVE_BINDINGS: &str = "SELECT b.id, b.name_key, b.authtoken_id, b.relay_id, r.region, \
     b.proto, b.public_url, b.pooling, b.agent_version, b.started_at \
     FROM bindings b JOIN relays r ON r.id = b.relay_id AND r.boot_id = b.boot_id \
     WHERE r.last_seen_at >= $1";

/// Ends the bindings of a name that are on unhealthy relays or a relay's previous boot.
/// `$1` = name key, `$2` = health cutoff.
/// An account's tunnels online on healthy relays, an agent's replica bindings of one name
/// counted once. `$1` = health cutoff, `$2` = the account.
const ONLINE_TUNNELS: &str = "SELECT COUNT(DISTINCT CASE WHEN b.ha_group IS NULL THEN b.id \
     ELSE b.name_key || '/' || b.ha_group END) \
     FROM bindings b JOIN relays r ON r.id = b.relay_id AND r.boot_id = b.boot_id \
     WHERE r.last_seen_at >= $1 AND b.account_id = $2";

const REAP_NAME: &str = "DELETE FROM bindings WHERE name_key = $1 AND NOT EXISTS \
     (SELECT 1 FROM relays r WHERE r.id = bindings.relay_id AND r.boot_id = bindings.boot_id \
      AND r.last_seen_at >= $2)";

impl Store {
    /// Records a bind if the name is free (or poolable, or held by the same agent) and the
    /// account is within its plan. Everything happens in one transaction: a refusal stores
    /// nothing.
    pub async fn claim_binding(
        &self,
        b: &NewBinding<'_>,
        limits: &BindLimits,
        now: OffsetDateTime,
    ) -> Result<BindOutcome, StoreError> {
        let now_ms = to_millis(now);
        let cutoff = to_millis(limits.healthy_cutoff);
        let account = b.account_id.as_str();
        let authtoken = b.authtoken_id.map(AuthtokenId::as_str);
        let (group, replica) = match b.ha_group {
            Some((g, r)) => (Some(g), i64::from(r)),
            None => (None, 0),
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let fresh = sqlx::query(
                "INSERT INTO live_names (name_key, account_id, authtoken_id, pooling, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name_key) DO NOTHING",
            )
            .bind(b.name_key)
            .bind(account)
            .bind(authtoken)
            .bind(i64::from(b.pooling))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1;
            // Reservations first: a reserved name is refused to others even while offline.
            let reserved_by: Option<(String,)> = match b.reservation {
                ReservationKey::Subdomain(s) => sqlx::query_as(
                    "SELECT account_id FROM reserved_names WHERE subdomain = $1",
                )
                .bind(s)
                .fetch_optional(&mut *tx)
                .await?,
                ReservationKey::TcpAddress { region, port } => sqlx::query_as(
                    "SELECT account_id FROM reserved_names WHERE region = $1 AND port = $2",
                )
                .bind(region)
                .bind(i64::from(port))
                .fetch_optional(&mut *tx)
                .await?,
            };
            if reserved_by.is_some_and(|(owner,)| owner != account) {
                return Ok(BindOutcome::Reserved);
            }
            // A name its owner's tunnel left moments ago is still theirs: their agent is
            // reconnecting, and a relay may hold visitors' requests for it.
            let grace: Option<(String,)> = sqlx::query_as(
                "SELECT account_id FROM name_graces WHERE name_key = $1 AND released_at > $2",
            )
            .bind(b.name_key)
            .bind(to_millis(limits.grace_cutoff))
            .fetch_optional(&mut *tx)
            .await?;
            if grace.is_some_and(|(owner,)| owner != account) {
                return Ok(BindOutcome::InUse);
            }
            let mut replaced = Vec::new();
            if !fresh {
                sqlx::query(REAP_NAME)
                    .bind(b.name_key)
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await?;
                let (holders,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM bindings WHERE name_key = $1")
                        .bind(b.name_key)
                        .fetch_one(&mut *tx)
                        .await?;
                let (owner, owner_atk, owner_pooling): (String, Option<String>, i64) = sqlx::query_as(
                    "SELECT account_id, authtoken_id, pooling FROM live_names WHERE name_key = $1",
                )
                .bind(b.name_key)
                .fetch_one(&mut *tx)
                .await?;
                let join = holders > 0 && owner == account && owner_pooling != 0 && b.pooling;
                let same_agent = owner == account && authtoken.is_some() && owner_atk.as_deref() == authtoken;
                if holders > 0 && !join && !same_agent {
                    return Ok(BindOutcome::InUse);
                }
                if holders > 0 && !join {
                    // The same agent again (a reconnect, or a failover to another relay): it
                    // takes the name over; its older tunnels are closed where they run —
                    // except its other replica session's (same group), which stay.
                    let gone: Vec<(String, String)> = sqlx::query_as(
                        "DELETE FROM bindings WHERE name_key = $1 \
                         AND NOT (COALESCE(ha_group = $2, FALSE) AND ha_replica <> $3) \
                         RETURNING id, relay_id",
                    )
                    .bind(b.name_key)
                    .bind(group)
                    .bind(replica)
                    .fetch_all(&mut *tx)
                    .await?;
                    for (id, relay) in &gone {
                        sqlx::query(EVICT)
                        .bind(relay)
                        .bind(id)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                        replaced.push((parse_id(id)?, relay.clone()));
                    }
                }
                if !join {
                    sqlx::query(
                        "UPDATE live_names SET account_id = $2, authtoken_id = $3, pooling = $4, \
                         updated_at = $5 WHERE name_key = $1",
                    )
                    .bind(b.name_key)
                    .bind(account)
                    .bind(authtoken)
                    .bind(i64::from(b.pooling))
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            // An agent's replica sessions hold one tunnel between them: counted once, and a
            // replica of a tunnel already online adds none.
            let (replicas,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM bindings WHERE name_key = $1 AND ha_group = $2 \
                 AND ha_replica <> $3",
            )
            .bind(b.name_key)
            .bind(group)
            .bind(replica)
            .fetch_one(&mut *tx)
            .await?;
            let (online,): (i64,) = sqlx::query_as(ONLINE_TUNNELS)
                .bind(cutoff)
                .bind(account)
                .fetch_one(&mut *tx)
                .await?;
            let ent = &limits.entitlements;
            if replicas == 0 && online >= i64::from(ent.online_tunnels) {
                return Ok(BindOutcome::LimitExceeded(limit::ONLINE_TUNNELS, u64::from(ent.online_tunnels)));
            }
            let (bytes,): (i64,) = sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(bytes_in + bytes_out), 0) AS BIGINT) FROM usage_daily \
                 WHERE account_id = $1 AND day >= $2",
            )
            .bind(account)
            .bind(&limits.month_start)
            .fetch_one(&mut *tx)
            .await?;
            if u64::try_from(bytes).unwrap_or(0) >= ent.bandwidth_bytes_per_month {
                return Ok(BindOutcome::LimitExceeded(limit::BANDWIDTH, ent.bandwidth_bytes_per_month));
            }
            // The name is live again; graces that ran out go too (any bind sweeps them).
            sqlx::query("DELETE FROM name_graces WHERE name_key = $1 OR released_at <= $2")
                .bind(b.name_key)
                .bind(to_millis(limits.grace_cutoff))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO bindings (id, name_key, account_id, authtoken_id, relay_id, boot_id, \
                 proto, public_url, pooling, agent_version, started_at, ha_group, ha_replica) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(b.id.as_str())
            .bind(b.name_key)
            .bind(account)
            .bind(authtoken)
            .bind(b.relay_id)
            .bind(b.boot_id)
            .bind(b.proto.as_str())
            .bind(b.public_url)
            .bind(i64::from(b.pooling))
            .bind(b.agent_version)
            .bind(now_ms)
            .bind(group)
            .bind(replica)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(BindOutcome::Granted { replaced })
        })
    }

    /// The account's tunnels on healthy relays, oldest first.
    pub async fn list_tunnels(
        &self,
        account: &AccountId,
        healthy_cutoff: OffsetDateTime,
    ) -> Result<Vec<TunnelInfo>, StoreError> {
        let sql = format!("{LIVE_BINDINGS} AND b.account_id = $2 ORDER BY b.started_at, b.id");
        let rows: Vec<BindingRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(to_millis(healthy_cutoff))
            .bind(account.as_str())
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(BindingRow::into_api).collect()
    }

    /// Every tunnel on healthy relays with its account, oldest first (operators' view).
    pub async fn all_live_tunnels(
        &self,
        healthy_cutoff: OffsetDateTime,
    ) -> Result<Vec<(AccountId, TunnelInfo)>, StoreError> {
        let sql = LIVE_BINDINGS.replace("SELECT b.id,", "SELECT b.account_id, b.id,")
            + " ORDER BY b.started_at, b.id LIMIT 10000";
        let rows: Vec<(String, BindingRow)> = {
            #[derive(sqlx::FromRow)]
            struct Row {
                account_id: String,
                #[sqlx(flatten)]
                b: BindingRow,
            }
            let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(to_millis(healthy_cutoff))
                .fetch_all(pool)
                .await?);
            rows.into_iter().map(|r| (r.account_id, r.b)).collect()
        };
        rows.into_iter()
            .map(|(a, b)| Ok((parse_id(&a)?, b.into_api()?)))
            .collect()
    }

    /// The account that owns a live tunnel.
    pub async fn tunnel_owner(&self, id: &TunnelId) -> Result<Option<AccountId>, StoreError> {
        const SQL: &str = "SELECT account_id FROM bindings WHERE id = $1";
        let row: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?);
        row.map(|(a,)| parse_id(&a)).transpose()
    }

    /// Every tunnel on healthy relays (operators' view).
    pub async fn count_live_tunnels(
        &self,
        healthy_cutoff: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM ({LIVE_BINDINGS}) t");
        let (n,): (i64,) = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(to_millis(healthy_cutoff))
            .fetch_one(pool)
            .await?);
        Ok(n)
    }

    /// Ends one of the account's tunnels: the row goes at once and its relay is told to close
    /// it in its next heartbeat answer. False when the account has no such tunnel.
    pub async fn stop_tunnel(
        &self,
        account: &AccountId,
        id: &TunnelId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let gone: Option<(String, String)> = sqlx::query_as(
                "DELETE FROM bindings WHERE id = $1 AND account_id = $2 RETURNING relay_id, name_key",
            )
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let Some((relay, name)) = gone else {
                return Ok(false);
            };
            sqlx::query(GRACE_NAME).bind(&name).bind(to_millis(now)).execute(&mut *tx).await?;
            sqlx::query(RELEASE_NAME).bind(&name).execute(&mut *tx).await?;
            sqlx::query(EVICT)
            .bind(&relay)
            .bind(id.as_str())
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_keys_round_trip() {
        let k = name_key(TunnelProto::Http, Some("app"), "eu", None);
        assert_eq!(k, "host:app");
        assert_eq!(name_key(TunnelProto::Tls, Some("app"), "us", None), k);
        assert_eq!(split_name_key(&k), (Some("app".into()), None));
        let t = name_key(TunnelProto::Tcp, None, "eu", Some(20_001));
        assert_eq!(t, "tcp:eu:20001");
        assert_eq!(split_name_key(&t), (None, Some(20_001)));
        assert_eq!(
            NameKey::parse(&t),
            Some(NameKey::Tcp {
                region: "eu",
                port: 20_001
            })
        );
        assert_eq!(NameKey::parse(&k), Some(NameKey::Host("app")));
        for bad in ["", "tcp:eu", "tcp:eu:port", "tcp:eu:70000", "other:x"] {
            assert_eq!(NameKey::parse(bad), None, "{bad:?}");
        }
    }
}
