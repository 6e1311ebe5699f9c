//! Custom-domain history: events (what happened, for the owner's list) and incidents: opened by the domains worker (a renewal failed, a certificate
//! expiring or expired, validation lost), closed by it when the cause is gone, acknowledged
//! and resolved by the owner. At most one open incident per domain and kind (a unique index).

use super::{Store, StoreError, from_millis, is_unique_violation, on_pool, parse_id, to_millis};
use fdt_api::{AccountId, DomainId};
use time::OffsetDateTime;

/// The kinds of incident the domains worker opens (the `kind` column).
pub mod incident_kind {
    /// A certificate order failed.
    pub const RENEWAL_FAILED: &str = "renewal_failed";
    /// The certificate in service is about to expire (under a week left), or there is none.
    pub const EXPIRING: &str = "expiring";
    /// A verified domain's TXT record is gone.
    pub const VALIDATION_LOST: &str = "validation_lost";
    /// All of them.
    pub const ALL: [&str; 3] = [RENEWAL_FAILED, EXPIRING, VALIDATION_LOST];
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    /// Number.
    pub seq: i64,
    /// `renewal_failed`, `expiring` or `validation_lost`.
    pub kind: String,
    /// What was seen.
    pub detail: String,
    /// Opened.
    pub opened_at: OffsetDateTime,
    /// Acknowledged, and by whom.
    pub acked: Option<(OffsetDateTime, String)>,
    /// Resolved.
    pub resolved_at: Option<OffsetDateTime>,
}

