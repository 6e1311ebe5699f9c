//! A local server speaking the part of Razorpay's API that checkout uses, as documented:
//! Basic auth with the key ID and secret, `POST /v1/subscriptions` (with `short_url`, the
//! hosted page), `GET /v1/subscriptions/{id}`, `PATCH` of it (a plan change `now`, announced by a signed
//! `subscription.updated`, or at `cycle_end`, kept as the scheduled change),
//! `POST /v1/subscriptions/{id}/cancel`, `POST /v1/orders` and the hosted checkout
//! (`POST /v1/checkout/embedded` with the order, then paying: the signed `payment.captured` and
//! `order.paid` webhooks go out and the browser is posted back to `callback_url` with
//! `razorpay_payment_id`, `razorpay_order_id` and `razorpay_signature` = hex HMAC-SHA256 of
//! `order_id|payment_id` under the key secret; asked for JSON, the page answers those fields), `POST /v1/payments/{id}/refund`, and
//! errors as `{"error":{"code","description"}}`. Paying on the hosted page does what Razorpay
//! does: it answers Checkout's handler fields (`razorpay_payment_id`,
//! `razorpay_subscription_id`, `razorpay_signature` = hex HMAC-SHA256 of
//! `payment_id|subscription_id` under the key secret) and sends the signed webhooks
//! `subscription.activated` and `payment.captured` (then `refund.processed` for a refund),
//! each with `X-Razorpay-Signature` (hex HMAC of the body under the webhook secret) and
//! `x-razorpay-event-id`.

mod orders;

use crate::billing::verify::hmac_hex;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use orders::{create_order, embedded, pay_order, refund};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Inner {
    webhook: Option<String>,
    subscriptions: HashMap<String, Value>,
    orders: HashMap<String, Value>,
    payments: HashMap<String, Value>,
    /// Cancel requests: (subscription, at cycle end).
    cancels: Vec<(String, bool)>,
    next: u64,
}

#[derive(Clone)]
struct Fake {
    key_id: String,
    key_secret: String,
    webhook_secret: String,
    /// Plan ID → (amount, currency).
    plans: HashMap<String, (i64, String)>,
    base: String,
    http: reqwest::Client,
    inner: Arc<Mutex<Inner>>,
}

/// The running fake.
pub struct FakeRazorpay {
    /// Base URL to configure as `api_base`.
    pub url: String,
    fake: Fake,
    task: tokio::task::JoinHandle<()>,
}

fn error(status: StatusCode, description: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": "BAD_REQUEST_ERROR", "description": description}})),
    )
        .into_response()
}

impl FakeRazorpay {
    /// Serves the fake with API key `key_id`/`key_secret`, webhooks signed with
    /// `webhook_secret`, and `plans` (ID, amount in minor units, currency).
    pub async fn start(
        key_id: &str,
        key_secret: &str,
        webhook_secret: &str,
        plans: &[(&str, i64, &str)],
    ) -> std::io::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (listener, addr) = super::fake_listener("fake Razorpay").await?;
        let fake = Fake {
            key_id: key_id.to_owned(),
            key_secret: key_secret.to_owned(),
            webhook_secret: webhook_secret.to_owned(),
            plans: plans
                .iter()
                .map(|(id, a, c)| ((*id).to_owned(), (*a, (*c).to_owned())))
                .collect(),
            base: format!("http://{addr}"),
            http: super::fake_client(),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/subscriptions", post(create))
            .route("/v1/subscriptions/{id}", get(show).patch(update))
            .route("/v1/subscriptions/{id}/cancel", post(cancel))
            .route("/v1/payments/{id}/refund", post(refund))
            .route("/v1/orders", post(create_order))
            .route("/v1/checkout/embedded", post(embedded))
            .route("/checkout/{order}/pay", post(pay_order))
            .route("/pay/{id}", get(page).post(pay))
            .with_state(fake.clone());
        let task = super::serve_fake(listener, app);
        Ok(Self {
            url: format!("http://{addr}"),
            fake,
            task,
        })
    }

