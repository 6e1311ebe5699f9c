//! Login sessions and their refresh tokens.
//!
//! A session is the family of refresh tokens one login started. Each refresh spends the
//! presented token (sets `rotated_at`) and adds a new one to the family. Presenting a spent
//! token again means two parties hold the family — one of them stole it — so the whole session
//! is revoked: the thief's and the owner's newer tokens stop working, and so do access tokens
//! issued in it (see [`Store::live_session_account`]).

use super::{Store, StoreError, on_pool, parse_id, to_millis};
use fdt_api::{AccountId, SessionId};
use time::OffsetDateTime;

/// Why a session was revoked (stored for the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// The owner logged out.
    Logout,
    /// A spent refresh token was presented again.
    RefreshReuse,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::RefreshReuse => "refresh_reuse",
        }
    }
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was live: it is now spent and the new one stored.
    Rotated {
        /// The session's account.
        account_id: AccountId,
        /// The session.
        session_id: SessionId,
    },
    /// The token had already been spent: its session is now revoked.
    ReuseDetected {
        /// The revoked session.
        session_id: SessionId,
    },
    /// Unknown, expired, or from a session already revoked.
    Invalid,
}

impl Store {
    /// Starts a session for `account_id` with its first refresh token.
    pub async fn create_session(
        &self,
        session_id: &SessionId,
        account_id: &AccountId,
        refresh_hash: &[u8],
        now: OffsetDateTime,
        refresh_expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SESSION: &str =
            "INSERT INTO sessions (id, account_id, created_at) VALUES ($1, $2, $3)";
        const TOKEN: &str = "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) \
                             VALUES ($1, $2, $3, $4)";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(SESSION)
                .bind(session_id.as_str())
                .bind(account_id.as_str())
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query(TOKEN)
                .bind(refresh_hash)
                .bind(session_id.as_str())
                .bind(to_millis(now))
                .bind(to_millis(refresh_expires_at))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Spends the refresh token hashed `old_hash` and stores `new_hash` in its place, or
    /// detects reuse and revokes the session.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: OffsetDateTime,
        new_expires_at: OffsetDateTime,
    ) -> Result<RefreshOutcome, StoreError> {
        // Claim the token with one conditional UPDATE: of two concurrent refreshes with the same
        // token exactly one matches `rotated_at IS NULL`; the other sees a spent token — reuse.
        // Writing first also takes SQLite's write lock up front, so the transaction never has
        // to upgrade a read lock (which fails at once with SQLITE_BUSY rather than waiting).
        const CLAIM: &str = "UPDATE refresh_tokens SET rotated_at = $1 \
                             WHERE token_hash = $2 AND rotated_at IS NULL AND expires_at > $1 \
                             RETURNING session_id";
        const OWNER: &str = "SELECT account_id FROM sessions WHERE id = $1 AND revoked_at IS NULL";
        const INSERT: &str = "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) \
                              VALUES ($1, $2, $3, $4)";
        let now_ms = to_millis(now);
        let rotated: Option<(String, String)> = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let claimed: Option<(String,)> = sqlx::query_as(CLAIM)
                .bind(now_ms)
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
            let owner: Option<(String,)> = match &claimed {
                Some((session,)) => sqlx::query_as(OWNER)
                    .bind(session)
                    .fetch_optional(&mut *tx)
                    .await?,
                None => None,
            };
            match (claimed, owner) {
                (Some((session,)), Some((account,))) => {
                    sqlx::query(INSERT)
                        .bind(new_hash)
                        .bind(&session)
                        .bind(now_ms)
                        .bind(to_millis(new_expires_at))
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Some((account, session))
                }
                // Not claimable, or its session is revoked: change nothing.
                _ => {
                    tx.rollback().await?;
                    None
                }
            }
        });
        if let Some((account, session)) = rotated {
            return Ok(RefreshOutcome::Rotated {
                account_id: parse_id(&account)?,
                session_id: parse_id(&session)?,
            });
        }
        // A token that exists and was already spent is reuse. One statement, so it needs no
        // transaction (and no lock upgrade on SQLite).
        const REUSE: &str = "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
                             WHERE revoked_at IS NULL AND id = \
                             (SELECT session_id FROM refresh_tokens WHERE token_hash = $3 AND rotated_at IS NOT NULL) \
                             RETURNING id";
        let revoked: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(REUSE)
            .bind(now_ms)
            .bind(RevokeReason::RefreshReuse.as_str())
            .bind(old_hash)
            .fetch_optional(pool)
            .await?);
        match revoked {
            Some((session,)) => Ok(RefreshOutcome::ReuseDetected {
                session_id: parse_id(&session)?,
            }),
            None => Ok(RefreshOutcome::Invalid),
        }
    }

    /// Revokes the session the refresh token hashed `hash` belongs to (spent or not). Returns
    /// the session when this call revoked it.
    pub async fn revoke_session_by_refresh_token(
        &self,
        hash: &[u8],
        now: OffsetDateTime,
        reason: RevokeReason,
    ) -> Result<Option<SessionId>, StoreError> {
        const SQL: &str = "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
                           WHERE revoked_at IS NULL AND id = \
                           (SELECT session_id FROM refresh_tokens WHERE token_hash = $3) \
                           RETURNING id";
        let revoked: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(to_millis(now))
            .bind(reason.as_str())
            .bind(hash)
            .fetch_optional(pool)
            .await?);
        revoked.map(|(id,)| parse_id(&id)).transpose()
    }

    /// Revokes session `session_id` (signing out of the console). Returns whether this call
    /// revoked it.
    pub async fn revoke_session(
        &self,
        session_id: &SessionId,
        now: OffsetDateTime,
        reason: RevokeReason,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
                           WHERE id = $3 AND revoked_at IS NULL";
        let revoked = on_pool!(self, pool => sqlx::query(SQL)
            .bind(to_millis(now))
            .bind(reason.as_str())
            .bind(session_id.as_str())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(revoked > 0)
    }

    /// The account of `session_id` if the session is live (not revoked) — checked on every
    /// authenticated request so that logout and reuse detection end access tokens at once.
    pub async fn live_session_account(
        &self,
        session_id: &SessionId,
    ) -> Result<Option<AccountId>, StoreError> {
        const SQL: &str = "SELECT account_id FROM sessions WHERE id = $1 AND revoked_at IS NULL";
        let row: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(session_id.as_str())
            .fetch_optional(pool)
            .await?);
        row.map(|(id,)| parse_id(&id)).transpose()
    }
}
