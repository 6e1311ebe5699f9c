//! Reserved names: subdomains and TCP addresses (a port in a region) an account keeps. Every
//! query that takes a reservation ID also takes the caller's account.

use super::{Store, StoreError, from_millis, is_unique_violation, on_pool, parse_id, to_millis};
use fdt_api::{AccountId, ReservedKind, ReservedNameId};
use time::OffsetDateTime;

/// A stored reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedRecord {
    /// ID.
    pub id: ReservedNameId,
    /// Kind.
    pub kind: ReservedKind,
    /// Subdomain.
    pub subdomain: Option<String>,
    /// Region of a TCP address.
    pub region: Option<String>,
    /// Port of a TCP address.
    pub port: Option<u16>,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct ReservedRow {
    id: String,
    kind: String,
    subdomain: Option<String>,
    region: Option<String>,
    port: Option<i64>,
    description: Option<String>,
    created_at: i64,
}

impl TryFrom<ReservedRow> for ReservedRecord {
    type Error = StoreError;

    fn try_from(r: ReservedRow) -> Result<Self, StoreError> {
        let kind = match r.kind.as_str() {
            "subdomain" => ReservedKind::Subdomain,
            "tcp_address" => ReservedKind::TcpAddress,
            other => return Err(StoreError::Corrupt(format!("reservation kind {other:?}"))),
        };
        Ok(Self {
            id: parse_id(&r.id)?,
            kind,
            subdomain: r.subdomain,
            region: r.region,
            port: r
                .port
                .map(|p| u16::try_from(p).map_err(|_| StoreError::Corrupt(format!("port {p}"))))
                .transpose()?,
            description: r.description,
            created_at: from_millis(r.created_at)?,
        })
    }
}

/// Why a reservation was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Made.
    Reserved(ReservedRecord),
    /// The account holds as many of this kind as its plan allows.
    LimitReached,
    /// Someone holds the name: reserved, or online under another account.
    Taken,
    /// No port of the range is free in the region.
    Exhausted,
}

const COLUMNS: &str = "id, kind, subdomain, region, port, description, created_at";

