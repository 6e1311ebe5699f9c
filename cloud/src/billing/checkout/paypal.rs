//! PayPal: an OAuth client-credentials token (cached until shortly before it expires), a
//! subscription per checkout (our account in `custom_id`) approved on PayPal's page, plan
//! revisions (approved there too), cancelling, refunds of sales. JSON bodies; calls that create things carry
//! `PayPal-Request-Id` so a repeat does them once.

use super::api::Api;
use super::stripe::urlencoding;
use super::{
    ChangePlan, CheckoutError, CheckoutProvider, PlanChanged, StartCheckout, Started, price_for,
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
        .find(|l| l.rel == "approve")
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

    async fn cancel(&self, id: &str) -> Result<(), CheckoutError> {
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
}
