//! One-time payments' browser legs (the work is in [`crate::billing::orders`]):
//!
//! - `GET /v1/billing/razorpay/orders/{checkout}/pay`: an open order, as a page whose form
//!   posts it to Razorpay's hosted checkout (it takes a form post, not a link). No session is
//!   needed (the desktop app opens it in a browser that may not be signed in): the checkout ID
//!   is 24 random characters given only to its account, and the page shows only what
//!   Razorpay's checkout is opened with (public key ID, order, plan), no personal data;
//! - `POST /v1/billing/razorpay/orders/callback`: where Razorpay's checkout posts the outcome
//!   (no session: a cross-site form post carries no cookie; Razorpay's signature over the
//!   stored order is the proof);
//! - `GET /v1/billing/paypal/orders/return`: PayPal's return after approval, which captures.
//!
//! Each ends at the console's `/billing?checkout=<id>`, which follows the checkout.

use super::device::console_base;
use super::extract::ApiPath;
use super::openapi::Endpoint;
use crate::billing::Provider;
use crate::billing::checkout::CheckoutError;
use crate::billing::orders::{self, OrderError};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use bytes::Bytes;
use serde::Deserialize;

/// Largest callback body (three IDs and a signature, or Razorpay's error fields).
const MAX_CALLBACK_BYTES: usize = 16 * 1024;

/// The one-time payment routes.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(
            M::GET,
            "/v1/billing/razorpay/orders/{id}/pay",
            "razorpayOrderPage",
            pay_page,
        )
        .summary("The page that posts an open Razorpay order to Razorpay's hosted checkout (the random checkout ID is the capability)")
        .text(200),
        Endpoint::new(
            M::POST,
            "/v1/billing/razorpay/orders/callback",
            "razorpayOrderCallback",
            razorpay_callback,
        )
        .summary("Razorpay's hosted checkout posts the paid order here (signature over the stored order)")
        .body_limit(MAX_CALLBACK_BYTES)
        .empty(303),
        Endpoint::new(
            M::GET,
            "/v1/billing/paypal/orders/return",
            "paypalOrderReturn",
            paypal_return,
        )
        .summary("PayPal's return after approving an order: the order is captured, the plan given")
        .empty(303),
    ]
}

/// `s` for an HTML attribute value or text.
fn attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The origin (`scheme://host[:port]`) of `url`, for the page's `form-action`.
fn origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

/// A browser leg's failure, as a page (a person is looking, not a program) with the way
/// back to Billing.
fn failure_page(status: StatusCode, message: &str, console: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Payment</title></head><body><h1>{}</h1><p>{}</p>\
         <p><a href=\"{}/billing\">Back to Billing</a></p></body></html>",
        status.canonical_reason().unwrap_or("Error"),
        attr(message),
        attr(console),
    );
    let mut resp = (status, Html(body)).into_response();
    resp.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    resp
}

/// What a person is told when an order's leg fails, as a page.
fn order_failure(e: &OrderError, console: &str) -> Response {
    let (status, message) = match e {
        OrderError::NotFound => (
            StatusCode::NOT_FOUND,
            "No such payment here: it may belong to another console, or be paid already."
                .to_owned(),
        ),
        OrderError::BadSignature => (
            StatusCode::BAD_REQUEST,
            "The payment's signature does not match its order: nothing was given.".to_owned(),
        ),
        OrderError::Checkout(e @ CheckoutError::NotConfigured(_)) => {
            (StatusCode::CONFLICT, e.to_string())
        }
        OrderError::Checkout(e) => {
            tracing::warn!(error = %e, "billing: order call failed");
            (StatusCode::BAD_GATEWAY, e.to_string())
        }
        OrderError::Store(e) => {
            tracing::error!(error = %e, "billing: storing an order's outcome failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The payment could not be recorded just now; it is not lost: open this link \
                 again in a minute."
                    .to_owned(),
            )
        }
    };
    failure_page(status, &message, console)
}

