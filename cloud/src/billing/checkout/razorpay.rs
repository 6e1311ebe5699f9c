//! Razorpay: a subscription per checkout (our account in its `notes`), paid on its hosted
//! page (`short_url`); Checkout's payment signature is checked against the subscription ID we
//! stored ([`crate::billing::verify::razorpay_subscription_payment`]). Orders (paying once)
//! are paid in Razorpay's hosted checkout, whose callback carries the order's signature. Plan changes (upgrades
//! now, downgrades at the cycle's end), cancelling at the end of the cycle, refunds of
//! payments. JSON bodies, Basic auth with the API key.

use super::api::Api;
use super::stripe::urlencoding;
use super::{
    CancelAt, ChangePlan, CheckoutError, CheckoutProvider, NewOrder, PlanChanged, StartCheckout,
    Started, once_price, price_for,
};
use crate::billing::Provider;
use crate::billing::money::Money;
use crate::config::RazorpayConfig;
use crate::secret::Secret;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Billing cycles a subscription runs for (Razorpay needs a count; ten years of months).
const TOTAL_COUNT: u32 = 120;

/// Razorpay's checkout.
#[derive(Debug)]
pub struct RazorpayCheckout {
    api: Api,
    key_id: String,
    key_secret: Secret<String>,
    /// Plan → Razorpay plan ID.
    pub(super) plans: BTreeMap<String, String>,
    /// Plan → its one-time price.
    pub(super) orders: BTreeMap<String, crate::config::OncePrice>,
}

#[derive(Deserialize)]
struct Object {
    id: String,
    #[serde(default)]
    short_url: Option<String>,
}

impl RazorpayCheckout {
    /// The adapter, when `cfg` has an API key.
    pub fn from_config(cfg: &RazorpayConfig) -> Result<Option<Self>, CheckoutError> {
        let (Some(key_id), Some(key_secret)) = (&cfg.key_id, &cfg.key_secret) else {
            return Ok(None);
        };
        Ok(Some(Self {
            api: Api::new(Provider::Razorpay, &cfg.api_base)?,
            key_id: key_id.clone(),
            key_secret: key_secret.clone(),
            plans: cfg.checkout.clone(),
            orders: cfg.orders.clone(),
        }))
    }

    /// The API key ID (public: Razorpay's checkout page is opened with it).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Razorpay's hosted checkout, which a form posts an order to.
    pub fn hosted_checkout(&self) -> String {
        self.api.url("/v1/checkout/embedded")
    }

    /// Creates an order for `o` (our checkout ID as its receipt, the account in its notes);
    /// the order's ID. The person pays it in Razorpay's hosted checkout, which posts the
    /// signed outcome to `o.return_url`.
    pub async fn create_order(&self, o: &NewOrder<'_>) -> Result<String, CheckoutError> {
        let price = once_price(Provider::Razorpay, &self.orders, o.plan)?;
        let order = self
            .post(
                "/v1/orders",
                json!({
                    "amount": price.minor,
                    "currency": price.currency.as_str(),
                    "receipt": o.id,
                    "notes": {"account_id": o.account.as_str(), "checkout_id": o.id, "plan": o.plan},
                }),
            )
            .await?;
        Ok(order.id)
    }

    /// The key secret, which signs Checkout's payment callbacks.
    pub fn key_secret(&self) -> &[u8] {
        self.key_secret.expose().as_bytes()
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<Object, CheckoutError> {
        self.send(Method::POST, path, body).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> Result<Object, CheckoutError> {
        let rb = self
            .api
            .request(method, path)
            .basic_auth(&self.key_id, Some(self.key_secret.expose()))
            .json(&body);
        self.api.call(rb).await
    }
}

impl CheckoutProvider for RazorpayCheckout {
    async fn start(&self, c: &StartCheckout<'_>) -> Result<Started, CheckoutError> {
        let plan_id = price_for(Provider::Razorpay, &self.plans, c.plan)?;
        let o = self
            .post(
                "/v1/subscriptions",
                json!({
                    "plan_id": plan_id,
                    "total_count": TOTAL_COUNT,
                    "quantity": 1,
                    "customer_notify": 1,
                    "notes": {"account_id": c.account.as_str(), "checkout_id": c.id},
                }),
            )
            .await?;
        let url = o.short_url.ok_or_else(|| {
            CheckoutError::Answer(
                Provider::Razorpay,
                "a subscription without a short_url".into(),
            )
        })?;
        Ok(Started {
            reference: o.id,
            url,
            new_customer: None,
        })
    }

    async fn cancel(&self, id: &str, at: CancelAt) -> Result<(), CheckoutError> {
        let path = format!("/v1/subscriptions/{}/cancel", urlencoding(id));
        let at_cycle_end = u8::from(at == CancelAt::PeriodEnd);
        self.post(&path, json!({"cancel_at_cycle_end": at_cycle_end}))
            .await
            .map(drop)
    }

    async fn change_plan(&self, c: &ChangePlan<'_>) -> Result<PlanChanged, CheckoutError> {
        let plan_id = price_for(Provider::Razorpay, &self.plans, c.plan)?;
        let path = format!("/v1/subscriptions/{}", urlencoding(c.subscription));
        // Razorpay charges an upgrade pro rata now; a downgrade waits for the cycle's end
        // (what was paid for this cycle is kept).
        let (at, changed) = if c.upgrade {
            ("now", PlanChanged::Now)
        } else {
            ("cycle_end", PlanChanged::AtCycleEnd)
        };
        self.send(
            Method::PATCH,
            &path,
            json!({"plan_id": plan_id, "schedule_change_at": at, "customer_notify": 1}),
        )
        .await?;
        Ok(changed)
    }

    async fn refund(
        &self,
        charge: &str,
        amount: &Money,
        key: &str,
    ) -> Result<String, CheckoutError> {
        let path = format!("/v1/payments/{}/refund", urlencoding(charge));
        let o = self
            .post(
                &path,
                json!({"amount": amount.minor, "notes": {"refund_key": key}}),
            )
            .await?;
        Ok(o.id)
    }

    async fn subscription(&self, id: &str) -> Result<serde_json::Value, CheckoutError> {
        let path = format!("/v1/subscriptions/{}", urlencoding(id));
        let rb = self
            .api
            .request(Method::GET, &path)
            .basic_auth(&self.key_id, Some(self.key_secret.expose()));
        self.api.call(rb).await
    }
}
