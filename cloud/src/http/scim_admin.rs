//! Setting up SCIM for an organisation, by its owners and admins (`identity:write`):
//! `POST`/`GET /v1/scim/tokens`, `DELETE /v1/scim/tokens/{id}`, and
//! `GET`/`PUT /v1/scim/settings` (which groups map to which roles).

use super::extract::{ApiJson, ApiPath, Authenticated, Client};
use super::orgs::{acting_org, audited};
use crate::error::ApiError;
use crate::random::{random_base62, secret_hash};
use crate::scim::provision::{check_role_map, load_settings, sync_members};
use crate::scim::{PREFIX, TOKEN_PREFIX};
use crate::state::AppState;
use crate::store::role_name;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fdt_api::{CreateScimToken, CreatedScimToken, ScimSettings, ScimToken, ScimTokenList};
use serde_json::json;

/// `POST /v1/scim/tokens` → 201 with the secret (shown once) and the SCIM URL.
pub async fn create_token(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateScimToken>,
) -> Result<Response, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidField {
            field: "name".into(),
            message: "1 to 100 bytes, no control characters".into(),
        });
    }
    let org = acting_org(&who);
    let token = format!("{TOKEN_PREFIX}{}", random_base62(40));
    let id = format!("scimtok_{}", random_base62(fdt_api::ids::ID_SUFFIX_LEN));
    let now = st.clock().now();
    st.store()
        .create_scim_token(&org, &id, name, &secret_hash(&token), &who.person, now)
        .await?;
    audited(
        &st,
        &client,
        &who,
        "scim.token.create",
        &id,
        json!({"name": name}),
    )
    .await?;
    let body = CreatedScimToken {
        info: ScimToken {
            id,
            name: name.to_owned(),
            created_by: who.person.to_string(),
            created_at: now,
        },
        token,
        scim_url: format!("{}{PREFIX}", super::device::console_base(&st, &headers)),
    };
    Ok(super::no_store(
        (StatusCode::CREATED, Json(body)).into_response(),
    ))
}

/// `GET /v1/scim/tokens` → the organisation's live SCIM tokens (no secrets).
pub async fn list_tokens(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<ScimTokenList>, ApiError> {
    let tokens = st
        .store()
        .scim_tokens(&acting_org(&who))
        .await?
        .into_iter()
        .map(|t| ScimToken {
            id: t.id,
            name: t.name,
            created_by: t.created_by,
            created_at: t.created_at,
        })
        .collect();
    Ok(Json(ScimTokenList { tokens }))
}

/// `DELETE /v1/scim/tokens/{id}` → 204; the identity provider's next call is refused.
pub async fn revoke_token(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let org = acting_org(&who);
    if !st
        .store()
        .revoke_scim_token(&org, &id, st.clock().now())
        .await?
    {
        return Err(ApiError::NotFound);
    }
    audited(&st, &client, &who, "scim.token.revoke", &id, json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/scim/settings`.
pub async fn settings(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<ScimSettings>, ApiError> {
    load_settings(&st, &acting_org(&who))
        .await
        .map(Json)
        .map_err(|e| ApiError::internal("scim settings", &e.detail))
}

/// `PUT /v1/scim/settings` → the settings; every provisioned member's role follows at once.
pub async fn set_settings(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiJson(req): ApiJson<ScimSettings>,
) -> Result<Json<ScimSettings>, ApiError> {
    check_role_map(req.default_role, &req.group_roles).map_err(|message| {
        ApiError::InvalidField {
            field: "group_roles".into(),
            message: message.into(),
        }
    })?;
    let org = acting_org(&who);
    let groups: std::collections::BTreeMap<&str, String> = req
        .group_roles
        .iter()
        .map(|(g, r)| (g.as_str(), role_name(*r)))
        .collect();
    let groups =
        serde_json::to_string(&groups).map_err(|e| ApiError::internal("scim settings", &e))?;
    st.store()
        .set_scim_settings(&org, &role_name(req.default_role), &groups)
        .await?;
    sync_members(&st, &org, None)
        .await
        .map_err(|e| ApiError::internal("scim settings", &e.detail))?;
    audited(
        &st,
        &client,
        &who,
        "scim.settings.update",
        org.as_str(),
        json!({"default_role": role_name(req.default_role), "group_roles": req.group_roles.len()}),
    )
    .await?;
    Ok(Json(req))
}
