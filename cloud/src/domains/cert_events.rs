//! Certificate events from other clusters: checked ([`ingest`]: known cluster, fresh
//! timestamp, signature by one of the cluster's keys, a verified domain), stored once per
//! cluster and event ID, then applied: an `installed` report moves the replication status, a
//! failure or an expiry opens an incident, a revocation makes the certificate due for renewal.
//! Operators list and [`replay`] them; refusals are counted by reason
//! ([`Refusals`](super::refusals::Refusals)).

use super::refusals::Refusal;
use crate::config::EventCluster;
use crate::state::AppState;
use crate::store::{CertEventRecord, NewCertEvent, StoreError, incident_kind};
use axum::http::HeaderMap;
use fdt_api::DomainId;
use fdt_api::domains::cert_event::{
    CLUSTER_HEADER, CertEvent, CertEventKind, CertEventReceipt, Provenance, ProvenanceError,
    SIGNATURE_HEADER, SOURCE_HEADER, TIMESTAMP_HEADER,
};

/// Incident: the certificate in service was reported revoked.
pub const REVOKED: &str = "revoked";
/// Longest signature header read (four `v1=` signatures and separators fit well inside).
const MAX_SIGNATURE_HEADER: usize = 512;

/// Why an event was not applied.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Its provenance does not hold: refused and counted.
    #[error("event refused: {0}")]
    Refused(ProvenanceError),
    /// Signed, but a field is wrong.
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Signed, but the domain is not verified here, or the named row is not the verified one.
    #[error("no verified domain {0}")]
    UnknownDomain(String),
    /// A replayed event's domain was deleted since.
    #[error("the event's domain was deleted")]
    DomainGone,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn cluster<'a>(st: &'a AppState, name: &str) -> Option<&'a EventCluster> {
    st.domains().clusters.iter().find(|c| c.name == name)
}

/// Whether `signature` is `body` signed under a key of the cluster `p` names.
fn signed(
    st: &AppState,
    p: &Provenance,
    body: &[u8],
    signature: &str,
) -> Result<(), ProvenanceError> {
    let c = cluster(st, &p.cluster).ok_or(ProvenanceError::UnknownCluster)?;
    let keys: Vec<&[u8]> = c.keys.iter().map(|k| k.expose().as_bytes()).collect();
    if p.verify(&keys, body, signature) {
        Ok(())
    } else {
        Err(ProvenanceError::BadSignature)
    }
}

/// Checks the provenance of `body`, then its content; the event and the verified domain.
fn check(
    st: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Provenance, String, CertEvent), IngestError> {
    let p = Provenance::parse(
        header(headers, CLUSTER_HEADER),
        header(headers, SOURCE_HEADER),
        header(headers, TIMESTAMP_HEADER),
    )
    .map_err(IngestError::Refused)?;
    let signature = header(headers, SIGNATURE_HEADER)
        .filter(|s| s.len() <= MAX_SIGNATURE_HEADER)
        .ok_or(IngestError::Refused(ProvenanceError::Malformed(
            SIGNATURE_HEADER,
        )))?
        .to_owned();
    if cluster(st, &p.cluster).is_none() {
        return Err(IngestError::Refused(ProvenanceError::UnknownCluster));
    }
    if !p.is_fresh(st.clock().now().unix_timestamp()) {
        return Err(IngestError::Refused(ProvenanceError::Stale));
    }
    signed(st, &p, body, &signature).map_err(IngestError::Refused)?;
    let event = parse(body)?;
    Ok((p, signature, event))
}

fn parse(body: &[u8]) -> Result<CertEvent, IngestError> {
    let event: CertEvent = serde_json::from_slice(body).map_err(|e| IngestError::Field {
        field: "body",
        message: e.to_string(),
    })?;
    event
        .check()
        .map_err(|(field, message)| IngestError::Field { field, message })?;
    Ok(event)
}

/// The verified domain the event is about: by name, and by ID when the event names one.
async fn domain_of(st: &AppState, e: &CertEvent) -> Result<DomainId, IngestError> {
    let id = st
        .store()
        .verified_domain_named(&e.domain.to_ascii_lowercase())
        .await?;
    match (id, &e.domain_id) {
        (Some(id), Some(named)) if &id == named => Ok(id),
        (Some(id), None) => Ok(id),
        _ => Err(IngestError::UnknownDomain(e.domain.clone())),
    }
}

