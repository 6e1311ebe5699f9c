//! Device authorization codes (RFC 8628): the device code stored by hash, the user code in
//! clear (it is short-lived, and typed by people), the decision, and the poll pacing.
//!
//! Every change is one conditional `UPDATE`, so concurrent polls and decisions cannot both
//! win: a code is decided once, and its authtoken handed out once.

use super::{Store, StoreError, from_millis, on_pool, parse_id, to_millis};
use fdt_api::AccountId;
use time::OffsetDateTime;

/// A device code to store.
#[derive(Debug, Clone)]
pub struct NewDeviceCode<'a> {
    /// SHA-256 of the device code.
    pub device_hash: &'a [u8],
    /// The normalized user code.
    pub user_code: &'a str,
    /// The device's name.
    pub client_name: &'a str,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// Seconds between polls.
    pub interval_secs: u64,
}

/// What a poll finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePoll {
    /// Not decided yet.
    Pending,
    /// Polled before the interval passed; the interval grew by 5 s.
    SlowDown,
    /// Denied.
    Denied,
    /// Unknown, expired, or its token already handed out.
    Expired,
    /// Approved for this account, for the device of this name; the code is now used up.
    Approved {
        /// The account the sign-in is for (an organisation's, when approved inside one).
        account_id: AccountId,
        /// The person who approved it (the authtoken's maker).
        approved_by: AccountId,
        /// The device's name.
        client_name: String,
    },
}

/// Seconds added to a code's interval each time it is polled too fast (RFC 8628 §3.5).
const SLOW_DOWN_SECS: i64 = 5;

#[derive(sqlx::FromRow)]
struct PollRow {
    state: String,
    account_id: Option<String>,
    approved_by: Option<String>,
    client_name: String,
    expires_at: i64,
}

impl Store {
    /// Stores a new code pair; `false` when the user code is taken (draw another).
    pub async fn create_device_code(&self, c: NewDeviceCode<'_>) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO device_codes \
                           (device_hash, user_code, client_name, created_at, expires_at, interval_secs) \
                           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_code) DO NOTHING";
        let interval = i64::try_from(c.interval_secs).unwrap_or(i64::MAX);
        let n = on_pool!(self, pool => sqlx::query(SQL)
            .bind(c.device_hash)
            .bind(c.user_code)
            .bind(c.client_name)
            .bind(to_millis(c.created_at))
            .bind(to_millis(c.expires_at))
            .bind(interval)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Approves (`Some((account, person))`: for `account`, by `person`) or denies (`None`)
    /// the pending, unexpired code `user_code`; `false` when there is no such code (unknown,
    /// expired or already decided).
    pub async fn decide_device_code(
        &self,
        user_code: &str,
        approver: Option<(&AccountId, &AccountId)>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE device_codes SET state = $1, account_id = $2, approved_by = $5 \
                           WHERE user_code = $3 AND state = 'pending' AND expires_at > $4";
        let state = if approver.is_some() {
            "approved"
        } else {
            "denied"
        };
        let n = on_pool!(self, pool => sqlx::query(SQL)
            .bind(state)
            .bind(approver.map(|(a, _)| a.as_str()))
            .bind(user_code)
            .bind(to_millis(now))
            .bind(approver.map(|(_, p)| p.as_str()))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// The device waiting for `user_code` (pending, unexpired): its name, when it asked and
    /// when the code expires.
    pub async fn device_code_pending(
        &self,
        user_code: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(String, OffsetDateTime, OffsetDateTime)>, StoreError> {
        const SQL: &str = "SELECT client_name, created_at, expires_at FROM device_codes \
                           WHERE user_code = $1 AND state = 'pending' AND expires_at > $2";
        let row: Option<(String, i64, i64)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(user_code)
            .bind(to_millis(now))
            .fetch_optional(pool)
            .await?);
        row.map(|(name, created, expires)| Ok((name, from_millis(created)?, from_millis(expires)?)))
            .transpose()
    }

    /// One poll of the device code whose hash is `device_hash`, paced by its interval.
    pub async fn poll_device_code(
        &self,
        device_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<DevicePoll, StoreError> {
        const READ: &str = "SELECT state, account_id, approved_by, client_name, expires_at \
                            FROM device_codes WHERE device_hash = $1";
        // Counts the poll only when the interval has passed since the last one.
        const PACE: &str = "UPDATE device_codes SET last_poll_at = $1 WHERE device_hash = $2 \
                            AND (last_poll_at IS NULL OR last_poll_at + interval_secs * 1000 <= $1)";
        const SLOWER: &str = "UPDATE device_codes SET interval_secs = interval_secs + $1, \
                              last_poll_at = $2 WHERE device_hash = $3";
        const USE: &str = "UPDATE device_codes SET state = 'used' \
                           WHERE device_hash = $1 AND state = 'approved'";
        let now_ms = to_millis(now);
        let row: Option<PollRow> = on_pool!(self, pool => sqlx::query_as(READ)
            .bind(device_hash)
            .fetch_optional(pool)
            .await?);
        let Some(row) = row else {
            return Ok(DevicePoll::Expired);
        };
        if row.expires_at <= now_ms || row.state == "used" {
            return Ok(DevicePoll::Expired);
        }
        let paced = on_pool!(self, pool => sqlx::query(PACE)
            .bind(now_ms)
            .bind(device_hash)
            .execute(pool)
            .await?
            .rows_affected());
        if paced == 0 {
            on_pool!(self, pool => {
                sqlx::query(SLOWER)
                    .bind(SLOW_DOWN_SECS)
                    .bind(now_ms)
                    .bind(device_hash)
                    .execute(pool)
                    .await?;
            });
            return Ok(DevicePoll::SlowDown);
        }
        match row.state.as_str() {
            "pending" => Ok(DevicePoll::Pending),
            "denied" => Ok(DevicePoll::Denied),
            "approved" => {
                let used = on_pool!(self, pool => sqlx::query(USE)
                    .bind(device_hash)
                    .execute(pool)
                    .await?
                    .rows_affected());
                match (used, row.account_id) {
                    (1, Some(account)) => Ok(DevicePoll::Approved {
                        account_id: parse_id(&account)?,
                        // Codes approved before `approved_by` existed: by the account itself.
                        approved_by: parse_id(row.approved_by.as_deref().unwrap_or(&account))?,
                        client_name: row.client_name,
                    }),
                    // Another poll took it first.
                    _ => Ok(DevicePoll::Expired),
                }
            }
            _ => Ok(DevicePoll::Expired),
        }
    }

    /// Deletes codes that expired before `before`; returns how many.
    pub async fn purge_device_codes(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM device_codes WHERE expires_at < $1";
        Ok(on_pool!(self, pool => sqlx::query(SQL)
            .bind(to_millis(before))
            .execute(pool)
            .await?
            .rows_affected()))
    }
}
