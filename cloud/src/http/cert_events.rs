//! Certificate events: `POST /v1/cert-events` (signed by a cluster's key, no bearer token),
//! the replication status they feed (`GET /v1/domains/{id}/replication`), and the operators'
//! list, replay and refusal counts (`/v1/admin/cert-events…`).

use super::admin::{AdminCaller, audited, query};
use super::extract::{ApiPath, Authenticated};
use super::openapi::{Auth, Endpoint};
use crate::domains::cert_events::{self, IngestError};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::CertEventRecord;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use fdt_api::domains::cert_event::MAX_BODY_BYTES;
use fdt_api::{
    CertEvent, CertEventList, CertEventQuery, CertEventReceipt, CertEventRefusals, CertReplica,
    DomainId, DomainReplication, StoredCertEvent,
};

/// The certificate-event routes.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    use fdt_api::Permission as P;
    vec![
        Endpoint::new(M::POST, "/v1/cert-events", "ingestCertEvent", ingest)
            .summary(
                "A certificate event from a cluster, signed with its key (fdt-event-cluster, \
                 fdt-event-source, fdt-event-timestamp, fdt-event-signature)",
            )
            .body_limit(MAX_BODY_BYTES)
            .request::<CertEvent>()
            .json::<CertEventReceipt>(200),
        Endpoint::new(
            M::GET,
            "/v1/domains/{id}/replication",
            "domainReplication",
            replication,
        )
        .summary("Which relays of which clusters have the domain's certificate in service")
        .auth(Auth::User(P::TunnelsRead))
        .json::<DomainReplication>(200),
        Endpoint::new(M::GET, "/v1/admin/cert-events", "adminCertEvents", list)
            .summary("Operators: certificate events with their provenance (domain_id, limit)")
            .auth(Auth::User(P::Operator))
            .json::<CertEventList>(200),
        Endpoint::new(
            M::POST,
            "/v1/admin/cert-events/{id}/replay",
            "adminReplayCertEvent",
            replay,
        )
        .summary("Operators: apply a stored certificate event again (its signature is re-checked)")
        .auth(Auth::User(P::Operator))
        .json::<StoredCertEvent>(200),
        Endpoint::new(
            M::GET,
            "/v1/admin/cert-events/refusals",
            "adminCertEventRefusals",
            refusals,
        )
        .summary("Operators: certificate events refused since this process started, by reason")
        .auth(Auth::User(P::Operator))
        .json::<CertEventRefusals>(200),
    ]
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Refused(p) => Self::Unauthorized(match p.reason() {
                "unknown_cluster" => "certificate event refused: unknown cluster",
                "stale" => "certificate event refused: timestamp outside the tolerance",
                "bad_signature" => "certificate event refused: bad signature",
                _ => "certificate event refused: missing or malformed provenance headers",
            }),
            IngestError::Field { field, message } => Self::BadField {
                field: field.to_owned(),
                message,
            },
            IngestError::UnknownDomain(_) => Self::NotFound,
            e @ IngestError::DomainGone => Self::Conflict(e.to_string()),
            IngestError::Store(e) => e.into(),
        }
    }
}

/// `POST /v1/cert-events` → 200 with what it did (a duplicate does nothing); 401 for an
/// unknown cluster, a stale timestamp or a bad signature (counted); 400 naming a bad field;
/// 404 when no such domain is verified here.
async fn ingest(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CertEventReceipt>, ApiError> {
    Ok(Json(cert_events::ingest(&st, &headers, &body).await?))
}

/// `GET /v1/domains/{id}/replication` → 404 unless it is the caller's domain.
async fn replication(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DomainReplication>, ApiError> {
    let id: DomainId = id.parse().map_err(|_| ApiError::NotFound)?;
    st.store()
        .domain(&who.account_id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let latest = st.store().latest_certificate(&id).await?.map(|c| c.version);
    let replicas: Vec<CertReplica> = st
        .store()
        .cert_replicas(&id)
        .await?
        .into_iter()
        .map(|r| CertReplica {
            current: Some(r.version) == latest,
            cluster: r.cluster,
            source: r.source,
            version: r.version,
            installed_at: r.installed_at,
        })
        .collect();
    let mut current_clusters: Vec<String> = replicas
        .iter()
        .map(|r| r.cluster.clone())
        .filter(|c| replicas.iter().all(|r| &r.cluster != c || r.current))
        .collect();
    current_clusters.dedup();
    Ok(Json(DomainReplication {
        certificate_version: latest,
        replicas,
        current_clusters,
    }))
}

fn to_api(r: CertEventRecord) -> Result<StoredCertEvent, ApiError> {
    let at = |ms| crate::store::from_millis(ms).map_err(ApiError::from);
    Ok(StoredCertEvent {
        id: r.seq,
        signed_at: time::OffsetDateTime::from_unix_timestamp(r.signed_at)
            .map_err(|_| ApiError::Internal)?,
        received_at: at(r.received_at)?,
        domain_id: r.domain_id.and_then(|d| d.parse().ok()),
        cluster: r.cluster,
        source: r.source,
        event_id: r.event_id,
        domain: r.domain,
        kind: r.kind,
        version: r.version,
        outcome: r.outcome,
        replays: r.replays,
    })
}

/// `GET /v1/admin/cert-events?domain_id&limit` → newest first.
async fn list(
    State(st): State<AppState>,
    _admin: AdminCaller,
    q: Result<Query<CertEventQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CertEventList>, ApiError> {
    let q = query(q)?;
    let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 500));
    let rows = st.store().cert_events(q.domain_id.as_ref(), limit).await?;
    let events = rows.into_iter().map(to_api).collect::<Result<_, _>>()?;
    Ok(Json(CertEventList { events }))
}

/// `POST /v1/admin/cert-events/{id}/replay` → the event after replay; 404 when there is none;
/// 401 when its signature no longer verifies (its key was removed); 409 when its domain is
/// gone; 404 when the domain is no longer verified.
async fn replay(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(seq): ApiPath<String>,
) -> Result<Json<StoredCertEvent>, ApiError> {
    let seq: i64 = seq.parse().map_err(|_| ApiError::NotFound)?;
    let Some(before) = st.store().cert_event(seq).await? else {
        return Err(ApiError::NotFound);
    };
    let detail = serde_json::json!({
        "cluster": before.cluster, "source": before.source, "event_id": before.event_id,
        "domain": before.domain, "kind": before.kind,
    });
    // Audited before it runs: an attempt that fails is on record too.
    audited(&st, &admin, "cert_event.replay", &seq.to_string(), detail).await?;
    let after = cert_events::replay(&st, seq)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(to_api(after)?))
}

/// `GET /v1/admin/cert-events/refusals`.
async fn refusals(State(st): State<AppState>, _admin: AdminCaller) -> Json<CertEventRefusals> {
    Json(st.cert_event_refusals().snapshot())
}
