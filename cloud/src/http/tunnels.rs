//! `/v1/tunnels` (the caller's tunnels online now, and stopping one) and `/v1/reserved-names`
//! (reserve, list, get, update, release) — always within the caller's own account.

use super::extract::{ApiJson, ApiPath, Authenticated};
use super::openapi::{Auth, Endpoint};
use crate::error::ApiError;
use crate::events::Topic;
use crate::fleet;
use crate::fleet::reserve::{ReserveError, Wanted};
use crate::state::AppState;
use crate::store::ReservedRecord;
use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use fdt_api::validate::check_description;
use fdt_api::{
    CreateReservedName, ReservedKind, ReservedName, ReservedNameId, ReservedNameList, TunnelId,
    TunnelInfo, TunnelList, UpdateReservedName,
};

/// The `/v1/reserved-names` routes, for the route table.
pub(super) fn reserved_endpoints() -> Vec<Endpoint> {
    use Method as M;
    use fdt_api::Permission as P;
    vec![
        Endpoint::new(M::POST, "/v1/reserved-names", "reserveName", reserve)
            .summary("Reserve a subdomain or a TCP address")
            .auth(Auth::User(P::TunnelsWrite))
            .request::<CreateReservedName>()
            .json::<ReservedName>(201),
        Endpoint::new(
            M::GET,
            "/v1/reserved-names",
            "listReservedNames",
            list_reserved,
        )
        .summary("The caller's reserved names, with their live tunnels")
        .auth(Auth::User(P::TunnelsRead))
        .json::<ReservedNameList>(200),
        Endpoint::new(
            M::GET,
            "/v1/reserved-names/{id}",
            "getReservedName",
            get_reserved,
        )
        .summary("One reserved name")
        .auth(Auth::User(P::TunnelsRead))
        .json::<ReservedName>(200),
        Endpoint::new(
            M::PATCH,
            "/v1/reserved-names/{id}",
            "updateReservedName",
            update_reserved,
        )
        .summary("Change a reserved name's description")
        .auth(Auth::User(P::TunnelsWrite))
        .request::<UpdateReservedName>()
        .json::<ReservedName>(200),
        Endpoint::new(
            M::DELETE,
            "/v1/reserved-names/{id}",
            "releaseReservedName",
            release,
        )
        .summary("Release a reserved name")
        .auth(Auth::User(P::TunnelsWrite))
        .empty(204),
    ]
}

