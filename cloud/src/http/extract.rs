//! Extractors whose rejections are [`ApiError`]s, so that every refusal — malformed JSON, a
//! missing token, a bad path — gets the same JSON error body.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use fdt_api::{AccountId, Authtoken, SessionId};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

/// A JSON object body (like `axum::Json`, with [`ApiError`] rejections).
///
/// The top level must be an object: serde's derive would otherwise also accept an array of the
/// fields in declaration order (`["a@example.com", "password"]`), a form no client should rely on.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // Content type, size limit and syntax are checked by axum's extractor (its rejections
        // map to our error codes); the shape is checked here.
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state).await?;
        if !value.is_object() {
            return Err(ApiError::InvalidBody("expected a JSON object".into()));
        }
        serde_json::from_value(value)
            .map(Self)
            .map_err(|e| ApiError::InvalidBody(format!("invalid request body: {e}")))
    }
}

/// Path parameters (like `axum::extract::Path`, with [`ApiError`] rejections).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// The client's IP address as seen on the socket, when the server was started with connect
/// info (tests that call the router directly may leave it out).
///
/// `X-Forwarded-For` is deliberately ignored: without a configured list of trusted proxies it
/// would let any client pick the IP its login attempts are counted against.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

/// The caller, proven by a valid access token from a live session.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The account acting.
    pub account_id: AccountId,
    /// The session the access token was issued in.
    pub session_id: SessionId,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // A bearer token first; else the console's sign-in cookie (pages in the browser call
        // the API with it).
        let (token, via_cookie) = match bearer_token(parts) {
            Some(t) => (t.to_owned(), false),
            None => (
                crate::console::session::cookie_token(&parts.headers)
                    .ok_or(ApiError::Unauthorized("missing bearer token"))?,
                true,
            ),
        };
        // A browser attaches cookies to cross-site requests too; a custom header it does not
        // (not without a CORS preflight, which this API never grants). So writes made with
        // the cookie must carry it: no other site can make a signed-in user act.
        if via_cookie
            && !parts.method.is_safe()
            && !parts
                .headers
                .contains_key(crate::console::session::CSRF_HEADER)
        {
            return Err(ApiError::Forbidden(
                "requests authenticated by cookie must carry X-FDT-CSRF",
            ));
        }
        let token = token.as_str();
        let claims = state
            .tokens()
            .verify(token, state.clock().now())
            .map_err(|e| {
                tracing::debug!(reason = %e, "access token refused");
                ApiError::Unauthorized("invalid or expired access token")
            })?;
        // A signature proves who issued the token, not that its session still stands: logout
        // and refresh-token reuse revoke the session, and its access tokens with it.
        match state.store().live_session_account(&claims.sid).await? {
            Some(account) if account == claims.sub => Ok(Self {
                account_id: claims.sub,
                session_id: claims.sid,
            }),
            _ => Err(ApiError::Unauthorized("session has ended; log in again")),
        }
    }
}

/// A well-formed authtoken from `Authorization: Bearer fdt_…` (prefix and checksum checked
/// offline; whether it is live is the handler's lookup).
#[derive(Debug, Clone)]
pub struct BearerAuthtoken(pub Authtoken);

impl<S: Send + Sync> FromRequestParts<S> for BearerAuthtoken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let token =
            bearer_token(parts).ok_or(ApiError::Unauthorized("missing bearer authtoken"))?;
        fdt_api::parse_authtoken(token)
            .map(Self)
            .map_err(|_| ApiError::Unauthorized("authtoken is not valid or has been revoked"))
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
