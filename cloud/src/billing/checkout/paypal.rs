//! PayPal: an OAuth client-credentials token (cached until shortly before it expires), a
//! subscription per checkout (our account in `custom_id`) approved on PayPal's page, plan
//! revisions (approved there too), orders (paying once: approved there, captured on return),
//! cancelling, refunds of sales. JSON bodies; calls that create things carry
//! `PayPal-Request-Id` so a repeat does them once.

use super::api::Api;
use super::stripe::urlencoding;
use super::{
    CancelAt, ChangePlan, CheckoutError, CheckoutProvider, NewOrder, PlanChanged, StartCheckout,
    Started, once_price, price_for,
};
use crate::billing::Provider;
use crate::billing::money::Money;
use crate::config::PaypalConfig;
use crate::secret::Secret;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A token is renewed this long before PayPal says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// PayPal's checkout.
#[derive(Debug)]
pub struct PaypalCheckout {
    api: Api,
    client_id: String,
    client_secret: Secret<String>,
    /// Plan → PayPal plan ID.
    pub(super) plans: BTreeMap<String, String>,
    /// Plan → its one-time price.
    pub(super) orders: BTreeMap<String, crate::config::OncePrice>,
    token: Mutex<Option<(Secret<String>, Instant)>>,
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct Link {
    href: String,
    rel: String,
}

#[derive(Deserialize)]
struct Object {
    id: String,
    #[serde(default)]
    links: Vec<Link>,
}

/// A captured order: the capture's ID and amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The capture's ID (what a refund names).
    pub id: String,
    /// What was captured.
    pub amount: Money,
}

/// `revise`'s answer: the plan and the approval link (no ID of its own).
#[derive(Deserialize)]
struct Revision {
    #[serde(default)]
    links: Vec<Link>,
}

/// The `approve` link among `links`.
fn approve_link(links: Vec<Link>) -> Result<String, CheckoutError> {
    links
        .into_iter()
        // Orders name it `payer-action`, subscriptions `approve`.
        .find(|l| l.rel == "approve" || l.rel == "payer-action")
        .map(|l| l.href)
        .ok_or_else(|| {
            CheckoutError::Answer(Provider::Paypal, "an answer without an approve link".into())
        })
}

impl PaypalCheckout {
    /// The adapter, when `cfg` has client credentials.
    pub fn from_config(cfg: &PaypalConfig) -> Result<Option<Self>, CheckoutError> {
        let (Some(id), Some(secret)) = (&cfg.client_id, &cfg.client_secret) else {
            return Ok(None);
        };
        Ok(Some(Self {
            api: Api::new(Provider::Paypal, &cfg.api_base)?,
            client_id: id.clone(),
            client_secret: secret.clone(),
            plans: cfg.checkout.clone(),
            orders: cfg.orders.clone(),
            token: Mutex::new(None),
        }))
    }

    /// A valid access token: the cached one, or a new one.
    async fn token(&self) -> Result<Secret<String>, CheckoutError> {
        let mut cached = self.token.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let rb = self
            .api
            .request(Method::POST, "/v1/oauth2/token")
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(&[("grant_type", "client_credentials")]);
        let t: Token = self.api.call(rb).await?;
        let life = Duration::from_secs(t.expires_in).saturating_sub(TOKEN_MARGIN);
        let token = Secret::new(t.access_token);
        *cached = Some((token.clone(), Instant::now() + life));
        Ok(token)
    }

    async fn request(
        &self,
        path: &str,
        request_id: Option<&str>,
        body: serde_json::Value,
    ) -> Result<reqwest::RequestBuilder, CheckoutError> {
        let token = self.token().await?;
        let mut rb = self
            .api
            .request(Method::POST, path)
            .bearer_auth(token.expose())
            .json(&body);
        if let Some(id) = request_id {
            rb = rb.header("paypal-request-id", id);
        }
        Ok(rb)
    }
}

impl PaypalCheckout {
    /// Creates an order for `o` (Orders v2, intent `CAPTURE`; our checkout ID as the unit's
    /// reference, the account as its `custom_id`): its ID and approval page. Nothing
    /// is charged until [`PaypalCheckout::capture_order`].
    pub async fn create_order(&self, o: &NewOrder<'_>) -> Result<Started, CheckoutError> {
        let price = once_price(Provider::Paypal, &self.orders, o.plan)?;
        let rb = self
            .request(
                "/v2/checkout/orders",
                Some(o.id),
                json!({
                    "intent": "CAPTURE",
                    "purchase_units": [{
                        "reference_id": o.id,
                        "custom_id": o.account.as_str(),
                        "description": o.description,
                        "amount": {"currency_code": price.currency.as_str(), "value": price.decimal()},
                    }],
                    "payment_source": {"paypal": {
                        "email_address": o.email,
                        "experience_context": {
                            "user_action": "PAY_NOW",
                            "shipping_preference": "NO_SHIPPING",
                            "return_url": o.return_url,
                            "cancel_url": o.cancel_url,
                        },
                    }},
                }),
            )
            .await?;
        let order: Object = self.api.call(rb).await?;
        let url = approve_link(order.links)?;
        Ok(Started {
            reference: order.id,
            url,
            new_customer: None,
        })
    }

