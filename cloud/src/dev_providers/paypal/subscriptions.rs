//! The fake's subscriptions: creating one (idempotent on `PayPal-Request-Id`), its approval
//! page (active, the first sale, both announced), a revision and its approval, reading and
//! cancelling one.

use super::{
    Fake, back_to, error, fee, not_found, poisoned, rfc3339_in, unauthorized, unprocessable,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

/// `POST /v1/billing/subscriptions`.
pub(super) async fn create(State(f): State<Fake>, h: HeaderMap, Json(b): Json<Value>) -> Response {
    if !f.bearer_ok(&h) {
        return error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_FAILURE",
            "Authentication failed due to invalid authentication credentials or a missing Authorization header.",
        );
    }
    let request_id = h
        .get("paypal-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(r) = &request_id
        && let Ok(i) = f.inner.lock()
        && let Some(s) = i.requests.get(r).and_then(|id| i.subscriptions.get(id))
    {
        return (StatusCode::CREATED, Json(s.clone())).into_response();
    }
    let Some(plan) = b["plan_id"].as_str().filter(|p| f.plans.contains_key(*p)) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNPROCESSABLE_ENTITY",
            "The requested action could not be performed, semantically incorrect, or failed business validation.",
        );
    };
    let id = f.next("I");
    let s = json!({"id": id, "status": "APPROVAL_PENDING", "plan_id": plan,
    "custom_id": b["custom_id"], "subscriber": b["subscriber"],
    "application_context": b["application_context"],
    "links": [
        {"href": format!("{}/approve/{id}", f.base), "rel": "approve", "method": "GET"},
        {"href": format!("{}/v1/billing/subscriptions/{id}", f.base), "rel": "edit", "method": "PATCH"},
        {"href": format!("{}/v1/billing/subscriptions/{id}", f.base), "rel": "self", "method": "GET"},
    ]});
    if let Ok(mut i) = f.inner.lock() {
        i.subscriptions.insert(id.clone(), s.clone());
        if let Some(r) = request_id {
            i.requests.insert(r, id);
        }
    }
    (StatusCode::CREATED, Json(s)).into_response()
}

/// The approval page's "Agree & Subscribe": active, the first cycle paid (a sale), both
/// announced, and back to `return_url`.
pub(super) async fn approve(State(f): State<Fake>, Path(id): Path<String>) -> Response {
    let sale_id = f.next("SALE");
    let Ok(mut i) = f.inner.lock() else {
        return poisoned();
    };
    let Some(s) = i.subscriptions.get_mut(&id) else {
        return not_found();
    };
    if s["status"] != "APPROVAL_PENDING" {
        return unprocessable("SUBSCRIPTION_STATUS_INVALID");
    }
    s["status"] = json!("ACTIVE");
    s["billing_info"] = json!({"next_billing_time": rfc3339_in(30 * 86_400)});
    let s = s.clone();
    let (price, currency) = f
        .plans
        .get(s["plan_id"].as_str().unwrap_or_default())
        .cloned()
        .unwrap_or_default();
    i.sales
        .insert(sale_id.clone(), (price.clone(), currency.clone()));
    i.first_sales.insert(id.clone(), sale_id.clone());
    drop(i);
    f.outbox
        .emit("BILLING.SUBSCRIPTION.ACTIVATED", "subscription", s.clone());
    let sale = json!({"id": sale_id, "state": "completed",
        "amount": {"total": price, "currency": currency},
        "transaction_fee": {"value": fee(&price, &currency), "currency": currency},
        "billing_agreement_id": id, "custom": s["custom_id"],
        "create_time": rfc3339_in(0)});
    f.outbox.emit("PAYMENT.SALE.COMPLETED", "sale", sale);
    back_to(
        &s["application_context"]["return_url"],
        &format!("subscription_id={id}&ba_token=BA-TEST&token=TEST"),
    )
}

/// `POST /v1/billing/subscriptions/{id}/revise`: an active subscription's plan change, waiting
/// for the subscriber's approval.
pub(super) async fn revise(
    State(f): State<Fake>,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Value>,
) -> Response {
    if !f.bearer_ok(&h) {
        return unauthorized();
    }
    let Some(plan) = b["plan_id"].as_str().filter(|p| f.plans.contains_key(*p)) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNPROCESSABLE_ENTITY",
            "The requested action could not be performed, semantically incorrect, or failed business validation.",
        );
    };
    let Ok(mut i) = f.inner.lock() else {
        return poisoned();
    };
    match i.subscriptions.get_mut(&id) {
        Some(s) if s["status"] == "ACTIVE" => {
            s["pending_plan_id"] = json!(plan);
            s["revision_context"] = b["application_context"].clone();
            Json(json!({"plan_id": plan, "plan_overridden": false, "links": [
                {"href": format!("{}/approve-revision/{id}", f.base), "rel": "approve", "method": "GET"},
            ]}))
            .into_response()
        }
        Some(_) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNPROCESSABLE_ENTITY",
            "Invalid subscription status for revise action; subscription status should be active.",
        ),
        None => not_found(),
    }
}

/// The revision's approval page: the plan moves, and back to its `return_url`.
pub(super) async fn approve_revision(State(f): State<Fake>, Path(id): Path<String>) -> Response {
    let Ok(mut i) = f.inner.lock() else {
        return poisoned();
    };
    let Some(s) = i
        .subscriptions
        .get_mut(&id)
        .filter(|s| s["pending_plan_id"].is_string())
    else {
        return not_found();
    };
    s["plan_id"] = s["pending_plan_id"].take();
    let back = s["revision_context"]["return_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let s = s.clone();
    drop(i);
    f.outbox
        .emit("BILLING.SUBSCRIPTION.UPDATED", "subscription", s);
    Redirect::to(&back).into_response()
}

/// `GET /v1/billing/subscriptions/{id}`: the subscription as the fake holds it.
pub(super) async fn show(State(f): State<Fake>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if !f.bearer_ok(&h) {
        return unauthorized();
    }
    let Ok(i) = f.inner.lock() else {
        return poisoned();
    };
    match i.subscriptions.get(&id) {
        Some(s) => Json(s.clone()).into_response(),
        None => not_found(),
    }
}

/// `POST /v1/billing/subscriptions/{id}/cancel` → 204.
pub(super) async fn cancel(
    State(f): State<Fake>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !f.bearer_ok(&h) {
        return unauthorized();
    }
    let Ok(mut i) = f.inner.lock() else {
        return poisoned();
    };
    match i.subscriptions.get_mut(&id) {
        Some(s) if s["status"] == "ACTIVE" => {
            s["status"] = json!("CANCELLED");
            let s = s.clone();
            drop(i);
            f.outbox
                .emit("BILLING.SUBSCRIPTION.CANCELLED", "subscription", s);
            StatusCode::NO_CONTENT.into_response()
        }
        Some(_) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNPROCESSABLE_ENTITY",
            "Invalid subscription status for cancel action; subscription status should be active or suspended.",
        ),
        None => not_found(),
    }
}
