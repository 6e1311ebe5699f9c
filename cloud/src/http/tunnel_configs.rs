//! Cloud-managed tunnels: `/v1/tunnel-configs` (create, list, get, replace, delete),
//! `/v1/tunnels/{id}/start` and `/stop` (flip a definition's `enabled`), always within the
//! caller's account; and for relays, `/v1/relay/tunnel-configs` (an account's definitions, to
//! push to its managed agents) and `/v1/relay/tunnel-config-changes` (the feed that says whose
//! changed).
//!
//! A definition is checked by the agent's own config code (`TunnelConfig::resolve`) and the
//! relay's policy compiler, so what is saved here binds there. Basic-auth passwords are kept
//! only as the SHA-256 digest the edge compares (`user:{sha256}<hex>`).

use super::extract::{ApiJson, ApiPath, Authenticated, RelayCaller};
use crate::error::ApiError;
use crate::events::Topic;
use crate::random::new_tunnel_config_id;
use crate::state::AppState;
use crate::store::{ConfigWrite, NewTunnelConfig, TunnelConfigRecord};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fdt_agent_core::config::{ConfigError, TunnelConfig as AgentTunnelConfig};
use fdt_api::validate::check_label;
use fdt_api::{
    MAX_DEFINITION_BYTES, MAX_TUNNEL_CONFIGS, RelayTunnelConfig, RelayTunnelConfigs,
    RelayTunnelConfigsQuery, TunnelConfig, TunnelConfigChanges, TunnelConfigChangesQuery,
    TunnelConfigId, TunnelConfigList, TunnelConfigRequest, TunnelDefinition,
};
use fdt_relay::edge::policy::PREHASHED_PREFIX;
use sha2::{Digest, Sha256};

