//! Roles: `GET /v1/roles` (the built-in templates and the organisation's own), and the
//! organisation's own managed by its owners: `PUT /v1/roles/custom:{name}` with the
//! permissions it grants, `DELETE /v1/roles/custom:{name}` (refused while members hold it).

use super::extract::{ApiJson, ApiPath, Authenticated, Client};
use super::orgs::{acting_org, audited, caller_is_owner};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::RoleDeleted;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use fdt_api::{Permission, PutRole, Role, RoleInfo, RoleList, RoleTemplate};
use serde_json::json;

/// The most roles of its own an organisation keeps.
pub const MAX_CUSTOM_ROLES: usize = 50;

/// `GET /v1/roles`.
pub async fn list(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<RoleList>, ApiError> {
    let mut roles: Vec<RoleInfo> = RoleTemplate::ALL
        .into_iter()
        .map(|t| RoleInfo {
            name: Role::Builtin(t),
            builtin: true,
            permissions: t.permissions(),
        })
        .collect();
    for (name, permissions) in st.store().custom_roles(&acting_org(&who)).await? {
        roles.push(RoleInfo {
            name: Role::Custom(name),
            builtin: false,
            permissions,
        });
    }
    Ok(Json(RoleList { roles }))
}

/// The custom role a path names; built-in names and malformed ones are refused.
fn custom_name(path: &str) -> Result<String, ApiError> {
    match Role::parse(path) {
        Some(Role::Custom(n)) => Ok(n),
        Some(Role::Builtin(_)) => Err(ApiError::Conflict(
            "built-in roles do not change; make one of your own (custom:<name>)".into(),
        )),
        None => Err(ApiError::InvalidField {
            field: "name".into(),
            message:
                "custom:<name>: 1 to 32 lowercase letters, digits and -, starting with a letter"
                    .into(),
        }),
    }
}

async fn owners_only(st: &AppState, who: &Authenticated) -> Result<(), ApiError> {
    if caller_is_owner(st, &acting_org(who), who).await? {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only owners manage roles"))
    }
}

/// `PUT /v1/roles/custom:{name}` → the role as set.
pub async fn put(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath(path): ApiPath<String>,
    ApiJson(req): ApiJson<PutRole>,
) -> Result<Json<RoleInfo>, ApiError> {
    owners_only(&st, &who).await?;
    let name = custom_name(&path)?;
    if req.permissions.contains(&Permission::Operator) {
        return Err(ApiError::InvalidField {
            field: "permissions".into(),
            message: "operator belongs to the service's operators, never to a role".into(),
        });
    }
    let mut permissions = req.permissions;
    permissions.sort_by_key(|p| Permission::ALL.iter().position(|q| q == p));
    permissions.dedup();
    let org = acting_org(&who);
    let existing = st.store().custom_roles(&org).await?;
    if existing.len() >= MAX_CUSTOM_ROLES && !existing.iter().any(|(n, _)| *n == name) {
        return Err(ApiError::InvalidField {
            field: "name".into(),
            message: format!("an organisation keeps at most {MAX_CUSTOM_ROLES} roles of its own"),
        });
    }
    st.store()
        .put_custom_role(&org, &name, &permissions, st.clock().now())
        .await?;
    let role = Role::Custom(name);
    let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    audited(
        &st,
        &client,
        &who,
        "role.put",
        &role.name(),
        json!({"permissions": names}),
    )
    .await?;
    Ok(Json(RoleInfo {
        name: role,
        builtin: false,
        permissions,
    }))
}

/// `DELETE /v1/roles/custom:{name}` → 204; 409 while members hold it.
pub async fn delete(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath(path): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    owners_only(&st, &who).await?;
    let name = custom_name(&path)?;
    match st
        .store()
        .delete_custom_role(&acting_org(&who), &name)
        .await?
    {
        RoleDeleted::Done => {}
        RoleDeleted::Missing => return Err(ApiError::NotFound),
        RoleDeleted::InUse(n) => {
            return Err(ApiError::Conflict(format!(
                "{n} member(s) hold this role: give them another first"
            )));
        }
    }
    let role = Role::Custom(name).name();
    audited(&st, &client, &who, "role.delete", &role, json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}
