//! `/v1/admin/…`: the operators' API. [`AdminCaller`] admits only logged-in admin accounts
//! (checked on every call, on the server); every action is written to the audit log before it
//! is answered.

use super::extract::{ApiJson, ApiPath, Authenticated, Client};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use fdt_api::{
    AccountId, AdminTunnel, AdminTunnelList, AdminUser, AdminUserList, AdminUserQuery,
    AuditCheckpoint, AuditList, AuditQuery, AuditVerification, DrainRequest, SecretAgeList,
    SetPlanRequest, TunnelId,
};
use serde_json::json;

/// A caller proven to be an operator, and where it calls from (for the audit log).
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Authenticated, pub Client);

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let who = Authenticated::from_request_parts(parts, st).await?;
        if st.store().is_admin(&who.person).await? {
            let Ok(client) = Client::from_request_parts(parts, st).await;
            Ok(Self(who, client))
        } else {
            tracing::warn!(account = %who.person, path = %parts.uri.path(), "admin route refused");
            Err(ApiError::Forbidden("operators only"))
        }
    }
}

pub(super) fn query<T>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::InvalidBody(e.body_text()))
}

/// Writes an admin action to the audit log (before the action is answered).
pub(super) async fn audited(
    st: &AppState,
    admin: &AdminCaller,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    tracing::info!(admin = %admin.0.person, action, target, %detail, "admin action");
    // Admins' pages (users, audit log, tunnels, relays) refetch.
    st.events().publish_all(crate::events::Topic::Admin);
    let actor = admin.0.person.to_string();
    let a = crate::audit::Action {
        scope: "",
        actor: &actor,
        action,
        target,
        detail,
    };
    crate::audit::action(st, &admin.1, a).await
}