type Row = (
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

fn record(r: Row) -> Result<IncidentRecord, StoreError> {
    let acked = match (r.4, r.5) {
        (Some(at), Some(by)) => Some((from_millis(at)?, by)),
        _ => None,
    };
    Ok(IncidentRecord {
        seq: r.0,
        kind: r.1,
        detail: r.2,
        opened_at: from_millis(r.3)?,
        acked,
        resolved_at: r.6.map(from_millis).transpose()?,
    })
}

/// A domain row with its count of open incidents.
#[derive(sqlx::FromRow)]
struct SearchRow {
    #[sqlx(flatten)]
    domain: super::domains::DomainRow,
    open_incidents: i64,
}

/// Events kept per domain.
pub const MAX_DOMAIN_EVENTS: i64 = 200;

/// Most incidents listed per domain.
const MAX_LISTED: i64 = 200;

impl Store {
    /// Opens a `kind` incident on domain `id` unless one is open; returns whether it opened.
    pub async fn open_domain_incident(
        &self,
        id: &DomainId,
        kind: &str,
        detail: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let inserted = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO domain_incidents (domain_id, kind, detail, opened_at) \
                 SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM domain_incidents \
                 WHERE domain_id = $1 AND kind = $2 AND resolved_at IS NULL)",
            )
            .bind(id.as_str())
            .bind(kind)
            .bind(detail)
            .bind(to_millis(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match inserted {
            Ok(n) => Ok(n == 1),
            // Another writer opened it between the check and the insert.
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Open (unresolved) incidents of every domain, by kind: the metrics' gauge.
    pub async fn open_domain_incident_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT kind, COUNT(*) FROM domain_incidents WHERE resolved_at IS NULL GROUP BY kind",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// Resolves the open `kind` incident of domain `id`, if any; returns whether one was open.
    pub async fn close_domain_incident(
        &self,
        id: &DomainId,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE domain_incidents SET resolved_at = $1 \
                 WHERE domain_id = $2 AND kind = $3 AND resolved_at IS NULL",
            )
            .bind(to_millis(now))
            .bind(id.as_str())
            .bind(kind)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// The incidents of domain `id`, newest first: the `owner` account's domain, or any
    /// account's when `None` (operators).
    pub async fn domain_incidents(
        &self,
        owner: Option<&AccountId>,
        id: &DomainId,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT i.seq, i.kind, i.detail, i.opened_at, i.acked_at, i.acked_by, i.resolved_at \
                 FROM domain_incidents i JOIN domains d ON d.id = i.domain_id \
                 WHERE i.domain_id = $1 AND ($2 IS NULL OR d.account_id = $2) \
                 ORDER BY i.seq DESC LIMIT $3",
            )
            .bind(id.as_str())
            .bind(owner.map(AccountId::as_str))
            .bind(MAX_LISTED)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(record).collect()
    }

    /// Acknowledges (by `person`) or resolves incident `seq` of domain `id`: the `owner`
    /// account's domain, or any account's when `None` (operators). Returns whether it exists
    /// (acknowledging twice keeps the first).
    pub async fn update_domain_incident(
        &self,
        owner: Option<&AccountId>,
        id: &DomainId,
        seq: i64,
        resolve: bool,
        person: &AccountId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // Only the owner's domain's incident: the subquery ties it to the owner.
        const RESOLVE: &str = "UPDATE domain_incidents SET resolved_at = COALESCE(resolved_at, $1) \
             WHERE seq = $2 AND domain_id = $3 AND ($4 IS NULL OR domain_id IN \
             (SELECT id FROM domains WHERE account_id = $4))";
        const ACK: &str = "UPDATE domain_incidents SET acked_at = COALESCE(acked_at, $1), \
             acked_by = COALESCE(acked_by, $5) \
             WHERE seq = $2 AND domain_id = $3 AND ($4 IS NULL OR domain_id IN \
             (SELECT id FROM domains WHERE account_id = $4))";
        let n = on_pool!(self, pool => {
            let q = sqlx::query(if resolve { RESOLVE } else { ACK })
                .bind(to_millis(now))
                .bind(seq)
                .bind(id.as_str())
                .bind(owner.map(AccountId::as_str));
            let q = if resolve { q } else { q.bind(person.as_str()) };
            q.execute(pool).await?.rows_affected()
        });
        Ok(n == 1)
    }

    /// Verified `terminate` domains with a certificate: the domain and its newest
    /// certificate's end of validity, at most `limit`.
    pub async fn certificate_expiries(
        &self,
        limit: i64,
    ) -> Result<Vec<(DomainId, OffsetDateTime)>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT d.id, c.not_after FROM domains d JOIN domain_certificates c \
                 ON c.domain_id = d.id AND c.version = \
                    (SELECT MAX(version) FROM domain_certificates WHERE domain_id = d.id) \
                 WHERE d.state = 'verified' AND d.mode = 'terminate' ORDER BY d.id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, na)| Ok((parse_id(&id)?, from_millis(na)?)))
            .collect()
    }

    /// Every account's domains whose name contains `q` (any when `None`), by name, at most
    /// `limit`, each with its count of open incidents.
    pub async fn search_domains(
        &self,
        q: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(super::DomainRecord, i64)>, StoreError> {
        // `q` is matched literally: LIKE's wildcards in it are escaped.
        let pattern = q.map(|q| {
            let escaped = q
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{}%", escaped.to_ascii_lowercase())
        });
        let cols = super::domains::COLUMNS
            .split(", ")
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols}, (SELECT COUNT(*) FROM domain_incidents i WHERE i.domain_id = d.id \
             AND i.resolved_at IS NULL) AS open_incidents FROM domains d \
             WHERE $1 IS NULL OR d.domain LIKE $1 ESCAPE '\\' ORDER BY d.domain, d.id LIMIT $2"
        );
        let rows: Vec<SearchRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(pattern)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|r| Ok((r.domain.try_into()?, r.open_incidents)))
            .collect()
    }

    /// Records an event of domain `id` (`kind`: verified, lost, issued, renewed, uploaded,
    /// failed) and keeps only its newest [`MAX_DOMAIN_EVENTS`].
    pub async fn add_domain_event(
        &self,
        id: &DomainId,
        kind: &str,
        detail: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO domain_events (domain_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
                .bind(id.as_str())
                .bind(to_millis(now))
                .bind(kind)
                .bind(detail)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "DELETE FROM domain_events WHERE domain_id = $1 AND seq <= \
                 (SELECT seq FROM domain_events WHERE domain_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
            )
            .bind(id.as_str())
            .bind(MAX_DOMAIN_EVENTS)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The events of the account's domain `id`, newest first: `(at, kind, detail)`.
    pub async fn domain_events(
        &self,
        account: &AccountId,
        id: &DomainId,
    ) -> Result<Vec<(OffsetDateTime, String, String)>, StoreError> {
        let rows: Vec<(i64, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT e.at, e.kind, e.detail FROM domain_events e JOIN domains d ON d.id = e.domain_id \
                 WHERE e.domain_id = $1 AND d.account_id = $2 ORDER BY e.seq DESC LIMIT $3",
            )
            .bind(id.as_str())
            .bind(account.as_str())
            .bind(MAX_DOMAIN_EVENTS)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(at, k, d)| Ok((from_millis(at)?, k, d)))
            .collect()
    }
}
