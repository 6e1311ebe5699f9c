//! Paying once: an order at Razorpay or PayPal buys a plan for [`PASS_DAYS`] days without
//! renewal (for people who will not, or cannot, leave a mandate behind, as UPI and PayPal
//! users often prefer). The purchase is a row in `subscriptions` that does not renew; it
//! entitles like a subscription and ends by itself ([`expire`]).
//!
//! - Razorpay: an order (`POST /v1/orders`, our checkout ID as its receipt) paid in Razorpay's
//!   hosted checkout, which posts `razorpay_order_id`, `razorpay_payment_id` and
//!   `razorpay_signature` (HMAC-SHA256 of `order_id|payment_id` under the key secret) to our
//!   callback. The signature is checked against the order ID *we stored*; the signed
//!   `order.paid` webhook gives the same purchase when the browser never comes back.
//! - PayPal: an Orders v2 order approved on PayPal's page; the return captures it (nothing is
//!   charged before), and the capture gives the purchase.
//!
//! Each order gives its purchase once, to the account that started the checkout, whichever of
//! the paths comes first.

use super::Provider;
use super::checkout::{CheckoutError, NewOrder, Started};
use super::verify::{self, SignatureError};
use crate::state::AppState;
use crate::store::{CheckoutRecord, StoreError};
use fdt_api::AccountId;

/// Days a one-time payment gives its plan for.
pub const PASS_DAYS: i64 = 30;

/// Most purchases ended per sweep.
const EXPIRE_LIMIT: i64 = 500;

/// Why an order's outcome is refused.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// No such order (or not an order of this provider).
    #[error("no such order")]
    NotFound,
    /// The signature does not prove payment of the stored order.
    #[error("the payment signature does not match the order")]
    BadSignature,
    /// The provider refused or could not be reached.
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates the order at `provider` for checkout `id`; `console` is where people come back.
pub(super) async fn create(
    st: &AppState,
    provider: Provider,
    id: &str,
    account: &AccountId,
    email: &str,
    plan: &str,
    console: &str,
) -> Result<Started, CheckoutError> {
    // Razorpay's hosted checkout posts the signed outcome back; PayPal returns the person,
    // whose return captures.
    let return_url = match provider {
        Provider::Razorpay => format!("{console}/v1/billing/razorpay/orders/callback"),
        Provider::Paypal => format!("{console}/v1/billing/paypal/orders/return?checkout={id}"),
        Provider::Stripe => return Err(CheckoutError::NoOrders(provider)),
    };
    let cancel_url = format!("{console}/billing?checkout={id}&canceled=1");
    let description = format!("{plan} plan, {PASS_DAYS} days");
    let order = NewOrder {
        id,
        account,
        email,
        plan,
        description: &description,
        return_url: &return_url,
        cancel_url: &cancel_url,
    };
    if provider == Provider::Paypal {
        return st.checkouts().paypal_api()?.create_order(&order).await;
    }
    let reference = st.checkouts().razorpay_api()?.create_order(&order).await?;
    // Razorpay's hosted checkout takes a form post, not a link: our page makes it.
    Ok(Started {
        reference,
        url: format!("{console}/v1/billing/razorpay/orders/{id}/pay"),
        new_customer: None,
    })
}

/// Gives checkout `c`'s account its plan for [`PASS_DAYS`] days, paid by `payment`; once per
/// order (a second call, from the other path, changes nothing). Returns whether this call gave
/// it.
pub async fn fulfil(st: &AppState, c: &CheckoutRecord, payment: &str) -> Result<bool, StoreError> {
    let now = st.clock().now();
    st.store().mark_checkout_paid(&c.id, payment, now).await?;
    let until = now.unix_timestamp() + PASS_DAYS * 86_400;
    let given = st
        .store()
        .grant_pass(&c.provider, &c.reference, &c.account, &c.plan, until, now)
        .await?;
    if given {
        let plan = super::entitlement::entitled_plan(st, &c.account).await?;
        super::entitlement::set_plan(st, &c.account, plan).await?;
        tracing::info!(account = %c.account, provider = %c.provider, order = %c.reference, %plan, "one-time payment: plan given");
    }
    Ok(given)
}

/// Razorpay's hosted-checkout callback: the signature must be Razorpay's over the order we
/// stored and this payment. The checkout the order belongs to.
pub async fn razorpay_paid(
    st: &AppState,
    order_id: &str,
    payment_id: &str,
    signature: &str,
) -> Result<CheckoutRecord, OrderError> {
    let a = st.checkouts().razorpay_api()?;
    let c = st
        .store()
        .order_by_reference(Provider::Razorpay.as_str(), order_id)
        .await?
        .ok_or(OrderError::NotFound)?;
    verify::razorpay_payment(&c.reference, payment_id, signature, a.key_secret()).map_err(
        |e: SignatureError| {
            tracing::warn!(
                order = order_id,
                reason = e.reason(),
                "Razorpay order callback refused"
            );
            OrderError::BadSignature
        },
    )?;
    fulfil(st, &c, payment_id).await?;
    Ok(c)
}

/// PayPal's return after approving order `token` for checkout `checkout`: the order is
/// captured (once) and the purchase given. The checkout.
pub async fn paypal_returned(
    st: &AppState,
    checkout: &str,
    token: &str,
) -> Result<CheckoutRecord, OrderError> {
    let a = st.checkouts().paypal_api()?;
    let c = st
        .store()
        .checkout_by_id(checkout)
        .await?
        .filter(|c| c.once && c.provider == Provider::Paypal.as_str() && c.reference == token)
        .ok_or(OrderError::NotFound)?;
    let captured = a
        .capture_order(&c.reference, &format!("capture-{}", c.id))
        .await?;
    fulfil(st, &c, &captured.id).await?;
    Ok(c)
}

/// Razorpay's signed `order.paid`: the order's purchase, when its checkout is ours and names
/// the same account (a notes field cannot move an order to someone else).
pub async fn razorpay_order_paid(
    st: &AppState,
    order_id: &str,
    account: &str,
    payment_id: &str,
) -> Result<Result<bool, String>, StoreError> {
    let Some(c) = st
        .store()
        .order_by_reference(Provider::Razorpay.as_str(), order_id)
        .await?
    else {
        return Ok(Err(format!("order {order_id} is not one of ours")));
    };
    if c.account.as_str() != account {
        return Ok(Err(format!(
            "order {order_id} belongs to another account than its notes say"
        )));
    }
    Ok(Ok(fulfil(st, &c, payment_id).await?))
}

/// Ends the one-time purchases whose period is over, and moves their accounts to the plan
/// they are entitled to now; returns how many accounts moved.
pub async fn expire(st: &AppState) -> Result<usize, StoreError> {
    let accounts = st
        .store()
        .expire_passes(st.clock().now(), EXPIRE_LIMIT)
        .await?;
    for a in &accounts {
        let plan = super::entitlement::entitled_plan(st, a).await?;
        super::entitlement::set_plan(st, a, plan).await?;
        tracing::info!(account = %a, %plan, "one-time payment ended");
    }
    Ok(accounts.len())
}