/// The account as operators see it; 404 when there is none.
async fn user_of(st: &AppState, id: &AccountId) -> Result<Json<AdminUser>, ApiError> {
    st.store()
        .admin_user(id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

fn account_id(id: &str) -> Result<AccountId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// `GET /v1/admin/users?q=&limit=`.
pub async fn users(
    State(st): State<AppState>,
    _admin: AdminCaller,
    q: Result<Query<AdminUserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AdminUserList>, ApiError> {
    let q = query(q)?;
    if q.q.as_ref().is_some_and(|s| s.len() > 254) {
        return Err(ApiError::InvalidBody("q is at most 254 characters".into()));
    }
    let users = st
        .store()
        .search_accounts(q.q.as_deref(), q.limit.unwrap_or(50).clamp(1, 500))
        .await?;
    Ok(Json(AdminUserList { users }))
}

async fn suspend_or_not(
    st: &AppState,
    admin: &AdminCaller,
    id: &str,
    suspend: bool,
) -> Result<Json<AdminUser>, ApiError> {
    let id = account_id(id)?;
    if suspend && id == admin.0.person {
        return Err(ApiError::InvalidBody(
            "operators cannot suspend themselves".into(),
        ));
    }
    let now = st.clock().now();
    let closed = st
        .store()
        .set_suspended(&id, suspend, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    let action = if suspend {
        "user.suspend"
    } else {
        "user.unsuspend"
    };
    audited(
        st,
        admin,
        action,
        id.as_str(),
        json!({"tunnels_closed": closed}),
    )
    .await?;
    user_of(st, &id).await
}

/// `POST /v1/admin/users/{id}/suspend`: login, authtoken exchange and binds refused; live
/// tunnels closed, sessions ended.
pub async fn suspend(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AdminUser>, ApiError> {
    suspend_or_not(&st, &admin, &id, true).await
}

/// `POST /v1/admin/users/{id}/unsuspend`.
pub async fn unsuspend(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AdminUser>, ApiError> {
    suspend_or_not(&st, &admin, &id, false).await
}

/// `PUT /v1/admin/users/{id}/plan`.
pub async fn set_plan(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<SetPlanRequest>,
) -> Result<Json<AdminUser>, ApiError> {
    let id = account_id(&id)?;
    let before = user_of(&st, &id).await?.0;
    crate::billing::entitlement::set_plan(&st, &id, req.plan).await?;
    let detail = json!({"from": before.plan, "to": req.plan});
    audited(&st, &admin, "user.plan", id.as_str(), detail).await?;
    user_of(&st, &id).await
}

/// `GET /v1/admin/tunnels`: every live tunnel with its account.
pub async fn tunnels(
    State(st): State<AppState>,
    _admin: AdminCaller,
) -> Result<Json<AdminTunnelList>, ApiError> {
    let tunnels = st
        .store()
        .all_live_tunnels(st.healthy_cutoff())
        .await?
        .into_iter()
        .map(|(account_id, tunnel)| AdminTunnel { account_id, tunnel })
        .collect();
    Ok(Json(AdminTunnelList { tunnels }))
}

/// `DELETE /v1/admin/tunnels/{id}`: force close (its relay closes it within a heartbeat).
pub async fn close_tunnel(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id: TunnelId = id.parse().map_err(|_| ApiError::NotFound)?;
    let owner = st
        .store()
        .tunnel_owner(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let now = st.clock().now();
    if !st.store().stop_tunnel(&owner, &id, now).await? {
        return Err(ApiError::NotFound);
    }
    audited(
        &st,
        &admin,
        "tunnel.close",
        id.as_str(),
        json!({"account": owner}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/admin/relays/{id}/drain`.
pub async fn drain(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<DrainRequest>,
) -> Result<StatusCode, ApiError> {
    if !st.store().set_drain(&id, req.draining).await? {
        return Err(ApiError::NotFound);
    }
    audited(
        &st,
        &admin,
        "relay.drain",
        &id,
        json!({"draining": req.draining}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/admin/audit?before=&limit=`: newest first.
pub async fn audit(
    State(st): State<AppState>,
    _admin: AdminCaller,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    let q = query(q)?;
    let entries = st
        .store()
        .audit_entries(q.before, q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(AuditList { entries }))
}

/// `GET /v1/admin/audit/verify`: both chains of every row, and every kept checkpoint against
/// the log; names the first broken row.
pub async fn audit_verify(
    State(st): State<AppState>,
    _admin: AdminCaller,
) -> Result<Json<AuditVerification>, ApiError> {
    let keys: Vec<_> = st.agent_tokens().keyring().keys().collect();
    let v = crate::audit::verify(st.store(), &keys, &[])
        .await
        .map_err(|e| ApiError::internal("audit verification failed", &e))?;
    if !v.ok {
        tracing::error!(first_broken = ?v.first_broken, checkpoint = ?v.checkpoint_error, "the audit log does not verify");
    }
    Ok(Json(v))
}

/// `POST /v1/admin/audit/checkpoints` → 201 with a signed checkpoint of the head (kept here,
/// and to keep elsewhere); 409 when the log does not verify (a checkpoint would bless it).
pub async fn audit_checkpoint(
    State(st): State<AppState>,
    admin: AdminCaller,
) -> Result<(StatusCode, Json<AuditCheckpoint>), ApiError> {
    let key = st.agent_tokens().keyring().signing_key();
    let made = crate::audit::checkpoint(st.store(), key, st.clock().now())
        .await
        .map_err(|e| ApiError::internal("audit checkpoint failed", &e))?;
    match made {
        Ok(c) => {
            audited(
                &st,
                &admin,
                "audit.checkpoint",
                &c.seq.to_string(),
                json!({"hash": c.hash}),
            )
            .await?;
            Ok((StatusCode::CREATED, Json(c)))
        }
        Err(b) => Err(ApiError::Conflict(format!(
            "the audit log does not verify (row {}, {} chain: {}); no checkpoint was signed",
            b.seq, b.chain, b.reason
        ))),
    }
}

/// `GET /v1/admin/secrets`: the age of each signing key and relay secret against its
/// configured maximum (green, amber, red), worst first, and how to rotate it.
pub async fn secrets(
    State(st): State<AppState>,
    _admin: AdminCaller,
) -> Result<Json<SecretAgeList>, ApiError> {
    let secrets = crate::rotation::Secrets {
        access_key: st.access_tokens().signing_key(),
        agent_keys: st.agent_tokens().keyring().keys().collect(),
        relay_secrets: st.relay_secret_fingerprints(),
        max: st.secret_rotation(),
    };
    Ok(Json(
        crate::rotation::report(st.store(), &secrets, st.clock().now()).await?,
    ))
}
