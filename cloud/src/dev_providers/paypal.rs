//! A local server speaking the part of PayPal's REST API that checkout uses, as documented:
//! `POST /v1/oauth2/token` (client credentials, Basic auth) and bearer tokens on everything
//! else, `POST /v1/billing/subscriptions` (idempotent on `PayPal-Request-Id`, with the
//! `approve` link), the approval page that sends the person back to `return_url`, `GET` and
//! `POST /v1/billing/subscriptions/{id}/cancel` (204), `POST /v1/payments/sale/{id}/refund`, Orders
//! v2 ([`orders`]), and errors as `{"name","message"}`.
//!
//! Once [`FakePaypal::set_webhook`] names a receiver, what happens is announced as PayPal
//! announces it, signed with the committed test key and its certificate served over https
//! ([`signing`], [`deliver`]): `BILLING.SUBSCRIPTION.ACTIVATED` and the first
//! `PAYMENT.SALE.COMPLETED` on approval, `BILLING.SUBSCRIPTION.UPDATED` when a revision is
//! approved, `BILLING.SUBSCRIPTION.CANCELLED`, `PAYMENT.CAPTURE.COMPLETED` for an order's
//! capture, and `PAYMENT.SALE.REFUNDED` / `PAYMENT.CAPTURE.REFUNDED`.

mod deliver;
mod orders;
pub mod signing;
mod subscriptions;

pub use deliver::Delivered;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The name the fake's signing certificate is made for: PayPal's own (the verifier's default).
pub const CERT_NAME: &str = "messageverificationcerts.paypal.com";

#[derive(Default)]
struct Inner {
    tokens: Vec<String>,
    subscriptions: HashMap<String, Value>,
    /// `PayPal-Request-Id` → subscription ID.
    requests: HashMap<String, String>,
    /// Sale ID → (total, currency).
    sales: HashMap<String, (String, String)>,
    /// Subscription ID → the sale its approval took.
    first_sales: HashMap<String, String>,
    orders: HashMap<String, Value>,
    /// Capture `PayPal-Request-Id` → the answer given.
    captures: HashMap<String, Value>,
    next: u64,
}

#[derive(Clone)]
struct Fake {
    client_id: String,
    secret: String,
    /// Plan ID → (price as a decimal, currency).
    plans: HashMap<String, (String, String)>,
    base: String,
    inner: Arc<Mutex<Inner>>,
    outbox: Arc<deliver::Outbox>,
}

/// The running fake.
pub struct FakePaypal {
    /// Base URL to configure as `api_base`.
    pub url: String,
    fake: Fake,
    signer: Arc<signing::Signer>,
    task: tokio::task::JoinHandle<()>,
    deliverer: tokio::task::JoinHandle<()>,
}

fn error(status: StatusCode, name: &str, message: &str) -> Response {
    (status, Json(json!({"name": name, "message": message}))).into_response()
}

impl FakePaypal {
    /// Serves the fake for REST app `client_id`/`secret`, with billing plans `plans` (ID,
    /// price as a decimal such as `"12.00"`, currency).
    pub async fn start(
        client_id: &str,
        secret: &str,
        plans: &[(&str, &str, &str)],
    ) -> std::io::Result<Self> {
        let (listener, addr) = super::fake_listener("fake PayPal").await?;
        let signer = Arc::new(signing::Signer::start(CERT_NAME).await?);
        let (outbox, deliverer) = deliver::Outbox::start(signer.clone());
        let fake = Fake {
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            plans: plans
                .iter()
                .map(|(id, price, cur)| {
                    ((*id).to_owned(), ((*price).to_owned(), (*cur).to_owned()))
                })
                .collect(),
            base: format!("http://{addr}"),
            inner: Arc::default(),
            outbox: Arc::new(outbox),
        };
        let app = Router::new()
            .route("/v1/oauth2/token", post(token))
            .route("/v1/billing/subscriptions", post(subscriptions::create))
            .route(
                "/v1/billing/subscriptions/{id}",
                axum::routing::get(subscriptions::show),
            )
            .route(
                "/v1/billing/subscriptions/{id}/cancel",
                post(subscriptions::cancel),
            )
            .route(
                "/v1/billing/subscriptions/{id}/revise",
                post(subscriptions::revise),
            )
            .route(
                "/approve-revision/{id}",
                post(subscriptions::approve_revision),
            )
            .route("/v2/checkout/orders", post(orders::create_order))
            .route(
                "/v2/checkout/orders/{id}/capture",
                post(orders::capture_order),
            )
            .route("/checkoutnow/{id}", post(orders::approve_order))
            .route(
                "/v2/payments/captures/{id}/refund",
                post(orders::refund_capture),
            )
            .route("/v1/payments/sale/{id}/refund", post(refund))
            .route("/approve/{id}", post(subscriptions::approve))
            .with_state(fake.clone());
        let task = super::serve_fake(listener, app);
        Ok(Self {
            url: format!("http://{addr}"),
            fake,
            signer,
            task,
            deliverer,
        })
    }

    /// Announces what happens to `url`, signed for the webhook `webhook_id`.
    pub fn set_webhook(&self, url: &str, webhook_id: &str) {
        self.fake.outbox.set_target(url, webhook_id);
    }

    /// The events delivered so far (the last 1024), in order.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.fake.outbox.delivered()
    }

    /// The events delivered once `n` are (or after 20 s, however many were).
    pub async fn wait_delivered(&self, n: usize) -> Vec<Delivered> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let d = self.delivered();
            if d.len() >= n || tokio::time::Instant::now() >= deadline {
                return d;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The sale (payment) subscription `id` was approved with.
    pub fn sale_of(&self, id: &str) -> Option<String> {
        self.fake.inner.lock().ok()?.first_sales.get(id).cloned()
    }

    /// Stops announcing events (until [`FakePaypal::set_webhook`] again): what happens
    /// meanwhile is not sent.
    pub fn stop_webhooks(&self) {
        self.fake.outbox.clear_target();
    }

    /// The CA (PEM) of the signing certificate and of the https host serving it: what a
    /// receiver adds to its roots (`extra_roots`).
    pub fn ca_pem(&self) -> &str {
        &self.signer.pki.ca_pem
    }

    /// The signing certificate (PEM).
    pub fn signing_cert_pem(&self) -> &str {
        &self.signer.pki.signing_cert_pem
    }

    /// The https host serving the signing certificate, as `cert_hosts` lists it
    /// (`127.0.0.1:port`).
    pub fn cert_host(&self) -> String {
        self.signer.host.addr.to_string()
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.fake.inner.lock().map(|i| i.tokens.len()).unwrap_or(0)
    }

    /// A subscription as the fake holds it.
    pub fn subscription(&self, id: &str) -> Option<Value> {
        self.fake.inner.lock().ok()?.subscriptions.get(id).cloned()
    }

    /// An order as the fake holds it.
    pub fn order(&self, id: &str) -> Option<Value> {
        self.fake.inner.lock().ok()?.orders.get(id).cloned()
    }

    /// Records a completed sale (what a subscription's payment is in PayPal's v1 API).
    pub fn sale(&self, id: &str, total: &str, currency: &str) {
        if let Ok(mut i) = self.fake.inner.lock() {
            i.sales
                .insert(id.to_owned(), (total.to_owned(), currency.to_owned()));
        }
    }
}

impl Drop for FakePaypal {
    fn drop(&mut self) {
        self.task.abort();
        self.deliverer.abort();
    }
}

impl Fake {
    fn bearer_ok(&self, h: &HeaderMap) -> bool {
        let Some(t) = h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        self.inner
            .lock()
            .map(|i| i.tokens.iter().any(|x| x == t))
            .unwrap_or(false)
    }

    fn next(&self, prefix: &str) -> String {
        let n = self.inner.lock().map(|mut i| {
            i.next += 1;
            i.next
        });
        format!("{prefix}-{:012}", n.unwrap_or(0))
    }
}

/// `POST /v1/oauth2/token`.
async fn token(State(f): State<Fake>, h: HeaderMap, body: Bytes) -> Response {
    use base64::Engine as _;
    let want =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", f.client_id, f.secret));
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Basic {want}")) {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client Authentication failed",
        );
    }
    let grant = url::form_urlencoded::parse(&body)
        .any(|(k, v)| k == "grant_type" && v == "client_credentials");
    if !grant {
        return error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Grant Type is NULL",
        );
    }
    let t = f.next("A21AA");
    if let Ok(mut i) = f.inner.lock() {
        i.tokens.push(t.clone());
    }
    Json(
        json!({"scope": "https://uri.paypal.com/services/subscriptions", "access_token": t,
        "token_type": "Bearer", "app_id": "APP-80W284485P519543T", "expires_in": 32400}),
    )
    .into_response()
}

