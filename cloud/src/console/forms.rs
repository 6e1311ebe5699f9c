//! The sign-in, sign-up and sign-out forms: plain `application/x-www-form-urlencoded` posts
//! that answer with a redirect, so they work with and without JavaScript. Errors go back to
//! the form as `?error=<code>` (the page words them); the password is never echoed.

use super::{Console, see_other, session, signed_in};
use crate::error::ApiError;
use crate::http::auth::{check_login, create_account, open_session};
use crate::http::extract::{Client, ClientIp};
use crate::store::RevokeReason;
use axum::Form;
use axum::extract::State;
use axum::http::header::{HOST, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use fdt_api::Password;
use fdt_ui::api::with_query;
use serde::Deserialize;

/// The sign-in form.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// The sign-up form.
#[derive(Deserialize)]
pub(crate) struct SignupForm {
    email: String,
    password: String,
}

/// The device sign-in form: the user code and which button was pressed.
#[derive(Deserialize)]
pub(crate) struct DeviceForm {
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    decision: String,
}

/// Whether a form post comes from a page of this site. Browsers send `Origin` with every
/// POST (and `Sec-Fetch-Site`); a mismatch is a cross-site form, refused. A request with
/// neither (curl, old clients) is allowed: it carries no ambient credentials to abuse.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site")
    {
        return false;
    }
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let authority = origin.split_once("://").map_or("", |(_, a)| a);
    !host.is_empty() && authority.eq_ignore_ascii_case(host)
}

/// Where to go after signing in: `next` when it is a path on this site, else `/`.
pub(crate) fn safe_next(next: &str) -> &str {
    if is_local_path(next) { next } else { "/" }
}

/// Rounds of percent-decoding a `next` must survive (a proxy or framework may decode it once
/// or twice more on the way); a value still changing after that many is refused.
const DECODE_ROUNDS: usize = 3;

/// Whether `p` leads to a path on this site however it is read.
///
/// Browsers read a `Location` leniently: they drop tabs and newlines anywhere and take `\`
/// for `/`, so `/<TAB>/evil.example` and `/\evil.example` are `//evil.example`, another
/// host. So `p` must be visible ASCII without `\`, and open with exactly one `/` — in its
/// own form and in every percent-decoded form (`/%2F/evil.example`).
fn is_local_path(p: &str) -> bool {
    if !p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return false;
    }
    let mut form = p.as_bytes().to_vec();
    for _ in 0..=DECODE_ROUNDS {
        if !opens_with_one_slash(&form) {
            return false;
        }
        let decoded = percent_decode(&form);
        if decoded == form {
            return true;
        }
        form = decoded;
    }
    false
}

/// `/` then anything but a second `/` or `\`, ignoring the tabs and newlines browsers drop.
fn opens_with_one_slash(form: &[u8]) -> bool {
    let mut kept = form.iter().filter(|b| !matches!(b, b'\t' | b'\n' | b'\r'));
    kept.next() == Some(&b'/') && !matches!(kept.next(), Some(b'/' | b'\\'))
}

/// One round of `%XX` decoding; a `%` without two hex digits stays as it is.
fn percent_decode(form: &[u8]) -> Vec<u8> {
    let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
    let mut out = Vec::with_capacity(form.len());
    let mut rest = form;
    while let Some((&b, tail)) = rest.split_first() {
        match (b, hex(tail.first()), hex(tail.get(1))) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'%'));
                rest = tail.get(2..).unwrap_or_default();
            }
            _ => {
                out.push(b);
                rest = tail;
            }
        }
    }
    out
}

fn error_code(e: &ApiError) -> &'static str {
    match e {
        ApiError::InvalidCredentials => "invalid_credentials",
        ApiError::RateLimited { .. } | ApiError::Busy { .. } => "rate_limited",
        ApiError::AccountSuspended => "account_suspended",
        ApiError::EmailTaken => "email_taken",
        ApiError::Validation(v) => {
            if v.to_string().contains("password") {
                "weak_password"
            } else {
                "invalid_email"
            }
        }
        _ => "error",
    }
}

