//! The sign-in, sign-up and sign-out forms: plain `application/x-www-form-urlencoded` posts
//! that answer with a redirect, so they work with and without JavaScript. Errors go back to
//! the form as `?error=<code>` (the page words them); the password is never echoed.

use super::{Console, see_other, session, signed_in};
use crate::error::ApiError;
use crate::http::auth::{check_login, create_account, open_session};
use crate::http::extract::ClientIp;
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

/// Where to go after signing in: a local path only (no `//host` or scheme: no open redirect).
pub(crate) fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n']);
    if local { next } else { "/" }
}

fn error_code(e: &ApiError) -> &'static str {
    match e {
        ApiError::InvalidCredentials => "invalid_credentials",
        ApiError::RateLimited { .. } => "rate_limited",
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

fn signed_in_response(
    c: &Console,
    account: &fdt_api::AccountId,
    session: &fdt_api::SessionId,
    to: &str,
) -> Result<Response, ApiError> {
    let console = c.app.console();
    let token = c
        .app
        .tokens()
        .issue_for(
            account,
            session,
            c.app.clock().now(),
            console.session_ttl_secs,
        )
        .map_err(|e| ApiError::internal("console token signing failure", &e))?;
    let mut resp = see_other(to);
    let cookie = session::set_cookie(
        token.expose_secret(),
        console.session_ttl_secs,
        console.secure_cookies,
    );
    resp.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal("cookie", &e))?,
    );
    Ok(resp)
}

/// `POST /login`.
pub(crate) async fn login(
    State(c): State<Console>,
    ClientIp(ip): ClientIp,
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
            ip,
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
        let account =
            create_account(&c.app, &form.email, Password::new(form.password.clone())).await?;
        let (session, _refresh) = open_session(&c.app, &account.id, now).await?;
        signed_in_response(&c, &account.id, &session, "/")
    }
    .await;
    result.unwrap_or_else(|e| back(error_code(&e)))
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
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(c.app.console().secure_cookies)) {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_local() {
        assert_eq!(safe_next("/traffic?x=1"), "/traffic?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "x",
            "/a\r\nSet-Cookie: x",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h));
        h.insert(HOST, HeaderValue::from_static("127.0.0.1:8780"));
        h.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8780"));
        assert!(same_origin(&h));
        h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
        h.remove(ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }
}
