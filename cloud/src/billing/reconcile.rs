//! Reconciling a subscription with its provider: when an event was lost (an endpoint down
//! past the provider's retries, a secret rolled wrong), an operator sets the subscription to
//! what the provider holds now. The provider's object is read as its events are
//! ([`super::events`]), must name the account that holds the subscription here, and is
//! applied as the state of now: events older than it that arrive later change nothing.

use super::checkout::CheckoutError;
use super::purchase::PurchaseError;
use super::{Provider, effects, events};
use crate::state::AppState;

/// Sets subscription `id` at `provider` to what the provider holds now: `(state, detail)`,
/// as a webhook event's. Not found unless the subscription is held here; a conflict for a
/// one-time purchase.
pub async fn reconcile(
    st: &AppState,
    provider: Provider,
    id: &str,
) -> Result<(&'static str, String), PurchaseError> {
    let owner = st
        .store()
        .subscription_account(provider.as_str(), id)
        .await?
        .ok_or(PurchaseError::NotFound)?;
    // A one-time purchase is an order at the provider: nothing there changes it.
    let held = st.store().subscriptions(&owner).await?;
    let Some(row) = held
        .iter()
        .find(|s| s.provider == provider.as_str() && s.subscription_id == id)
    else {
        return Err(PurchaseError::NotFound);
    };
    if !row.renews {
        return Err(PurchaseError::Conflict(format!(
            "{id} is a one-time purchase: there is no subscription at {} to reconcile with",
            provider.as_str()
        )));
    }
    let adapter = st.checkouts().get(provider)?;
    let object = adapter.subscription(id).await?;
    let cfg = st.billing();
    let read = match provider {
        Provider::Stripe => cfg
            .stripe
            .as_ref()
            .map(|c| events::stripe_subscription(&object, &c.prices, false)),
        Provider::Razorpay => cfg
            .razorpay
            .as_ref()
            .map(|c| events::razorpay_subscription(&object, &c.plans)),
        Provider::Paypal => cfg
            .paypal
            .as_ref()
            .map(|c| events::paypal_subscription(&object, &c.plans)),
    }
    .ok_or(CheckoutError::NotConfigured(provider))?;
    let unreadable = |why: String| {
        PurchaseError::Checkout(CheckoutError::Answer(
            provider,
            format!("subscription {id}: {why}"),
        ))
    };
    let s = read.map_err(unreadable)?;
    // The provider's object must be this subscription, of the account that holds it here:
    // nothing the provider says moves a subscription to another account.
    if s.id != id {
        return Err(unreadable(format!("the provider answered {}", s.id)));
    }
    if s.account != owner.as_str() {
        return Err(unreadable(
            "the provider names another account than the one holding it here".to_owned(),
        ));
    }
    // The state of now, or of the newest event applied before the provider was asked if the
    // provider's clock runs ahead of ours: what the provider answered is at least that new.
    // An event newer than both, applied meanwhile, still wins.
    let at = st.clock().now().unix_timestamp().max(row.event_at);
    Ok(effects::set_subscription(st, provider, &s, at).await?)
}
