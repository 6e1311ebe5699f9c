//! `/v1/billing`: payment providers' webhooks and the subscriptions they describe.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `POST /v1/billing/webhooks/{provider}` → 200: what the delivery did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WebhookReceipt {
    /// The event was received before: nothing was done again.
    pub duplicate: bool,
    /// `processed`, `ignored` or `failed`.
    pub state: String,
    /// What it did, or why not.
    pub detail: String,
}

/// Webhook deliveries refused for their signature, for one provider, since the process
/// started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WebhookRejections {
    /// `stripe`, `razorpay` or `paypal`.
    pub provider: String,
    /// Missing or malformed signature header.
    pub malformed: u64,
    /// Timestamp outside the tolerance.
    pub stale: u64,
    /// No signature matched.
    pub mismatch: u64,
}

/// `GET /v1/admin/billing/webhook-rejections`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WebhookRejectionList {
    /// Per provider.
    pub providers: Vec<WebhookRejections>,
}

/// A subscription at a payment provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Subscription {
    /// `stripe`, `razorpay` or `paypal`.
    pub provider: String,
    /// The provider's ID.
    pub subscription_id: String,
    /// The plan it pays for.
    pub plan: crate::Plan,
    /// `trialing`, `active`, `past_due` or `canceled`.
    pub status: String,
    /// End of the paid period.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub period_end: Option<OffsetDateTime>,
    /// Renews at the provider; `false` for a one-time payment, which ends at `period_end`.
    #[serde(default = "renews_by_default")]
    pub renews: bool,
}

fn renews_by_default() -> bool {
    true
}

/// A subscription with its account, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccountSubscription {
    /// The account.
    pub account_id: String,
    /// Its email.
    pub email: String,
    /// The subscription.
    pub subscription: Subscription,
    /// When the provider's last event changed it.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub updated_at: OffsetDateTime,
}

/// `GET /v1/admin/billing/subscriptions?canceled=`: the most recently changed first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccountSubscriptionList {
    /// The subscriptions (at most 500).
    pub subscriptions: Vec<AccountSubscription>,
}

/// `GET /v1/billing/subscriptions`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SubscriptionList {
    /// The account's subscriptions.
    pub subscriptions: Vec<Subscription>,
}

/// `GET /v1/admin/ledger?from&to&format`: the range (UTC dates, `to` exclusive) and the form.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    /// First day (`YYYY-MM-DD`), default 30 days ago.
    #[serde(default)]
    pub from: Option<String>,
    /// Day after the last (`YYYY-MM-DD`), default tomorrow.
    #[serde(default)]
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    #[serde(default)]
    pub format: Option<String>,
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LedgerLine {
    /// Its transaction.
    pub txn: i64,
    /// When the transaction was recorded.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub at: OffsetDateTime,
    /// `charge`, `refund` or `payout`.
    pub kind: String,
    /// The provider.
    pub provider: String,
    /// The provider's reference.
    pub reference: String,
    /// The customer, when known.
    pub account: Option<crate::AccountId>,
    /// The book (`revenue`, `refunds`, `fees`, `bank`, `provider:<name>`).
    pub book: String,
    /// Minor units: positive debits, negative credits.
    pub amount: i64,
    /// ISO 4217 currency.
    pub currency: String,
}

/// `GET /v1/admin/ledger` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LedgerExport {
    /// The lines, by transaction.
    pub lines: Vec<LedgerLine>,
}

/// A ledger transaction, for acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LedgerTxn {
    /// Number.
    pub id: i64,
    /// `charge`, `refund` or `payout`.
    pub kind: String,
    /// The provider.
    pub provider: String,
    /// The provider's reference.
    pub reference: String,
    /// The customer, when known.
    pub account: Option<crate::AccountId>,
    /// Minor units.
    pub amount: i64,
    /// Refunded so far (charges).
    pub refunded: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// When it was recorded.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub at: OffsetDateTime,
    /// When an operator acknowledged it.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub acked_at: Option<OffsetDateTime>,
    /// Who.
    pub acked_by: Option<String>,
}

/// `GET /v1/admin/ledger/transactions?pending`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LedgerTxnList {
    /// The transactions.
    pub transactions: Vec<LedgerTxn>,
}

/// `GET /v1/admin/ledger/transactions?pending=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LedgerTxnQuery {
    /// Only those not acknowledged yet.
    #[serde(default)]
    pub pending: bool,
}

/// A dunning case: a past-due subscription's reminders and grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DunningCase {
    /// The account.
    pub account: crate::AccountId,
    /// The provider.
    pub provider: String,
    /// The subscription past due.
    pub subscription_id: String,
    /// `open`, `recovered`, `canceled` or `downgraded`.
    pub state: String,
    /// Opened.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub started_at: OffsetDateTime,
    /// When the plan moves to free unless a payment goes through.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub grace_ends_at: OffsetDateTime,
    /// The next reminder.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub next_reminder_at: Option<OffsetDateTime>,
    /// Reminders written.
    pub reminders_sent: i64,
    /// Closed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub closed_at: Option<OffsetDateTime>,
}

/// `GET /v1/billing/dunning` (the caller's cases) and `GET /v1/admin/billing/dunning` (every
/// open case): newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DunningList {
    /// The cases.
    pub cases: Vec<DunningCase>,
}

/// An email in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OutboxEmail {
    /// Number.
    pub id: i64,
    /// The account it is about.
    pub account: Option<crate::AccountId>,
    /// Recipient.
    pub to: String,
    /// `dunning_reminder`, `payment_recovered`, `downgraded`.
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Text body.
    pub body: String,
    /// Written.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub created_at: OffsetDateTime,
    /// Sent (none yet: not sent, or no mailer is configured).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub sent_at: Option<OffsetDateTime>,
    /// Sending attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// The last attempt's error (the mail server's answer).
    #[serde(default)]
    pub last_error: Option<String>,
    /// Given up: refused for good, or out of attempts (`POST …/outbox/{id}/retry` sends it
    /// again).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub failed_at: Option<OffsetDateTime>,
}

/// `GET /v1/admin/billing/outbox`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OutboxList {
    /// The emails.
    pub emails: Vec<OutboxEmail>,
}

/// A received webhook event, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BillingEvent {
    /// Number (for replay).
    pub id: i64,
    /// The provider.
    pub provider: String,
    /// The provider's event ID.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// When the provider created it.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub created: OffsetDateTime,
    /// When it arrived.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub received_at: OffsetDateTime,
    /// `processed`, `ignored`, `failed` or `rejected`.
    pub state: String,
    /// What processing did, or why not.
    pub detail: String,
}

/// `GET /v1/admin/billing/events`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BillingEventList {
    /// The events.
    pub events: Vec<BillingEvent>,
}
