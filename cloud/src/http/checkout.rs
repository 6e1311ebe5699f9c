//! `/v1/billing/checkout`, the Razorpay payment callback, plan changes, cancelling, the Stripe portal, and
//! operators' refunds. The work is in [`crate::billing::purchase`].

use super::admin::{self, AdminCaller};
use super::device::console_base;
use super::extract::{ApiJson, ApiPath, Authenticated, Client};
use super::openapi::{Auth, Endpoint};
use super::orgs::audited;
use crate::billing::checkout::CheckoutError;
use crate::billing::events::SubStatus;
use crate::billing::purchase::{self, PurchaseError};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use fdt_api::{
    BillingOptions, CheckoutRequest, CheckoutStarted, CheckoutStatus, Plan, PlanChange,
    PlanChangeRequest, PortalLink, ProviderOption, RazorpayPayment, RefundIssued, RefundRequest,
};

/// The checkout routes.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    use fdt_api::Permission as P;
    vec![
        Endpoint::new(M::POST, "/v1/billing/checkout", "startCheckout", start)
            .summary("Start paying for a plan: the answer's url is the provider's payment page")
            .auth(Auth::User(P::BillingWrite))
            .request::<CheckoutRequest>()
            .json::<CheckoutStarted>(201),
        Endpoint::new(M::GET, "/v1/billing/options", "billingOptions", options)
            .summary("Providers a checkout can start at, with the plans each sells, and the plan in force")
            .auth(Auth::User(P::BillingRead))
            .json::<BillingOptions>(200),
        Endpoint::new(M::GET, "/v1/billing/checkout/{id}", "getCheckout", status)
            .summary("Where a checkout stands (open, paid, active) and the plan in force")
            .auth(Auth::User(P::BillingRead))
            .json::<CheckoutStatus>(200),
        Endpoint::new(
            M::POST,
            "/v1/billing/razorpay/payments",
            "razorpayPayment",
            razorpay_payment,
        )
        .summary(
            "Razorpay Checkout's callback: the payment signature, checked against our subscription",
        )
        .auth(Auth::User(P::BillingWrite))
        .request::<RazorpayPayment>()
        .json::<CheckoutStatus>(200),
        Endpoint::new(
            M::POST,
            "/v1/billing/subscriptions/{provider}/{id}/cancel",
            "cancelSubscription",
            cancel,
        )
        .summary("Cancel a subscription at the end of its paid period")
        .auth(Auth::User(P::BillingWrite))
        .empty(204),
        Endpoint::new(
            M::POST,
            "/v1/billing/subscriptions/{provider}/{id}/plan",
            "changePlan",
            change_plan,
        )
        .summary("Move a subscription to another paid plan (upgrade or downgrade)")
        .auth(Auth::User(P::BillingWrite))
        .request::<PlanChangeRequest>()
        .json::<PlanChange>(200),
        Endpoint::new(M::POST, "/v1/billing/portal", "billingPortal", portal)
            .summary("A link to Stripe's customer portal (payment methods, invoices)")
            .auth(Auth::User(P::BillingWrite))
            .json::<PortalLink>(200),
        Endpoint::new(M::POST, "/v1/admin/billing/refunds", "adminRefund", refund)
            .summary("Operators: refund (part of) a charge, checked against the ledger (audited)")
            .auth(Auth::User(P::Operator))
            .request::<RefundRequest>()
            .json::<RefundIssued>(201),
    ]
}

impl From<PurchaseError> for ApiError {
    fn from(e: PurchaseError) -> Self {
        match e {
            PurchaseError::Checkout(CheckoutError::NotConfigured(p)) => Self::BadField {
                field: "provider".into(),
                message: format!("{} checkout is not configured here", p.as_str()),
            },
            PurchaseError::Checkout(e @ CheckoutError::NoPrice { .. }) => Self::BadField {
                field: "plan".into(),
                message: e.to_string(),
            },
            PurchaseError::Checkout(e @ CheckoutError::NoOrders(_)) => Self::BadField {
                field: "once".into(),
                message: e.to_string(),
            },
            PurchaseError::Checkout(e) => {
                tracing::warn!(error = %e, "billing: provider call failed");
                Self::Upstream(e.to_string())
            }
            PurchaseError::Field { field, message } => Self::BadField {
                field: field.into(),
                message,
            },
            PurchaseError::NotFound => Self::NotFound,
            PurchaseError::Conflict(m) => Self::Conflict(m),
            PurchaseError::Store(e) => e.into(),
        }
    }
}

