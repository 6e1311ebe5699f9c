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
}

/// `GET /v1/billing/subscriptions`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SubscriptionList {
    /// The account's subscriptions.
    pub subscriptions: Vec<Subscription>,
}
