//! Duplicate subscriptions. A second checkout is refused while a subscription is live, but two
//! checkouts opened before either was paid (two tabs, two providers) can both be paid: the
//! account would then be charged twice every cycle. The subscription that went live first is
//! kept; each other live renewing one is a duplicate ([`crate::store::Store::mark_duplicates`]
//! marks each once, whoever asks): it is cancelled at its provider now, and each of its
//! charges is refunded in full, whether the charge was booked before the duplicate was found
//! or after (each refund claimed once). Every step is in the audit log; a provider that
//! refuses is named there and in the event's detail, for an operator to finish by hand.

use super::Provider;
use super::checkout::CancelAt;
use super::money::{Currency, Money};
use crate::state::AppState;
use crate::store::{DuplicateCharge, MarkedDuplicate, NewAudit, StoreError};
use fdt_api::AccountId;

/// Looks for duplicates among `account`'s live subscriptions (after an event made one live)
/// and settles the ones found now; what was done, for the event's detail.
pub async fn after_live(st: &AppState, account: &AccountId) -> Result<Vec<String>, StoreError> {
    let mut done = Vec::new();
    for d in st.store().mark_duplicates(account).await? {
        done.push(settle(st, account, &d).await?);
    }
    Ok(done)
}

/// Cancels duplicate `d` now and refunds the charges booked for it so far.
async fn settle(
    st: &AppState,
    account: &AccountId,
    d: &MarkedDuplicate,
) -> Result<String, StoreError> {
    tracing::warn!(account = %account, provider = %d.provider, subscription = %d.subscription_id, keeper = %d.keeper, "duplicate subscription: cancelling it and refunding its charges");
    let cancelled = match Provider::parse(&d.provider) {
        Some(p) => match st.checkouts().get(p) {
            Ok(adapter) => adapter
                .cancel(&d.subscription_id, CancelAt::Now)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        None => Err(format!("unknown provider {}", d.provider)),
    };
    audit(
        st,
        account,
        "billing.duplicate_cancel",
        &format!("{}/{}", d.provider, d.subscription_id),
        serde_json::json!({"keeper": d.keeper, "cancelled": cancelled.is_ok(),
            "error": cancelled.as_ref().err()}),
    )
    .await?;
    let mut notes = vec![match &cancelled {
        Ok(()) => format!(
            "subscription {} duplicates {}: cancelled now",
            d.subscription_id, d.keeper
        ),
        Err(e) => format!(
            "subscription {} duplicates {}: cancelling it failed ({e})",
            d.subscription_id, d.keeper
        ),
    }];
    for c in st
        .store()
        .subscription_charges(&d.provider, &d.subscription_id)
        .await?
    {
        if let Some(note) = refund_charge(st, account, &d.provider, &d.subscription_id, &c).await? {
            notes.push(note);
        }
    }
    Ok(notes.join("; "))
}

/// After charge `c` of subscription `sub` was booked: refunds it when the subscription is a
/// duplicate. What was done, if anything.
pub async fn after_charge(
    st: &AppState,
    account: Option<&AccountId>,
    provider: &str,
    sub: &str,
    c: &DuplicateCharge,
) -> Result<Option<String>, StoreError> {
    let (Some(account), Some(_)) = (account, st.store().duplicate_of(provider, sub).await?) else {
        return Ok(None);
    };
    refund_charge(st, account, provider, sub, c).await
}

/// Refunds what is left of charge `c` of duplicate `sub`, once: `None` when another caller
/// claimed it, or nothing is left.
async fn refund_charge(
    st: &AppState,
    account: &AccountId,
    provider: &str,
    sub: &str,
    c: &DuplicateCharge,
) -> Result<Option<String>, StoreError> {
    let left = c.amount - c.refunded;
    if left <= 0
        || !st
            .store()
            .claim_duplicate_refund(provider, &c.reference, sub, st.clock().now())
            .await?
    {
        return Ok(None);
    }
    let refunded = match (Provider::parse(provider), Currency::parse(&c.currency)) {
        (Some(p), Ok(currency)) => match st.checkouts().get(p) {
            Ok(adapter) => adapter
                .refund(
                    &c.reference,
                    &Money::minor(left, currency),
                    &format!("duplicate-{}", c.reference),
                )
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        _ => Err("unknown provider or currency".to_owned()),
    };
    st.store()
        .finish_duplicate_refund(
            provider,
            &c.reference,
            refunded.as_deref().map_err(String::as_str),
        )
        .await?;
    audit(
        st,
        account,
        "billing.duplicate_refund",
        &format!("{provider}/{}", c.reference),
        serde_json::json!({"subscription": sub, "amount": left, "currency": c.currency,
            "refund": refunded.as_ref().ok(), "error": refunded.as_ref().err()}),
    )
    .await?;
    Ok(Some(match refunded {
        Ok(id) => format!(
            "charge {} refunded in full ({left} {}, refund {id})",
            c.reference, c.currency
        ),
        Err(e) => format!("refunding charge {} failed ({e})", c.reference),
    }))
}

/// Records what the control plane did on its own for `account`.
async fn audit(
    st: &AppState,
    account: &AccountId,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    let ev = NewAudit {
        scope: account.as_str(),
        actor: "fdt-cloud",
        action,
        target,
        detail,
        ..Default::default()
    };
    crate::audit::record(st.store(), ev, st.clock().now()).await
}
