//! Stripe for tests: PyPI's `localstripe` (customers, plans as prices, subscriptions,
//! invoices, refunds and signed webhooks; the test command installs it), and in front of it a
//! small emulator of what localstripe lacks, with Stripe's documented shapes:
//! `POST /v1/checkout/sessions` (subscription mode), the hosted page it links to, and
//! `POST /v1/billing_portal/sessions`. Everything else is passed through to localstripe, except
//! that a subscription update's `items[0][price]` is given to localstripe as `items[0][plan]`
//! (its name for a price) without `proration_behavior` (it prorates anyway), and the
//! `customer.subscription.updated` event it never sends is sent here, signed as Stripe signs
//! (`Stripe-Signature: t=…,v1=…`), to the webhook registered through [`StripeEmulator::webhook`].
//!
//! Paying on the hosted page does what Stripe does after a successful Checkout: the card is
//! attached to the session's customer and the subscription is created with the session's
//! `subscription_data[metadata]`, so localstripe sends the signed
//! `customer.subscription.created` event to the registered webhook URL.

mod localstripe;

pub use localstripe::LocalStripe;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The secret key the emulator and localstripe are called with (localstripe takes any
/// `sk_…`).
pub const SECRET_KEY: &str = "sk_test_fdt";

#[derive(Debug, Clone)]
struct Session {
    customer: String,
    price: String,
    metadata: Vec<(String, String)>,
    success_url: String,
    cancel_url: String,
    status: &'static str,
    body: Value,
}

#[derive(Default)]
struct Inner {
    /// The webhook URL and its signing secret.
    webhook: Option<(String, String)>,
    sessions: HashMap<String, Session>,
    /// Idempotency key → session ID.
    keys: HashMap<String, String>,
    next: u64,
}

#[derive(Clone)]
struct Emu {
    upstream: String,
    base: String,
    http: reqwest::Client,
    inner: Arc<Mutex<Inner>>,
}

/// The emulator, in front of a [`LocalStripe`].
pub struct StripeEmulator {
    /// Base URL to configure as `api_base`.
    pub url: String,
    emu: Emu,
    task: tokio::task::JoinHandle<()>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"type": "invalid_request_error", "message": message}})),
    )
        .into_response()
}

fn secret_key(h: &HeaderMap) -> Option<String> {
    use base64::Engine as _;
    let v = h.get("authorization")?.to_str().ok()?;
    let key = if let Some(b) = v.strip_prefix("Basic ") {
        let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
        String::from_utf8(raw)
            .ok()?
            .trim_end_matches(':')
            .to_owned()
    } else {
        v.strip_prefix("Bearer ")?.to_owned()
    };
    key.starts_with("sk_").then_some(key)
}

impl StripeEmulator {
    /// Serves the emulator in front of `upstream` (a [`LocalStripe`]'s URL).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let (listener, addr) = super::fake_listener("Stripe emulator").await?;
        let emu = Emu {
            upstream: upstream.trim_end_matches('/').to_owned(),
            base: format!("http://{addr}"),
            http: super::fake_client(),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(get_session))
            .route("/v1/billing_portal/sessions", post(portal))
            .route("/pay/{id}", get(pay_page).post(pay))
            .route(
                "/v1/subscriptions/{id}",
                post(update_subscription).fallback(pass),
            )
            .fallback(any(pass))
            .with_state(emu.clone());
        let task = super::serve_fake(listener, app);
        Ok(Self {
            url: format!("http://{addr}"),
            emu,
            task,
        })
    }

    /// Sends every event to `url`, signed with `secret`: localstripe's own, and the ones the
    /// emulator sends for what localstripe lacks.
    pub async fn webhook(
        &self,
        upstream: &LocalStripe,
        url: &str,
        secret: &str,
    ) -> Result<(), String> {
        upstream.webhook(url, secret).await?;
        if let Ok(mut i) = self.emu.inner.lock() {
            i.webhook = Some((url.to_owned(), secret.to_owned()));
        }
        Ok(())
    }

    /// Sessions created so far.
    pub fn sessions(&self) -> usize {
        self.emu.inner.lock().map(|i| i.sessions.len()).unwrap_or(0)
    }
}