/// PayPal's fee on `price` (a decimal in `currency`): 3.49 % plus 0.49, in minor units
/// throughout (never floats).
fn fee(price: &str, currency: &str) -> String {
    use crate::billing::money::{Currency, Money};
    let Ok(c) = Currency::parse(currency) else {
        return "0".into();
    };
    match Money::parse_decimal(price, c) {
        Ok(m) => Money::minor(m.minor.saturating_mul(349) / 10_000 + 49, c).decimal(),
        Err(_) => "0".into(),
    }
}

/// Now plus `secs`, as PayPal writes times (RFC 3339, UTC, whole seconds).
fn rfc3339_in(secs: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(secs))
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Back to the merchant's `return_url` with `query` added, as PayPal's pages send people.
fn back_to(return_url: &Value, query: &str) -> Response {
    let back = return_url.as_str().unwrap_or_default();
    let sep = if back.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{back}{sep}{query}")).into_response()
}

fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "AUTHENTICATION_FAILURE",
        "Authentication failed",
    )
}

fn poisoned() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_SERVER_ERROR",
        "poisoned",
    )
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "RESOURCE_NOT_FOUND",
        "The specified resource does not exist.",
    )
}

fn unprocessable(issue: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"name": "UNPROCESSABLE_ENTITY", "message":
            "The requested action could not be performed, semantically incorrect, or failed business validation.",
            "details": [{"issue": issue}]})),
    )
        .into_response()
}

/// `POST /v1/payments/sale/{id}/refund`.
async fn refund(
    State(f): State<Fake>,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Value>,
) -> Response {
    if !f.bearer_ok(&h) {
        return unauthorized();
    }
    let Some((_, currency)) = f.inner.lock().ok().and_then(|i| i.sales.get(&id).cloned()) else {
        return error(
            StatusCode::NOT_FOUND,
            "INVALID_RESOURCE_ID",
            "Requested resource ID was not found.",
        );
    };
    if b["amount"]["currency"] != currency.as_str() {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Invalid request - see details",
        );
    }
    let refund = json!({"id": f.next("REF"), "state": "completed", "sale_id": id,
        "amount": b["amount"], "create_time": rfc3339_in(0)});
    f.outbox
        .emit("PAYMENT.SALE.REFUNDED", "refund", refund.clone());
    Json(refund).into_response()
}
