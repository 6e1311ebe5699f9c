//! `/v1/domains/{id}/incidents`: what the domains worker found wrong with a domain (a failed
//! renewal, a certificate expiring or expired, validation lost), acknowledged and resolved by
//! its owner. Routes are listed with the other domain routes (`super::domains`).

use super::extract::{ApiPath, Authenticated, Client};
use crate::audit;
use crate::error::ApiError;
use crate::events::Topic;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use fdt_api::{DomainId, DomainIncident, DomainIncidentList};

fn parse(id: &str) -> Result<DomainId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// An incident as the API shows it.
pub(super) fn to_api(i: crate::store::IncidentRecord) -> DomainIncident {
    DomainIncident {
        id: i.seq,
        kind: i.kind,
        detail: i.detail,
        opened_at: i.opened_at,
        acked_at: i.acked.as_ref().map(|a| a.0),
        acked_by: i.acked.map(|a| a.1),
        resolved_at: i.resolved_at,
    }
}

/// `GET /v1/domains/{id}/incidents` → newest first; 404 when the domain is not the caller's.
pub(super) async fn list(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DomainIncidentList>, ApiError> {
    let id = parse(&id)?;
    st.store()
        .domain(&who.account_id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    listed(&st, Some(&who.account_id), &id).await
}

/// Domain `id`'s incidents, newest first: `owner`'s domain, or any account's (operators).
pub(super) async fn listed(
    st: &AppState,
    owner: Option<&fdt_api::AccountId>,
    id: &DomainId,
) -> Result<Json<DomainIncidentList>, ApiError> {
    let incidents = st
        .store()
        .domain_incidents(owner, id)
        .await?
        .into_iter()
        .map(to_api)
        .collect();
    Ok(Json(DomainIncidentList { incidents }))
}

async fn update(
    st: AppState,
    who: Authenticated,
    client: Client,
    (id, seq): (String, i64),
    resolve: bool,
) -> Result<Json<DomainIncidentList>, ApiError> {
    let domain = parse(&id)?;
    let now = st.clock().now();
    if !st
        .store()
        .update_domain_incident(
            Some(&who.account_id),
            &domain,
            seq,
            resolve,
            &who.person,
            now,
        )
        .await?
    {
        return Err(ApiError::NotFound);
    }
    let (acc, by) = (who.account_id.to_string(), who.person.to_string());
    let a = audit::Action {
        scope: &acc,
        actor: &by,
        action: if resolve {
            "domain.incident.resolve"
        } else {
            "domain.incident.ack"
        },
        target: domain.as_str(),
        detail: serde_json::json!({"incident": seq}),
    };
    audit::action(&st, &client, a).await?;
    st.events().publish(&who.account_id, Topic::Tunnels);
    list(State(st), who, ApiPath(id)).await
}

/// `POST /v1/domains/{id}/incidents/{n}/ack` → the incidents; acknowledging twice keeps the
/// first acknowledgement.
pub(super) async fn ack(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath(path): ApiPath<(String, i64)>,
) -> Result<Json<DomainIncidentList>, ApiError> {
    update(st, who, client, path, false).await
}

/// `POST /v1/domains/{id}/incidents/{n}/resolve` → the incidents.
pub(super) async fn resolve(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath(path): ApiPath<(String, i64)>,
) -> Result<Json<DomainIncidentList>, ApiError> {
    update(st, who, client, path, true).await
}
