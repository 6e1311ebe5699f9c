//! `POST /v1/billing/webhooks/{provider}`: a delivery is verified on its raw bytes, stored
//! before it is processed (one row per provider and event ID: a redelivery, however
//! concurrent, has one effect), then processed: a subscription event moves the subscription
//! (never backwards in the provider's time, never to another account) and the account's plan
//! follows its subscriptions. Refused signatures store nothing and are counted.

use super::Provider;
use super::events::{self, EventError, MoneyEvent, ProviderEvent};
use super::ledger;
use super::paypal::PaypalError;
use super::verify::{self, SignatureError};
use crate::state::AppState;
use crate::store::{
    Issued, NewBillingEvent, NewLedgerTxn, Recorded, StoreError, SubscriptionApplied,
    SubscriptionState,
};
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
        let (state, detail) = apply(st, provider, &event).await?;
        st.store()
            .set_billing_event_state(seq, state, &detail)
            .await?;
        return Ok(WebhookReceipt {
            duplicate: true,
            state: state.into(),
            detail,
        });
    };
    let (state, detail) = apply(st, provider, &event).await?;
    st.store()
        .set_billing_event_state(seq, state, &detail)
        .await?;
    tracing::info!(provider = provider.as_str(), event = %event.id, kind = %event.kind, state, %detail, "billing event");
    if state == REJECTED {
        return Err(WebhookError::Rejected(detail));
    }
    Ok(WebhookReceipt {
        duplicate: false,
        state: state.into(),
        detail,
    })
}

/// What an event does, by kind: `(state, detail)`.
async fn apply(
    st: &AppState,
    provider: Provider,
    event: &ProviderEvent,
) -> Result<(&'static str, String), StoreError> {
    match (&event.money, &event.order) {
        (Some(money), _) => record_money(st, provider, &event.id, money).await,
        (None, Some(Err(why))) => Ok(("ignored", why.clone())),
        (None, Some(Ok(o))) => Ok(
            match super::orders::razorpay_order_paid(st, &o.id, &o.account, &o.payment).await? {
                Ok(true) => ("processed", format!("order {} paid: plan given", o.id)),
                Ok(false) => ("ignored", format!("order {} was already given", o.id)),
                Err(why) => ("failed", why),
            },
        ),
        (None, None) => process(st, provider, event).await,
    }
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
    let (state, detail) = apply(st, provider, &event).await?;
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

/// The state of an event refused for its content (a 400 to the provider).
const REJECTED: &str = "rejected";

/// Records a money event in the ledger: `(state, detail)`.
async fn record_money(
    st: &AppState,
    provider: Provider,
    event_id: &str,
    money: &Result<MoneyEvent, String>,
) -> Result<(&'static str, String), StoreError> {
    let m = match money {
        Ok(m) => m,
        Err(why) => return Ok((REJECTED, why.clone())),
    };
    let (kind, reference, parent, account, amount, entries) = match m {
        MoneyEvent::Charge {
            id,
            account,
            amount,
            fee,
            subscription,
        } => {
            // A subscription we hold decides whose charge it is (it never changes account);
            // otherwise the metadata we set at checkout.
            let owner = match subscription {
                Some(s) => {
                    st.store()
                        .subscription_account(provider.as_str(), s)
                        .await?
                }
                None => None,
            };
            let account = match (owner, account) {
                (Some(o), _) => Some(o),
                (None, Some(a)) => st.store().account_exists(a).await?,
                (None, None) => None,
            };
            let entries = ledger::charge(provider, amount.minor, *fee);
            ("charge", id, None, account, amount, entries)
        }
        MoneyEvent::Refund { id, charge, amount } => (
            "refund",
            id,
            Some(charge.as_str()),
            None,
            amount,
            ledger::refund(provider, amount.minor),
        ),
        MoneyEvent::Payout { id, amount } => (
            "payout",
            id,
            None,
            None,
            amount,
            ledger::payout(provider, amount.minor),
        ),
    };
    let recorded = st
        .store()
        .record_ledger_txn(
            &NewLedgerTxn {
                provider: provider.as_str(),
                kind,
                reference,
                parent,
                account: account.as_ref(),
                currency: amount.currency.as_str(),
                amount: amount.minor,
                event_id,
            },
            &entries,
            st.clock().now(),
        )
        .await?;
    let what = format!(
        "{kind} {reference} of {} {}",
        amount.decimal(),
        amount.currency.as_str()
    );
    // Invoices follow the ledger; a redelivery (a duplicate here) issues what a failure in
    // between left out, and nothing twice.
    let invoice = match (&recorded, kind, &account, parent) {
        (Recorded::Txn(_) | Recorded::Duplicate, "charge", Some(a), _) => {
            super::invoices::on_charge(st, provider, reference, a, amount)
                .await
                .map(Some)?
        }
        (Recorded::Txn(_) | Recorded::Duplicate, "refund", _, Some(charge)) => {
            super::invoices::on_refund(st, provider, reference, charge, amount).await?
        }
        _ => None,
    };
    let what = match invoice {
        Some(Issued::New(n)) => format!("{what}; document number {n} issued"),
        _ => what,
    };
    Ok(match recorded {
        Recorded::Txn(seq) => ("processed", format!("{what}: ledger transaction {seq}")),
        Recorded::Duplicate => ("ignored", format!("{what}: already in the ledger")),
        Recorded::NoCharge => (REJECTED, format!("{what}: no such charge in the ledger")),
        Recorded::TooLarge(charged, refunded) => (
            REJECTED,
            format!(
                "{what}: more than is left of the charge ({charged} charged, {refunded} refunded, minor units)"
            ),
        ),
        Recorded::CurrencyMismatch(c) => (REJECTED, format!("{what}: the charge is in {c}")),
    })
}

/// What an event does: `(state, detail)`.
async fn process(
    st: &AppState,
    provider: Provider,
    event: &ProviderEvent,
) -> Result<(&'static str, String), StoreError> {
    let s = match &event.subscription {
        None => return Ok(("ignored", format!("{} is not acted on", event.kind))),
        Some(Err(why)) => return Ok(("ignored", why.clone())),
        Some(Ok(s)) => s,
    };
    let Some(account) = st.store().account_exists(&s.account).await? else {
        return Ok(("failed", format!("no account {}", s.account)));
    };
    let applied = st
        .store()
        .apply_subscription(
            &SubscriptionState {
                provider: provider.as_str(),
                subscription_id: &s.id,
                account: &account,
                plan: &s.plan,
                status: s.status.as_str(),
                period_end: s.period_end,
                event_at: event.created,
            },
            st.clock().now(),
        )
        .await?;
    Ok(match applied {
        SubscriptionApplied::Applied => {
            super::dunning::on_status(st, &account, provider.as_str(), &s.id, s.status).await?;
            let plan = super::entitlement::entitled_plan(st, &account).await?;
            super::entitlement::set_plan(st, &account, plan).await?;
            (
                "processed",
                format!(
                    "subscription {} is {}; plan {plan}",
                    s.id,
                    s.status.as_str()
                ),
            )
        }
        SubscriptionApplied::Stale => (
            "ignored",
            "a newer event already set this subscription".to_owned(),
        ),
        SubscriptionApplied::OtherAccount => (
            "failed",
            "the subscription belongs to another account".to_owned(),
        ),
    })
}
