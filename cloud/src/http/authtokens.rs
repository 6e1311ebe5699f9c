//! `/v1/authtokens`: create (the secret is in the answer, once), list, revoke — always within
//! the caller's own account.

use super::extract::{ApiJson, ApiPath, Authenticated, Client};
use super::no_store;
use crate::audit;
use crate::error::ApiError;
use crate::events::Topic;
use crate::random::{new_authtoken, new_authtoken_id, secret_hash};
use crate::state::AppState;
use crate::store::NewAuthtoken;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fdt_api::validate::check_description;
use fdt_api::{AccountId, AuthtokenId, AuthtokenList, CreateAuthtokenRequest, CreatedAuthtoken};

/// `POST /v1/authtokens` → 201 with the token and its secret.
pub async fn create(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiJson(req): ApiJson<CreateAuthtokenRequest>,
) -> Result<Response, ApiError> {
    let description = req
        .description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if let Some(d) = &description {
        check_description(d)?;
    }
    let body = issue(
        &st,
        &client,
        &who.account_id,
        &who.person,
        description.as_deref(),
    )
    .await?;
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

/// Creates an authtoken for `account` (its secret is in the answer, and nowhere else): the
/// API's create and the device sign-in's approved poll.
pub(crate) async fn issue(
    st: &AppState,
    client: &Client,
    account: &AccountId,
    created_by: &AccountId,
    description: Option<&str>,
) -> Result<CreatedAuthtoken, ApiError> {
    let token = new_authtoken();
    let id = new_authtoken_id();
    let record = st
        .store()
        .create_authtoken(NewAuthtoken {
            id: &id,
            account_id: account,
            token_hash: &secret_hash(token.expose_secret()),
            prefix: token.display_prefix(),
            description,
            created_by,
            created_at: st.clock().now(),
        })
        .await?;
    tracing::info!(%account, authtoken = %id, "authtoken created");
    let acc = account.to_string();
    let by = created_by.to_string();
    let a = audit::Action {
        scope: &acc,
        actor: &by,
        action: "authtoken.create",
        target: id.as_str(),
        detail: serde_json::json!({"description": description}),
    };
    audit::action(st, client, a).await?;
    st.events().publish(account, Topic::Authtokens);
    Ok(CreatedAuthtoken {
        info: record.to_api(),
        token,
    })
}

/// `GET /v1/authtokens` → the caller's live tokens.
pub async fn list(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<AuthtokenList>, ApiError> {
    let records = st.store().list_authtokens(&who.account_id).await?;
    Ok(Json(AuthtokenList {
        authtokens: records.iter().map(|r| r.to_api()).collect(),
    }))
}

/// `DELETE /v1/authtokens/{id}` → 204; 404 when the caller has no such live token (including
/// when it belongs to someone else: the answer must not reveal that it exists).
pub async fn revoke(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id: AuthtokenId = id.parse().map_err(|_| ApiError::NotFound)?;
    if st
        .store()
        .revoke_authtoken(&who.account_id, &id, st.clock().now())
        .await?
    {
        tracing::info!(account = %who.account_id, authtoken = %id, "authtoken revoked");
        let (acc, by) = (who.account_id.to_string(), who.person.to_string());
        let a = audit::Action {
            scope: &acc,
            actor: &by,
            action: "authtoken.revoke",
            target: id.as_str(),
            detail: serde_json::json!({}),
        };
        audit::action(&st, &client, a).await?;
        st.events().publish(&who.account_id, Topic::Authtokens);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
