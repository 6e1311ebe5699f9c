//! `POST /v1/agent/sessions`: an authtoken buys a short-lived agent token and a ranked list of
//! relays. Unknown and revoked authtokens get the same 401.
//!
//! Revoking an authtoken stops new exchanges at once; sessions already open on a relay close
//! when the relay next polls `GET /v1/relay/revocations` (every 2 s): the token's `atk` claim
//! names the authtoken.

use super::extract::{ApiJson, BearerAuthtoken};
use super::no_store;
use crate::error::ApiError;
use crate::fleet;
use crate::random::secret_hash;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use fdt_api::validate::{check_agent_version, check_region};
use fdt_api::{AgentSessionRequest, AgentSessionResponse, RelayInfo};

/// `POST /v1/agent/sessions` → 200 with a token and relays; 401 for an unknown or revoked
/// authtoken; 503 when no relay is healthy.
pub async fn create(
    State(st): State<AppState>,
    BearerAuthtoken(authtoken): BearerAuthtoken,
    ApiJson(req): ApiJson<AgentSessionRequest>,
) -> Result<Response, ApiError> {
    if let Some(region) = &req.region {
        check_region(region)?;
    }
    if let Some(version) = &req.agent_version {
        check_agent_version(version)?;
    }
    let now = st.clock().now();
    let Some(record) = st
        .store()
        .use_authtoken(&secret_hash(authtoken.expose_secret()), now)
        .await?
    else {
        tracing::info!(
            prefix = authtoken.display_prefix(),
            "agent session refused: unknown or revoked authtoken"
        );
        return Err(ApiError::Unauthorized(
            "authtoken is not valid or has been revoked",
        ));
    };
    if st.store().is_suspended(&record.account_id).await? {
        tracing::info!(account = %record.account_id, "agent session refused: account suspended");
        return Err(ApiError::AccountSuspended);
    }
    let relays: Vec<RelayInfo> = fleet::assign::relays_for(&st, req.region.as_deref())
        .await?
        .into_iter()
        .map(|c| RelayInfo {
            id: c.id,
            region: c.region,
            addr: c.addr,
            server_name: c.server_name,
        })
        .collect();
    if relays.is_empty() {
        tracing::warn!("agent session refused: no healthy relay");
        return Err(ApiError::NoRelayAvailable);
    }
    let plan = st
        .store()
        .account_plan(&record.account_id)
        .await?
        .unwrap_or(fdt_api::Plan::Free);
    let token = st
        .agent_tokens()
        .issue(&record.account_id, &record.id, plan, now)
        .map_err(|e| ApiError::internal("agent token signing failure", &e))?;
    tracing::info!(
        account = %record.account_id,
        authtoken = %record.id,
        agent_version = req.agent_version.as_deref().unwrap_or("-"),
        relay = %relays[0].id,
        "agent session issued"
    );
    let body = AgentSessionResponse {
        token,
        expires_in: st.agent_tokens().ttl_secs(),
        account_id: record.account_id,
        relays,
    };
    Ok(no_store(Json(body).into_response()))
}