/// Checks, stores and applies one event from `POST /v1/cert-events`. A cluster's second event
/// with the same ID is answered as a duplicate and not applied again (the unique index decides,
/// so concurrent deliveries apply once).
pub async fn ingest(
    st: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<CertEventReceipt, IngestError> {
    let result = ingest_checked(st, headers, body).await;
    if let Err(e) = &result {
        match e {
            IngestError::Refused(p) => st.cert_event_refusals().count(Refusal::Provenance(*p)),
            IngestError::UnknownDomain(_) => st.cert_event_refusals().count(Refusal::UnknownDomain),
            _ => {}
        }
        tracing::warn!(
            cluster = header(headers, CLUSTER_HEADER).filter(|c| fdt_api::domains::cert_event::is_label(c)),
            error = %e,
            "certificate event refused"
        );
    }
    result
}

async fn ingest_checked(
    st: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<CertEventReceipt, IngestError> {
    let (p, signature, event) = check(st, headers, body)?;
    let domain_id = domain_of(st, &event).await?;
    let now = st.clock().now();
    let raw = std::str::from_utf8(body).map_err(|e| IngestError::Field {
        field: "body",
        message: e.to_string(),
    })?;
    let stored = st
        .store()
        .insert_cert_event(
            &NewCertEvent {
                cluster: &p.cluster,
                source: &p.source,
                event_id: &event.id,
                signed_at: p.timestamp,
                signature: &signature,
                body: raw,
                domain_id: &domain_id,
                domain: &event.domain,
                kind: event.kind.as_str(),
                version: event.version,
                outcome: "received",
            },
            now,
        )
        .await?;
    let Some(seq) = stored else {
        return Ok(CertEventReceipt {
            id: None,
            duplicate: true,
            outcome: "duplicate".into(),
        });
    };
    let outcome = apply(st, &domain_id, &event, &p).await?;
    st.store()
        .set_cert_event_outcome(seq, outcome, false)
        .await?;
    Ok(CertEventReceipt {
        id: Some(seq),
        duplicate: false,
        outcome: outcome.into(),
    })
}

/// Re-applies stored event `seq` for an operator: its signature must still verify under a key
/// its cluster has now (a key removed since cannot vouch for it), and its domain row must still
/// exist and be verified. Its age does not matter: replaying old events is the point.
pub async fn replay(st: &AppState, seq: i64) -> Result<Option<CertEventRecord>, IngestError> {
    let Some(r) = st.store().cert_event(seq).await? else {
        return Ok(None);
    };
    let p = Provenance {
        cluster: r.cluster.clone(),
        source: r.source.clone(),
        timestamp: r.signed_at,
    };
    signed(st, &p, r.body.as_bytes(), &r.signature).map_err(IngestError::Refused)?;
    let event = parse(r.body.as_bytes())?;
    let id: DomainId = r
        .domain_id
        .as_deref()
        .map(crate::store::parse_id)
        .transpose()?
        .ok_or(IngestError::DomainGone)?;
    // The row the event was matched to must still be the verified one for the name.
    let event = CertEvent {
        domain_id: Some(id.clone()),
        ..event
    };
    domain_of(st, &event).await?;
    let outcome = apply(st, &id, &event, &p).await?;
    st.store()
        .set_cert_event_outcome(seq, outcome, true)
        .await?;
    Ok(st.store().cert_event(seq).await?)
}

/// What an event does; returns the outcome recorded with it. Every effect is idempotent (an
/// incident opens once, a replica never moves back), so a replay does no harm.
async fn apply(
    st: &AppState,
    id: &DomainId,
    e: &CertEvent,
    p: &Provenance,
) -> Result<&'static str, StoreError> {
    let store = st.store();
    let now = st.clock().now();
    let by = format!("reported by {} in {}", p.source, p.cluster);
    let detail = if e.detail.is_empty() {
        by
    } else {
        format!("{by}: {}", e.detail)
    };
    let version = e
        .version
        .map(|v| format!(" (version {v})"))
        .unwrap_or_default();
    let incident = |opened: bool| {
        if opened {
            "incident_opened"
        } else {
            "incident_already_open"
        }
    };
    Ok(match e.kind {
        CertEventKind::Installed => {
            let v = e.version.unwrap_or_default();
            let latest = store.latest_certificate(id).await?.map(|c| c.version);
            if latest.is_none_or(|l| v > l) {
                "unknown_version"
            } else if store
                .put_cert_replica(id, &p.cluster, &p.source, v, now)
                .await?
            {
                "replica_updated"
            } else {
                "replica_already_newer"
            }
        }
        CertEventKind::Issued | CertEventKind::Renewed => {
            let kind = e.kind.as_str();
            store
                .add_domain_event(id, kind, &format!("{detail}{version}"), now)
                .await?;
            "recorded"
        }
        CertEventKind::Failed => {
            store.add_domain_event(id, "failed", &detail, now).await?;
            incident(
                store
                    .open_domain_incident(id, incident_kind::RENEWAL_FAILED, &detail, now)
                    .await?,
            )
        }
        CertEventKind::Expiring => {
            store.add_domain_event(id, "expiring", &detail, now).await?;
            incident(
                store
                    .open_domain_incident(id, incident_kind::EXPIRING, &detail, now)
                    .await?,
            )
        }
        CertEventKind::Revoked => {
            let v = e.version.unwrap_or_default();
            store
                .add_domain_event(id, "revoked", &format!("{detail}{version}"), now)
                .await?;
            if store.renew_certificate_now(id, v, now).await? {
                // The newest certificate is revoked: order a new one now, and tell the owner
                // (an uploaded certificate needs them to bring another).
                store
                    .open_domain_incident(id, REVOKED, &detail, now)
                    .await?;
                "renewal_due"
            } else {
                "not_newest_version"
            }
        }
    })
}
