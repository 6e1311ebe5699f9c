//! The browser's side of single sign-on: `GET /sso/start?org=…&next=…` sends it to the
//! organisation's provider; `GET /sso/callback` signs it in (the console cookie) or back to
//! `/login?error=…` saying why not.

use super::{Console, see_other};
use crate::http::extract::{Client, ClientIp};
use crate::sso::signin::{self, Callback};
use crate::sso::{CALLBACK_PATH, START_PATH};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use fdt_api::OrgId;
use fdt_ui::api::with_query;
use serde::Deserialize;

/// `/sso/start`'s query.
#[derive(Debug, Deserialize)]
pub(crate) struct StartQuery {
    #[serde(default)]
    org: String,
    #[serde(default)]
    next: String,
}

fn redirect_uri(c: &Console, headers: &HeaderMap) -> String {
    format!(
        "{}{CALLBACK_PATH}",
        crate::http::device::console_base(&c.app, headers)
    )
}

fn back(code: &str, org: &str) -> Response {
    see_other(&with_query(
        "/login",
        &[
            ("error", Some(code)),
            ("org", Some(org).filter(|o| !o.is_empty())),
        ],
    ))
}

/// `GET /sso/start` (a link an organisation hands its people).
pub(crate) async fn start(
    State(c): State<Console>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Response {
    begin(&c, ip, &headers, &q, Via::Redirect).await
}

/// `POST /sso/start`, the sign-in page's form (a GET form would be taken over by the page's
/// client-side router).
pub(crate) async fn start_form(
    State(c): State<Console>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(q): Form<StartQuery>,
) -> Response {
    if !super::forms::same_origin(&headers) {
        return back("bad_origin", "");
    }
    begin(&c, ip, &headers, &q, Via::Page).await
}

/// How the browser is sent on to the provider.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    /// A 303 (after following a link).
    Redirect,
    /// A page that moves on by itself: the console's CSP (`form-action 'self'`) stops a form
    /// submission's redirect to another origin, a meta refresh it does not.
    Page,
}

/// The page that moves the browser on to `url` (no script; the link for those who stop it).
fn onward_page(url: &str) -> Response {
    let url = url
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={url}\">\
         <title>Signing in</title></head><body>\
         <p>Continuing to your identity provider: <a href=\"{url}\">continue</a>.</p>\
         </body></html>"
    );
    let mut resp = axum::response::Html(body).into_response();
    resp.headers_mut().insert(
        "content-security-policy",
        axum::http::HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    resp
}

async fn begin(
    c: &Console,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    q: &StartQuery,
    via: Via,
) -> Response {
    // Each start stores a sign-in in flight (until it expires): limited per address before
    // anything is looked up.
    if let Err(e) = c.app.sso_limiter().attempt(ip, c.app.clock().now()).await {
        tracing::warn!(?ip, error = %e, "sso: start refused");
        return back("rate_limited", "");
    }
    let Ok(org) = q.org.trim().parse::<OrgId>() else {
        return back("sso_unknown", "");
    };
    let next = super::forms::safe_next(&q.next);
    match signin::start(&c.app, &org, next, &redirect_uri(c, headers)).await {
        Ok(url) if via == Via::Redirect => see_other(&url),
        Ok(url) => onward_page(&url),
        Err(e) => {
            tracing::info!(%org, error = %e, "sso: not started");
            back(e.code(), org.as_str())
        }
    }
}

/// `GET /sso/callback`.
pub(crate) async fn callback(
    State(c): State<Console>,
    client: Client,
    headers: HeaderMap,
    Query(cb): Query<Callback>,
) -> Response {
    match signin::finish(&c.app, &client, &cb, &redirect_uri(&c, &headers)).await {
        Ok((account, next)) => {
            let now = c.app.clock().now();
            let signed_in = async {
                let (session, _refresh) =
                    crate::http::auth::open_session(&c.app, &account, now).await?;
                super::forms::signed_in_response(&c, &account, &session, &next)
            }
            .await;
            signed_in.unwrap_or_else(|_| back("sso_failed", ""))
        }
        Err(e) => {
            tracing::info!(error = %e, "sso: sign-in refused");
            back(e.code(), "")
        }
    }
}

/// The paths, for the router.
pub(crate) const PATHS: (&str, &str) = (START_PATH, CALLBACK_PATH);
