//! Invoices and credit notes (numbered without gaps per series), and billing profiles.

use super::{Store, StoreError, from_millis, is_unique_violation, on_pool, parse_id, to_millis};
use fdt_api::AccountId;
use time::OffsetDateTime;

/// An invoice or credit note as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRecord {
    /// ID.
    pub id: String,
    /// Series.
    pub series: String,
    /// Number in the series.
    pub number: i64,
    /// `invoice` or `credit_note`.
    pub kind: String,
    /// The account.
    pub account: AccountId,
    /// Provider.
    pub provider: String,
    /// The provider's charge (invoice) or refund (credit note) ID.
    pub reference: String,
    /// The invoice a credit note corrects.
    pub corrects: Option<String>,
    /// ISO code.
    pub currency: String,
    /// Net.
    pub net: i64,
    /// Tax.
    pub tax: i64,
    /// Total.
    pub total: i64,
    /// Rate, basis points.
    pub tax_rate_bp: i64,
    /// Reverse charge.
    pub reverse_charge: bool,
    /// Made out to.
    pub customer_name: String,
    /// Their country.
    pub customer_country: Option<String>,
    /// Their VAT ID.
    pub customer_vat_id: Option<String>,
    /// Their address.
    pub customer_address: String,
    /// What for.
    pub description: String,
    /// Issued.
    pub issued_at: OffsetDateTime,
}

impl InvoiceRecord {
    /// The number as printed: `<series>-<number, six digits>`.
    pub fn display_number(&self) -> String {
        format!("{}-{:06}", self.series, self.number)
    }
}

/// An invoice to issue (the number is given when it is written).
#[derive(Debug, Clone)]
pub struct NewInvoice<'a> {
    /// ID.
    pub id: &'a str,
    /// Series.
    pub series: &'a str,
    /// `invoice` or `credit_note`.
    pub kind: &'a str,
    /// The account.
    pub account: &'a AccountId,
    /// Provider.
    pub provider: &'a str,
    /// The provider's charge or refund ID.
    pub reference: &'a str,
    /// The invoice a credit note corrects.
    pub corrects: Option<&'a str>,
    /// ISO code.
    pub currency: &'a str,
    /// Net.
    pub net: i64,
    /// Tax.
    pub tax: i64,
    /// Total.
    pub total: i64,
    /// Rate, basis points.
    pub tax_rate_bp: u32,
    /// Reverse charge.
    pub reverse_charge: bool,
    /// Made out to.
    pub customer_name: &'a str,
    /// Their country.
    pub customer_country: Option<&'a str>,
    /// Their VAT ID.
    pub customer_vat_id: Option<&'a str>,
    /// Their address.
    pub customer_address: &'a str,
    /// What for.
    pub description: &'a str,
}

/// What issuing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    /// Written with the next number of its series.
    New(i64),
    /// One was issued for this reference before: nothing written, no number used.
    Duplicate,
}

/// A billing profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfileRecord {
    /// Name.
    pub name: String,
    /// Country.
    pub country: Option<String>,
    /// VAT ID.
    pub vat_id: Option<String>,
    /// Address.
    pub address: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    series: String,
    number: i64,
    kind: String,
    account_id: String,
    provider: String,
    reference: String,
    corrects: Option<String>,
    currency: String,
    net: i64,
    tax: i64,
    total: i64,
    tax_rate_bp: i64,
    reverse_charge: i64,
    customer_name: String,
    customer_country: Option<String>,
    customer_vat_id: Option<String>,
    customer_address: String,
    description: String,
    issued_at: i64,
}

const COLUMNS: &str = "id, series, number, kind, account_id, provider, reference, corrects, \
     currency, net, tax, total, tax_rate_bp, reverse_charge, customer_name, customer_country, \
     customer_vat_id, customer_address, description, issued_at";

fn record(r: Row) -> Result<InvoiceRecord, StoreError> {
    Ok(InvoiceRecord {
        account: parse_id(&r.account_id)?,
        issued_at: from_millis(r.issued_at)?,
        reverse_charge: r.reverse_charge != 0,
        id: r.id,
        series: r.series,
        number: r.number,
        kind: r.kind,
        provider: r.provider,
        reference: r.reference,
        corrects: r.corrects,
        currency: r.currency,
        net: r.net,
        tax: r.tax,
        total: r.total,
        tax_rate_bp: r.tax_rate_bp,
        customer_name: r.customer_name,
        customer_country: r.customer_country,
        customer_vat_id: r.customer_vat_id,
        customer_address: r.customer_address,
        description: r.description,
    })
}