/// Most feed entries one answer reads; a relay that gets a full page asks again at once.
pub const MAX_CHANGES_PER_PAGE: i64 = 1_000;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::InvalidField {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks a request as the agent will read it, and returns the definition to store: with its
/// basic-auth passwords replaced by their digests.
fn check(req: &TunnelConfigRequest) -> Result<TunnelDefinition, ApiError> {
    let size = serde_json::to_vec(&req.definition).map_or(usize::MAX, |v| v.len());
    if size > MAX_DEFINITION_BYTES {
        return Err(invalid(
            "definition",
            format!("a definition has at most {MAX_DEFINITION_BYTES} bytes of JSON"),
        ));
    }
    if let Some(sub) = &req.definition.subdomain {
        check_label("subdomain", sub)
            .map_err(|e| invalid("definition.subdomain", e.to_string()))?;
    }
    // The agent's own reading: the same keys (its parser refuses unknown ones) and rules.
    let as_agent: AgentTunnelConfig = serde_json::to_value(&req.definition)
        .and_then(serde_json::from_value)
        .map_err(|e| invalid("definition", e.to_string()))?;
    let resolved = as_agent.resolve(&req.name).map_err(|e| match e {
        ConfigError::Invalid {
            field: "name",
            message,
            ..
        } => invalid("name", message),
        ConfigError::Invalid { field, message, .. } => {
            invalid(format!("definition.{field}"), message)
        }
        other => invalid("definition", other.to_string()),
    })?;
    fdt_relay::check_edge_policy(&resolved.spec.policy)
        .map_err(|e| invalid("definition", e.to_string()))?;
    let mut definition = req.definition.clone();
    for cred in &mut definition.basic_auth {
        if let Some((user, pass)) = cred.split_once(':')
            && !pass.starts_with(PREHASHED_PREFIX)
        {
            let hex: String = Sha256::digest(cred.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            *cred = format!("{user}:{PREHASHED_PREFIX}{hex}");
        }
    }
    Ok(definition)
}

fn to_api(r: TunnelConfigRecord) -> TunnelConfig {
    TunnelConfig {
        id: r.id,
        name: r.name,
        enabled: r.enabled,
        definition: r.definition,
        revision: r.revision,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn parse_id(id: &str) -> Result<TunnelConfigId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// The answer to a write, and the change event for the account's pages.
fn written(
    st: &AppState,
    who: &Authenticated,
    w: ConfigWrite,
    name: &str,
) -> Result<TunnelConfig, ApiError> {
    match w {
        ConfigWrite::Done(r) => {
            st.events().publish(&who.account_id, Topic::Tunnels);
            Ok(to_api(*r))
        }
        ConfigWrite::NameTaken => Err(ApiError::NameInUse(format!(
            "a tunnel config named {name:?} exists already"
        ))),
        ConfigWrite::LimitReached => Err(ApiError::LimitExceeded {
            limit: "tunnel_configs",
            message: format!("an account keeps at most {MAX_TUNNEL_CONFIGS} tunnel configs"),
        }),
        ConfigWrite::NotFound => Err(ApiError::NotFound),
    }
}

/// `POST /v1/tunnel-configs` → 201 with the definition; 422 naming the field at fault, 409
/// when the name is taken in the account, 403 past [`MAX_TUNNEL_CONFIGS`].
pub async fn create(
    State(st): State<AppState>,
    who: Authenticated,
    ApiJson(req): ApiJson<TunnelConfigRequest>,
) -> Result<Response, ApiError> {
    let definition = check(&req)?;
    let new = NewTunnelConfig {
        name: &req.name,
        enabled: req.enabled,
        definition: &definition,
    };
    let w = st
        .store()
        .create_tunnel_config(
            &new_tunnel_config_id(),
            &who.account_id,
            &new,
            MAX_TUNNEL_CONFIGS,
            st.clock().now(),
        )
        .await?;
    let created = written(&st, &who, w, &req.name)?;
    tracing::info!(account = %who.account_id, config = %created.id, "tunnel config created");
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `GET /v1/tunnel-configs` → the caller's definitions by name.
pub async fn list(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<TunnelConfigList>, ApiError> {
    let (_, records) = st.store().tunnel_configs(&who.account_id).await?;
    Ok(Json(TunnelConfigList {
        tunnel_configs: records.into_iter().map(to_api).collect(),
    }))
}

/// `GET /v1/tunnel-configs/{id}` → one definition; 404 when not the caller's.
pub async fn get(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TunnelConfig>, ApiError> {
    let id = parse_id(&id)?;
    st.store()
        .tunnel_config(&who.account_id, &id)
        .await?
        .map(|r| Json(to_api(r)))
        .ok_or(ApiError::NotFound)
}

/// `PUT /v1/tunnel-configs/{id}` → the replaced definition; agents apply it live.
pub async fn replace(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<TunnelConfigRequest>,
) -> Result<Json<TunnelConfig>, ApiError> {
    let id = parse_id(&id)?;
    let definition = check(&req)?;
    let new = NewTunnelConfig {
        name: &req.name,
        enabled: req.enabled,
        definition: &definition,
    };
    let w = st
        .store()
        .replace_tunnel_config(&id, &who.account_id, &new, st.clock().now())
        .await?;
    written(&st, &who, w, &req.name).map(Json)
}

/// `DELETE /v1/tunnel-configs/{id}` → 204; agents stop the tunnel.
pub async fn delete(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    if st
        .store()
        .delete_tunnel_config(&id, &who.account_id, st.clock().now())
        .await?
    {
        tracing::info!(account = %who.account_id, config = %id, "tunnel config deleted");
        st.events().publish(&who.account_id, Topic::Tunnels);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

async fn set_enabled(
    st: &AppState,
    who: &Authenticated,
    id: &str,
    enabled: bool,
) -> Result<Json<TunnelConfig>, ApiError> {
    let id = parse_id(id)?;
    let w = st
        .store()
        .set_tunnel_config_enabled(&id, &who.account_id, enabled, st.clock().now())
        .await?;
    written(st, who, w, "").map(Json)
}

/// `POST /v1/tunnels/{id}/start` (a tunnel config's ID) → the definition, enabled: the
/// account's managed agents bind it.
pub async fn start(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TunnelConfig>, ApiError> {
    set_enabled(&st, &who, &id, true).await
}

/// `POST /v1/tunnels/{id}/stop` (a tunnel config's ID) → the definition, disabled: the
/// account's managed agents release it.
pub async fn stop(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TunnelConfig>, ApiError> {
    set_enabled(&st, &who, &id, false).await
}

/// `GET /v1/relay/tunnel-configs?account_id=…` → the account's definitions, whole, and their
/// version; 401 unless a relay secret is presented.
pub async fn for_relay(
    State(st): State<AppState>,
    _relay: RelayCaller,
    query: Result<Query<RelayTunnelConfigsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RelayTunnelConfigs>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let (version, records) = st.store().tunnel_configs(&q.account_id).await?;
    Ok(Json(RelayTunnelConfigs {
        version,
        tunnel_configs: records
            .into_iter()
            .map(|r| RelayTunnelConfig {
                id: r.id,
                name: r.name,
                enabled: r.enabled,
                definition: r.definition,
            })
            .collect(),
    }))
}

/// `GET /v1/relay/tunnel-config-changes?after=<cursor>` → the accounts whose definitions
/// changed after the cursor, and the cursor to pass next.
pub async fn changes(
    State(st): State<AppState>,
    _relay: RelayCaller,
    query: Result<Query<TunnelConfigChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TunnelConfigChanges>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let (accounts, cursor) = st
        .store()
        .tunnel_config_changes_after(q.after.max(0), MAX_CHANGES_PER_PAGE)
        .await?;
    Ok(Json(TunnelConfigChanges { accounts, cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdt_api::TunnelProto;

    fn request(definition: TunnelDefinition) -> TunnelConfigRequest {
        TunnelConfigRequest {
            name: "web".into(),
            enabled: true,
            definition,
        }
    }

    /// Every key of the API's definition is a key of the agent's config: a fully set
    /// definition must read as an agent config (whose parser refuses unknown keys).
    #[test]
    fn the_definition_has_the_agent_configs_keys() {
        let full = TunnelDefinition {
            proto: TunnelProto::Http,
            addr: "https://localhost:8443".into(),
            subdomain: Some("web".into()),
            remote_port: Some(1),
            basic_auth: vec!["a:b".into()],
            cidr_allow: vec!["10.0.0.0/8".into()],
            cidr_deny: vec!["10.1.0.0/16".into()],
            host_header: Some("rewrite".into()),
            request_header_add: vec!["X-A: 1".into()],
            request_header_remove: vec!["X-B".into()],
            response_header_add: vec!["X-C: 2".into()],
            response_header_remove: vec!["X-D".into()],
            upstream_insecure: true,
            pooling_enabled: true,
            log_bodies: true,
        };
        let parsed: Result<AgentTunnelConfig, _> =
            serde_json::to_value(&full).and_then(serde_json::from_value);
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn bad_definitions_name_the_field_and_passwords_are_stored_as_digests() {
        let field_of = |d: TunnelDefinition| match check(&request(d)) {
            Err(ApiError::InvalidField { field, .. }) => field,
            other => format!("not refused: {other:?}"),
        };
        let mut d = TunnelDefinition::new(TunnelProto::Http, "0");
        assert_eq!(field_of(d.clone()), "definition.addr");
        d.addr = "8080".into();
        d.cidr_allow = vec!["10.0.0.300/8".into()];
        assert_eq!(field_of(d.clone()), "definition");
        d.cidr_allow.clear();
        d.subdomain = Some("Not A Label".into());
        assert_eq!(field_of(d.clone()), "definition.subdomain");
        d.subdomain = None;
        d.request_header_add = vec!["Host: evil".into()];
        assert_eq!(field_of(d.clone()), "definition");
        d.request_header_add.clear();
        let mut tcp = TunnelDefinition::new(TunnelProto::Tcp, "22");
        tcp.remote_port = Some(0);
        assert_eq!(field_of(tcp), "definition.remote_port");
        let mut long = request(d.clone());
        long.name = "n".repeat(200);
        assert!(
            matches!(check(&long), Err(ApiError::InvalidField { field, .. }) if field == "name")
        );

        d.basic_auth = vec!["alice:s3cret".into()];
        let stored = check(&request(d.clone())).map(|d| d.basic_auth);
        let Ok([cred]) = stored.as_deref() else {
            panic!("{stored:?}");
        };
        assert!(cred.starts_with("alice:{sha256}"), "{cred}");
        assert!(!cred.contains("s3cret"));
        // Saving what GET showed keeps the digest as it is.
        d.basic_auth = vec![cred.clone()];
        assert_eq!(
            check(&request(d)).ok().map(|d| d.basic_auth),
            Some(vec![cred.clone()])
        );
    }
}
