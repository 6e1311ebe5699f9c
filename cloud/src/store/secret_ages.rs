//! When each secret was created or first seen, by its public fingerprint.

use super::{Store, StoreError, from_millis, on_pool, to_millis};
use time::OffsetDateTime;

impl Store {
    /// Since when secret `fingerprint` of `kind` exists: recorded as `since` the first time it
    /// is asked about, read back after.
    pub async fn secret_since(
        &self,
        kind: &str,
        fingerprint: &str,
        since: OffsetDateTime,
    ) -> Result<OffsetDateTime, StoreError> {
        const INSERT: &str = "INSERT INTO secret_ages (kind, fingerprint, since) VALUES ($1, $2, $3) \
                              ON CONFLICT (kind, fingerprint) DO NOTHING";
        const SELECT: &str = "SELECT since FROM secret_ages WHERE kind = $1 AND fingerprint = $2";
        let (ms,): (i64,) = on_pool!(self, pool => {
            sqlx::query(INSERT)
                .bind(kind)
                .bind(fingerprint)
                .bind(to_millis(since))
                .execute(pool)
                .await?;
            sqlx::query_as(SELECT)
                .bind(kind)
                .bind(fingerprint)
                .fetch_one(pool)
                .await?
        });
        from_millis(ms)
    }
}
