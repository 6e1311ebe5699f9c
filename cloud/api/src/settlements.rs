//! `/v1/billing/settlements`: signed settlement receipts, reconciled against the ledger, and
//! the incidents their differences open.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A difference between a settlement receipt and the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BillingIncident {
    /// Number (for resolving).
    pub id: i64,
    /// The receipt's ID.
    pub settlement: String,
    /// `missing` (not in the ledger), `amount`, `fee`, `currency` or `total` (the payout
    /// disagrees with its items).
    pub kind: String,
    /// The item's reference (the payout's for `total`).
    pub reference: String,
    /// ISO 4217 code.
    pub currency: String,
    /// What the ledger says, minor units (0 when missing).
    pub expected: i64,
    /// What the receipt says.
    pub actual: i64,
    /// `actual - expected`.
    pub difference: i64,
    /// Opened.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub opened_at: OffsetDateTime,
    /// Resolved.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub resolved_at: Option<OffsetDateTime>,
    /// The operator who resolved it.
    #[serde(default)]
    pub resolved_by: Option<String>,
    /// Their note.
    #[serde(default)]
    pub note: Option<String>,
}

/// `GET /v1/admin/billing/incidents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BillingIncidentList {
    /// Newest first.
    pub incidents: Vec<BillingIncident>,
}

/// `POST /v1/billing/settlements` → 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SettlementAck {
    /// The receipt's ID.
    pub id: String,
    /// Received before: nothing was done again.
    pub duplicate: bool,
    /// The incidents it opened.
    pub incidents: Vec<BillingIncident>,
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Settlement {
    /// The sender's ID.
    pub id: String,
    /// Provider.
    pub provider: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The payout's ID.
    pub payout: String,
    /// Paid out, minor units.
    pub amount: i64,
    /// Items settled.
    pub items: i64,
    /// Differences found.
    pub mismatches: i64,
    /// Received.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub received_at: OffsetDateTime,
}

/// `GET /v1/admin/billing/settlements`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SettlementList {
    /// Newest first.
    pub settlements: Vec<Settlement>,
}

/// `POST /v1/admin/billing/incidents/{n}/resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ResolveIncident {
    /// What was done (at most 500 characters).
    #[serde(default)]
    pub note: Option<String>,
}
