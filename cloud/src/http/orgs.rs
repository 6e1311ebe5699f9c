//! `/v1/orgs`: the organisations the caller belongs to, with its role and permissions there.

use super::extract::Authenticated;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use fdt_api::{OrgList, OrgMembership};

/// `GET /v1/orgs` → the caller's organisations by name.
pub async fn list(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<OrgList>, ApiError> {
    let orgs = st
        .store()
        .memberships(&who.account_id)
        .await?
        .into_iter()
        .map(|m| OrgMembership {
            permissions: m.role.map(|r| r.permissions()).unwrap_or_default(),
            id: m.org_id,
            name: m.name,
            role: m.role,
        })
        .collect();
    Ok(Json(OrgList { orgs }))
}
