//! Stripe: a customer per account, a Checkout Session in `subscription` mode, the customer
//! portal, cancelling at period end, refunds. Form-encoded bodies with Stripe's bracketed
//! keys (`line_items[0][price]`), written as pairs: the shapes are flat enough that a
//! serializer crate would add nothing. Calls that create things carry an `Idempotency-Key`.

use super::api::Api;
use super::{
    CancelAt, ChangePlan, CheckoutError, CheckoutProvider, PlanChanged, StartCheckout, Started,
    price_for,
};
use crate::billing::Provider;
use crate::billing::money::Money;
use crate::config::StripeConfig;
use crate::secret::Secret;
use reqwest::Method;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Stripe's checkout.
#[derive(Debug)]
pub struct StripeCheckout {
    api: Api,
    key: Secret<String>,
    /// Plan → price.
    pub(super) prices: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Object {
    id: String,
    #[serde(default)]
    url: Option<String>,
}

/// A subscription's items (the one item our checkouts create).
#[derive(Deserialize)]
struct Subscription {
    items: Items,
}

#[derive(Deserialize)]
struct Items {
    data: Vec<Object>,
}

impl StripeCheckout {
    /// The adapter, when `cfg` has a secret key.
    pub fn from_config(cfg: &StripeConfig) -> Result<Option<Self>, CheckoutError> {
        let Some(key) = &cfg.secret_key else {
            return Ok(None);
        };
        Ok(Some(Self {
            api: Api::new(Provider::Stripe, &cfg.api_base)?,
            key: key.clone(),
            prices: cfg.checkout.clone(),
        }))
    }

    async fn post(
        &self,
        path: &str,
        idempotency_key: Option<&str>,
        form: &[(&str, &str)],
    ) -> Result<Object, CheckoutError> {
        let mut rb = self
            .api
            .request(Method::POST, path)
            .basic_auth(self.key.expose(), None::<&str>)
            .form(form);
        if let Some(k) = idempotency_key {
            rb = rb.header("idempotency-key", k);
        }
        self.api.call(rb).await
    }

    /// A customer for the account (its email, our account ID in the metadata).
    async fn customer(&self, c: &StartCheckout<'_>) -> Result<String, CheckoutError> {
        // Keyed by account, not by checkout: two first checkouts at once (two tabs) get one
        // customer from Stripe, and the store keeps the first it is told of.
        let key = format!("customer-{}", c.account.as_str());
        let o = self
            .post(
                "/v1/customers",
                Some(&key),
                &[
                    ("email", c.email),
                    ("metadata[account_id]", c.account.as_str()),
                ],
            )
            .await?;
        Ok(o.id)
    }

    /// A customer portal session for `customer`, returning to `return_url`.
    pub async fn portal(&self, customer: &str, return_url: &str) -> Result<String, CheckoutError> {
        let o = self
            .post(
                "/v1/billing_portal/sessions",
                None,
                &[("customer", customer), ("return_url", return_url)],
            )
            .await?;
        o.url.ok_or_else(|| {
            CheckoutError::Answer(Provider::Stripe, "a portal session without a url".into())
        })
    }
}

impl CheckoutProvider for StripeCheckout {
    async fn start(&self, c: &StartCheckout<'_>) -> Result<Started, CheckoutError> {
        let price = price_for(Provider::Stripe, &self.prices, c.plan)?;
        let (customer, new_customer) = match c.customer {
            Some(id) => (id.to_owned(), None),
            None => {
                let id = self.customer(c).await?;
                (id.clone(), Some(id))
            }
        };
        let account = c.account.as_str();
        let o = self
            .post(
                "/v1/checkout/sessions",
                Some(c.id),
                &[
                    ("mode", "subscription"),
                    ("customer", &customer),
                    ("client_reference_id", account),
                    ("line_items[0][price]", &price),
                    ("line_items[0][quantity]", "1"),
                    ("success_url", c.return_url),
                    ("cancel_url", c.cancel_url),
                    ("metadata[checkout_id]", c.id),
                    ("metadata[account_id]", account),
                    // The subscription's events name the account: the webhook reads this.
                    ("subscription_data[metadata][account_id]", account),
                    ("subscription_data[metadata][checkout_id]", c.id),
                ],
            )
            .await?;
        let url = o.url.ok_or_else(|| {
            CheckoutError::Answer(Provider::Stripe, "a Checkout Session without a url".into())
        })?;
        Ok(Started {
            reference: o.id,
            url,
            new_customer,
        })
    }

    async fn cancel(&self, id: &str, at: CancelAt) -> Result<(), CheckoutError> {
        let path = format!("/v1/subscriptions/{}", urlencoding(id));
        match at {
            CancelAt::PeriodEnd => self
                .post(&path, None, &[("cancel_at_period_end", "true")])
                .await
                .map(drop),
            // `DELETE /v1/subscriptions/{id}` ends it at once.
            CancelAt::Now => {
                let rb = self
                    .api
                    .request(Method::DELETE, &path)
                    .basic_auth(self.key.expose(), None::<&str>);
                self.api.call::<Object>(rb).await.map(drop)
            }
        }
    }

    async fn change_plan(&self, c: &ChangePlan<'_>) -> Result<PlanChanged, CheckoutError> {
        let price = price_for(Provider::Stripe, &self.prices, c.plan)?;
        let path = format!("/v1/subscriptions/{}", urlencoding(c.subscription));
        let rb = self
            .api
            .request(Method::GET, &path)
            .basic_auth(self.key.expose(), None::<&str>);
        let sub: Subscription = self.api.call(rb).await?;
        let item = sub.items.data.into_iter().next().ok_or_else(|| {
            CheckoutError::Answer(Provider::Stripe, "a subscription without items".into())
        })?;
        // An upgrade is invoiced at once for the rest of the period; a downgrade leaves the
        // unused time as a credit on the next invoice.
        let proration = if c.upgrade {
            "always_invoice"
        } else {
            "create_prorations"
        };
        // No idempotency key: setting the price is idempotent in itself, and a key reused
        // for pro → team → pro within Stripe's 24 hours would replay the first answer.
        self.post(
            &path,
            None,
            &[
                ("items[0][id]", &item.id),
                ("items[0][price]", &price),
                ("proration_behavior", proration),
            ],
        )
        .await?;
        Ok(PlanChanged::Now)
    }

    async fn refund(
        &self,
        charge: &str,
        amount: &Money,
        key: &str,
    ) -> Result<String, CheckoutError> {
        let minor = amount.minor.to_string();
        let o = self
            .post(
                "/v1/refunds",
                Some(key),
                &[("charge", charge), ("amount", &minor)],
            )
            .await?;
        Ok(o.id)
    }

    async fn subscription(&self, id: &str) -> Result<serde_json::Value, CheckoutError> {
        let path = format!("/v1/subscriptions/{}", urlencoding(id));
        let rb = self
            .api
            .request(Method::GET, &path)
            .basic_auth(self.key.expose(), None::<&str>);
        self.api.call(rb).await
    }
}

/// `id` for a path segment (provider IDs are ASCII word characters; anything else is
/// escaped rather than trusted).
pub(super) fn urlencoding(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