/// Counts a request that calls a provider against the caller's account; 429 past the limit.
async fn provider_call(st: &AppState, who: &Authenticated) -> Result<(), ApiError> {
    st.billing_limiter()
        .attempt(&who.account_id, st.clock().now())
        .await
        .inspect_err(|e| {
            tracing::warn!(account = %who.account_id, error = %e, "billing provider call refused");
        })?;
    Ok(())
}

/// `POST /v1/billing/checkout` → 201.
async fn start(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CheckoutRequest>,
) -> Result<Response, ApiError> {
    provider_call(&st, &who).await?;
    let p = super::billing::provider(&req.provider)?;
    let console = console_base(&st, &headers);
    let started = purchase::start(&st, &who.account_id, p, req.plan, req.once, &console).await?;
    let detail =
        serde_json::json!({"provider": started.provider, "plan": started.plan, "once": req.once});
    audited(&st, &client, &who, "billing.checkout", &started.id, detail).await?;
    Ok((StatusCode::CREATED, Json(started)).into_response())
}

/// `GET /v1/billing/options`.
async fn options(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<BillingOptions>, ApiError> {
    let providers = st
        .checkouts()
        .offered()
        .into_iter()
        .map(|(p, plans, once)| ProviderOption {
            provider: p.as_str().into(),
            plans: plans
                .iter()
                .filter_map(|p| p.parse::<Plan>().ok())
                .collect(),
            once: once.iter().filter_map(|p| p.parse::<Plan>().ok()).collect(),
        })
        .collect();
    let plan = st
        .store()
        .account_plan(&who.account_id)
        .await?
        .unwrap_or(Plan::Free);
    let subscription = st
        .store()
        .subscriptions(&who.account_id)
        .await?
        .into_iter()
        .find(|s| s.status != SubStatus::Canceled.as_str())
        .map(super::billing::subscription);
    Ok(Json(BillingOptions {
        providers,
        plan,
        subscription,
    }))
}

/// `GET /v1/billing/checkout/{id}`.
async fn status(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CheckoutStatus>, ApiError> {
    Ok(Json(purchase::status(&st, &who.account_id, &id).await?))
}

/// `POST /v1/billing/razorpay/payments` → 200; 400 naming `razorpay_signature` when it does
/// not hold; 404 for a subscription this account did not start.
async fn razorpay_payment(
    State(st): State<AppState>,
    who: Authenticated,
    ApiJson(req): ApiJson<RazorpayPayment>,
) -> Result<Json<CheckoutStatus>, ApiError> {
    Ok(Json(
        purchase::razorpay_paid(&st, &who.account_id, &req).await?,
    ))
}

/// `POST /v1/billing/subscriptions/{provider}/{id}/cancel` → 204.
async fn cancel(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath((p, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    provider_call(&st, &who).await?;
    let p = super::billing::provider(&p)?;
    purchase::cancel(&st, &who.account_id, p, &id).await?;
    let detail = serde_json::json!({"provider": p.as_str()});
    audited(&st, &client, &who, "billing.cancel", &id, detail).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/billing/subscriptions/{provider}/{id}/plan` → 200.
async fn change_plan(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    headers: HeaderMap,
    ApiPath((p, id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<PlanChangeRequest>,
) -> Result<Json<PlanChange>, ApiError> {
    provider_call(&st, &who).await?;
    let p = super::billing::provider(&p)?;
    let console = console_base(&st, &headers);
    let change = purchase::change_plan(&st, &who.account_id, p, &id, req.plan, &console).await?;
    let detail = serde_json::json!({
        "provider": p.as_str(), "plan": change.plan, "effective": change.effective,
    });
    audited(&st, &client, &who, "billing.change_plan", &id, detail).await?;
    Ok(Json(change))
}

/// `POST /v1/billing/portal`.
async fn portal(
    State(st): State<AppState>,
    who: Authenticated,
    headers: HeaderMap,
) -> Result<Json<PortalLink>, ApiError> {
    provider_call(&st, &who).await?;
    let back = format!("{}/billing", console_base(&st, &headers));
    let url = purchase::portal(&st, &who.account_id, &back).await?;
    Ok(Json(PortalLink { url }))
}

/// `POST /v1/admin/billing/refunds` → 201.
async fn refund(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiJson(req): ApiJson<RefundRequest>,
) -> Result<Response, ApiError> {
    let issued = purchase::refund(&st, &req).await?;
    let detail = serde_json::json!({
        "provider": req.provider, "charge": req.charge,
        "amount": issued.amount, "currency": issued.currency,
    });
    admin::audited(&st, &admin, "billing.refund", &issued.refund_id, detail).await?;
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}
