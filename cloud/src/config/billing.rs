//! `[billing]`: payment providers' webhook secrets and price/plan maps, and dunning's grace.

use crate::secret::Secret;
use serde::Deserialize;
use std::path::PathBuf;

/// Payment providers (`[billing]`); a provider without a table is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    /// Days a past-due account keeps its plan before it moves to free.
    pub grace_days: u32,
    /// Stripe (`[billing.stripe]`).
    pub stripe: Option<StripeConfig>,
    /// Razorpay (`[billing.razorpay]`).
    pub razorpay: Option<RazorpayConfig>,
    /// PayPal (`[billing.paypal]`).
    pub paypal: Option<PaypalConfig>,
}

/// PayPal's webhook and plans.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaypalConfig {
    /// The webhook's ID (part of every signed string).
    pub webhook_id: String,
    /// Hosts (`host` or `host:port`) signing certificates may be fetched from.
    #[serde(default = "paypal_cert_hosts")]
    pub cert_hosts: Vec<String>,
    /// The name PayPal's signing certificate is checked for.
    #[serde(default = "paypal_cert_name")]
    pub cert_name: String,
    /// PEM roots trusted besides the public ones (a test CA).
    #[serde(default)]
    pub extra_roots: Option<PathBuf>,
    /// PayPal plan ID → plan (`pro`, `team`).
    #[serde(default)]
    pub plans: std::collections::BTreeMap<String, String>,
}

fn paypal_cert_hosts() -> Vec<String> {
    [
        "api.paypal.com",
        "api-m.paypal.com",
        "api.sandbox.paypal.com",
        "api-m.sandbox.paypal.com",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn paypal_cert_name() -> String {
    "messageverificationcerts.paypal.com".into()
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            grace_days: 7,
            stripe: None,
            razorpay: None,
            paypal: None,
        }
    }
}

/// Stripe's webhook endpoint and prices.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeConfig {
    /// The endpoint's signing secrets (`whsec_…`); any may sign (a secret rolls).
    pub webhook_secrets: Vec<Secret<String>>,
    /// Price ID → plan (`pro`, `team`).
    #[serde(default)]
    pub prices: std::collections::BTreeMap<String, String>,
}

/// Razorpay's webhook secret, API key secret and plans.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RazorpayConfig {
    /// The webhook secret.
    pub webhook_secret: Secret<String>,
    /// Razorpay plan ID → plan (`pro`, `team`).
    #[serde(default)]
    pub plans: std::collections::BTreeMap<String, String>,
}
