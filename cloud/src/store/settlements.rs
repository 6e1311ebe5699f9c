//! Settlement receipts, the incidents reconciling them opened, and the ledger's view of one
//! settled item.

use super::{Store, StoreError, from_millis, is_unique_violation, on_pool, to_millis};
use crate::billing::settlement::{Booked, Mismatch, Receipt};
use fdt_api::AccountId;
use time::OffsetDateTime;

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SettlementRecord {
    /// The sender's ID.
    pub id: String,
    /// Provider.
    pub provider: String,
    /// ISO code.
    pub currency: String,
    /// The payout.
    pub payout: String,
    /// Paid out, minor units.
    pub amount: i64,
    /// Items settled.
    pub items: i64,
    /// Differences found.
    pub mismatches: i64,
    /// Received (ms).
    pub received_at: i64,
}

/// An incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingIncidentRecord {
    /// Number.
    pub seq: i64,
    /// The receipt.
    pub settlement: String,
    /// `missing`, `amount`, `fee`, `currency`, `total`.
    pub kind: String,
    /// The item's (or payout's) reference.
    pub reference: String,
    /// ISO code.
    pub currency: String,
    /// The ledger's amount.
    pub expected: i64,
    /// The receipt's amount.
    pub actual: i64,
    /// Opened.
    pub opened_at: OffsetDateTime,
    /// Resolved.
    pub resolved_at: Option<OffsetDateTime>,
    /// By whom.
    pub resolved_by: Option<String>,
    /// Their note.
    pub note: Option<String>,
}

type IncidentRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

const INCIDENT_COLUMNS: &str = "seq, settlement_id, kind, reference, currency, expected, actual, \
     opened_at, resolved_at, resolved_by, note";

fn incident(r: IncidentRow) -> Result<BillingIncidentRecord, StoreError> {
    Ok(BillingIncidentRecord {
        seq: r.0,
        settlement: r.1,
        kind: r.2,
        reference: r.3,
        currency: r.4,
        expected: r.5,
        actual: r.6,
        opened_at: from_millis(r.7)?,
        resolved_at: r.8.map(from_millis).transpose()?,
        resolved_by: r.9,
        note: r.10,
    })
}

impl Store {
    /// The ledger's transaction of `kind` (`charge`, `refund`) and `reference` at `provider`:
    /// its currency, amount and the fee booked with it.
    pub async fn ledger_item(
        &self,
        provider: &str,
        kind: &str,
        reference: &str,
    ) -> Result<Option<Booked>, StoreError> {
        let row: Option<(String, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT t.currency, t.amount, CAST(COALESCE((SELECT SUM(e.amount) \
                 FROM ledger_entries e WHERE e.txn_seq = t.seq AND e.book = 'fees'), 0) AS BIGINT) \
                 FROM ledger_txns t WHERE t.provider = $1 AND t.kind = $2 AND t.ref = $3",
            )
            .bind(provider)
            .bind(kind)
            .bind(reference)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(currency, amount, fee)| Booked {
            currency,
            amount,
            fee,
        }))
    }

    /// Stores receipt `r` (raw `body`) and an incident per mismatch, in one transaction;
    /// `false` when a receipt with its ID was stored before (nothing is written).
    pub async fn record_settlement(
        &self,
        r: &Receipt,
        body: &str,
        mismatches: &[Mismatch],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now_ms = to_millis(now);
        let currency = r.currency.to_ascii_uppercase();
        let result: Result<(), sqlx::Error> = on_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO settlements (id, provider, currency, payout, amount, items, \
                     mismatches, body, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&r.id)
                .bind(&r.provider)
                .bind(&currency)
                .bind(&r.payout)
                .bind(r.amount)
                .bind(i64::try_from(r.items.len()).unwrap_or(i64::MAX))
                .bind(i64::try_from(mismatches.len()).unwrap_or(i64::MAX))
                .bind(body)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                for m in mismatches {
                    sqlx::query(
                        "INSERT INTO billing_incidents (settlement_id, kind, reference, currency, \
                         expected, actual, opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&r.id)
                    .bind(m.kind)
                    .bind(&m.reference)
                    .bind(&currency)
                    .bind(m.expected)
                    .bind(m.actual)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await
            }
            .await
        });
        match result {
            Ok(()) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Receipts, newest first.
    pub async fn settlements(&self, limit: i64) -> Result<Vec<SettlementRecord>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, provider, currency, payout, amount, items, mismatches, received_at \
                 FROM settlements ORDER BY received_at DESC, id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Incidents, newest first: open ones only, or all; or those of one receipt.
    pub async fn billing_incidents(
        &self,
        open_only: bool,
        settlement: Option<&str>,
        limit: i64,
    ) -> Result<Vec<BillingIncidentRecord>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM billing_incidents \
             WHERE ($1 = 0 OR resolved_at IS NULL) AND ($2 IS NULL OR settlement_id = $2) \
             ORDER BY seq DESC LIMIT $3"
        );
        let rows: Vec<IncidentRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(i64::from(open_only))
                .bind(settlement)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(incident).collect()
    }

    /// Resolves incident `seq` (the first resolution stays); `None` when there is none.
    pub async fn resolve_billing_incident(
        &self,
        seq: i64,
        by: &AccountId,
        note: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<BillingIncidentRecord>, StoreError> {
        let sql = format!(
            "UPDATE billing_incidents SET resolved_at = COALESCE(resolved_at, $1), \
             resolved_by = COALESCE(resolved_by, $2), note = COALESCE(note, $3) \
             WHERE seq = $4 RETURNING {INCIDENT_COLUMNS}"
        );
        let row: Option<IncidentRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(to_millis(now))
                .bind(by.as_str())
                .bind(note)
                .bind(seq)
                .fetch_optional(pool)
                .await?
        });
        row.map(incident).transpose()
    }
}
