//! Setting an organisation's single sign-on provider: `PUT /v1/sso` (`identity:write`),
//! `GET /v1/sso` (`members:read`; the client secret is never shown), `DELETE /v1/sso`.

use super::extract::{ApiJson, Authenticated, Client};
use super::orgs::{acting_org, audited};
use crate::error::ApiError;
use crate::scim::provision::check_role_map;
use crate::sso::client_secret;
use crate::sso::provider::check_url;
use crate::sso::signin::provider;
use crate::sso::{CALLBACK_PATH, START_PATH};
use crate::state::AppState;
use crate::store::{SsoConfigRow, role_name};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use fdt_api::{SsoConfig, SsoConfigRequest};
use serde_json::json;
use std::collections::BTreeMap;

/// The most allowed email domains.
const MAX_DOMAINS: usize = 50;

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::InvalidField {
        field: field.into(),
        message: message.into(),
    }
}

fn plain(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("1 to {max} bytes, no control characters"),
        ));
    }
    Ok(())
}

/// A domain as an email's part after `@`: lowercase letters, digits, `-` and dots.
fn check_domain(d: &str) -> bool {
    d.len() <= 253
        && d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && d.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

fn view(
    st: &AppState,
    headers: &HeaderMap,
    org: &fdt_api::OrgId,
    p: crate::sso::signin::Provider,
) -> SsoConfig {
    let base = super::device::console_base(st, headers);
    SsoConfig {
        issuer: p.row.issuer,
        client_id: p.row.client_id,
        has_client_secret: p.row.client_secret.is_some(),
        allowed_domains: p.domains,
        groups_claim: p.row.groups_claim,
        group_roles: p.group_roles,
        default_role: p.default_role,
        login_url: format!("{base}{START_PATH}?org={org}"),
        redirect_uri: format!("{base}{CALLBACK_PATH}"),
    }
}

/// `GET /v1/sso` → the provider, or 404 when none is set.
pub async fn get(
    State(st): State<AppState>,
    who: Authenticated,
    headers: HeaderMap,
) -> Result<Json<SsoConfig>, ApiError> {
    let org = acting_org(&who);
    match provider(&st, &org).await {
        Ok(p) => Ok(Json(view(&st, &headers, &org, p))),
        Err(crate::sso::signin::SsoError::NotConfigured) => Err(ApiError::NotFound),
        Err(e) => Err(ApiError::internal("sso config", &e)),
    }
}

/// `PUT /v1/sso` → the provider as set. The issuer's discovery document is read first, so a
/// wrong issuer is refused here rather than at the first sign-in. Without `client_secret` the
/// stored one is kept; an empty one removes it (a public client).
pub async fn put(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SsoConfigRequest>,
) -> Result<Json<SsoConfig>, ApiError> {
    let org = acting_org(&who);
    let insecure = st.sso().allow_insecure_issuers;
    let issuer = req.issuer.trim().trim_end_matches('/').to_owned();
    check_url(&issuer, insecure).map_err(|e| invalid("issuer", e.to_string()))?;
    plain("client_id", &req.client_id, 256)?;
    plain("groups_claim", &req.groups_claim, 64)?;
    if let Some(s) = req.client_secret.as_deref().filter(|s| !s.is_empty()) {
        plain("client_secret", s, 512)?;
    }
    let domains: Vec<String> = req
        .allowed_domains
        .iter()
        .map(|d| d.trim().trim_start_matches('@').to_lowercase())
        .collect();
    if domains.is_empty() || domains.len() > MAX_DOMAINS || !domains.iter().all(|d| check_domain(d))
    {
        return Err(invalid(
            "allowed_domains",
            format!("1 to {MAX_DOMAINS} domains like corp.example.com"),
        ));
    }
    check_role_map(req.default_role, &req.group_roles).map_err(|m| invalid("group_roles", m))?;
    st.sso_providers()
        .get(&issuer, insecure, true)
        .await
        .map_err(|e| invalid("issuer", format!("its discovery document: {e}")))?;
    // The secret is sealed at rest; one kept from before is opened and sealed again (a row
    // written before sealing gets sealed now).
    let plain = match req.client_secret {
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s),
        None => match st
            .store()
            .sso_config(&org)
            .await?
            .and_then(|c| c.client_secret)
        {
            Some(stored) => Some(
                client_secret::open(st.sealer(), &org, &stored)
                    .map_err(|e| ApiError::internal("opening the stored client secret", &e))?,
            ),
            None => None,
        },
    };
    let kept = plain
        .map(|p| client_secret::seal(st.sealer(), &org, &p))
        .transpose()
        .map_err(|e| ApiError::internal("sealing the client secret", &e))?;
    let roles: BTreeMap<&str, String> = req
        .group_roles
        .iter()
        .map(|(g, r)| (g.as_str(), role_name(*r)))
        .collect();
    let row = SsoConfigRow {
        issuer: issuer.clone(),
        client_id: req.client_id.clone(),
        client_secret: kept,
        allowed_domains: serde_json::to_string(&domains).unwrap_or_default(),
        groups_claim: req.groups_claim.clone(),
        group_roles: serde_json::to_string(&roles).unwrap_or_default(),
        default_role: role_name(req.default_role),
    };
    st.store()
        .set_sso_config(&org, &row, st.clock().now())
        .await?;
    audited(
        &st,
        &client,
        &who,
        "sso.config.update",
        org.as_str(),
        json!({"issuer": issuer, "client_id": req.client_id, "allowed_domains": domains}),
    )
    .await?;
    get(State(st), who, headers).await
}

/// `DELETE /v1/sso` → 204; members sign in with passwords again (accounts made by the
/// provider have none: an owner invites or resets them).
pub async fn delete(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
) -> Result<StatusCode, ApiError> {
    let org = acting_org(&who);
    if !st.store().delete_sso_config(&org).await? {
        return Err(ApiError::NotFound);
    }
    audited(
        &st,
        &client,
        &who,
        "sso.config.delete",
        org.as_str(),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
