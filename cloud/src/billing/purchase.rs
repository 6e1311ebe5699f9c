//! Paying for a plan, on top of the [`super::checkout`] adapters: checkouts are stored per
//! account (a provider's callback is honoured only for the account that started it),
//! subscriptions are cancelled only by their own account, and refunds are checked against the
//! ledger before the provider is asked. Entitlements never move here: they follow the
//! provider's signed subscription events ([`super::webhooks`]).

use super::Provider;
use super::checkout::{CancelAt, ChangePlan, CheckoutError, PlanChanged, StartCheckout};
use super::events::SubStatus;
use super::money::{Currency, Money};
use super::verify::{self, SignatureError};
use crate::random::random_base62;
use crate::state::AppState;
use crate::store::{NewCheckout, StoreError};
use fdt_api::{
    AccountId, CheckoutStarted, CheckoutStatus, Plan, PlanChange, RefundIssued, RefundRequest,
};

/// Random characters in a checkout ID.
const CHECKOUT_ID_LEN: usize = 24;

/// Why a purchase step failed.
#[derive(Debug, thiserror::Error)]
pub enum PurchaseError {
    /// The provider refused, could not be reached, or is not configured.
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    /// A field of the request is refused.
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// No such checkout, subscription or charge for this caller.
    #[error("not found")]
    NotFound,
    /// The request conflicts with the state (a charge refunded in full).
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn field(field: &'static str, message: impl Into<String>) -> PurchaseError {
    PurchaseError::Field {
        field,
        message: message.into(),
    }
}

/// `account`'s own live subscription `id` at `provider` (another account's, or a canceled
/// one, is not found), when it renews: a one-time payment has nothing to cancel or change at
/// the provider.
async fn own_renewing(
    st: &AppState,
    account: &AccountId,
    provider: Provider,
    id: &str,
) -> Result<crate::store::SubscriptionRecord, PurchaseError> {
    let sub = st
        .store()
        .subscriptions(account)
        .await?
        .into_iter()
        .find(|s| {
            s.provider == provider.as_str()
                && s.subscription_id == id
                && s.status != SubStatus::Canceled.as_str()
        })
        .ok_or(PurchaseError::NotFound)?;
    if !sub.renews {
        return Err(PurchaseError::Conflict(
            "a one-time payment does not renew: it ends by itself at the end of its period".into(),
        ));
    }
    Ok(sub)
}

/// Starts a checkout of `plan` at `provider` for `account`, a subscription or (`once`) an
/// order paying for [`super::orders::PASS_DAYS`] days; the provider sends the person back to
/// `{console}/billing?checkout=<id>`.
pub async fn start(
    st: &AppState,
    account: &AccountId,
    provider: Provider,
    plan: Plan,
    once: bool,
    console: &str,
) -> Result<CheckoutStarted, PurchaseError> {
    if plan == Plan::Free {
        return Err(field(
            "plan",
            "free needs no checkout: cancel the subscription instead",
        ));
    }
    let adapter = st.checkouts().get(provider)?;
    // One live subscription per account: paying again would charge twice for what it gives
    // (a lower plan) or alongside it (a higher one). Its plan is changed instead; a canceled
    // one no longer counts.
    let held = st
        .store()
        .subscriptions(account)
        .await?
        .into_iter()
        .find(|s| s.status != SubStatus::Canceled.as_str());
    if let Some(s) = held {
        return Err(PurchaseError::Conflict(format!(
            "the account already has a {} subscription at {} ({}): change its plan with \
             POST /v1/billing/subscriptions/{}/{}/plan; a new checkout is possible once it \
             has ended",
            s.plan, s.provider, s.subscription_id, s.provider, s.subscription_id
        )));
    }
    let record = st
        .store()
        .account_by_id(account)
        .await?
        .ok_or(PurchaseError::NotFound)?;
    let customer = st
        .store()
        .billing_customer(account, provider.as_str())
        .await?;
    let id = format!("chk_{}", random_base62(CHECKOUT_ID_LEN));
    let return_url = format!("{console}/billing?checkout={id}");
    let cancel_url = format!("{return_url}&canceled=1");
    let started = if once {
        super::orders::create(
            st,
            provider,
            &id,
            account,
            &record.email,
            plan.as_str(),
            console,
        )
        .await?
    } else {
        adapter
            .start(&StartCheckout {
                id: &id,
                account,
                email: &record.email,
                plan: plan.as_str(),
                customer: customer.as_deref(),
                return_url: &return_url,
                cancel_url: &cancel_url,
            })
            .await?
    };
    if let Some(c) = &started.new_customer {
        st.store()
            .set_billing_customer(account, provider.as_str(), c)
            .await?;
    }
    st.store()
        .insert_checkout(
            &NewCheckout {
                id: &id,
                account,
                provider: provider.as_str(),
                plan: plan.as_str(),
                reference: &started.reference,
                once,
            },
            st.clock().now(),
        )
        .await?;
    tracing::info!(account = %account, provider = provider.as_str(), %plan, checkout = %id, "checkout started");
    Ok(CheckoutStarted {
        id,
        provider: provider.as_str().into(),
        plan,
        url: started.url,
        reference: started.reference,
    })
}

/// Where `account`'s checkout `id` stands.
pub async fn status(
    st: &AppState,
    account: &AccountId,
    id: &str,
) -> Result<CheckoutStatus, PurchaseError> {
    let c = st
        .store()
        .checkout(account, id)
        .await?
        .ok_or(PurchaseError::NotFound)?;
    let subscribed = st.store().subscriptions(account).await?.iter().any(|s| {
        s.provider == c.provider
            && s.plan == c.plan
            && (s.status == SubStatus::Active.as_str() || s.status == SubStatus::Trialing.as_str())
    });
    let plan: Plan = c.plan.parse().unwrap_or(Plan::Free);
    let in_force = st
        .store()
        .account_plan(account)
        .await?
        .unwrap_or(Plan::Free);
    // Active once the plan in force has followed the subscription too (the two are written
    // one after the other): a window that stops polling at `active` shows the new plan.
    let state = if subscribed && in_force.rank() >= plan.rank() {
        "active"
    } else {
        c.state.as_str()
    };
    Ok(CheckoutStatus {
        id: c.id.clone(),
        provider: c.provider.clone(),
        plan,
        state: state.to_owned(),
        entitled_plan: in_force,
    })
}

/// Razorpay Checkout's callback: the payment signature is checked against the subscription
/// we created for this account (another account's subscription is not found), under the API
/// key secret (not the webhook secret).
pub async fn razorpay_paid(
    st: &AppState,
    account: &AccountId,
    p: &fdt_api::RazorpayPayment,
) -> Result<CheckoutStatus, PurchaseError> {
    let adapter = st.checkouts().razorpay_api()?;
    let c = st
        .store()
        .checkout_by_reference(account, "razorpay", &p.razorpay_subscription_id)
        .await?
        .ok_or(PurchaseError::NotFound)?;
    verify::razorpay_subscription_payment(
        &c.reference,
        &p.razorpay_payment_id,
        &p.razorpay_signature,
        adapter.key_secret(),
    )
    .map_err(|e| match e {
        SignatureError::Malformed => field("razorpay_signature", "not a hex HMAC-SHA256"),
        _ => field("razorpay_signature", "does not match the payment"),
    })?;
    st.store()
        .mark_checkout_paid(&c.id, &p.razorpay_payment_id, st.clock().now())
        .await?;
    status(st, account, &c.id).await
}

/// Cancels `account`'s subscription `id` at `provider` at the end of its period; another
/// account's (or a canceled one) is not found.
pub async fn cancel(
    st: &AppState,
    account: &AccountId,
    provider: Provider,
    id: &str,
) -> Result<(), PurchaseError> {
    let adapter = st.checkouts().get(provider)?;
    own_renewing(st, account, provider, id).await?;
    adapter.cancel(id, CancelAt::PeriodEnd).await?;
    tracing::info!(account = %account, provider = provider.as_str(), subscription = id, "subscription cancelled at period end");
    Ok(())
}

/// Moves `account`'s subscription `id` at `provider` to `plan`; another account's (or a
/// canceled one) is not found. The plan in force follows the provider's event.
pub async fn change_plan(
    st: &AppState,
    account: &AccountId,
    provider: Provider,
    id: &str,
    plan: Plan,
    console: &str,
) -> Result<PlanChange, PurchaseError> {
    if plan == Plan::Free {
        return Err(field(
            "plan",
            "free is no subscription: cancel this one instead",
        ));
    }
    let adapter = st.checkouts().get(provider)?;
    let sub = own_renewing(st, account, provider, id).await?;
    let current: Plan = sub.plan.parse().unwrap_or(Plan::Free);
    if current == plan {
        return Err(PurchaseError::Conflict(format!(
            "the subscription is already on the {plan} plan"
        )));
    }
    let back = format!("{console}/billing?changed={}", provider.as_str());
    let changed = adapter
        .change_plan(&ChangePlan {
            subscription: id,
            plan: plan.as_str(),
            upgrade: plan.rank() > current.rank(),
            return_url: &back,
            cancel_url: &format!("{back}&canceled=1"),
        })
        .await?;
    tracing::info!(account = %account, provider = provider.as_str(), subscription = id, from = %current, to = %plan, "plan change requested");
    let (effective, url) = match changed {
        PlanChanged::Now => ("now", None),
        PlanChanged::AtCycleEnd => ("cycle_end", None),
        PlanChanged::Approve(url) => ("approval", Some(url)),
    };
    Ok(PlanChange {
        provider: provider.as_str().into(),
        subscription: id.to_owned(),
        plan,
        effective: effective.into(),
        url,
    })
}

/// A Stripe customer-portal link for `account`, returning to `return_url`.
pub async fn portal(
    st: &AppState,
    account: &AccountId,
    return_url: &str,
) -> Result<String, PurchaseError> {
    let adapter = st.checkouts().stripe_api()?;
    let customer = st
        .store()
        .billing_customer(account, Provider::Stripe.as_str())
        .await?
        .ok_or_else(|| PurchaseError::Conflict("no Stripe customer yet: check out first".into()))?;
    Ok(adapter.portal(&customer, return_url).await?)
}

/// Refunds (part of) a charge: refused when the ledger does not know the charge, the currency
/// is not the charge's, or the amount is more than is left of it. The ledger records the
/// refund when the provider's refund event arrives.
pub async fn refund(st: &AppState, r: &RefundRequest) -> Result<RefundIssued, PurchaseError> {
    let provider = Provider::parse(&r.provider)
        .ok_or_else(|| field("provider", "stripe, razorpay or paypal"))?;
    let currency = Currency::parse(&r.currency).map_err(|e| field("currency", e.to_string()))?;
    let adapter = st.checkouts().get(provider)?;
    let (charge_currency, amount, refunded) = st
        .store()
        .ledger_charge(provider.as_str(), &r.charge)
        .await?
        .ok_or(PurchaseError::NotFound)?;
    if charge_currency != currency.as_str() {
        return Err(field(
            "currency",
            format!("the charge is in {charge_currency}"),
        ));
    }
    let left = amount - refunded;
    if left <= 0 {
        return Err(PurchaseError::Conflict(
            "the charge is refunded in full".into(),
        ));
    }
    let minor = r.amount.unwrap_or(left);
    if minor <= 0 || minor > left {
        return Err(field(
            "amount",
            format!("between 1 and {left} (what is left of the charge, minor units)"),
        ));
    }
    let money = Money::minor(minor, currency);
    // The same request against the same ledger state is one refund at the provider.
    let key = format!("refund-{}-{refunded}-{minor}", r.charge);
    // A PayPal order's payment is a v2 capture, refunded by another route than a
    // subscription's v1 sale; our order record says which it is.
    let capture = provider == Provider::Paypal
        && st
            .store()
            .order_by_payment(provider.as_str(), &r.charge)
            .await?
            .is_some();
    let refund_id = if capture {
        st.checkouts()
            .paypal_api()?
            .refund_capture(&r.charge, &money, &key)
            .await?
    } else {
        adapter.refund(&r.charge, &money, &key).await?
    };
    Ok(RefundIssued {
        refund_id,
        amount: minor,
        currency: currency.as_str().into(),
    })
}
