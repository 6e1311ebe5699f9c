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
    /// Who invoices, and the tax table (`[billing.invoices]`).
    pub invoices: InvoiceConfig,
    /// Keys that sign settlement receipts (`POST /v1/billing/settlements`); any may sign, so
    /// a key rolls. None: receipts are refused.
    pub settlement_keys: Vec<Secret<String>>,
}

/// The seller on invoices, their numbering and the tax table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InvoiceConfig {
    /// The seller's name.
    pub seller_name: String,
    /// The seller's address (lines separated by `\n`).
    pub seller_address: String,
    /// The seller's country (ISO 3166-1 alpha-2).
    pub seller_country: String,
    /// The seller's VAT ID.
    pub seller_vat_id: Option<String>,
    /// The invoice series' prefix; credit notes are numbered in `<series>-CN`.
    pub series: String,
    /// Country → tax rate in basis points (`DE = 1900` is 19 %); countries not listed pay
    /// none.
    pub tax_rates: std::collections::BTreeMap<String, u32>,
}

impl Default for InvoiceConfig {
    fn default() -> Self {
        Self {
            seller_name: "FlyingDarkDevTunnel".into(),
            seller_address: String::new(),
            seller_country: "IE".into(),
            seller_vat_id: None,
            series: "FDT".into(),
            tax_rates: Default::default(),
        }
    }
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
    /// The REST app's client ID; checkout needs it and [`PaypalConfig::client_secret`].
    #[serde(default)]
    pub client_id: Option<String>,
    /// The REST app's secret (OAuth client credentials).
    #[serde(default)]
    pub client_secret: Option<Secret<String>>,
    /// The REST API's base URL.
    #[serde(default = "paypal_api_base")]
    pub api_base: String,
    /// Plan (`pro`, `team`) → the PayPal plan ID a checkout subscribes to.
    #[serde(default)]
    pub checkout: std::collections::BTreeMap<String, String>,
}

fn paypal_api_base() -> String {
    "https://api-m.paypal.com".into()
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
            invoices: InvoiceConfig::default(),
            settlement_keys: Vec::new(),
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
    /// The secret API key (`sk_…`); checkout, the portal, cancelling and refunds need it.
    #[serde(default)]
    pub secret_key: Option<Secret<String>>,
    /// The API's base URL.
    #[serde(default = "stripe_api_base")]
    pub api_base: String,
    /// Plan (`pro`, `team`) → the price a checkout subscribes to.
    #[serde(default)]
    pub checkout: std::collections::BTreeMap<String, String>,
}

fn stripe_api_base() -> String {
    "https://api.stripe.com".into()
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
    /// The API key ID (`rzp_…`); checkout needs it and [`RazorpayConfig::key_secret`].
    #[serde(default)]
    pub key_id: Option<String>,
    /// The API key secret: Basic auth for the API, and the key of checkout's payment
    /// signatures (not the webhook secret).
    #[serde(default)]
    pub key_secret: Option<Secret<String>>,
    /// The API's base URL.
    #[serde(default = "razorpay_api_base")]
    pub api_base: String,
    /// Plan (`pro`, `team`) → the Razorpay plan ID a checkout subscribes to.
    #[serde(default)]
    pub checkout: std::collections::BTreeMap<String, String>,
}

fn razorpay_api_base() -> String {
    "https://api.razorpay.com".into()
}

// Defaults for building configurations in code (tests, `fdt-cloud dev`); a file must name
// the secrets and IDs (serde requires them).
impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            webhook_secrets: Vec::new(),
            prices: Default::default(),
            secret_key: None,
            api_base: stripe_api_base(),
            checkout: Default::default(),
        }
    }
}

impl Default for RazorpayConfig {
    fn default() -> Self {
        Self {
            webhook_secret: Secret::new(String::new()),
            plans: Default::default(),
            key_id: None,
            key_secret: None,
            api_base: razorpay_api_base(),
            checkout: Default::default(),
        }
    }
}

impl Default for PaypalConfig {
    fn default() -> Self {
        Self {
            webhook_id: String::new(),
            cert_hosts: paypal_cert_hosts(),
            cert_name: paypal_cert_name(),
            extra_roots: None,
            plans: Default::default(),
            client_id: None,
            client_secret: None,
            api_base: paypal_api_base(),
            checkout: Default::default(),
        }
    }
}
