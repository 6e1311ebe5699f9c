//! The finance ledger: transactions and their entries, written together in one database
//! transaction, never updated except for a charge's refunded total and an operator's
//! acknowledgement.

use super::{Store, StoreError, is_unique_violation, on_pool, to_millis};
use crate::billing::ledger::Entry;
use fdt_api::AccountId;
use time::OffsetDateTime;

/// A transaction to record.
#[derive(Debug, Clone)]
pub struct NewLedgerTxn<'a> {
    /// Provider.
    pub provider: &'a str,
    /// `charge`, `refund` or `payout`.
    pub kind: &'a str,
    /// The provider's reference (charge, refund or payout ID).
    pub reference: &'a str,
    /// For a refund, the charge it refunds.
    pub parent: Option<&'a str>,
    /// The customer, when known.
    pub account: Option<&'a AccountId>,
    /// ISO currency.
    pub currency: &'a str,
    /// Amount in minor units.
    pub amount: i64,
    /// The webhook event it came from.
    pub event_id: &'a str,
    /// For a charge, the subscription it paid, when the provider names it.
    pub subscription: Option<&'a str>,
}

/// What recording did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded as transaction `seq`.
    Txn(i64),
    /// Already recorded (same provider, kind and reference).
    Duplicate,
    /// A refund of a charge the ledger does not have.
    NoCharge,
    /// A refund over what is left of the charge: `(charge amount, refunded before)`.
    TooLarge(i64, i64),
    /// A refund in another currency than its charge's.
    CurrencyMismatch(String),
}

/// A ledger line with its transaction, for exports.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LedgerLine {
    /// Transaction.
    pub txn_seq: i64,
    /// When (ms).
    pub created_at: i64,
    /// Kind.
    pub kind: String,
    /// Provider.
    pub provider: String,
    /// Provider reference.
    pub reference: String,
    /// Customer.
    pub account_id: Option<String>,
    /// Book.
    pub book: String,
    /// Minor units (+ debit, − credit).
    pub amount: i64,
    /// Currency.
    pub currency: String,
}

/// A transaction, for operators.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LedgerTxnRecord {
    /// Number.
    pub seq: i64,
    /// Provider.
    pub provider: String,
    /// Kind.
    pub kind: String,
    /// Provider reference.
    pub reference: String,
    /// Customer.
    pub account_id: Option<String>,
    /// Currency.
    pub currency: String,
    /// Amount.
    pub amount: i64,
    /// Refunded so far (charges).
    pub refunded: i64,
    /// When (ms).
    pub created_at: i64,
    /// Acknowledged (ms), and by whom.
    pub acked_at: Option<i64>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
}

const TXN_COLUMNS: &str = "seq, provider, kind, ref AS reference, account_id, currency, amount, \
     refunded, created_at, acked_at, acked_by";

