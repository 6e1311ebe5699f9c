//! `POST /v1/billing/webhooks/{provider}`: a delivery is verified on its raw bytes, stored
//! before it is processed (one row per provider and event ID: a redelivery, however
//! concurrent, has one effect), then processed ([`super::effects`]). Refused signatures store
//! nothing and are counted.

use super::Provider;
use super::effects;
use super::events::{self, EventError, ProviderEvent};
use super::paypal::PaypalError;
use super::verify::{self, SignatureError};
use crate::state::AppState;
use crate::store::{NewBillingEvent, StoreError};
use axum::http::HeaderMap;
use fdt_api::WebhookReceipt;

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The provider is not configured here.
    #[error("{0} is not configured")]
    NotConfigured(&'static str),
    /// The signature does not hold: counted, nothing stored.
    #[error("{0}")]
    Signature(SignatureError),
    /// Signed, but not an event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// Signed and stored, but inconsistent with the ledger (a refund over its charge, in
    /// another currency, of an unknown charge): nothing was recorded.
    #[error("{0}")]
    Rejected(String),
    /// The provider's certificate could not be fetched; the provider will send again.
    #[error("the provider could not be reached: {0}")]
    Upstream(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Verifies and reads a delivery.
async fn verified(
    st: &AppState,
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ProviderEvent, WebhookError> {
    let cfg = st.billing();
    let checked = match provider {
        Provider::Stripe => {
            let c = cfg
                .stripe
                .as_ref()
                .ok_or(WebhookError::NotConfigured("stripe"))?;
            let secrets: Vec<&[u8]> = c
                .webhook_secrets
                .iter()
                .map(|s| s.expose().as_bytes())
                .collect();
            let now = st.clock().now().unix_timestamp();
            verify::stripe(header(headers, "stripe-signature"), body, &secrets, now)
                .map(|_| events::stripe(body, &c.prices))
        }
        Provider::Razorpay => {
            let c = cfg
                .razorpay
                .as_ref()
                .ok_or(WebhookError::NotConfigured("razorpay"))?;
            verify::razorpay_webhook(
                header(headers, "x-razorpay-signature"),
                body,
                c.webhook_secret.expose().as_bytes(),
            )
            .map(|()| events::razorpay(header(headers, "x-razorpay-event-id"), body, &c.plans))
        }
        Provider::Paypal => {
            let (Some(c), Some(v)) = (cfg.paypal.as_ref(), st.paypal()) else {
                return Err(WebhookError::NotConfigured("paypal"));
            };
            match v.verify(headers, body).await {
                Ok(()) => Ok(events::paypal(body, &c.plans)),
                // PayPal could not be reached: not the sender's fault, and it sends again.
                Err(PaypalError::Fetch(e)) => return Err(WebhookError::Upstream(e)),
                Err(e) => {
                    tracing::warn!(error = %e, "PayPal webhook refused");
                    Err(match e {
                        PaypalError::Mismatch | PaypalError::Cert(_) => SignatureError::Mismatch,
                        _ => SignatureError::Malformed,
                    })
                }
            }
        }
    };
    match checked {
        Ok(event) => Ok(event?),
        Err(e) => {
            st.webhook_rejections().count(provider, e);
            tracing::warn!(
                provider = provider.as_str(),
                reason = e.reason(),
                "webhook signature refused"
            );
            Err(WebhookError::Signature(e))
        }
    }
}

/// Verifies, stores and processes one delivery.
pub async fn ingest(
    st: &AppState,
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<WebhookReceipt, WebhookError> {
    let event = verified(st, provider, headers, body).await?;
    crate::metrics::billing_webhook_lag(provider.as_str(), event.created);
    let raw = std::str::from_utf8(body).map_err(|_| EventError("the body is not UTF-8"))?;
    let stored = st
        .store()
        .insert_billing_event(
            &NewBillingEvent {
                provider: provider.as_str(),
                event_id: &event.id,
                event_type: &event.kind,
                created: event.created,
                body: raw,
            },
            st.clock().now(),
        )
        .await?;
    let Some(seq) = stored else {
        // Already received: answered with what it did then, and not processed again, unless
        // its processing never finished (the process stopped between storing and processing)
        // and is long past any delivery still in flight. Every effect is idempotent.
        let Some((seq, state, detail, received_at)) = st
            .store()
            .billing_event_state(provider.as_str(), &event.id)
            .await?
        else {
            return Err(EventError("the event vanished while it was received").into());
        };
        let stuck = state == RECEIVED
            && crate::store::from_millis(received_at)? + STUCK_AFTER < st.clock().now();
        if !stuck {
            return Ok(WebhookReceipt {
                duplicate: true,
                state,
                detail,
            });
        }
        tracing::warn!(provider = provider.as_str(), event = %event.id, "processing an event whose processing never finished");
        let (state, detail) = effects::apply(st, provider, &event).await?;
        st.store()
            .set_billing_event_state(seq, state, &detail)
            .await?;
        return Ok(WebhookReceipt {
            duplicate: true,
            state: state.into(),
            detail,
        });
    };
    let (state, detail) = effects::apply(st, provider, &event).await?;
    st.store()
        .set_billing_event_state(seq, state, &detail)
        .await?;
    tracing::info!(provider = provider.as_str(), event = %event.id, kind = %event.kind, state, %detail, "billing event");
    if state == effects::REJECTED {
        return Err(WebhookError::Rejected(detail));
    }
    Ok(WebhookReceipt {
        duplicate: false,
        state: state.into(),
        detail,
    })
}

/// Processes stored event `seq` again for an operator (after a configuration fix, say): read
/// from its stored body with today's price and plan maps; every effect is idempotent (a ledger
/// transaction is recorded once, a subscription never moves back). Its signature was checked
/// when it arrived. `None` when there is no such event.
pub async fn replay(st: &AppState, seq: i64) -> Result<Option<WebhookReceipt>, WebhookError> {
    let Some((provider, event_id, body)) = st.store().billing_event_body(seq).await? else {
        return Ok(None);
    };
    let provider =
        Provider::parse(&provider).ok_or(EventError("stored with an unknown provider"))?;
    let cfg = st.billing();
    let event = match provider {
        Provider::Stripe => {
            let c = cfg
                .stripe
                .as_ref()
                .ok_or(WebhookError::NotConfigured("stripe"))?;
            events::stripe(body.as_bytes(), &c.prices)?
        }
        Provider::Razorpay => {
            let c = cfg
                .razorpay
                .as_ref()
                .ok_or(WebhookError::NotConfigured("razorpay"))?;
            events::razorpay(Some(&event_id), body.as_bytes(), &c.plans)?
        }
        Provider::Paypal => {
            let c = cfg
                .paypal
                .as_ref()
                .ok_or(WebhookError::NotConfigured("paypal"))?;
            events::paypal(body.as_bytes(), &c.plans)?
        }
    };
    let (state, detail) = effects::apply(st, provider, &event).await?;
    st.store()
        .set_billing_event_state(seq, state, &detail)
        .await?;
    Ok(Some(WebhookReceipt {
        duplicate: false,
        state: state.into(),
        detail,
    }))
}

/// The state of an event stored and not processed yet.
const RECEIVED: &str = "received";
/// How long after its reception an unprocessed event counts as stuck (its first processing
/// can no longer be running).
const STUCK_AFTER: time::Duration = time::Duration::minutes(5);