/// `GET /v1/billing/razorpay/orders/{id}/pay`: a 404 page unless it is an open Razorpay
/// order.
async fn pay_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Response {
    let console = console_base(&st, &headers);
    let Some(a) = st.checkouts().razorpay.as_ref() else {
        let e = OrderError::Checkout(CheckoutError::NotConfigured(Provider::Razorpay));
        return order_failure(&e, &console);
    };
    let c = match st.store().checkout_by_id(&id).await {
        Ok(c) => {
            c.filter(|c| c.once && c.provider == Provider::Razorpay.as_str() && c.state == "open")
        }
        Err(e) => return order_failure(&e.into(), &console),
    };
    let Some(c) = c else {
        return order_failure(&OrderError::NotFound, &console);
    };
    let hosted = a.hosted_checkout();
    let fields = [
        ("key_id", a.key_id().to_owned()),
        ("order_id", c.reference.clone()),
        ("name", "FlyingDarkDevTunnel".to_owned()),
        (
            "description",
            format!("{} plan, {} days", c.plan, orders::PASS_DAYS),
        ),
        (
            "callback_url",
            format!("{console}/v1/billing/razorpay/orders/callback"),
        ),
        (
            "cancel_url",
            format!("{console}/billing?checkout={}&canceled=1", c.id),
        ),
    ];
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                attr(k),
                attr(v)
            )
        })
        .collect();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Pay with Razorpay</title></head><body>\
         <h1>Pay for the {plan} plan ({days} days)</h1>\
         <form method=\"post\" action=\"{action}\">{inputs}\
         <button type=\"submit\" id=\"continue\">Continue to Razorpay</button></form>\
         </body></html>",
        plan = attr(&c.plan),
        days = orders::PASS_DAYS,
        action = attr(&hosted),
    );
    let mut resp = Html(body).into_response();
    // Nothing runs here; the form may go to Razorpay only.
    let csp = format!(
        "default-src 'none'; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        origin(&hosted).unwrap_or_else(|| "'none'".into())
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        resp.headers_mut().insert("content-security-policy", v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `POST /v1/billing/razorpay/orders/callback` (form): 303 to the console's billing page for
/// the order's checkout; a 400 page when the signature does not hold, 404 for an order that is
/// not ours. A failed payment (Razorpay's `error[…]` fields) goes back to the billing page as
/// it is.
async fn razorpay_callback(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let console = console_base(&st, &headers);
    let field = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let (Some(order), Some(payment), Some(signature)) = (
        field("razorpay_order_id"),
        field("razorpay_payment_id"),
        field("razorpay_signature"),
    ) else {
        tracing::info!(code = ?field("error[code]"), "Razorpay order callback without a payment");
        return Redirect::to(&format!("{console}/billing?payment_failed=razorpay")).into_response();
    };
    match orders::razorpay_paid(&st, order, payment, signature).await {
        Ok(c) => Redirect::to(&format!("{console}/billing?checkout={}", c.id)).into_response(),
        Err(e) => order_failure(&e, &console),
    }
}

/// PayPal's return query.
#[derive(Debug, Deserialize)]
struct PaypalReturn {
    checkout: String,
    token: String,
}

/// `GET /v1/billing/paypal/orders/return?checkout&token`: 303 to the console's billing page for
/// the checkout (`&failed=1` when PayPal refused the capture); a 404 page when the order is not
/// this checkout's.
async fn paypal_return(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<PaypalReturn>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let console = console_base(&st, &headers);
    let Ok(Query(q)) = q else {
        return failure_page(
            StatusCode::BAD_REQUEST,
            "This return from PayPal names no checkout or order.",
            &console,
        );
    };
    match orders::paypal_returned(&st, &q.checkout, &q.token).await {
        Ok(c) => Redirect::to(&format!("{console}/billing?checkout={}", c.id)).into_response(),
        Err(OrderError::Checkout(e @ CheckoutError::Refused { .. })) => {
            tracing::warn!(error = %e, checkout = %q.checkout, "PayPal refused the capture");
            let back = format!("{console}/billing?checkout={}&failed=1", q.checkout);
            Redirect::to(&back).into_response()
        }
        Err(e) => order_failure(&e, &console),
    }
}
