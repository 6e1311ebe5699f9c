//! Usage per account per UTC day (summed from relay heartbeats) and the account's plan.

use super::{Store, StoreError, on_pool};
use fdt_api::{AccountId, Plan, UsageDay};

#[derive(sqlx::FromRow)]
struct UsageRow {
    day: String,
    requests: i64,
    bytes_in: i64,
    bytes_out: i64,
    connections: i64,
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// How many reservations of each kind an account holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReservationCounts {
    /// Subdomains.
    pub subdomains: u32,
    /// TCP addresses.
    pub tcp_addresses: u32,
}

impl Store {
    /// The account's traffic from `from` to `to` (`YYYY-MM-DD`, both included), oldest first;
    /// days without traffic are left out.
    pub async fn usage_days(
        &self,
        account: &AccountId,
        from: &str,
        to: &str,
    ) -> Result<Vec<UsageDay>, StoreError> {
        const SQL: &str = "SELECT day, requests, bytes_in, bytes_out, connections FROM usage_daily \
             WHERE account_id = $1 AND day >= $2 AND day <= $3 ORDER BY day";
        let rows: Vec<UsageRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(account.as_str())
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .map(|r| UsageDay {
                day: r.day,
                requests: to_u64(r.requests),
                bytes_in: to_u64(r.bytes_in),
                bytes_out: to_u64(r.bytes_out),
                connections: to_u64(r.connections),
            })
            .collect())
    }

    /// Bytes both ways since `from` (`YYYY-MM-DD`).
    pub async fn bytes_since(&self, account: &AccountId, from: &str) -> Result<u64, StoreError> {
        const SQL: &str = "SELECT CAST(COALESCE(SUM(bytes_in + bytes_out), 0) AS BIGINT) \
             FROM usage_daily WHERE account_id = $1 AND day >= $2";
        let (n,): (i64,) = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(account.as_str())
            .bind(from)
            .fetch_one(pool)
            .await?);
        Ok(to_u64(n))
    }

    /// Reservations held by the account, per kind.
    pub async fn reservation_counts(
        &self,
        account: &AccountId,
    ) -> Result<ReservationCounts, StoreError> {
        const SQL: &str = "SELECT \
             (SELECT COUNT(*) FROM reserved_names WHERE account_id = $1 AND kind = 'subdomain'), \
             (SELECT COUNT(*) FROM reserved_names WHERE account_id = $1 AND kind = 'tcp_address')";
        let (s, t): (i64, i64) = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(account.as_str())
            .fetch_one(pool)
            .await?);
        let c = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(ReservationCounts {
            subdomains: c(s),
            tcp_addresses: c(t),
        })
    }

    /// The account's plan; `None` when there is no such account.
    pub async fn account_plan(&self, account: &AccountId) -> Result<Option<Plan>, StoreError> {
        const SQL: &str = "SELECT plan FROM accounts WHERE id = $1";
        let row: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?);
        row.map(|(p,)| p.parse().map_err(|e| StoreError::Corrupt(format!("{e}"))))
            .transpose()
    }

    /// Moves the account to `plan` (billing and admins call this). False when there is no such
    /// account.
    pub async fn set_account_plan(
        &self,
        account: &AccountId,
        plan: Plan,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE accounts SET plan = $2 WHERE id = $1";
        let n = on_pool!(self, pool => sqlx::query(SQL)
            .bind(account.as_str())
            .bind(plan.as_str())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }
}
