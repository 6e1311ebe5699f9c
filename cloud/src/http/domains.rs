//! `/v1/domains` (custom domains: create, list, get, change, delete, verify now, upload a
//! certificate) and the relays' view (`/v1/relay/domains`, certificates, ACME HTTP-01 answers).
//! Part of [`super::endpoints`], as every route is.

use super::domain_incidents;
use super::extract::{ApiJson, ApiPath, Authenticated, Client, RelayCaller};
use super::openapi::{Auth, Endpoint};
use crate::audit;
use crate::domains::{self, DomainError, worker};
use crate::error::ApiError;
use crate::events::Topic;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use fdt_api::plans::limit;
use fdt_api::{
    AcmeHttpChallenge, CreateDomain, Domain, DomainEvent, DomainEventList, DomainId, DomainList,
    RelayCertificate, RelayDomain, RelayDomains, UpdateDomain, UploadCertificate,
};

/// Largest certificate upload (a chain of 8 large certificates and a key fit easily).
const MAX_UPLOAD_BYTES: usize = 64 * 1024;

/// The domain routes.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    use fdt_api::Permission as P;
    vec![
        Endpoint::new(M::POST, "/v1/domains", "createDomain", create)
            .summary("Add a custom domain: the answer names the TXT and CNAME records to create")
            .auth(Auth::User(P::TunnelsWrite))
            .request::<CreateDomain>()
            .json::<Domain>(201),
        Endpoint::new(M::GET, "/v1/domains", "listDomains", list)
            .summary("The caller's custom domains")
            .auth(Auth::User(P::TunnelsRead))
            .json::<DomainList>(200),
        Endpoint::new(M::GET, "/v1/domains/{id}", "getDomain", get)
            .summary("One custom domain, with its verification and certificate state")
            .auth(Auth::User(P::TunnelsRead))
            .json::<Domain>(200),
        Endpoint::new(M::PATCH, "/v1/domains/{id}", "updateDomain", update)
            .summary("Change a custom domain's mode, route or failure policy")
            .auth(Auth::User(P::TunnelsWrite))
            .request::<UpdateDomain>()
            .json::<Domain>(200),
        Endpoint::new(M::DELETE, "/v1/domains/{id}", "deleteDomain", delete)
            .summary("Delete a custom domain (relays stop serving it)")
            .auth(Auth::User(P::TunnelsWrite))
            .empty(204),
        Endpoint::new(
            M::POST,
            "/v1/domains/{id}/verify",
            "verifyDomain",
            verify_now,
        )
        .summary("Read the domain's TXT record now")
        .auth(Auth::User(P::TunnelsWrite))
        .json::<Domain>(200),
        Endpoint::new(
            M::GET,
            "/v1/domains/{id}/events",
            "listDomainEvents",
            events,
        )
        .summary("What happened to a domain, newest first: verified, lost, certificates")
        .auth(Auth::User(P::TunnelsRead))
        .json::<DomainEventList>(200),
        Endpoint::new(
            M::GET,
            "/v1/domains/{id}/incidents",
            "listDomainIncidents",
            domain_incidents::list,
        )
        .summary("A domain's incidents, newest first: renewal failed, expiring, validation lost")
        .auth(Auth::User(P::TunnelsRead))
        .json::<fdt_api::DomainIncidentList>(200),
        Endpoint::new(
            M::POST,
            "/v1/domains/{id}/incidents/{n}/ack",
            "ackDomainIncident",
            domain_incidents::ack,
        )
        .summary("Acknowledge a domain incident")
        .auth(Auth::User(P::TunnelsWrite))
        .json::<fdt_api::DomainIncidentList>(200),
        Endpoint::new(
            M::POST,
            "/v1/domains/{id}/incidents/{n}/resolve",
            "resolveDomainIncident",
            domain_incidents::resolve,
        )
        .summary("Resolve a domain incident")
        .auth(Auth::User(P::TunnelsWrite))
        .json::<fdt_api::DomainIncidentList>(200),
        Endpoint::new(
            M::PUT,
            "/v1/domains/{id}/certificate",
            "uploadDomainCertificate",
            upload,
        )
        .summary("Serve this certificate for the domain (instead of ACME)")
        .auth(Auth::User(P::TunnelsWrite))
        .body_limit(MAX_UPLOAD_BYTES)
        .request::<UploadCertificate>()
        .json::<Domain>(200),
        Endpoint::new(M::GET, "/v1/relay/domains", "relayDomains", relay_domains)
            .summary("Every verified custom domain and its route, with a version")
            .auth(Auth::RelaySecret)
            .json::<RelayDomains>(200),
        Endpoint::new(
            M::GET,
            "/v1/relay/domains/{id}/certificate",
            "relayDomainCertificate",
            relay_certificate,
        )
        .summary("The newest certificate and key of a verified domain")
        .auth(Auth::RelaySecret)
        .json::<RelayCertificate>(200),
        Endpoint::new(
            M::GET,
            "/v1/relay/acme-challenge/{token}",
            "relayAcmeChallenge",
            relay_acme_challenge,
        )
        .summary("The answer to a pending ACME HTTP-01 challenge")
        .auth(Auth::RelaySecret)
        .json::<AcmeHttpChallenge>(200),
        Endpoint::new(
            M::GET,
            "/v1/relay/acme-tls-alpn/{domain}",
            "relayAcmeTlsAlpn",
            relay_acme_tls_alpn,
        )
        .summary("The challenge certificate for a pending ACME TLS-ALPN-01 challenge")
        .auth(Auth::RelaySecret)
        .json::<fdt_api::AcmeTlsAlpnCertificate>(200),
    ]
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Field { field, message } => Self::BadField {
                field: field.to_owned(),
                message,
            },
            e @ DomainError::LimitReached { .. } => Self::LimitExceeded {
                limit: limit::CUSTOM_DOMAINS,
                message: e.to_string(),
            },
            e @ DomainError::Duplicate(_) => Self::Conflict(e.to_string()),
            DomainError::NotFound => Self::NotFound,
            DomainError::AccountGone => Self::Unauthorized("account no longer exists"),
            DomainError::Store(e) => e.into(),
        }
    }
}

