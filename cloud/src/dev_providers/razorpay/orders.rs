//! The fake's one-time payments: `POST /v1/orders`, the hosted checkout for an order
//! (`POST /v1/checkout/embedded`, then paying it) and refunds (`POST /v1/payments/{id}/refund`).

use super::{Fake, error};
use crate::billing::verify::hmac_hex;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

/// `POST /v1/orders`.
pub(super) async fn create_order(
    State(f): State<Fake>,
    h: HeaderMap,
    Json(b): Json<Value>,
) -> Response {
    if !f.authorized(&h) {
        return error(StatusCode::UNAUTHORIZED, "Authentication failed");
    }
    let (Some(amount), Some(currency)) = (
        b["amount"].as_i64().filter(|a| *a >= 100),
        b["currency"].as_str().filter(|c| c.len() == 3),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "The amount must be at least INR 1.00 and the currency a valid code.",
        );
    };
    let id = f.next("order");
    let o = json!({"id": id, "entity": "order", "amount": amount, "amount_paid": 0,
        "amount_due": amount, "currency": currency, "receipt": b["receipt"], "status": "created",
        "attempts": 0, "notes": b["notes"]});
    if let Ok(mut i) = f.inner.lock() {
        i.orders.insert(id, o.clone());
    }
    Json(o).into_response()
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// `POST /v1/checkout/embedded`: the hosted checkout for an order, opened by a form post
/// with the API key ID.
pub(super) async fn embedded(State(f): State<Fake>, body: axum::body::Bytes) -> Response {
    let b = form(&body);
    let order = b.get("order_id").cloned().unwrap_or_default();
    let known = f
        .inner
        .lock()
        .ok()
        .and_then(|i| i.orders.get(&order).map(|o| o["status"] == "created"));
    if b.get("key_id") != Some(&f.key_id) || known != Some(true) {
        return error(StatusCode::BAD_REQUEST, "The id provided does not exist");
    }
    let callback = b.get("callback_url").cloned().unwrap_or_default();
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
    };
    Html(format!(
        "<!doctype html><title>Razorpay Checkout (test)</title><h1>Pay order {order}</h1>\
         <form method=post action=\"/checkout/{order}/pay\">\
         <input type=hidden name=callback_url value=\"{}\">\
         <button id=pay type=submit>Pay</button></form>",
        esc(&callback)
    ))
    .into_response()
}

/// Paying an order: captured, the webhooks sent, and the browser posted back to
/// `callback_url` with the signed fields (or the fields as JSON, when asked for JSON).
pub(super) async fn pay_order(
    State(f): State<Fake>,
    Path(order): Path<String>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let callback = form(&body).remove("callback_url").unwrap_or_default();
    let Some(mut o) = f
        .inner
        .lock()
        .ok()
        .and_then(|i| i.orders.get(&order).cloned())
        .filter(|o| o["status"] == "created")
    else {
        return error(StatusCode::BAD_REQUEST, "The id provided does not exist");
    };
    let payment_id = f.next("pay");
    let amount = o["amount"].as_i64().unwrap_or(0);
    let payment = json!({"id": payment_id, "entity": "payment", "amount": amount,
        "currency": o["currency"], "status": "captured", "order_id": order,
        "fee": amount / 50, "notes": []});
    o["status"] = json!("paid");
    o["amount_paid"] = json!(amount);
    o["amount_due"] = json!(0);
    if let Ok(mut i) = f.inner.lock() {
        i.orders.insert(order.clone(), o.clone());
        i.payments.insert(payment_id.clone(), payment.clone());
    }
    f.send("payment.captured", json!({"payment": {"entity": payment}}))
        .await;
    f.send(
        "order.paid",
        json!({"order": {"entity": o}, "payment": {"entity": payment}}),
    )
    .await;
    let signature = hmac_hex(
        f.key_secret.as_bytes(),
        &[order.as_bytes(), b"|", payment_id.as_bytes()],
    );
    let fields = json!({"razorpay_payment_id": payment_id, "razorpay_order_id": order,
        "razorpay_signature": signature});
    let wants_json = h
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return Json(json!({"callback_url": callback, "fields": fields})).into_response();
    }
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
    };
    let inputs: String = [
        "razorpay_payment_id",
        "razorpay_order_id",
        "razorpay_signature",
    ]
    .iter()
    .map(|k| {
        format!(
            "<input type=hidden name={k} value=\"{}\">",
            esc(fields[*k].as_str().unwrap_or_default())
        )
    })
    .collect();
    Html(format!(
        "<!doctype html><title>Razorpay Checkout (test)</title>\
         <form id=back method=post action=\"{}\">{inputs}\
         <button id=return type=submit>Return to the merchant</button></form>\
         <script>document.getElementById('back').submit()</script>",
        esc(&callback)
    ))
    .into_response()
}

/// `POST /v1/payments/{id}/refund`.
pub(super) async fn refund(
    State(f): State<Fake>,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Value>,
) -> Response {
    if !f.authorized(&h) {
        return error(StatusCode::UNAUTHORIZED, "Authentication failed");
    }
    let Some(p) = f
        .inner
        .lock()
        .ok()
        .and_then(|i| i.payments.get(&id).cloned())
    else {
        return error(StatusCode::BAD_REQUEST, "The id provided does not exist");
    };
    let amount = b["amount"]
        .as_i64()
        .unwrap_or(p["amount"].as_i64().unwrap_or(0));
    if amount <= 0 || amount > p["amount"].as_i64().unwrap_or(0) {
        return error(
            StatusCode::BAD_REQUEST,
            "The refund amount provided is greater than amount captured",
        );
    }
    let r = json!({"id": f.next("rfnd"), "entity": "refund", "amount": amount,
        "currency": p["currency"], "payment_id": id, "status": "processed"});
    f.send("refund.processed", json!({"refund": {"entity": r}}))
        .await;
    Json(r).into_response()
}
