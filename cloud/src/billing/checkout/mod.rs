//! Checkout at the payment providers: one trait ([`CheckoutProvider`]), three adapters
//! ([`stripe`], [`razorpay`], [`paypal`]) that speak each provider's documented REST API
//! with plain reqwest (no SDKs: the Rust ones are stale or enormous).
//!
//! A checkout creates the provider's object (Stripe Checkout Session, Razorpay or PayPal
//! subscription) with our account ID in its metadata, so the webhooks that follow name the
//! account; the person pays on the provider's page. A plan change moves the subscription
//! (upgrades at once, pro rata; PayPal after the person approves it); cancelling ends it at the
//! end of its period; refunds go back through the charge's provider. No call here is retried:
//! a 4xx is the provider refusing, reported as it said it.

mod api;
pub mod paypal;
pub mod razorpay;
pub mod stripe;

use super::Provider;
use super::money::Money;
use crate::config::BillingConfig;
use fdt_api::AccountId;
use std::collections::BTreeMap;

/// Why a provider call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    /// The provider is not set up for checkout here (no API keys).
    #[error("{} checkout is not configured here", .0.as_str())]
    NotConfigured(Provider),
    /// The plan has no price at the provider.
    #[error("{} has no price for plan {plan}", .provider.as_str())]
    NoPrice {
        /// The provider.
        provider: Provider,
        /// The plan asked for.
        plan: String,
    },
    /// The provider refused the request (its status and message).
    #[error("{} refused the request ({status}): {message}", .provider.as_str())]
    Refused {
        /// The provider.
        provider: Provider,
        /// Its HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// The provider could not be reached.
    #[error("{provider} could not be reached: {detail}", provider = .0.as_str(), detail = .1)]
    Unreachable(Provider, String),
    /// The provider answered something we cannot read.
    #[error("{provider}: {detail}", provider = .0.as_str(), detail = .1)]
    Answer(Provider, String),
    /// The provider sells no one-time payments here (Stripe: subscriptions only).
    #[error("{} takes no one-time payments here", .0.as_str())]
    NoOrders(Provider),
}

/// What a checkout is for.
#[derive(Debug, Clone)]
pub struct StartCheckout<'a> {
    /// Our checkout ID (also the idempotency key of the provider call).
    pub id: &'a str,
    /// The paying account.
    pub account: &'a AccountId,
    /// Its email (prefilled on the provider's page).
    pub email: &'a str,
    /// The plan (`pro`, `team`).
    pub plan: &'a str,
    /// The account's customer at this provider, if it has one.
    pub customer: Option<&'a str>,
    /// Where the provider sends the person after paying.
    pub return_url: &'a str,
    /// Where it sends them when they give up.
    pub cancel_url: &'a str,
}

/// An order: paying once for a plan's period, without renewal.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    /// Our checkout ID (the provider's receipt or reference, and the idempotency key).
    pub id: &'a str,
    /// The paying account.
    pub account: &'a AccountId,
    /// Its email (prefilled on the provider's page).
    pub email: &'a str,
    /// The plan (its one-time price is the adapter's).
    pub plan: &'a str,
    /// What the person is told they buy.
    pub description: &'a str,
    /// Where the provider sends the person after paying (PayPal: approving; Razorpay: its
    /// signed callback).
    pub return_url: &'a str,
    /// Where it sends them when they give up.
    pub cancel_url: &'a str,
}

/// The one-time price of `plan` in `prices`.
fn once_price(
    provider: Provider,
    prices: &BTreeMap<String, crate::config::OncePrice>,
    plan: &str,
) -> Result<Money, CheckoutError> {
    let p = prices.get(plan).ok_or_else(|| CheckoutError::NoPrice {
        provider,
        plan: plan.to_owned(),
    })?;
    let currency = super::money::Currency::parse(&p.currency)
        .map_err(|e| CheckoutError::Answer(provider, format!("configured currency: {e}")))?;
    Ok(Money::minor(p.amount, currency))
}

/// A checkout started at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The provider's reference (session or subscription ID).
    pub reference: String,
    /// Its page, where the person pays.
    pub url: String,
    /// The customer created for the account, to be stored (Stripe).
    pub new_customer: Option<String>,
}