    /// Where webhooks go.
    pub fn set_webhook(&self, url: &str) {
        if let Ok(mut i) = self.fake.inner.lock() {
            i.webhook = Some(url.to_owned());
        }
    }

    /// A subscription as the fake holds it.
    pub fn subscription(&self, id: &str) -> Option<Value> {
        self.fake.inner.lock().ok()?.subscriptions.get(id).cloned()
    }

    /// An order as the fake holds it.
    pub fn order(&self, id: &str) -> Option<Value> {
        self.fake.inner.lock().ok()?.orders.get(id).cloned()
    }

    /// Cancel requests received: (subscription, at cycle end).
    pub fn cancels(&self) -> Vec<(String, bool)> {
        self.fake
            .inner
            .lock()
            .map(|i| i.cancels.clone())
            .unwrap_or_default()
    }
}

impl Drop for FakeRazorpay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    fn authorized(&self, h: &HeaderMap) -> bool {
        use base64::Engine as _;
        let want = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.key_id, self.key_secret));
        h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Basic {want}"))
    }

    fn next(&self, prefix: &str) -> String {
        let n = self.inner.lock().map(|mut i| {
            i.next += 1;
            i.next
        });
        format!("{prefix}_{:014}", n.unwrap_or(0))
    }

    /// Sends a signed webhook and waits for the answer (deliveries are in order).
    async fn send(&self, event: &str, payload: Value) {
        let Some(url) = self.inner.lock().ok().and_then(|i| i.webhook.clone()) else {
            return;
        };
        let created = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = json!({"entity": "event", "event": event, "payload": payload,
            "created_at": created})
        .to_string();
        let sig = hmac_hex(self.webhook_secret.as_bytes(), &[body.as_bytes()]);
        let _ = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-razorpay-signature", sig)
            .header("x-razorpay-event-id", self.next("evt"))
            .body(body)
            .send()
            .await;
    }
}

/// `POST /v1/subscriptions`.
async fn create(State(f): State<Fake>, h: HeaderMap, Json(b): Json<Value>) -> Response {
    if !f.authorized(&h) {
        return error(StatusCode::UNAUTHORIZED, "Authentication failed");
    }
    let Some(plan) = b["plan_id"].as_str().filter(|p| f.plans.contains_key(*p)) else {
        return error(StatusCode::BAD_REQUEST, "The id provided does not exist");
    };
    if b["total_count"].as_i64().unwrap_or(0) < 1 {
        return error(
            StatusCode::BAD_REQUEST,
            "The total count field is required.",
        );
    }
    let id = f.next("sub");
    let s = json!({"id": id, "entity": "subscription", "plan_id": plan, "status": "created",
        "quantity": b["quantity"], "total_count": b["total_count"], "notes": b["notes"],
        "current_end": null, "short_url": format!("{}/pay/{id}", f.base)});
    if let Ok(mut i) = f.inner.lock() {
        i.subscriptions.insert(id, s.clone());
    }
    Json(s).into_response()
}

/// The hosted page.
async fn page(Path(id): Path<String>) -> Html<String> {
    Html(format!(
        "<!doctype html><title>Razorpay (test)</title><h1>Subscribe {id}</h1>\
         <form method=post><button id=pay type=submit>Pay</button></form>"
    ))
}