impl Store {
    /// Writes `i` with the next number of its series, in one transaction: the number is taken
    /// by moving the series' counter in the same transaction, so concurrent issues wait for
    /// each other and a rolled-back one uses no number. One invoice per (provider, reference,
    /// kind): a repeat is [`Issued::Duplicate`].
    pub async fn issue_invoice(
        &self,
        i: &NewInvoice<'_>,
        now: OffsetDateTime,
    ) -> Result<Issued, StoreError> {
        let r: Result<i64, sqlx::Error> = on_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO invoice_series (series, next_number) VALUES ($1, 1) \
                     ON CONFLICT (series) DO NOTHING",
                )
                .bind(i.series)
                .execute(&mut *tx)
                .await?;
                let (number,): (i64,) = sqlx::query_as(
                    "UPDATE invoice_series SET next_number = next_number + 1 WHERE series = $1 \
                     RETURNING next_number - 1",
                )
                .bind(i.series)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO invoices (id, series, number, kind, account_id, provider, \
                     reference, corrects, currency, net, tax, total, tax_rate_bp, reverse_charge, \
                     customer_name, customer_country, customer_vat_id, customer_address, description, \
                     issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                     $14, $15, $16, $17, $18, $19, $20)",
                )
                .bind(i.id)
                .bind(i.series)
                .bind(number)
                .bind(i.kind)
                .bind(i.account.as_str())
                .bind(i.provider)
                .bind(i.reference)
                .bind(i.corrects)
                .bind(i.currency)
                .bind(i.net)
                .bind(i.tax)
                .bind(i.total)
                .bind(i64::from(i.tax_rate_bp))
                .bind(i64::from(i.reverse_charge))
                .bind(i.customer_name)
                .bind(i.customer_country)
                .bind(i.customer_vat_id)
                .bind(i.customer_address)
                .bind(i.description)
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(number)
            }
            .await
        });
        match r {
            Ok(n) => Ok(Issued::New(n)),
            // Rolled back with the counter's move: the number stays free.
            Err(e) if is_unique_violation(&e) => Ok(Issued::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    /// Invoices, newest first: `account`'s, or everyone's.
    pub async fn invoices(
        &self,
        account: Option<&AccountId>,
        limit: i64,
    ) -> Result<Vec<InvoiceRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM invoices WHERE ($1 IS NULL OR account_id = $1) \
             ORDER BY issued_at DESC, series, number DESC LIMIT $2"
        );
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(account.map(AccountId::as_str))
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(record).collect()
    }

    /// `account`'s invoice `id`.
    pub async fn invoice(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<InvoiceRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM invoices WHERE id = $1 AND account_id = $2");
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .bind(account.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(record).transpose()
    }

    /// The invoice or credit note issued for the provider's `reference`.
    pub async fn invoice_for(
        &self,
        provider: &str,
        reference: &str,
        kind: &str,
    ) -> Result<Option<InvoiceRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM invoices WHERE provider = $1 AND reference = $2 AND kind = $3"
        );
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(provider)
                .bind(reference)
                .bind(kind)
                .fetch_optional(pool)
                .await?
        });
        row.map(record).transpose()
    }

    /// `account`'s billing profile.
    pub async fn billing_profile(
        &self,
        account: &AccountId,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        let row: Option<(String, Option<String>, Option<String>, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT name, country, vat_id, address FROM billing_profiles WHERE account_id = $1",
            )
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(name, country, vat_id, address)| ProfileRecord {
            name,
            country,
            vat_id,
            address,
        }))
    }

    /// Sets `account`'s billing profile.
    pub async fn set_billing_profile(
        &self,
        account: &AccountId,
        p: &ProfileRecord,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO billing_profiles (account_id, name, country, vat_id, address) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO UPDATE SET \
                 name = excluded.name, country = excluded.country, vat_id = excluded.vat_id, \
                 address = excluded.address",
            )
            .bind(account.as_str())
            .bind(&p.name)
            .bind(&p.country)
            .bind(&p.vat_id)
            .bind(&p.address)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }
}
