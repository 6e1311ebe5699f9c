//! `GET /v1/jwks` and `GET /.well-known/jwks.json`: the public keys of the agent-token keyring,
//! for relays. Public and cacheable for a short while (relays refresh every few minutes and
//! refetch at once when they meet an unknown `kid`).

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The JWKS document.
pub async fn jwks(State(st): State<AppState>) -> Response {
    let mut resp = Json(st.agent_tokens().keyring().jwks()).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    resp
}
