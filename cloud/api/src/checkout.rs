//! `/v1/billing/checkout` and friends: paying for a plan at a provider, cancelling, the
//! provider's portal, and operators' refunds.

use serde::{Deserialize, Serialize};

/// `POST /v1/billing/checkout`: start paying for `plan` at `provider`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// `stripe`, `razorpay` or `paypal`.
    pub provider: String,
    /// The plan to pay for (`pro`, `team`).
    pub plan: crate::Plan,
    /// Pay once for 30 days (an order; Razorpay and PayPal) instead of subscribing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub once: bool,
}

/// `POST /v1/billing/checkout` → 201: where the person pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CheckoutStarted {
    /// Our checkout's ID.
    pub id: String,
    /// The provider.
    pub provider: String,
    /// The plan.
    pub plan: crate::Plan,
    /// The provider's page to send the person to.
    pub url: String,
    /// The provider's reference (Stripe session, Razorpay or PayPal subscription).
    pub reference: String,
}

/// A checkout as the account sees it (the desktop and console poll it after sending the
/// person to the provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CheckoutStatus {
    /// Our checkout's ID.
    pub id: String,
    /// The provider.
    pub provider: String,
    /// The plan.
    pub plan: crate::Plan,
    /// `open` (waiting for the person), `paid` (the provider confirmed the payment),
    /// `active` (the subscription is in force).
    pub state: String,
    /// The plan in force for the account now.
    pub entitled_plan: crate::Plan,
}

/// `POST /v1/billing/razorpay/payments`: what Razorpay's checkout handed the page after
/// payment, to be checked against the subscription we created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RazorpayPayment {
    /// `razorpay_subscription_id`.
    pub razorpay_subscription_id: String,
    /// `razorpay_payment_id`.
    pub razorpay_payment_id: String,
    /// `razorpay_signature`: hex HMAC-SHA256 of `payment_id|subscription_id` under the key
    /// secret.
    pub razorpay_signature: String,
}

/// `POST /v1/billing/portal` → the provider's page where the person manages payment methods
/// and invoices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PortalLink {
    /// Where to send the person.
    pub url: String,
}

/// `POST /v1/admin/billing/refunds`: refund (part of) a charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// `stripe`, `razorpay` or `paypal`.
    pub provider: String,
    /// The provider's charge (Stripe charge, Razorpay payment, PayPal capture) ID.
    pub charge: String,
    /// Minor units; the charge's remainder when absent.
    #[serde(default)]
    pub amount: Option<i64>,
    /// ISO 4217 code; must be the charge's.
    pub currency: String,
}

/// `POST /v1/admin/billing/refunds` → 201.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RefundIssued {
    /// The provider's refund ID. The ledger records it when the provider's refund event
    /// arrives.
    pub refund_id: String,
    /// Minor units refunded.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// A provider the caller can pay with, and the plans it sells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProviderOption {
    /// `stripe`, `razorpay` or `paypal`.
    pub provider: String,
    /// Plans with a price there.
    pub plans: Vec<crate::Plan>,
    /// Plans it sells once (30 days, no renewal).
    #[serde(default)]
    pub once: Vec<crate::Plan>,
}

/// `GET /v1/billing/options`: where a checkout can start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BillingOptions {
    /// Providers with checkout set up here.
    pub providers: Vec<ProviderOption>,
    /// The plan in force.
    pub plan: crate::Plan,
    /// The live subscription, if any: another plan is a change of its plan, not a checkout.
    #[serde(default)]
    pub subscription: Option<crate::Subscription>,
}

/// `POST /v1/billing/subscriptions/{provider}/{id}/plan`: move a subscription to another paid
/// plan (free is a cancel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanChangeRequest {
    /// The plan to move to.
    pub plan: crate::Plan,
}

/// A plan change the provider accepted. The plan in force follows the provider's subscription
/// event, as for a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlanChange {
    /// `stripe`, `razorpay` or `paypal`.
    pub provider: String,
    /// The provider's subscription ID.
    pub subscription: String,
    /// The plan it moves to.
    pub plan: crate::Plan,
    /// `now` (charged or credited pro rata), `cycle_end` (when the paid cycle ends), or
    /// `approval` (once the person approves it at `url`, PayPal).
    pub effective: String,
    /// The provider's page where the person approves the change, for `approval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}
