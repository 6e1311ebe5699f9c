//! `fdt-cloud dev`'s payment providers in test mode, so a developer can click through
//! checkout locally: Razorpay and PayPal as the in-repo fakes, Stripe as localstripe behind
//! the Checkout emulator when `localstripe` is installed (`pip install localstripe`). The
//! secrets they sign with are kept in `billing-webhook-secrets.toml` in the data directory
//! (`[stripe]`, `[razorpay]`, `[paypal]` tables), so local events can be signed by hand, as
//! with `stripe listen`.

use crate::config::{Config, OncePrice, PaypalConfig, RazorpayConfig, StripeConfig};
use crate::dev_providers::paypal::FakePaypal;
use crate::dev_providers::razorpay::FakeRazorpay;
use crate::dev_providers::stripe::{LocalStripe, SECRET_KEY, StripeEmulator};
use crate::random::random_base62;
use crate::secret::Secret;
use anyhow::Context;
use fdt_api::private_file::write_private;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The secrets file's name in the data directory.
pub const SECRETS_FILE: &str = "billing-webhook-secrets.toml";
/// The PayPal fake's test CA (PEM) in the data directory, rewritten on every start.
pub const PAYPAL_CA_FILE: &str = "paypal-test-ca.pem";
/// The PayPal fake's signing certificate (PEM) in the data directory, rewritten on every start.
pub const PAYPAL_CERT_FILE: &str = "paypal-test-signing-cert.pem";

/// `[stripe]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StripeSecrets {
    /// Signs the webhook events (`whsec_…`).
    pub webhook_secret: String,
}

/// `[razorpay]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RazorpaySecrets {
    /// Signs the webhook events.
    pub webhook_secret: String,
    /// The API key's ID.
    pub key_id: String,
    /// The API key's secret (signs Checkout's payment callbacks).
    pub key_secret: String,
}

/// `[paypal]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaypalSecrets {
    /// The webhook's ID (part of the signed string).
    pub webhook_id: String,
    /// The test signing certificate's path (PEM; its key is the committed test key
    /// `TEST_SIGNING_KEY`). The fake makes it anew on every start, with a new CA, and serves
    /// it over https from the host the verifier allows.
    #[serde(default)]
    pub certificate: Option<String>,
    /// The REST app's client ID.
    pub client_id: String,
    /// The REST app's secret.
    pub client_secret: String,
}

/// The secrets file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Secrets {
    /// Stripe's.
    pub stripe: StripeSecrets,
    /// Razorpay's.
    pub razorpay: RazorpaySecrets,
    /// PayPal's.
    pub paypal: PaypalSecrets,
}

impl Secrets {
    fn generate(data_dir: &Path) -> Self {
        Self {
            stripe: StripeSecrets {
                webhook_secret: format!("whsec_{}", random_base62(32)),
            },
            razorpay: RazorpaySecrets {
                webhook_secret: random_base62(32),
                key_id: format!("rzp_test_{}", random_base62(14)),
                key_secret: random_base62(24),
            },
            paypal: PaypalSecrets {
                webhook_id: format!("WH-DEV-{}", random_base62(16)),
                certificate: Some(data_dir.join(PAYPAL_CERT_FILE).display().to_string()),
                client_id: format!("dev-{}", random_base62(20)),
                client_secret: random_base62(32),
            },
        }
    }