/// A subscription moving to another plan.
#[derive(Debug, Clone)]
pub struct ChangePlan<'a> {
    /// The provider's subscription ID.
    pub subscription: &'a str,
    /// The plan it moves to.
    pub plan: &'a str,
    /// A higher plan than the one it has (upgrades apply at once, downgrades where the
    /// provider allows it at the end of the paid cycle).
    pub upgrade: bool,
    /// Where the provider sends the person after approving (PayPal).
    pub return_url: &'a str,
    /// Where it sends them when they decline.
    pub cancel_url: &'a str,
}

/// When a plan change takes effect. Entitlements follow the provider's subscription event
/// either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanChanged {
    /// Now, charged or credited pro rata.
    Now,
    /// At the end of the paid cycle.
    AtCycleEnd,
    /// Once the person approves it on the provider's page at this URL.
    Approve(String),
}

/// When a cancelled subscription ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelAt {
    /// At the end of the paid period (a customer's cancel: what was paid for is kept).
    PeriodEnd,
    /// Now (a duplicate subscription, whose charges are refunded).
    Now,
}

/// One payment provider's checkout API.
pub trait CheckoutProvider {
    /// Starts paying for `c.plan`.
    fn start(
        &self,
        c: &StartCheckout<'_>,
    ) -> impl Future<Output = Result<Started, CheckoutError>> + Send;

    /// Cancels subscription `id`, at the end of its paid period or now. (PayPal's
    /// subscriptions end when cancelled either way.)
    fn cancel(
        &self,
        id: &str,
        at: CancelAt,
    ) -> impl Future<Output = Result<(), CheckoutError>> + Send;

    /// Moves a subscription to another plan.
    fn change_plan(
        &self,
        c: &ChangePlan<'_>,
    ) -> impl Future<Output = Result<PlanChanged, CheckoutError>> + Send;

    /// Refunds `amount` of charge `charge`; the provider's refund ID. `key` is the same for
    /// a repeated request (the provider does it once where it supports idempotency keys).
    fn refund(
        &self,
        charge: &str,
        amount: &Money,
        key: &str,
    ) -> impl Future<Output = Result<String, CheckoutError>> + Send;

    /// Subscription `id` as the provider holds it now (its API's object, read by
    /// [`crate::billing::events`]): what reconciling sets ours to.
    fn subscription(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<serde_json::Value, CheckoutError>> + Send;
}

/// The configured checkout adapters.
#[derive(Debug, Default)]
pub struct Checkouts {
    /// Stripe, when `[billing.stripe]` has a secret key.
    pub stripe: Option<stripe::StripeCheckout>,
    /// Razorpay, when `[billing.razorpay]` has an API key.
    pub razorpay: Option<razorpay::RazorpayCheckout>,
    /// PayPal, when `[billing.paypal]` has client credentials.
    pub paypal: Option<paypal::PaypalCheckout>,
}

impl Checkouts {
    /// The adapters `cfg` sets up.
    pub fn from_config(cfg: &BillingConfig) -> Result<Self, CheckoutError> {
        Ok(Self {
            stripe: cfg
                .stripe
                .as_ref()
                .map(stripe::StripeCheckout::from_config)
                .transpose()?
                .flatten(),
            razorpay: cfg
                .razorpay
                .as_ref()
                .map(razorpay::RazorpayCheckout::from_config)
                .transpose()?
                .flatten(),
            paypal: cfg
                .paypal
                .as_ref()
                .map(paypal::PaypalCheckout::from_config)
                .transpose()?
                .flatten(),
        })
    }

    /// The providers set up for checkout, each with the plans it sells as subscriptions and
    /// the plans it sells once.
    pub fn offered(&self) -> Vec<(Provider, Vec<String>, Vec<String>)> {
        let plans = |m: &BTreeMap<String, String>| m.keys().cloned().collect();
        let once = |m: &BTreeMap<String, crate::config::OncePrice>| m.keys().cloned().collect();
        let mut out = Vec::new();
        if let Some(a) = &self.stripe {
            out.push((Provider::Stripe, plans(&a.prices), Vec::new()));
        }
        if let Some(a) = &self.razorpay {
            out.push((Provider::Razorpay, plans(&a.plans), once(&a.orders)));
        }
        if let Some(a) = &self.paypal {
            out.push((Provider::Paypal, plans(&a.plans), once(&a.orders)));
        }
        out
    }

