//! Fixed-window attempt counters, kept in the database so that every `fdt-cloud` replica on one
//! database counts against the same limits (the limiters in `auth::limiter` and
//! `billing::limit`). A window opens at a subject's first attempt and ends a fixed time later,
//! whatever happens in it; a dead window's row is overwritten by the next attempt, or swept.
//!
//! Subjects are opaque bytes (the limiters hash what they count), scopes are fixed names.

use super::{Store, StoreError, from_millis, on_pool, to_millis};
use time::{Duration, OffsetDateTime};

/// One attempt to count in one window.
#[derive(Debug, Clone, Copy)]
pub struct Take<'a> {
    /// What the window counts (a fixed name per limit).
    pub scope: &'static str,
    /// Who is counted (a hash).
    pub subject: &'a [u8],
    /// Attempts a live window may hold; `None`: counted, never refused.
    pub max: Option<u32>,
    /// How long a window lasts from its first attempt.
    pub len: Duration,
}

/// Counts the attempt unless the live window is full (or the dead one restarts), and returns the
/// window's attempts and end; no row when the window was full.
const TAKE: &str = "INSERT INTO rate_windows (scope, subject, ends_at, attempts) \
                    VALUES ($1, $2, $3, 1) \
                    ON CONFLICT (scope, subject) DO UPDATE SET \
                    attempts = CASE WHEN rate_windows.ends_at <= $4 THEN 1 \
                               ELSE rate_windows.attempts + 1 END, \
                    ends_at = CASE WHEN rate_windows.ends_at <= $4 THEN excluded.ends_at \
                              ELSE rate_windows.ends_at END \
                    WHERE rate_windows.ends_at <= $4 OR rate_windows.attempts < $5 \
                    RETURNING attempts, ends_at";
const FULL_UNTIL: &str = "SELECT ends_at FROM rate_windows WHERE scope = $1 AND subject = $2";

impl Store {
    /// Counts one attempt in every window of `takes`, all or none. When a live window already
    /// holds its `max`, nothing is counted and the answer is `Err` with the latest end among
    /// the full windows; otherwise, per window, the attempts it held before this one.
    ///
    /// Concurrent callers are serialized per row by the database (the upsert locks it), so
    /// parallel attempts cannot all slip in under a limit; windows are taken in the order
    /// given, which callers keep fixed so two of them never wait on each other.
    pub async fn take_windows(
        &self,
        takes: &[Take<'_>],
        now: OffsetDateTime,
    ) -> Result<Result<Vec<u32>, OffsetDateTime>, StoreError> {
        let now_ms = to_millis(now);
        let (before, full_until) = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut before = Vec::with_capacity(takes.len());
            let mut full_until: Option<i64> = None;
            for t in takes {
                let max = t.max.map_or(i64::MAX, i64::from);
                let row: Option<(i64, i64)> = sqlx::query_as(TAKE)
                    .bind(t.scope)
                    .bind(t.subject)
                    .bind(to_millis(now + t.len))
                    .bind(now_ms)
                    .bind(max)
                    .fetch_optional(&mut *tx)
                    .await?;
                match row {
                    Some((attempts, _)) => {
                        before.push(u32::try_from(attempts - 1).unwrap_or(u32::MAX));
                    }
                    None => {
                        let (ends,): (i64,) = sqlx::query_as(FULL_UNTIL)
                            .bind(t.scope)
                            .bind(t.subject)
                            .fetch_one(&mut *tx)
                            .await?;
                        full_until = full_until.max(Some(ends));
                    }
                }
            }
            if full_until.is_some() {
                tx.rollback().await?;
            } else {
                tx.commit().await?;
            }
            (before, full_until)
        });
        match full_until {
            Some(ms) => Ok(Err(from_millis(ms)?)),
            None => Ok(Ok(before)),
        }
    }

    /// Takes one counted attempt back from `subject`'s live window in `scope`.
    pub async fn forgive_window(
        &self,
        scope: &str,
        subject: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE rate_windows SET attempts = attempts - 1 \
                           WHERE scope = $1 AND subject = $2 AND attempts > 0 AND ends_at > $3";
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(scope)
            .bind(subject)
            .bind(to_millis(now))
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Forgets `subject`'s window in `scope`.
    pub async fn clear_window(&self, scope: &str, subject: &[u8]) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM rate_windows WHERE scope = $1 AND subject = $2";
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(scope)
            .bind(subject)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Deletes windows that ended by `now`; returns how many.
    pub async fn sweep_windows(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM rate_windows WHERE ends_at <= $1";
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(to_millis(now))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done)
    }
}
