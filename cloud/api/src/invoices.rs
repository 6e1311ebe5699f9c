//! `/v1/billing/invoices` and `/v1/billing/profile`: invoices and credit notes, and what they
//! are made out to.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An invoice or a credit note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Invoice {
    /// ID (for the PDF).
    pub id: String,
    /// Its number, gapless in its series (`FDT-000042`, `FDT-CN-000003`).
    pub number: String,
    /// `invoice` or `credit_note`.
    pub kind: String,
    /// The number of the invoice a credit note corrects.
    #[serde(default)]
    pub corrects: Option<String>,
    /// Issued.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub issued_at: OffsetDateTime,
    /// ISO 4217 code.
    pub currency: String,
    /// Net, minor units (negative on a credit note).
    pub net: i64,
    /// Tax, minor units.
    pub tax: i64,
    /// Total, minor units.
    pub total: i64,
    /// Tax rate in basis points.
    pub tax_rate_bp: u32,
    /// The EU reverse charge applies.
    pub reverse_charge: bool,
    /// What it is for.
    pub description: String,
    /// The account (operators' list).
    #[serde(default)]
    pub account: Option<crate::AccountId>,
}

/// `GET /v1/billing/invoices`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct InvoiceList {
    /// The invoices.
    pub invoices: Vec<Invoice>,
}

/// What invoices are made out to (`GET`/`PUT /v1/billing/profile`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BillingProfile {
    /// Person or company name (1 to 200 characters).
    pub name: String,
    /// ISO 3166-1 alpha-2 country code (`DE`).
    #[serde(default)]
    pub country: Option<String>,
    /// VAT ID, for a business (2 to 32 of A-Z and 0-9).
    #[serde(default)]
    pub vat_id: Option<String>,
    /// Postal address (at most 500 characters).
    #[serde(default)]
    pub address: String,
}