    /// Refunds `amount` of an order's capture (Orders v2; a subscription's payments are v1
    /// sales, see [`CheckoutProvider::refund`]); the refund's ID.
    pub async fn refund_capture(
        &self,
        capture: &str,
        amount: &Money,
        key: &str,
    ) -> Result<String, CheckoutError> {
        let path = format!("/v2/payments/captures/{}/refund", urlencoding(capture));
        let rb = self
            .request(
                &path,
                Some(key),
                json!({"amount": {"value": amount.decimal(), "currency_code": amount.currency.as_str()}}),
            )
            .await?;
        let o: Object = self.api.call(rb).await?;
        Ok(o.id)
    }

    /// Captures approved order `id` (once per `key`: a repeat answers the same capture).
    pub async fn capture_order(&self, id: &str, key: &str) -> Result<Captured, CheckoutError> {
        let path = format!("/v2/checkout/orders/{}/capture", urlencoding(id));
        let rb = self.request(&path, Some(key), json!({})).await?;
        let v: serde_json::Value = self.api.call(rb).await?;
        let bad = |why: &str| CheckoutError::Answer(Provider::Paypal, why.to_owned());
        if v["status"] != "COMPLETED" {
            return Err(bad("the order's capture is not COMPLETED"));
        }
        let c = &v["purchase_units"][0]["payments"]["captures"][0];
        if c["status"] != "COMPLETED" {
            return Err(bad("the capture is not COMPLETED"));
        }
        let id = c["id"]
            .as_str()
            .ok_or_else(|| bad("a capture without an id"))?;
        let currency = crate::billing::money::Currency::parse(
            c["amount"]["currency_code"].as_str().unwrap_or_default(),
        )
        .map_err(|e| bad(&e.to_string()))?;
        let amount =
            Money::parse_decimal(c["amount"]["value"].as_str().unwrap_or_default(), currency)
                .map_err(|e| bad(&e.to_string()))?;
        Ok(Captured {
            id: id.to_owned(),
            amount,
        })
    }
}

impl CheckoutProvider for PaypalCheckout {
    async fn start(&self, c: &StartCheckout<'_>) -> Result<Started, CheckoutError> {
        let plan_id = price_for(Provider::Paypal, &self.plans, c.plan)?;
        let rb = self
            .request(
                "/v1/billing/subscriptions",
                Some(c.id),
                json!({
                    "plan_id": plan_id,
                    "custom_id": c.account.as_str(),
                    "subscriber": {"email_address": c.email},
                    "application_context": {
                        "user_action": "SUBSCRIBE_NOW",
                        "return_url": c.return_url,
                        "cancel_url": c.cancel_url,
                    },
                }),
            )
            .await?;
        let o: Object = self.api.call(rb).await?;
        let url = approve_link(o.links)?;
        Ok(Started {
            reference: o.id,
            url,
            new_customer: None,
        })
    }

    async fn change_plan(&self, c: &ChangePlan<'_>) -> Result<PlanChanged, CheckoutError> {
        let plan_id = price_for(Provider::Paypal, &self.plans, c.plan)?;
        let path = format!(
            "/v1/billing/subscriptions/{}/revise",
            urlencoding(c.subscription)
        );
        // A revision at PayPal always waits for the subscriber's approval on PayPal's page;
        // the new price applies from the next billing cycle.
        let rb = self
            .request(
                &path,
                None,
                json!({
                    "plan_id": plan_id,
                    "application_context": {
                        "return_url": c.return_url,
                        "cancel_url": c.cancel_url,
                    },
                }),
            )
            .await?;
        let o: Revision = self.api.call(rb).await?;
        Ok(PlanChanged::Approve(approve_link(o.links)?))
    }

    async fn cancel(&self, id: &str, _at: CancelAt) -> Result<(), CheckoutError> {
        let path = format!("/v1/billing/subscriptions/{}/cancel", urlencoding(id));
        let rb = self
            .request(&path, None, json!({"reason": "Cancelled by the customer"}))
            .await?;
        self.api.call_empty(rb).await
    }

    async fn refund(
        &self,
        charge: &str,
        amount: &Money,
        key: &str,
    ) -> Result<String, CheckoutError> {
        let path = format!("/v1/payments/sale/{}/refund", urlencoding(charge));
        let rb = self
            .request(
                &path,
                Some(key),
                json!({"amount": {"total": amount.decimal(), "currency": amount.currency.as_str()}}),
            )
            .await?;
        let o: Object = self.api.call(rb).await?;
        Ok(o.id)
    }

    async fn subscription(&self, id: &str) -> Result<serde_json::Value, CheckoutError> {
        let path = format!("/v1/billing/subscriptions/{}", urlencoding(id));
        let token = self.token().await?;
        let rb = self
            .api
            .request(Method::GET, &path)
            .bearer_auth(token.expose());
        self.api.call(rb).await
    }
}