impl Drop for StripeEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(f: &'a [(String, String)], k: &str) -> Option<&'a str> {
    f.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

/// `POST /v1/checkout/sessions`.
async fn create_session(State(e): State<Emu>, h: HeaderMap, body: Bytes) -> Response {
    let Some(key) = secret_key(&h) else {
        return error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    };
    let f = form(&body);
    let idem = h
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(k) = &idem
        && let Ok(i) = e.inner.lock()
        && let Some(s) = i.keys.get(k).and_then(|id| i.sessions.get(id))
    {
        return axum::Json(s.body.clone()).into_response();
    }
    if field(&f, "mode") != Some("subscription") {
        return error(
            StatusCode::BAD_REQUEST,
            "mode: only subscription is emulated",
        );
    }
    let (Some(customer), Some(price), Some(success), Some(cancel)) = (
        field(&f, "customer"),
        field(&f, "line_items[0][price]"),
        field(&f, "success_url"),
        field(&f, "cancel_url"),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing required param: customer, line_items[0][price], success_url or cancel_url",
        );
    };
    // The price and customer must exist, as at Stripe.
    for path in [
        format!("/v1/plans/{price}"),
        format!("/v1/customers/{customer}"),
    ] {
        match e
            .http
            .get(format!("{}{path}", e.upstream))
            .basic_auth(&key, None::<&str>)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {}
            _ => return error(StatusCode::BAD_REQUEST, &format!("No such object: {path}")),
        }
    }
    let metadata: Vec<(String, String)> = f
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("subscription_data[metadata][")
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_owned(), v.clone()))
        })
        .collect();
    let Ok(mut i) = e.inner.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    i.next += 1;
    let id = format!("cs_test_{:024}", i.next);
    let body = json!({
        "id": id, "object": "checkout.session", "mode": "subscription", "status": "open",
        "customer": customer, "client_reference_id": field(&f, "client_reference_id"),
        "success_url": success, "cancel_url": cancel,
        "url": format!("{}/pay/{id}", e.base),
    });
    i.sessions.insert(
        id.clone(),
        Session {
            customer: customer.to_owned(),
            price: price.to_owned(),
            metadata,
            success_url: success.to_owned(),
            cancel_url: cancel.to_owned(),
            status: "open",
            body: body.clone(),
        },
    );
    if let Some(k) = idem {
        i.keys.insert(k, id);
    }
    axum::Json(body).into_response()
}

/// `GET /v1/checkout/sessions/{id}`.
async fn get_session(State(e): State<Emu>, Path(id): Path<String>) -> Response {
    match e
        .inner
        .lock()
        .ok()
        .and_then(|i| i.sessions.get(&id).cloned())
    {
        Some(s) => {
            let mut b = s.body;
            b["status"] = json!(s.status);
            axum::Json(b).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "No such checkout.session"),
    }
}