impl Store {
    /// Reserves `subdomain` for `account` unless it already holds `max` subdomains, another
    /// account reserved it, or another account's tunnel is online on it.
    pub async fn reserve_subdomain(
        &self,
        id: &ReservedNameId,
        account: &AccountId,
        subdomain: &str,
        description: Option<&str>,
        max: u32,
        now: OffsetDateTime,
    ) -> Result<ReserveOutcome, StoreError> {
        let key = format!("host:{subdomain}");
        let result = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // Taking the write lock first (SQLite) keeps the count below true until commit.
            sqlx::query("DELETE FROM binding_evictions WHERE 1 = 0").execute(&mut *tx).await?;
            let (held,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM reserved_names WHERE account_id = $1 AND kind = 'subdomain'",
            )
            .bind(account.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if held >= i64::from(max) {
                return Ok(ReserveOutcome::LimitReached);
            }
            let live: Option<(String,)> =
                sqlx::query_as("SELECT account_id FROM live_names WHERE name_key = $1")
                    .bind(&key)
                    .fetch_optional(&mut *tx)
                    .await?;
            if live.is_some_and(|(owner,)| owner != account.as_str()) {
                return Ok(ReserveOutcome::Taken);
            }
            let inserted = sqlx::query(
                "INSERT INTO reserved_names (id, account_id, kind, subdomain, description, created_at) \
                 VALUES ($1, $2, 'subdomain', $3, $4, $5)",
            )
            .bind(id.as_str())
            .bind(account.as_str())
            .bind(subdomain)
            .bind(description)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => tx.commit().await.map(|()| true),
                Err(e) if is_unique_violation(&e) => Ok(false),
                Err(e) => Err(e),
            }
        });
        self.reserved_or_taken(account, id, result).await
    }

    /// Reserves the lowest free port of `ports` in `region` for `account`, unless it already
    /// holds `max` TCP addresses.
    #[allow(clippy::too_many_arguments)]
    pub async fn reserve_tcp_address(
        &self,
        id: &ReservedNameId,
        account: &AccountId,
        region: &str,
        ports: (u16, u16),
        description: Option<&str>,
        max: u32,
        now: OffsetDateTime,
    ) -> Result<ReserveOutcome, StoreError> {
        let result = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM binding_evictions WHERE 1 = 0").execute(&mut *tx).await?;
            let (held,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM reserved_names WHERE account_id = $1 AND kind = 'tcp_address'",
            )
            .bind(account.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if held >= i64::from(max) {
                return Ok(ReserveOutcome::LimitReached);
            }
            // Ports reserved in the region, and ports online there under other accounts.
            let taken: Vec<(i64,)> = sqlx::query_as(
                "SELECT port FROM reserved_names WHERE region = $1 AND port IS NOT NULL",
            )
            .bind(region)
            .fetch_all(&mut *tx)
            .await?;
            let prefix = format!("tcp:{region}:");
            let live: Vec<(String,)> = sqlx::query_as(
                // Regions are `a-z 0-9 -`, so the prefix holds no LIKE wildcard.
                "SELECT name_key FROM live_names WHERE account_id <> $1 AND name_key LIKE $2",
            )
            .bind(account.as_str())
            .bind(format!("{prefix}%"))
            .fetch_all(&mut *tx)
            .await?;
            let mut used: std::collections::HashSet<i64> = taken.into_iter().map(|(p,)| p).collect();
            used.extend(live.iter().filter_map(|(k,)| k[prefix.len()..].parse::<i64>().ok()));
            let Some(port) = (ports.0..=ports.1).map(i64::from).find(|p| !used.contains(p)) else {
                return Ok(ReserveOutcome::Exhausted);
            };
            let inserted = sqlx::query(
                "INSERT INTO reserved_names (id, account_id, kind, region, port, description, created_at) \
                 VALUES ($1, $2, 'tcp_address', $3, $4, $5, $6)",
            )
            .bind(id.as_str())
            .bind(account.as_str())
            .bind(region)
            .bind(port)
            .bind(description)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => tx.commit().await.map(|()| true),
                // Another reservation took the port between our read and insert: PostgreSQL
                // only (SQLite holds the write lock); the caller may retry.
                Err(e) if is_unique_violation(&e) => Ok(false),
                Err(e) => Err(e),
            }
        });
        self.reserved_or_taken(account, id, result).await
    }

    /// The outcome of a reservation insert: the stored row when it went in, `Taken` when a
    /// unique constraint refused it.
    async fn reserved_or_taken(
        &self,
        account: &AccountId,
        id: &ReservedNameId,
        inserted: Result<bool, sqlx::Error>,
    ) -> Result<ReserveOutcome, StoreError> {
        if !inserted? {
            return Ok(ReserveOutcome::Taken);
        }
        Ok(self
            .reservation(account, id)
            .await?
            .map_or(ReserveOutcome::Taken, ReserveOutcome::Reserved))
    }

    /// The account's reservations, oldest first.
    pub async fn list_reservations(
        &self,
        account: &AccountId,
    ) -> Result<Vec<ReservedRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM reserved_names WHERE account_id = $1 ORDER BY created_at, id"
        );
        let rows: Vec<ReservedRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(account.as_str())
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// One of the account's reservations.
    pub async fn reservation(
        &self,
        account: &AccountId,
        id: &ReservedNameId,
    ) -> Result<Option<ReservedRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM reserved_names WHERE id = $1 AND account_id = $2");
        let row: Option<ReservedRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?);
        row.map(TryInto::try_into).transpose()
    }

    /// Sets a reservation's description (None clears it). False when the account has no such
    /// reservation.
    pub async fn update_reservation(
        &self,
        account: &AccountId,
        id: &ReservedNameId,
        description: Option<&str>,
    ) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE reserved_names SET description = $3 WHERE id = $1 AND account_id = $2";
        let n = on_pool!(self, pool => sqlx::query(SQL)
            .bind(id.as_str())
            .bind(account.as_str())
            .bind(description)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Releases a reservation (tunnels online on it stay up until they end). False when the
    /// account has no such reservation.
    pub async fn delete_reservation(
        &self,
        account: &AccountId,
        id: &ReservedNameId,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM reserved_names WHERE id = $1 AND account_id = $2";
        let n = on_pool!(self, pool => sqlx::query(SQL)
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }
}