/// `GET /v1/tunnels` → the caller's live tunnels.
pub async fn list(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<TunnelList>, ApiError> {
    let tunnels = st
        .store()
        .list_tunnels(&who.account_id, st.healthy_cutoff())
        .await?;
    Ok(Json(TunnelList { tunnels }))
}

/// `GET /v1/tunnels/{id}` → one live tunnel; 404 when offline or not the caller's.
pub async fn get(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TunnelInfo>, ApiError> {
    let id: TunnelId = id.parse().map_err(|_| ApiError::NotFound)?;
    st.store()
        .list_tunnels(&who.account_id, st.healthy_cutoff())
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// `DELETE /v1/tunnels/{id}` → 204; the relay closes the tunnel at its next heartbeat.
pub async fn stop(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id: TunnelId = id.parse().map_err(|_| ApiError::NotFound)?;
    if st
        .store()
        .stop_tunnel(&who.account_id, &id, st.clock().now())
        .await?
    {
        tracing::info!(account = %who.account_id, tunnel = %id, "tunnel stopped by its owner");
        st.events().publish(&who.account_id, Topic::Tunnels);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

fn trimmed(d: Option<String>) -> Result<Option<String>, ApiError> {
    let d = d.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if let Some(d) = &d {
        check_description(d)?;
    }
    Ok(d)
}

/// A reservation with the live tunnels on its name.
fn to_api(r: ReservedRecord, live: &[TunnelInfo]) -> ReservedName {
    let tunnels = live
        .iter()
        .filter(|t| match r.kind {
            ReservedKind::Subdomain => t.subdomain.is_some() && t.subdomain == r.subdomain,
            ReservedKind::TcpAddress => {
                t.port.is_some() && t.port == r.port && r.region.as_deref() == Some(&t.region)
            }
        })
        .cloned()
        .collect();
    ReservedName {
        id: r.id,
        kind: r.kind,
        subdomain: r.subdomain,
        region: r.region,
        port: r.port,
        description: r.description,
        created_at: r.created_at,
        tunnels,
    }
}

/// `POST /v1/reserved-names` → 201 with the reservation; 409 `name_reserved` when someone holds
/// the name, 403 `limit_exceeded` past the plan's count, 409 `exhausted` when no port is free.
pub async fn reserve(
    State(st): State<AppState>,
    who: Authenticated,
    ApiJson(req): ApiJson<CreateReservedName>,
) -> Result<Response, ApiError> {
    let description = trimmed(req.description)?;
    let wanted = Wanted {
        kind: req.kind,
        subdomain: req.subdomain.as_deref(),
        region: req.region.as_deref(),
        description: description.as_deref(),
    };
    let r = fleet::reserve::reserve(&st, &who.account_id, wanted).await?;
    let live = st
        .store()
        .list_tunnels(&who.account_id, st.healthy_cutoff())
        .await?;
    st.events().publish(&who.account_id, Topic::Tunnels);
    Ok((StatusCode::CREATED, Json(to_api(r, &live))).into_response())
}

impl From<ReserveError> for ApiError {
    fn from(e: ReserveError) -> Self {
        match e {
            ReserveError::Malformed(m) => Self::InvalidBody(m.to_owned()),
            ReserveError::Invalid(v) => Self::Validation(v),
            ReserveError::AccountGone => Self::Unauthorized("account no longer exists"),
            e @ ReserveError::LimitReached { limit, .. } => Self::LimitExceeded {
                limit,
                message: e.to_string(),
            },
            e @ ReserveError::Taken => Self::NameReserved(e.to_string()),
            e @ ReserveError::Exhausted => Self::Exhausted(e.to_string()),
            ReserveError::Store(e) => e.into(),
        }
    }
}

/// `GET /v1/reserved-names` → the caller's reservations with their live tunnels.
pub async fn list_reserved(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<ReservedNameList>, ApiError> {
    let live = st
        .store()
        .list_tunnels(&who.account_id, st.healthy_cutoff())
        .await?;
    let reserved = st.store().list_reservations(&who.account_id).await?;
    Ok(Json(ReservedNameList {
        reserved_names: reserved.into_iter().map(|r| to_api(r, &live)).collect(),
    }))
}

async fn one(st: &AppState, who: &Authenticated, id: &str) -> Result<ReservedName, ApiError> {
    let id: ReservedNameId = id.parse().map_err(|_| ApiError::NotFound)?;
    let r = st
        .store()
        .reservation(&who.account_id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let live = st
        .store()
        .list_tunnels(&who.account_id, st.healthy_cutoff())
        .await?;
    Ok(to_api(r, &live))
}

/// `GET /v1/reserved-names/{id}`.
pub async fn get_reserved(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ReservedName>, ApiError> {
    one(&st, &who, &id).await.map(Json)
}

/// `PATCH /v1/reserved-names/{id}` → the updated reservation.
pub async fn update_reserved(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateReservedName>,
) -> Result<Json<ReservedName>, ApiError> {
    let parsed: ReservedNameId = id.parse().map_err(|_| ApiError::NotFound)?;
    if let Some(d) = req.description {
        let d = trimmed(Some(d))?;
        if !st
            .store()
            .update_reservation(&who.account_id, &parsed, d.as_deref())
            .await?
        {
            return Err(ApiError::NotFound);
        }
    }
    one(&st, &who, &id).await.map(Json)
}

/// `DELETE /v1/reserved-names/{id}` → 204; tunnels online on the name stay up until they end.
pub async fn release(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id: ReservedNameId = id.parse().map_err(|_| ApiError::NotFound)?;
    if st.store().delete_reservation(&who.account_id, &id).await? {
        tracing::info!(account = %who.account_id, reservation = %id, "reservation released");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