/// Paying: the subscription becomes active, the webhooks go out, and Checkout's handler
/// fields come back.
async fn pay(State(f): State<Fake>, Path(id): Path<String>) -> Response {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let Some(mut s) = f
        .inner
        .lock()
        .ok()
        .and_then(|i| i.subscriptions.get(&id).cloned())
    else {
        return error(StatusCode::BAD_REQUEST, "The id provided does not exist");
    };
    let plan = s["plan_id"].as_str().unwrap_or_default().to_owned();
    let Some((amount, currency)) = f.plans.get(&plan).cloned() else {
        return error(StatusCode::BAD_REQUEST, "The id provided does not exist");
    };
    s["status"] = json!("active");
    s["current_end"] = json!(now + 30 * 86400);
    let payment_id = f.next("pay");
    let payment = json!({"id": payment_id, "entity": "payment", "amount": amount,
        "currency": currency, "status": "captured", "fee": amount / 50, "notes": s["notes"]});
    if let Ok(mut i) = f.inner.lock() {
        i.subscriptions.insert(id.clone(), s.clone());
        i.payments.insert(payment_id.clone(), payment.clone());
    }
    f.send(
        "subscription.activated",
        json!({"subscription": {"entity": s}}),
    )
    .await;
    f.send("payment.captured", json!({"payment": {"entity": payment}}))
        .await;
    let signature = hmac_hex(
        f.key_secret.as_bytes(),
        &[payment_id.as_bytes(), b"|", id.as_bytes()],
    );
    Json(
        json!({"razorpay_payment_id": payment_id, "razorpay_subscription_id": id,
        "razorpay_signature": signature}),
    )
    .into_response()
}

/// `PATCH /v1/subscriptions/{id}`: only an active subscription's plan can change.
/// `GET /v1/subscriptions/{id}`: the subscription as the fake holds it.
async fn show(State(f): State<Fake>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if !f.authorized(&h) {
        return error(StatusCode::UNAUTHORIZED, "Authentication failed");
    }
    let s = f
        .inner
        .lock()
        .ok()
        .and_then(|i| i.subscriptions.get(&id).cloned());
    match s {
        Some(s) => Json(s).into_response(),
        None => error(StatusCode::BAD_REQUEST, "The id provided does not exist"),
    }
}

async fn update(
    State(f): State<Fake>,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Value>,
) -> Response {
    if !f.authorized(&h) {
        return error(StatusCode::UNAUTHORIZED, "Authentication failed");
    }
    let Some(plan) = b["plan_id"].as_str().filter(|p| f.plans.contains_key(*p)) else {
        return error(StatusCode::BAD_REQUEST, "The id provided does not exist");
    };
    let at = b["schedule_change_at"].as_str().unwrap_or("now");
    if at != "now" && at != "cycle_end" {
        return error(
            StatusCode::BAD_REQUEST,
            "The selected schedule change at is invalid.",
        );
    }
    let s = {
        let Ok(mut i) = f.inner.lock() else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
        };
        let Some(s) = i.subscriptions.get_mut(&id) else {
            return error(StatusCode::BAD_REQUEST, "The id provided does not exist");
        };
        if s["status"] != "active" {
            return error(
                StatusCode::BAD_REQUEST,
                "Subscription can be updated only when it is in active state",
            );
        }
        if at == "now" {
            s["plan_id"] = json!(plan);
        } else {
            s["has_scheduled_changes"] = json!(true);
            s["change_scheduled_at"] = s["current_end"].clone();
            s["scheduled_plan_id"] = json!(plan);
        }
        s.clone()
    };
    if at == "now" {
        f.send(
            "subscription.updated",
            json!({"subscription": {"entity": s}}),
        )
        .await;
    }
    Json(s).into_response()
}

/// `POST /v1/subscriptions/{id}/cancel`.
async fn cancel(
    State(f): State<Fake>,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Value>,
) -> Response {
    if !f.authorized(&h) {
        return error(StatusCode::UNAUTHORIZED, "Authentication failed");
    }
    let at_end = b["cancel_at_cycle_end"].as_i64() == Some(1);
    let Ok(mut i) = f.inner.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    i.cancels.push((id.clone(), at_end));
    let Some(s) = i.subscriptions.get_mut(&id) else {
        return error(StatusCode::BAD_REQUEST, "The id provided does not exist");
    };
    if !at_end {
        s["status"] = json!("cancelled");
    }
    Json(s.clone()).into_response()
}