    /// The file in `data_dir`, made (private to the user) on first use.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(SECRETS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("reading {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let s = Self::generate(data_dir);
                let text = toml::to_string(&s).context("writing the billing secrets")?;
                write_private(&path, text.as_bytes())
                    .with_context(|| format!("writing {}", path.display()))?;
                Ok(s)
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

/// The running test-mode providers; they stop when this is dropped.
pub struct DevBilling {
    _stripe: Option<(LocalStripe, StripeEmulator)>,
    _razorpay: FakeRazorpay,
    _paypal: FakePaypal,
    /// What to print about them.
    pub lines: Vec<String>,
}

fn map(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn once(prices: &[(&str, i64, &str)]) -> std::collections::BTreeMap<String, OncePrice> {
    prices
        .iter()
        .map(|(plan, amount, currency)| {
            let price = OncePrice {
                amount: *amount,
                currency: (*currency).to_owned(),
            };
            ((*plan).to_owned(), price)
        })
        .collect()
}

/// Starts the providers and points `config.billing` at them; webhooks go to `api_url`.
pub async fn start(
    config: &mut Config,
    data_dir: &Path,
    api_url: &str,
) -> anyhow::Result<DevBilling> {
    let s = Secrets::load_or_create(data_dir)?;
    let mut lines = Vec::new();
    let hook = |p: &str| format!("{api_url}/v1/billing/webhooks/{p}");

    let rzp = FakeRazorpay::start(
        &s.razorpay.key_id,
        &s.razorpay.key_secret,
        &s.razorpay.webhook_secret,
        &[
            ("plan_dev_pro", 49_900, "INR"),
            ("plan_dev_team", 199_900, "INR"),
        ],
    )
    .await
    .context("starting the Razorpay test server")?;
    rzp.set_webhook(&hook("razorpay"));
    config.billing.razorpay = Some(RazorpayConfig {
        webhook_secret: Secret::new(s.razorpay.webhook_secret.clone()),
        plans: map(&[("plan_dev_pro", "pro"), ("plan_dev_team", "team")]),
        key_id: Some(s.razorpay.key_id.clone()),
        key_secret: Some(Secret::new(s.razorpay.key_secret.clone())),
        api_base: rzp.url.clone(),
        checkout: map(&[("pro", "plan_dev_pro"), ("team", "plan_dev_team")]),
        orders: once(&[("pro", 49_900, "INR"), ("team", 199_900, "INR")]),
    });
    lines.push(format!(
        "  razorpay:     test server {} (signed webhooks)",
        rzp.url
    ));

    let paypal = FakePaypal::start(
        &s.paypal.client_id,
        &s.paypal.client_secret,
        &[
            ("P-DEV-PRO", "12.00", "USD"),
            ("P-DEV-TEAM", "49.00", "USD"),
        ],
    )
    .await
    .context("starting the PayPal test server")?;
    paypal.set_webhook(&hook("paypal"), &s.paypal.webhook_id);
    // The fake's CA and signing certificate are made anew on every start: the verifier trusts
    // this CA and fetches from this host only.
    let ca = data_dir.join(PAYPAL_CA_FILE);
    write_private(&ca, paypal.ca_pem().as_bytes())
        .with_context(|| format!("writing {}", ca.display()))?;
    let cert = data_dir.join(PAYPAL_CERT_FILE);
    write_private(&cert, paypal.signing_cert_pem().as_bytes())
        .with_context(|| format!("writing {}", cert.display()))?;
    config.billing.paypal = Some(PaypalConfig {
        webhook_id: s.paypal.webhook_id.clone(),
        cert_hosts: vec![paypal.cert_host()],
        extra_roots: Some(ca),
        plans: map(&[("P-DEV-PRO", "pro"), ("P-DEV-TEAM", "team")]),
        client_id: Some(s.paypal.client_id.clone()),
        client_secret: Some(Secret::new(s.paypal.client_secret.clone())),
        api_base: paypal.url.clone(),
        checkout: map(&[("pro", "P-DEV-PRO"), ("team", "P-DEV-TEAM")]),
        orders: once(&[("pro", 1_200, "USD"), ("team", 4_900, "USD")]),
        ..PaypalConfig::default()
    });
    lines.push(format!(
        "  paypal:       test server {} (signed webhooks; certificate served from https://{})",
        paypal.url,
        paypal.cert_host()
    ));

    let stripe = match LocalStripe::spawn().await {
        Ok(ls) => {
            ls.price("price_dev_pro", 1200, "usd")
                .await
                .map_err(anyhow::Error::msg)?;
            ls.price("price_dev_team", 4900, "usd")
                .await
                .map_err(anyhow::Error::msg)?;
            let emu = StripeEmulator::start(&ls.url)
                .await
                .context("starting the Stripe Checkout emulator")?;
            emu.webhook(&ls, &hook("stripe"), &s.stripe.webhook_secret)
                .await
                .map_err(anyhow::Error::msg)?;
            config.billing.stripe = Some(StripeConfig {
                webhook_secrets: vec![Secret::new(s.stripe.webhook_secret.clone())],
                prices: map(&[("price_dev_pro", "pro"), ("price_dev_team", "team")]),
                secret_key: Some(Secret::new(SECRET_KEY.into())),
                api_base: emu.url.clone(),
                checkout: map(&[("pro", "price_dev_pro"), ("team", "price_dev_team")]),
            });
            lines.push(format!(
                "  stripe:       localstripe {} behind the Checkout emulator {}",
                ls.url, emu.url
            ));
            Some((ls, emu))
        }
        Err(e) => {
            lines.push(format!(
                "  stripe:       not started ({e}; pip install localstripe to add it)"
            ));
            None
        }
    };
    lines.push(format!(
        "  billing:      test mode; webhook secrets in {}",
        data_dir.join(SECRETS_FILE).display()
    ));
    Ok(DevBilling {
        _stripe: stripe,
        _razorpay: rzp,
        _paypal: paypal,
        lines,
    })
}
