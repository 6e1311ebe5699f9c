//! `/v1/relay/…`: the control plane's side of its relays. `GET /v1/relay/revocations` is the
//! feed relays poll to close the live sessions of revoked authtokens within seconds.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use fdt_api::{RevocationList, RevocationsQuery};

/// Most revocations one answer holds; a relay that gets this many asks again at once.
pub const MAX_REVOCATIONS_PER_PAGE: i64 = 1_000;

/// `GET /v1/relay/revocations?after=<cursor>` → the authtokens revoked after the cursor and
/// the cursor to pass next; 401 unless `Authorization: Bearer` carries a relay secret.
pub async fn revocations(
    State(st): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<RevocationsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RevocationList>, ApiError> {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(ApiError::Unauthorized("missing bearer relay secret"))?;
    if !st.is_relay_secret(presented) {
        tracing::warn!("revocation feed refused: wrong relay secret");
        return Err(ApiError::Unauthorized("not a relay secret"));
    }
    let Query(q) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let (revoked, cursor) = st
        .store()
        .revocations_after(q.after.max(0), MAX_REVOCATIONS_PER_PAGE)
        .await?;
    Ok(Json(RevocationList { revoked, cursor }))
}
