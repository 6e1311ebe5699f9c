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

/// What paying once for a plan costs: an order buying [`crate::billing::orders::PASS_DAYS`]
/// days of it, without renewal.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OncePrice {
    /// Minor units (paise, cents).
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
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
    /// Plan → its price paid once (a PayPal order, captured on return).
    #[serde(default)]
    pub orders: std::collections::BTreeMap<String, OncePrice>,
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
    /// Plan → its price paid once (a Razorpay order, paid in Razorpay's hosted checkout).
    #[serde(default)]
    pub orders: std::collections::BTreeMap<String, OncePrice>,
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
            orders: Default::default(),
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
            orders: Default::default(),
        }
    }
}

impl BillingConfig {
    /// Checks the providers' secrets and maps, the settlement keys and the invoice settings;
    /// the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=60).contains(&self.grace_days) {
            return Err("billing.grace_days must be between 1 and 60".into());
        }
        // Every plan a map names (as values for the providers' IDs, as keys for checkout) is
        // a paid one.
        fn paid<'a>(what: &str, mut plans: impl Iterator<Item = &'a String>) -> Result<(), String> {
            match plans
                .find(|p| !matches!(p.parse::<fdt_api::Plan>(), Ok(p) if p != fdt_api::Plan::Free))
            {
                Some(p) => Err(format!(
                    "billing.{what}: {p:?} is not a paid plan (pro, team)"
                )),
                None => Ok(()),
            }
        }
        if let Some(s) = &self.stripe {
            if s.webhook_secrets.is_empty()
                || s.webhook_secrets.iter().any(|k| k.expose().len() < 16)
            {
                return Err(
                    "billing.stripe.webhook_secrets: at least one, each at least 16 characters"
                        .into(),
                );
            }
            paid("stripe.prices", s.prices.values())?;
            paid("stripe.checkout", s.checkout.keys())?;
        }
        if let Some(r) = &self.razorpay {
            if r.webhook_secret.expose().len() < 16 {
                return Err(
                    "billing.razorpay.webhook_secret must be at least 16 characters".into(),
                );
            }
            paid("razorpay.plans", r.plans.values())?;
            paid("razorpay.checkout", r.checkout.keys())?;
            paid("razorpay.orders", r.orders.keys())?;
            once_prices("razorpay.orders", &r.orders)?;
        }
        if let Some(p) = &self.paypal {
            if p.webhook_id.trim().is_empty() || p.cert_hosts.is_empty() {
                return Err("billing.paypal: webhook_id and cert_hosts must not be empty".into());
            }
            paid("paypal.plans", p.plans.values())?;
            paid("paypal.checkout", p.checkout.keys())?;
            paid("paypal.orders", p.orders.keys())?;
            once_prices("paypal.orders", &p.orders)?;
        }
        if self.settlement_keys.iter().any(|k| k.expose().len() < 16) {
            return Err("billing.settlement_keys: each at least 16 characters".into());
        }
        self.invoices.validate()
    }
}

/// Each one-time price is a positive amount in a known currency.
fn once_prices(
    what: &str,
    prices: &std::collections::BTreeMap<String, OncePrice>,
) -> Result<(), String> {
    for (plan, p) in prices {
        if p.amount <= 0 {
            return Err(format!(
                "billing.{what}.{plan}.amount must be positive (minor units)"
            ));
        }
        crate::billing::money::Currency::parse(&p.currency)
            .map_err(|e| format!("billing.{what}.{plan}.currency: {e}"))?;
    }
    Ok(())
}

impl InvoiceConfig {
    /// Checks the countries, rates and series.
    pub fn validate(&self) -> Result<(), String> {
        let country = |c: &str| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase());
        if !country(&self.seller_country) || self.tax_rates.keys().any(|c| !country(c)) {
            return Err(
                "billing.invoices: countries are ISO 3166-1 alpha-2 codes in capitals (DE, IN)"
                    .into(),
            );
        }
        if self.tax_rates.values().any(|r| *r > 10_000) {
            return Err("billing.invoices.tax_rates: basis points, at most 10000 (100 %)".into());
        }
        let series_ok = (1..=16).contains(&self.series.len())
            && self
                .series
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if !series_ok {
            return Err("billing.invoices.series: 1 to 16 of A-Z, 0-9 and '-'".into());
        }
        Ok(())
    }
}
