//! Extractors whose rejections are [`ApiError`]s, so that every refusal — malformed JSON, a
//! missing token, a bad path — gets the same JSON error body.

use crate::config::TrustedProxies;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Path, Request};
use axum::http::HeaderMap;
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

/// The client's address, as [`client_addr`] decides it from the socket's peer (when the
/// server was started with connect info; tests that call the router directly may leave it
/// out) and the configured trusted proxies.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp
where
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let state = AppState::from_ref(state);
        Ok(Self(client_addr(
            peer,
            &parts.headers,
            state.trusted_proxies(),
        )))
    }
}

/// Who is at the other end, as the audit log records it: the client's address (as
/// [`ClientIp`] finds it) and its `User-Agent`.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// Its user agent.
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Client
where
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self { ip, user_agent })
    }
}

/// The address the client limits count a request against: the TCP peer's, unless the peer
/// is a trusted proxy — then the right-most `X-Forwarded-For` entry that is not a trusted
/// proxy (entries further left were written by whoever the proxy heard from, and can be
/// anything a client likes).
///
/// When every entry is a trusted proxy, the left-most one; an entry that is not an address
/// stops the walk at the trusted hop to its right (only a misconfigured proxy writes one).
pub fn client_addr(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let mut client = peer?;
    if !trusted.contains(client) {
        return Some(client);
    }
    let forwarded: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for entry in forwarded.iter().rev() {
        let Some(hop) = forwarded_addr(entry) else {
            break;
        };
        client = hop;
        if !trusted.contains(hop) {
            break;
        }
    }
    Some(client)
}

/// An `X-Forwarded-For` entry's address: `192.0.2.1`, `2001:db8::1`, or either with a port
/// (`192.0.2.1:443`, `[2001:db8::1]:443`).
fn forwarded_addr(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// The caller, proven by a valid access token from a live session.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Whose resources the call acts on: the caller's own account, or — with `X-FDT-Org` —
    /// the founding account of that organisation, whose resources its members share.
    pub account_id: AccountId,
    /// The person signed in (for who did what, operator rights, and their own account).
    pub person: AccountId,
    /// The session the access token was issued in.
    pub session_id: SessionId,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Already proven by the route's permission check ([`super::permit`]): extensions are
        // set on the server only, so this is that very check's result.
        if let Some(who) = parts.extensions.get::<Self>() {
            return Ok(who.clone());
        }
        // A bearer token first; else the console's sign-in cookie (pages in the browser call
        // the API with it).
        let (token, via_cookie) = match bearer_token(parts) {
            Some(t) => (t.to_owned(), false),
            None => (
                crate::console::session::SessionCookie::of(state.console())
                    .token(&parts.headers)
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
            .access_tokens()
            .verify(token, state.clock().now())
            .map_err(|e| {
                tracing::debug!(reason = %e, "access token refused");
                ApiError::Unauthorized("invalid or expired access token")
            })?;
        // A signature proves who issued the token, not that its session still stands: logout
        // and refresh-token reuse revoke the session, and its access tokens with it.
        match state.store().live_session_account(&claims.sid).await? {
            Some(account) if account == claims.sub => Ok(Self {
                person: claims.sub.clone(),
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

/// A caller that presented one of the configured relay secrets.
#[derive(Debug, Clone, Copy)]
pub struct RelayCaller;

impl FromRequestParts<AppState> for RelayCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(ApiError::Unauthorized("missing bearer relay secret"))?;
        if st.is_relay_secret(presented) {
            Ok(Self)
        } else {
            tracing::warn!(path = %parts.uri.path(), "relay call refused: wrong relay secret");
            Err(ApiError::Unauthorized("not a relay secret"))
        }
    }
}

/// `X-Forwarded-For`: the addresses a request came through, each proxy adding the one it
/// heard from on the right.
pub(crate) const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub(crate) fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests;