    /// The Stripe adapter, or why there is none.
    pub fn stripe_api(&self) -> Result<&stripe::StripeCheckout, CheckoutError> {
        self.stripe
            .as_ref()
            .ok_or(CheckoutError::NotConfigured(Provider::Stripe))
    }

    /// The Razorpay adapter, or why there is none.
    pub fn razorpay_api(&self) -> Result<&razorpay::RazorpayCheckout, CheckoutError> {
        self.razorpay
            .as_ref()
            .ok_or(CheckoutError::NotConfigured(Provider::Razorpay))
    }

    /// The PayPal adapter, or why there is none.
    pub fn paypal_api(&self) -> Result<&paypal::PaypalCheckout, CheckoutError> {
        self.paypal
            .as_ref()
            .ok_or(CheckoutError::NotConfigured(Provider::Paypal))
    }

    /// `provider`'s adapter.
    pub fn get(&self, provider: Provider) -> Result<&dyn Adapter, CheckoutError> {
        let adapter: Option<&dyn Adapter> = match provider {
            Provider::Stripe => self.stripe.as_ref().map(|a| a as &dyn Adapter),
            Provider::Razorpay => self.razorpay.as_ref().map(|a| a as &dyn Adapter),
            Provider::Paypal => self.paypal.as_ref().map(|a| a as &dyn Adapter),
        };
        adapter.ok_or(CheckoutError::NotConfigured(provider))
    }
}

/// The object-safe face of [`CheckoutProvider`] (boxed futures), for picking an adapter at
/// run time.
pub trait Adapter: Send + Sync {
    /// See [`CheckoutProvider::start`].
    fn start<'a>(
        &'a self,
        c: &'a StartCheckout<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<Started, CheckoutError>>;
    /// See [`CheckoutProvider::cancel`].
    fn cancel<'a>(
        &'a self,
        id: &'a str,
        at: CancelAt,
    ) -> futures_util::future::BoxFuture<'a, Result<(), CheckoutError>>;
    /// See [`CheckoutProvider::change_plan`].
    fn change_plan<'a>(
        &'a self,
        c: &'a ChangePlan<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<PlanChanged, CheckoutError>>;
    /// See [`CheckoutProvider::refund`].
    fn refund<'a>(
        &'a self,
        charge: &'a str,
        amount: &'a Money,
        key: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<String, CheckoutError>>;
    /// See [`CheckoutProvider::subscription`].
    fn subscription<'a>(
        &'a self,
        id: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<serde_json::Value, CheckoutError>>;
}

impl<T: CheckoutProvider + Send + Sync> Adapter for T {
    fn start<'a>(
        &'a self,
        c: &'a StartCheckout<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<Started, CheckoutError>> {
        Box::pin(CheckoutProvider::start(self, c))
    }
    fn cancel<'a>(
        &'a self,
        id: &'a str,
        at: CancelAt,
    ) -> futures_util::future::BoxFuture<'a, Result<(), CheckoutError>> {
        Box::pin(CheckoutProvider::cancel(self, id, at))
    }
    fn change_plan<'a>(
        &'a self,
        c: &'a ChangePlan<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<PlanChanged, CheckoutError>> {
        Box::pin(CheckoutProvider::change_plan(self, c))
    }
    fn refund<'a>(
        &'a self,
        charge: &'a str,
        amount: &'a Money,
        key: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<String, CheckoutError>> {
        Box::pin(CheckoutProvider::refund(self, charge, amount, key))
    }
    fn subscription<'a>(
        &'a self,
        id: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<serde_json::Value, CheckoutError>> {
        Box::pin(CheckoutProvider::subscription(self, id))
    }
}

/// The price (or provider plan) `map` gives `plan`.
fn price_for(
    provider: Provider,
    map: &BTreeMap<String, String>,
    plan: &str,
) -> Result<String, CheckoutError> {
    map.get(plan)
        .cloned()
        .ok_or_else(|| CheckoutError::NoPrice {
            provider,
            plan: plan.to_owned(),
        })
}