impl Store {
    /// Records `t` with `entries` (which must balance) in one database transaction. A refund
    /// first moves its charge's refunded total, only if it stays within the charge and the
    /// currencies agree.
    pub async fn record_ledger_txn(
        &self,
        t: &NewLedgerTxn<'_>,
        entries: &[Entry],
        now: OffsetDateTime,
    ) -> Result<Recorded, StoreError> {
        if !crate::billing::ledger::balanced(entries) {
            return Err(StoreError::Corrupt("unbalanced ledger transaction".into()));
        }
        let result: Result<Recorded, sqlx::Error> = on_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                if let (Some(parent), "refund") = (t.parent, t.kind) {
                    let moved = sqlx::query(
                        "UPDATE ledger_txns SET refunded = refunded + $1 WHERE provider = $2 \
                         AND kind = 'charge' AND ref = $3 AND currency = $4 \
                         AND refunded + $1 <= amount",
                    )
                    .bind(t.amount)
                    .bind(t.provider)
                    .bind(parent)
                    .bind(t.currency)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if moved == 0 {
                        let charge: Option<(String, i64, i64)> = sqlx::query_as(
                            "SELECT currency, amount, refunded FROM ledger_txns \
                             WHERE provider = $1 AND kind = 'charge' AND ref = $2",
                        )
                        .bind(t.provider)
                        .bind(parent)
                        .fetch_optional(&mut *tx)
                        .await?;
                        return Ok(match charge {
                            None => Recorded::NoCharge,
                            Some((c, _, _)) if c != t.currency => Recorded::CurrencyMismatch(c),
                            Some((_, amount, refunded)) => Recorded::TooLarge(amount, refunded),
                        });
                    }
                }
                let (seq,): (i64,) = sqlx::query_as(
                    "INSERT INTO ledger_txns (provider, kind, ref, parent_ref, account_id, \
                     currency, amount, event_id, created_at, subscription_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
                )
                .bind(t.provider)
                .bind(t.kind)
                .bind(t.reference)
                .bind(t.parent)
                .bind(t.account.map(AccountId::as_str))
                .bind(t.currency)
                .bind(t.amount)
                .bind(t.event_id)
                .bind(to_millis(now))
                .bind(t.subscription)
                .fetch_one(&mut *tx)
                .await?;
                for e in entries {
                    sqlx::query(
                        "INSERT INTO ledger_entries (txn_seq, book, amount, currency) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(seq)
                    .bind(&e.book)
                    .bind(e.minor)
                    .bind(t.currency)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(Recorded::Txn(seq))
            }
            .await
        });
        match result {
            Ok(r) => Ok(r),
            // The transaction rolled back: a refund's move of its charge's total with it.
            Err(e) if is_unique_violation(&e) => Ok(Recorded::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    /// A charge's currency, amount and refunded total (minor units).
    pub async fn ledger_charge(
        &self,
        provider: &str,
        reference: &str,
    ) -> Result<Option<(String, i64, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT currency, amount, refunded FROM ledger_txns \
                 WHERE provider = $1 AND kind = 'charge' AND ref = $2",
            )
            .bind(provider)
            .bind(reference)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Entries of transactions created in `[from, to)`, in order.
    pub async fn ledger_lines(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<LedgerLine>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT t.seq AS txn_seq, t.created_at, t.kind, t.provider, t.ref AS reference, \
                 t.account_id, e.book, e.amount, e.currency FROM ledger_entries e \
                 JOIN ledger_txns t ON t.seq = e.txn_seq \
                 WHERE t.created_at >= $1 AND t.created_at < $2 ORDER BY t.seq, e.seq LIMIT $3",
            )
            .bind(to_millis(from))
            .bind(to_millis(to))
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Transactions, newest first: only those not yet acknowledged when `pending`.
    pub async fn ledger_txns(
        &self,
        pending: bool,
        limit: i64,
    ) -> Result<Vec<LedgerTxnRecord>, StoreError> {
        let sql = format!(
            "SELECT {TXN_COLUMNS} FROM ledger_txns WHERE ($1 = 0 OR acked_at IS NULL) \
             ORDER BY seq DESC LIMIT $2"
        );
        Ok(on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(i64::from(pending))
                .bind(limit)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Transaction `seq`.
    pub async fn ledger_txn(&self, seq: i64) -> Result<Option<LedgerTxnRecord>, StoreError> {
        let sql = format!("SELECT {TXN_COLUMNS} FROM ledger_txns WHERE seq = $1");
        Ok(on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(seq).fetch_optional(pool).await?
        }))
    }

    /// Acknowledges transaction `seq` (the first acknowledgement stays); whether it exists.
    pub async fn ack_ledger_txn(
        &self,
        seq: i64,
        by: &AccountId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE ledger_txns SET acked_at = COALESCE(acked_at, $1), \
                 acked_by = COALESCE(acked_by, $2) WHERE seq = $3",
            )
            .bind(to_millis(now))
            .bind(by.as_str())
            .bind(seq)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Transactions whose entries do not sum to zero per currency (none, unless something
    /// wrote around this module).
    pub async fn unbalanced_ledger_txns(&self) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT txn_seq FROM ledger_entries GROUP BY txn_seq, currency \
                 HAVING SUM(amount) <> 0",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }
}
