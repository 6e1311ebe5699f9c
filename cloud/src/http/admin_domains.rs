//! `GET /v1/admin/domains`: every account's custom domains, for operators, with their
//! verification and certificate state and open incidents, and each domain's incidents, which
//! operators acknowledge and resolve like owners (audited). Listed in `super::operators`.

use super::admin::{AdminCaller, audited, query};
use super::domain_incidents::listed;
use super::extract::ApiPath;
use crate::domains;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use fdt_api::{AdminDomain, AdminDomainList, AdminDomainQuery, DomainId, DomainIncidentList};

/// Longest search string.
const MAX_Q_BYTES: usize = 253;

/// `GET /v1/admin/domains?q&limit` → domains whose name contains `q`, by name.
pub(super) async fn list(
    State(st): State<AppState>,
    _admin: AdminCaller,
    q: Result<Query<AdminDomainQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AdminDomainList>, ApiError> {
    let q = query(q)?;
    if q.q.as_ref().is_some_and(|s| s.len() > MAX_Q_BYTES) {
        return Err(ApiError::InvalidBody(format!(
            "q is at most {MAX_Q_BYTES} bytes"
        )));
    }
    let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 500));
    let rows = st.store().search_domains(q.q.as_deref(), limit).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (d, open_incidents) in rows {
        let cert = st.store().latest_certificate(&d.id).await?;
        out.push(AdminDomain {
            account: d.account.clone(),
            open_incidents,
            domain: domains::to_api(d, cert.as_ref()),
        });
    }
    Ok(Json(AdminDomainList { domains: out }))
}

fn domain_id(id: &str) -> Result<DomainId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// `GET /v1/admin/domains/{id}/incidents` → any account's domain's incidents, newest first.
pub(super) async fn incidents(
    State(st): State<AppState>,
    _admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DomainIncidentList>, ApiError> {
    let id = domain_id(&id)?;
    st.store()
        .domain_by_id(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    listed(&st, None, &id).await
}

async fn update(
    st: AppState,
    admin: AdminCaller,
    (id, seq): (String, i64),
    resolve: bool,
) -> Result<Json<DomainIncidentList>, ApiError> {
    let domain = domain_id(&id)?;
    let owner = st
        .store()
        .domain_by_id(&domain)
        .await?
        .ok_or(ApiError::NotFound)?
        .account;
    let action = if resolve {
        "domain.incident.resolve"
    } else {
        "domain.incident.ack"
    };
    let detail = serde_json::json!({"incident": seq, "account": owner.as_str()});
    let now = st.clock().now();
    if !st
        .store()
        .update_domain_incident(None, &domain, seq, resolve, &admin.0.person, now)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    audited(&st, &admin, action, domain.as_str(), detail).await?;
    st.events().publish(&owner, crate::events::Topic::Tunnels);
    incidents(State(st), admin, ApiPath(id)).await
}

/// `POST /v1/admin/domains/{id}/incidents/{n}/ack`.
pub(super) async fn ack(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(path): ApiPath<(String, i64)>,
) -> Result<Json<DomainIncidentList>, ApiError> {
    update(st, admin, path, false).await
}

/// `POST /v1/admin/domains/{id}/incidents/{n}/resolve`.
pub(super) async fn resolve(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(path): ApiPath<(String, i64)>,
) -> Result<Json<DomainIncidentList>, ApiError> {
    update(st, admin, path, true).await
}
