//! Certificate events from other clusters, stored with their provenance and raw body (for
//! operators' lists and replays), and the replication status they feed: which certificate
//! version each relay of each cluster has in service.

use super::{Store, StoreError, from_millis, is_unique_violation, on_pool, parse_id, to_millis};
use fdt_api::DomainId;
use time::OffsetDateTime;

/// Events kept in all (the oldest go first).
pub const MAX_CERT_EVENTS: i64 = 10_000;

/// An accepted event to store.
#[derive(Debug, Clone)]
pub struct NewCertEvent<'a> {
    /// Cluster whose key signed it.
    pub cluster: &'a str,
    /// Component inside the cluster.
    pub source: &'a str,
    /// The event's own ID (unique per cluster).
    pub event_id: &'a str,
    /// Signing time (Unix seconds).
    pub signed_at: i64,
    /// The signature header as received.
    pub signature: &'a str,
    /// The raw body.
    pub body: &'a str,
    /// The domain it was matched to.
    pub domain_id: &'a DomainId,
    /// The domain's name.
    pub domain: &'a str,
    /// `installed`, `issued`, …
    pub kind: &'a str,
    /// Certificate version it is about.
    pub version: Option<i64>,
    /// What applying it did.
    pub outcome: &'a str,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CertEventRecord {
    /// Number.
    pub seq: i64,
    /// Cluster.
    pub cluster: String,
    /// Source.
    pub source: String,
    /// Its own ID.
    pub event_id: String,
    /// Signing time (Unix seconds).
    pub signed_at: i64,
    /// Signature header.
    pub signature: String,
    /// Raw body.
    pub body: String,
    /// Reception time (ms).
    pub received_at: i64,
    /// Domain, unless it was deleted since.
    pub domain_id: Option<String>,
    /// Domain name.
    pub domain: String,
    /// Kind.
    pub kind: String,
    /// Version.
    pub version: Option<i64>,
    /// Outcome of the last application.
    pub outcome: String,
    /// Times replayed.
    pub replays: i64,
}

const EVENT_COLUMNS: &str = "seq, cluster, source, event_id, signed_at, signature, body, \
     received_at, domain_id, domain, kind, version, outcome, replays";

/// A relay's installed certificate version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRecord {
    /// Cluster (region).
    pub cluster: String,
    /// Relay.
    pub source: String,
    /// Version in service.
    pub version: i64,
    /// When it was reported.
    pub installed_at: OffsetDateTime,
}

impl Store {
    /// Stores an accepted event; `None` when the cluster already sent one with its ID.
    pub async fn insert_cert_event(
        &self,
        e: &NewCertEvent<'_>,
        now: OffsetDateTime,
    ) -> Result<Option<i64>, StoreError> {
        let inserted: Result<i64, sqlx::Error> = on_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                let (seq,): (i64,) = sqlx::query_as(
                    "INSERT INTO cert_events (cluster, source, event_id, signed_at, signature, \
                     body, received_at, domain_id, domain, kind, version, outcome) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq",
                )
                .bind(e.cluster)
                .bind(e.source)
                .bind(e.event_id)
                .bind(e.signed_at)
                .bind(e.signature)
                .bind(e.body)
                .bind(to_millis(now))
                .bind(e.domain_id.as_str())
                .bind(e.domain)
                .bind(e.kind)
                .bind(e.version)
                .bind(e.outcome)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM cert_events WHERE seq <= $1")
                    .bind(seq - MAX_CERT_EVENTS)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(seq)
            }
            .await
        });
        match inserted {
            Ok(seq) => Ok(Some(seq)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Events, newest first, of domain `id` (all when `None`), at most `limit`.
    pub async fn cert_events(
        &self,
        id: Option<&DomainId>,
        limit: i64,
    ) -> Result<Vec<CertEventRecord>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM cert_events WHERE $1 IS NULL OR domain_id = $1 \
             ORDER BY seq DESC LIMIT $2"
        );
        Ok(on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id.map(DomainId::as_str))
                .bind(limit)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Event `seq`.
    pub async fn cert_event(&self, seq: i64) -> Result<Option<CertEventRecord>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM cert_events WHERE seq = $1");
        Ok(on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(seq).fetch_optional(pool).await?
        }))
    }

    /// Records what applying event `seq` did, counting a replay when `replayed`.
    pub async fn set_cert_event_outcome(
        &self,
        seq: i64,
        outcome: &str,
        replayed: bool,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE cert_events SET outcome = $1, \
                 replays = replays + CASE WHEN $2 THEN 1 ELSE 0 END WHERE seq = $3",
            )
            .bind(outcome)
            .bind(replayed)
            .bind(seq)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records that `source` of `cluster` has `version` of domain `id`'s certificate in
    /// service, unless it already reported a newer one (reports may arrive out of order).
    /// Returns whether the row moved.
    pub async fn put_cert_replica(
        &self,
        id: &DomainId,
        cluster: &str,
        source: &str,
        version: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO domain_cert_replicas (domain_id, cluster, source, version, installed_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain_id, cluster, source) DO UPDATE \
                 SET version = excluded.version, installed_at = excluded.installed_at \
                 WHERE domain_cert_replicas.version < excluded.version",
            )
            .bind(id.as_str())
            .bind(cluster)
            .bind(source)
            .bind(version)
            .bind(to_millis(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// The relays that reported domain `id`'s certificate, by cluster and source.
    pub async fn cert_replicas(&self, id: &DomainId) -> Result<Vec<ReplicaRecord>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT cluster, source, version, installed_at FROM domain_cert_replicas \
                 WHERE domain_id = $1 ORDER BY cluster, source",
            )
            .bind(id.as_str())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(cluster, source, version, at)| {
                Ok(ReplicaRecord {
                    cluster,
                    source,
                    version,
                    installed_at: from_millis(at)?,
                })
            })
            .collect()
    }

    /// The verified domain named `name`, if any (at most one is verified at a time).
    pub async fn verified_domain_named(&self, name: &str) -> Result<Option<DomainId>, StoreError> {
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM domains WHERE domain = $1 AND state = 'verified'")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(id,)| parse_id(&id)).transpose()
    }

    /// Makes certificate `version` of domain `id` due for renewal now (it was revoked);
    /// returns whether that version is the newest one.
    pub async fn renew_certificate_now(
        &self,
        id: &DomainId,
        version: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE domain_certificates SET renew_after = $1 WHERE domain_id = $2 \
                 AND version = $3 AND version = \
                 (SELECT MAX(version) FROM domain_certificates WHERE domain_id = $2)",
            )
            .bind(to_millis(now))
            .bind(id.as_str())
            .bind(version)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }
}