/// `POST /v1/billing_portal/sessions`.
async fn portal(State(e): State<Emu>, h: HeaderMap, body: Bytes) -> Response {
    if secret_key(&h).is_none() {
        return error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    let f = form(&body);
    let Some(customer) = field(&f, "customer") else {
        return error(StatusCode::BAD_REQUEST, "Missing required param: customer");
    };
    axum::Json(json!({
        "id": "bps_test_1", "object": "billing_portal.session", "customer": customer,
        "return_url": field(&f, "return_url"), "url": format!("{}/portal/{customer}", e.base),
    }))
    .into_response()
}

/// The hosted payment page.
async fn pay_page(State(e): State<Emu>, Path(id): Path<String>) -> Response {
    let Some(s) = e
        .inner
        .lock()
        .ok()
        .and_then(|i| i.sessions.get(&id).cloned())
    else {
        return error(StatusCode::NOT_FOUND, "No such checkout.session");
    };
    Html(format!(
        "<!doctype html><title>Stripe Checkout (test)</title><h1>Pay for {price}</h1>\
         <form method=post><button id=pay type=submit>Pay</button></form>\
         <a id=cancel href=\"{cancel}\">Cancel</a>",
        price = s.price,
        cancel = s.cancel_url
    ))
    .into_response()
}

/// Paying: card 4242… attached to the customer, the subscription created at localstripe
/// (which sends its signed events), and back to the success URL.
async fn pay(State(e): State<Emu>, Path(id): Path<String>) -> Response {
    let Some(s) = e
        .inner
        .lock()
        .ok()
        .and_then(|i| i.sessions.get(&id).cloned())
    else {
        return error(StatusCode::NOT_FOUND, "No such checkout.session");
    };
    if s.status != "open" {
        return error(StatusCode::BAD_REQUEST, "This Checkout Session is complete");
    }
    let key = SECRET_KEY;
    let call = |path: String, form: Vec<(String, String)>| {
        let e = e.clone();
        async move {
            let r = e
                .http
                .post(format!("{}{path}", e.upstream))
                .basic_auth(key, None::<&str>)
                .form(&form)
                .send()
                .await
                .map_err(|err| err.to_string())?;
            let ok = r.status().is_success();
            let v: Value = r.json().await.map_err(|err| err.to_string())?;
            if ok { Ok(v) } else { Err(v.to_string()) }
        }
    };
    let pairs = |p: &[(&str, &str)]| {
        p.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect::<Vec<_>>()
    };
    let result = async {
        let token = call(
            "/v1/tokens".into(),
            pairs(&[
                ("card[number]", "4242424242424242"),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2040"),
                ("card[cvc]", "123"),
            ]),
        )
        .await?;
        let token = token["id"].as_str().unwrap_or_default().to_owned();
        call(
            format!("/v1/customers/{}/sources", s.customer),
            pairs(&[("source", &token)]),
        )
        .await?;
        let mut sub = pairs(&[("customer", &s.customer), ("items[0][plan]", &s.price)]);
        sub.extend(
            s.metadata
                .iter()
                .map(|(k, v)| (format!("metadata[{k}]"), v.clone())),
        );
        call("/v1/subscriptions".into(), sub).await
    }
    .await;
    match result {
        Ok(_) => {
            if let Ok(mut i) = e.inner.lock()
                && let Some(s) = i.sessions.get_mut(&id)
            {
                s.status = "complete";
            }
            Redirect::to(&s.success_url).into_response()
        }
        Err(why) => error(StatusCode::PAYMENT_REQUIRED, &why),
    }
}

/// `POST /v1/subscriptions/{id}`: to localstripe in its words; a change of items is then
/// announced as `customer.subscription.updated`.
async fn update_subscription(
    State(e): State<Emu>,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let mut f = form(&body);
    f.retain(|(k, _)| k != "proration_behavior");
    let items = f.iter().any(|(k, _)| k.starts_with("items["));
    for (k, _) in f.iter_mut() {
        if let Some(n) = k
            .strip_prefix("items[")
            .and_then(|r| r.strip_suffix("][price]"))
        {
            *k = format!("items[{n}][plan]");
        }
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&f)
        .finish();
    let path = format!(
        "/v1/subscriptions/{}",
        url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    );
    let (status, bytes) = forward(&e, Method::POST, &path, &h, body.into()).await;
    if status.is_success()
        && items
        && let Ok(sub) = serde_json::from_slice::<Value>(&bytes)
    {
        e.send_event("customer.subscription.updated", sub).await;
    }
    (status, [("content-type", "application/json")], bytes).into_response()
}

impl Emu {
    /// Sends `object` as a signed event of type `kind` to the registered webhook, and waits
    /// for the answer (events arrive in order).
    async fn send_event(&self, kind: &str, object: Value) {
        let (hook, n) = {
            let Ok(mut i) = self.inner.lock() else { return };
            i.next += 1;
            (i.webhook.clone(), i.next)
        };
        let Some((url, secret)) = hook else { return };
        let t = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = json!({"id": format!("evt_emu_{n:020}"), "object": "event", "type": kind,
            "created": t, "data": {"object": object}})
        .to_string();
        let t = t.to_string();
        let v1 = crate::billing::verify::hmac_hex(
            secret.as_bytes(),
            &[t.as_bytes(), b".", body.as_bytes()],
        );
        let _ = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("stripe-signature", format!("t={t},v1={v1}"))
            .body(body)
            .send()
            .await;
    }
}

/// Sends a request to localstripe with the caller's credentials; its status and body.
async fn forward(
    e: &Emu,
    method: Method,
    path: &str,
    h: &HeaderMap,
    body: Bytes,
) -> (StatusCode, Bytes) {
    let mut rb = e
        .http
        .request(method, format!("{}{path}", e.upstream))
        .body(body);
    for name in ["authorization", "content-type", "idempotency-key"] {
        if let Some(v) = h.get(name) {
            rb = rb.header(name, v);
        }
    }
    match rb.send().await {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, r.bytes().await.unwrap_or_default())
        }
        Err(err) => {
            let body = json!({"error": {"type": "api_error", "message": err.to_string()}});
            (StatusCode::BAD_GATEWAY, body.to_string().into())
        }
    }
}

/// Everything else goes to localstripe as it came.
async fn pass(
    State(e): State<Emu>,
    method: Method,
    uri: Uri,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let (status, bytes) = forward(&e, method, path, &h, body).await;
    (status, [("content-type", "application/json")], bytes).into_response()
}
