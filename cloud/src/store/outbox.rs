//! Delivering the email outbox: the rows due, and what an attempt did.

use super::{Store, StoreError, on_pool, to_millis};
use time::OffsetDateTime;

/// An email due for (another) attempt.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DueEmail {
    /// Row.
    pub seq: i64,
    /// Recipient.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Text body.
    pub body: String,
    /// Attempts so far.
    pub attempts: i64,
}

impl Store {
    /// Unsent, not failed emails whose next attempt is due, oldest first.
    pub async fn due_emails(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<DueEmail>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id AS seq, recipient, subject, body, attempts FROM email_outbox \
                 WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
                 ORDER BY id LIMIT $2",
            )
            .bind(to_millis(now))
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Records a delivery.
    pub async fn email_sent(&self, seq: i64, now: OffsetDateTime) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE email_outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL \
                 WHERE id = $2",
            )
            .bind(to_millis(now))
            .bind(seq)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Sends given-up email `seq` again, from its first attempt, at `now` (an operator's call,
    /// once the cause is fixed). `false` when there is no such email given up.
    pub async fn retry_email(&self, seq: i64, now: OffsetDateTime) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE email_outbox SET attempts = 0, failed_at = NULL, next_attempt_at = $1 \
                 WHERE id = $2 AND failed_at IS NOT NULL AND sent_at IS NULL",
            )
            .bind(to_millis(now))
            .bind(seq)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Records a failed attempt: retried at `retry_at`, or given up when that is `None`.
    pub async fn email_failed(
        &self,
        seq: i64,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE email_outbox SET attempts = attempts + 1, last_error = $1, \
                 next_attempt_at = COALESCE($2, next_attempt_at), \
                 failed_at = CASE WHEN $2 IS NULL THEN $3 ELSE NULL END WHERE id = $4",
            )
            .bind(error)
            .bind(retry_at.map(to_millis))
            .bind(to_millis(now))
            .bind(seq)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }
}
