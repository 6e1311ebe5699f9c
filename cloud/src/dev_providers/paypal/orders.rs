//! The fake's Orders v2: creating an order, its approval page, capturing it, refunding a
//! capture.

use super::{Fake, back_to, fee, not_found, poisoned, unauthorized, unprocessable};
use crate::billing::money::{Currency, Money};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `POST /v2/checkout/orders` → 200 with the `payer-action` link (idempotent on
/// `PayPal-Request-Id`).
pub(super) async fn create_order(
    State(f): State<Fake>,
    h: HeaderMap,
    Json(b): Json<Value>,
) -> Response {
    if !f.bearer_ok(&h) {
        return unauthorized();
    }
    let request_id = h
        .get("paypal-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(r) = &request_id
        && let Ok(i) = f.inner.lock()
        && let Some(o) = i.requests.get(r).and_then(|id| i.orders.get(id))
    {
        return Json(o.clone()).into_response();
    }
    let unit = &b["purchase_units"][0];
    if b["intent"] != "CAPTURE"
        || unit["amount"]["currency_code"].as_str().is_none()
        || unit["amount"]["value"].as_str().is_none()
    {
        return unprocessable("INVALID_PARAMETER_VALUE");
    }
    let id = f.next("ORDER");
    let ctx = &b["payment_source"]["paypal"]["experience_context"];
    let o = json!({"id": id, "intent": "CAPTURE", "status": "PAYER_ACTION_REQUIRED",
    "purchase_units": [unit], "experience_context": ctx,
    "links": [
        {"href": format!("{}/v2/checkout/orders/{id}", f.base), "rel": "self", "method": "GET"},
        {"href": format!("{}/checkoutnow/{id}", f.base), "rel": "payer-action", "method": "GET"},
    ]});
    if let Ok(mut i) = f.inner.lock() {
        i.orders.insert(id.clone(), o.clone());
        if let Some(r) = request_id {
            i.requests.insert(r, id);
        }
    }
    Json(o).into_response()
}

/// The approval page's "Pay now": approved, and back to `return_url` with the order's token.
pub(super) async fn approve_order(State(f): State<Fake>, Path(id): Path<String>) -> Response {
    let Ok(mut i) = f.inner.lock() else {
        return poisoned();
    };
    let Some(o) = i.orders.get_mut(&id) else {
        return not_found();
    };
    o["status"] = json!("APPROVED");
    back_to(
        &o["experience_context"]["return_url"],
        &format!("token={id}&PayerID=TESTPAYER1"),
    )
}

/// `POST /v2/checkout/orders/{id}/capture`.
pub(super) async fn capture_order(
    State(f): State<Fake>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !f.bearer_ok(&h) {
        return unauthorized();
    }
    let request_id = h
        .get("paypal-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Ok(mut i) = f.inner.lock() else {
        return poisoned();
    };
    if let Some(done) = request_id.as_ref().and_then(|r| i.captures.get(r)) {
        return (StatusCode::CREATED, Json(done.clone())).into_response();
    }
    let n = i.next + 1;
    i.next = n;
    let Some(o) = i.orders.get_mut(&id) else {
        return not_found();
    };
    match o["status"].as_str() {
        Some("APPROVED") => {}
        Some("COMPLETED") => return unprocessable("ORDER_ALREADY_CAPTURED"),
        _ => return unprocessable("ORDER_NOT_APPROVED"),
    }
    o["status"] = json!("COMPLETED");
    o["capture_id"] = json!(format!("CAP-{n:012}"));
    let unit = o["purchase_units"][0].clone();
    let answer = json!({"id": id, "status": "COMPLETED", "purchase_units": [{
        "reference_id": unit["reference_id"],
        "payments": {"captures": [{"id": format!("CAP-{n:012}"), "status": "COMPLETED",
            "amount": unit["amount"], "custom_id": unit["custom_id"],
            "final_capture": true}]}}]});
    if let Some(r) = request_id {
        i.captures.insert(r, answer.clone());
    }
    drop(i);
    let amount = &unit["amount"];
    let (value, currency) = (
        amount["value"].as_str().unwrap_or_default(),
        amount["currency_code"].as_str().unwrap_or_default(),
    );
    let capture = json!({"id": format!("CAP-{n:012}"), "status": "COMPLETED",
        "amount": amount, "custom_id": unit["custom_id"], "final_capture": true,
        "seller_receivable_breakdown": {"gross_amount": amount,
            "paypal_fee": {"currency_code": currency, "value": fee(value, currency)}},
        "supplementary_data": {"related_ids": {"order_id": id}}});
    f.outbox
        .emit("PAYMENT.CAPTURE.COMPLETED", "capture", capture);
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// `POST /v2/payments/captures/{id}/refund`: up to what the capture took, in its currency.
pub(super) async fn refund_capture(
    State(f): State<Fake>,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Value>,
) -> Response {
    if !f.bearer_ok(&h) {
        return unauthorized();
    }
    let captured = f.inner.lock().ok().and_then(|i| {
        i.captures.values().find_map(|answer| {
            let c = &answer["purchase_units"][0]["payments"]["captures"][0];
            (c["id"] == id.as_str()).then(|| c["amount"].clone())
        })
    });
    let Some(captured) = captured else {
        return not_found();
    };
    let asked = &b["amount"];
    // Minor units, as PayPal compares them (never floats).
    let minor = |v: &Value| {
        let currency = Currency::parse(v["currency_code"].as_str().unwrap_or_default()).ok()?;
        Money::parse_decimal(v["value"].as_str().unwrap_or_default(), currency)
            .ok()
            .map(|m| m.minor)
    };
    let fits = asked["currency_code"] == captured["currency_code"]
        && matches!((minor(asked), minor(&captured)), (Some(a), Some(c)) if a > 0 && a <= c);
    if !fits {
        return unprocessable("REFUND_AMOUNT_EXCEEDED");
    }
    let refund = json!({"id": f.next("REFUND"), "status": "COMPLETED", "amount": asked,
        "links": [{"rel": "up", "method": "GET",
            "href": format!("{}/v2/payments/captures/{id}", f.base)}]});
    f.outbox
        .emit("PAYMENT.CAPTURE.REFUNDED", "refund", refund.clone());
    (StatusCode::CREATED, Json(refund)).into_response()
}