fn parse_id(id: &str) -> Result<DomainId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// The caller's domain `id` as the API shows it.
async fn one(st: &AppState, who: &Authenticated, id: &DomainId) -> Result<Domain, ApiError> {
    let r = st
        .store()
        .domain(&who.account_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let cert = st.store().latest_certificate(id).await?;
    Ok(domains::to_api(r, cert.as_ref()))
}

async fn audited(
    st: &AppState,
    who: &Authenticated,
    client: &Client,
    action: &str,
    target: &DomainId,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let (acc, by) = (who.account_id.to_string(), who.person.to_string());
    let a = audit::Action {
        scope: &acc,
        actor: &by,
        action,
        target: target.as_str(),
        detail,
    };
    audit::action(st, client, a).await?;
    st.events().publish(&who.account_id, Topic::Tunnels);
    Ok(())
}

/// `POST /v1/domains` → 201; 400 naming the field for a bad name, route or policy; 403
/// `limit_exceeded` past the plan's `custom_domains`; 409 when the account has the name.
async fn create(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiJson(req): ApiJson<CreateDomain>,
) -> Result<Response, ApiError> {
    let r = domains::create(&st, &who.account_id, &req).await?;
    tracing::info!(account = %who.account_id, domain = %r.domain, id = %r.id, "domain created");
    let detail = serde_json::json!({"domain": r.domain, "mode": r.mode.as_str()});
    audited(&st, &who, &client, "domain.create", &r.id, detail).await?;
    Ok((StatusCode::CREATED, Json(domains::to_api(r, None))).into_response())
}

/// `GET /v1/domains`.
async fn list(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<DomainList>, ApiError> {
    let rows = st.store().list_domains(&who.account_id).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let cert = st.store().latest_certificate(&r.id).await?;
        out.push(domains::to_api(r, cert.as_ref()));
    }
    Ok(Json(DomainList { domains: out }))
}

/// `GET /v1/domains/{id}`.
async fn get(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Domain>, ApiError> {
    one(&st, &who, &parse_id(&id)?).await.map(Json)
}

/// `GET /v1/domains/{id}/events` → newest first; 404 when not the caller's.
async fn events(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DomainEventList>, ApiError> {
    let id = parse_id(&id)?;
    st.store()
        .domain(&who.account_id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let events = st
        .store()
        .domain_events(&who.account_id, &id)
        .await?
        .into_iter()
        .map(|(at, kind, detail)| DomainEvent { at, kind, detail })
        .collect();
    Ok(Json(DomainEventList { events }))
}

/// `PATCH /v1/domains/{id}`.
async fn update(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateDomain>,
) -> Result<Json<Domain>, ApiError> {
    let id = parse_id(&id)?;
    let r = domains::update(&st, &who.account_id, &id, &req).await?;
    let detail =
        serde_json::json!({"mode": r.mode.as_str(), "route": r.route.as_ref().map(|x| &x.1)});
    audited(&st, &who, &client, "domain.update", &id, detail).await?;
    one(&st, &who, &id).await.map(Json)
}

/// `DELETE /v1/domains/{id}` → 204; relays drop it at their next poll.
async fn delete(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    if !st.store().delete_domain(&who.account_id, &id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(account = %who.account_id, %id, "domain deleted");
    audited(
        &st,
        &who,
        &client,
        "domain.delete",
        &id,
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/domains/{id}/verify` → the domain after reading its TXT record now.
async fn verify_now(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Domain>, ApiError> {
    let id = parse_id(&id)?;
    let r = st
        .store()
        .domain(&who.account_id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let resolver = domains::verify::resolver(st.domains())
        .map_err(|e| ApiError::internal("building the DNS resolver", &e))?;
    worker::check_one(&st, &resolver, &r).await?;
    one(&st, &who, &id).await.map(Json)
}

/// `PUT /v1/domains/{id}/certificate` → the domain with the uploaded certificate; 400 naming
/// `chain_pem` when the chain, key, name or dates do not fit.
async fn upload(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UploadCertificate>,
) -> Result<Json<Domain>, ApiError> {
    let id = parse_id(&id)?;
    let r = st
        .store()
        .domain(&who.account_id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let version =
        domains::install_certificate(&st, &r, &req.chain_pem, &req.key_pem, "upload").await?;
    audited(
        &st,
        &who,
        &client,
        "domain.certificate.upload",
        &id,
        serde_json::json!({"version": version}),
    )
    .await?;
    one(&st, &who, &id).await.map(Json)
}

/// `GET /v1/relay/domains[?known=<version>]`: with the current version, `unchanged` after
/// one read of the epoch (relays poll every two seconds; most polls change nothing).
async fn relay_domains(
    State(st): State<AppState>,
    _relay: RelayCaller,
    q: Result<Query<fdt_api::RelayDomainsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RelayDomains>, ApiError> {
    let q = q
        .map(|Query(q)| q)
        .map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    if let Some(known) = q.known {
        let epoch = st.store().domain_epoch().await?;
        if known == epoch {
            return Ok(Json(RelayDomains {
                version: epoch,
                unchanged: true,
                domains: Vec::new(),
            }));
        }
    }
    let (version, served) = st.store().served_domains().await?;
    let domains = served
        .into_iter()
        .map(|s| RelayDomain {
            id: s.record.id,
            domain: s.record.domain,
            account: s.record.account,
            mode: s.record.mode,
            target: s.target,
            failure: s.record.failure,
            cert_version: s.cert_version,
        })
        .collect();
    Ok(Json(RelayDomains {
        version,
        unchanged: false,
        domains,
    }))
}

/// `GET /v1/relay/domains/{id}/certificate` → 404 unless the domain is verified and has one.
async fn relay_certificate(
    State(st): State<AppState>,
    _relay: RelayCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RelayCertificate>, ApiError> {
    let id = parse_id(&id)?;
    let d = st
        .store()
        .domain_by_id(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if d.state != fdt_api::VerificationState::Verified {
        return Err(ApiError::NotFound);
    }
    let c = st
        .store()
        .latest_certificate(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let key = st
        .sealer()
        .open(&c.key_sealed, id.as_str().as_bytes())
        .map_err(|e| ApiError::internal("opening a sealed certificate key", &e))?;
    let key_pem = String::from_utf8(key)
        .map_err(|e| ApiError::internal("a sealed certificate key is not PEM", &e))?;
    Ok(Json(RelayCertificate {
        version: c.version,
        chain_pem: c.chain_pem,
        key_pem,
    }))
}

/// `GET /v1/relay/acme-challenge/{token}` → 404 unless a challenge with that token is pending.
async fn relay_acme_challenge(
    State(st): State<AppState>,
    _relay: RelayCaller,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<AcmeHttpChallenge>, ApiError> {
    // RFC 8555 tokens are base64url; anything else cannot be one of ours.
    if token.is_empty()
        || token.len() > 128
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::NotFound);
    }
    let (domain, key_authorization) = st
        .store()
        .http_challenge(&token, st.clock().now())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(AcmeHttpChallenge {
        domain,
        key_authorization,
    }))
}

/// `GET /v1/relay/acme-tls-alpn/{domain}` → a challenge certificate made now for the domain's
/// pending TLS-ALPN-01 challenge; 404 when there is none.
async fn relay_acme_tls_alpn(
    State(st): State<AppState>,
    _relay: RelayCaller,
    ApiPath(domain): ApiPath<String>,
) -> Result<Json<fdt_api::AcmeTlsAlpnCertificate>, ApiError> {
    let Ok(domain) = fdt_api::domains::normalize_domain(&domain) else {
        return Err(ApiError::NotFound);
    };
    let key_authorization = st
        .store()
        .tls_alpn_challenge(&domain, st.clock().now())
        .await?
        .ok_or(ApiError::NotFound)?;
    let (chain_pem, key_pem) = domains::certs::tls_alpn_certificate(&domain, &key_authorization)
        .map_err(|e| ApiError::internal("making a TLS-ALPN-01 certificate", &e))?;
    Ok(Json(fdt_api::AcmeTlsAlpnCertificate { chain_pem, key_pem }))
}
