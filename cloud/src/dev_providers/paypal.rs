//! A local server speaking the part of PayPal's REST API that checkout uses, as documented:
//! `POST /v1/oauth2/token` (client credentials, Basic auth) and bearer tokens on everything
//! else, `POST /v1/billing/subscriptions` (idempotent on `PayPal-Request-Id`, with the
//! `approve` link), the approval page that sends the person back to `return_url`, `POST
//! /v1/billing/subscriptions/{id}/cancel` (204), `POST /v1/payments/sale/{id}/refund`, and
//! errors as `{"name","message"}`. Webhooks and their signatures are tested on their own
//! (`cloud/tests/api/billing_paypal.rs`).

mod orders;

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

#[derive(Default)]
struct Inner {
    tokens: Vec<String>,
    subscriptions: HashMap<String, Value>,
    /// `PayPal-Request-Id` → subscription ID.
    requests: HashMap<String, String>,
    /// Sale ID → (total, currency).
    sales: HashMap<String, (String, String)>,
    orders: HashMap<String, Value>,
    /// Capture `PayPal-Request-Id` → the answer given.
    captures: HashMap<String, Value>,
    next: u64,
}

#[derive(Clone)]
struct Fake {
    client_id: String,
    secret: String,
    plans: Vec<String>,
    base: String,
    inner: Arc<Mutex<Inner>>,
}

/// The running fake.
pub struct FakePaypal {
    /// Base URL to configure as `api_base`.
    pub url: String,
    fake: Fake,
    task: tokio::task::JoinHandle<()>,
}

fn error(status: StatusCode, name: &str, message: &str) -> Response {
    (status, Json(json!({"name": name, "message": message}))).into_response()
}

impl FakePaypal {
    /// Serves the fake for REST app `client_id`/`secret`, with billing plans `plans`.
    pub async fn start(client_id: &str, secret: &str, plans: &[&str]) -> std::io::Result<Self> {
        let (listener, addr) = super::fake_listener("fake PayPal").await?;
        let fake = Fake {
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            plans: plans.iter().map(|p| (*p).to_owned()).collect(),
            base: format!("http://{addr}"),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/oauth2/token", post(token))
            .route("/v1/billing/subscriptions", post(create))
            .route("/v1/billing/subscriptions/{id}/cancel", post(cancel))
            .route("/v1/billing/subscriptions/{id}/revise", post(revise))
            .route("/approve-revision/{id}", post(approve_revision))
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
            .route("/approve/{id}", post(approve))
            .with_state(fake.clone());
        let task = super::serve_fake(listener, app);
        Ok(Self {
            url: format!("http://{addr}"),
            fake,
            task,
        })
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

/// `POST /v1/billing/subscriptions`.
async fn create(State(f): State<Fake>, h: HeaderMap, Json(b): Json<Value>) -> Response {
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
    let Some(plan) = b["plan_id"]
        .as_str()
        .filter(|p| f.plans.iter().any(|x| x == p))
    else {
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

/// The approval page's "Agree & Subscribe": active, and back to `return_url`.
async fn approve(State(f): State<Fake>, Path(id): Path<String>) -> Response {
    let Ok(mut i) = f.inner.lock() else {
        return poisoned();
    };
    let Some(s) = i.subscriptions.get_mut(&id) else {
        return not_found();
    };
    s["status"] = json!("ACTIVE");
    back_to(
        &s["application_context"]["return_url"],
        &format!("subscription_id={id}&ba_token=BA-TEST&token=TEST"),
    )
}

/// `POST /v1/billing/subscriptions/{id}/revise`: an active subscription's plan change, waiting
/// for the subscriber's approval.
async fn revise(
    State(f): State<Fake>,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Value>,
) -> Response {
    if !f.bearer_ok(&h) {
        return unauthorized();
    }
    let Some(plan) = b["plan_id"]
        .as_str()
        .filter(|p| f.plans.iter().any(|x| x == p))
    else {
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
async fn approve_revision(State(f): State<Fake>, Path(id): Path<String>) -> Response {
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
    Redirect::to(&back).into_response()
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

/// `POST /v1/billing/subscriptions/{id}/cancel` → 204.
async fn cancel(State(f): State<Fake>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if !f.bearer_ok(&h) {
        return unauthorized();
    }
    let Ok(mut i) = f.inner.lock() else {
        return poisoned();
    };
    match i.subscriptions.get_mut(&id) {
        Some(s) if s["status"] == "ACTIVE" => {
            s["status"] = json!("CANCELLED");
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
    Json(
        json!({"id": f.next("REF"), "state": "completed", "sale_id": id,
        "amount": b["amount"]}),
    )
    .into_response()
}
