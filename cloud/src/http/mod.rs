//! The HTTP API: [`app`] builds the router from an [`AppState`], so tests drive it directly
//! (`tower::ServiceExt::oneshot`) and the server only adds a listener.

mod agent_sessions;
mod auth;
mod authtokens;
pub mod extract;
mod jwks;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{delete, get, post};

/// The control plane's router: `/v1` API, the JWKS and `/healthz`.
pub fn app(state: AppState) -> Router {
    let max_body = state.max_body_bytes();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/auth/register", post(auth::register))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/auth/me", get(auth::me))
        .route(
            "/v1/authtokens",
            post(authtokens::create).get(authtokens::list),
        )
        .route("/v1/authtokens/{id}", delete(authtokens::revoke))
        .route("/v1/agent/sessions", post(agent_sessions::create))
        .route("/v1/jwks", get(jwks::jwks))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        // Unknown paths and methods get the JSON error body too.
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Marks a response holding secrets as not cacheable (RFC 6749 §5.1).
pub(crate) fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