pub(crate) fn signed_in_response(
    c: &Console,
    account: &fdt_api::AccountId,
    session: &fdt_api::SessionId,
    to: &str,
) -> Result<Response, ApiError> {
    let console = c.app.console();
    let token = c
        .app
        .access_tokens()
        .issue_for(
            account,
            session,
            c.app.clock().now(),
            console.session_ttl_secs,
        )
        .map_err(|e| ApiError::internal("console token signing failure", &e))?;
    let mut resp = see_other(to);
    let cookie =
        session::SessionCookie::of(console).set(token.expose_secret(), console.session_ttl_secs);
    resp.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal("cookie", &e))?,
    );
    Ok(resp)
}

/// `POST /login`.
pub(crate) async fn login(
    State(c): State<Console>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(&form.next).to_owned();
    let back = |code: &str| {
        see_other(&with_query(
            "/login",
            &[
                ("error", Some(code)),
                ("email", Some(&form.email)),
                ("next", Some(&next)),
            ],
        ))
    };
    if !same_origin(&headers) {
        return back("bad_origin");
    }
    let now = c.app.clock().now();
    let result = async {
        let account = check_login(
            &c.app,
            &client,
            &form.email,
            Password::new(form.password.clone()),
        )
        .await?;
        let (session, _refresh) = open_session(&c.app, &account, now).await?;
        signed_in_response(&c, &account, &session, &next)
    }
    .await;
    result.unwrap_or_else(|e| back(error_code(&e)))
}

/// `POST /signup`: creates the account and signs it in.
pub(crate) async fn signup(
    State(c): State<Console>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<SignupForm>,
) -> Response {
    let back = |code: &str| {
        see_other(&with_query(
            "/signup",
            &[("error", Some(code)), ("email", Some(&form.email))],
        ))
    };
    if !same_origin(&headers) {
        return back("bad_origin");
    }
    let now = c.app.clock().now();
    let result = async {
        let account = create_account(
            &c.app,
            ip,
            &form.email,
            Password::new(form.password.clone()),
        )
        .await?;
        let (session, _refresh) = open_session(&c.app, &account.id, now).await?;
        signed_in_response(&c, &account.id, &session, "/")
    }
    .await;
    result.unwrap_or_else(|e| back(error_code(&e)))
}

/// `POST /device`: the signed-in user approves or denies a device's user code, then sees the
/// outcome on `/device`.
pub(crate) async fn device(
    State(c): State<Console>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<DeviceForm>,
) -> Response {
    // Echoed back into the form: a code is 9 characters, so anything longer is cut (by
    // characters, never inside one).
    let echoed: String = form.user_code.chars().take(16).collect();
    let back = |key: &str, value: &str| {
        see_other(&with_query(
            "/device",
            &[(key, Some(value)), ("code", Some(&echoed))],
        ))
    };
    if !same_origin(&headers) {
        return back("error", "bad_origin");
    }
    let who = match signed_in(&c.app, &headers).await {
        Ok(Some(who)) => who,
        Ok(None) => {
            let next = with_query("/device", &[("code", Some(&echoed))]);
            return see_other(&with_query("/login", &[("next", Some(&next))]));
        }
        Err(_) => return back("error", "error"),
    };
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return back("error", "error"),
    };
    match crate::http::device::decide(
        &c.app,
        (&who.account, &who.account),
        &client,
        &form.user_code,
        approve,
    )
    .await
    {
        Ok(()) => back("done", if approve { "approved" } else { "denied" }),
        Err(ApiError::NotFound) => back("error", "unknown_code"),
        Err(e) => back("error", error_code(&e)),
    }
}

/// `POST /logout`: ends the session (every token of it) and clears the cookie.
pub(crate) async fn logout(State(c): State<Console>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return see_other("/");
    }
    // A failed lookup still clears the cookie below; the session then ends at its expiry.
    if let Ok(Some(who)) = signed_in(&c.app, &headers).await {
        match c
            .app
            .store()
            .revoke_session(&who.session, c.app.clock().now(), RevokeReason::Logout)
            .await
        {
            Ok(_) => {
                tracing::info!(account = %who.account, session = %who.session, "signed out of the console")
            }
            Err(e) => tracing::warn!(error = %e, "sign-out could not revoke the session"),
        }
    }
    let mut resp = see_other("/login");
    if let Ok(v) = HeaderValue::from_str(&session::SessionCookie::of(c.app.console()).clear()) {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests;
