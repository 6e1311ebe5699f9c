//! `/api/tunnels`: list, start, inspect and stop the agent's tunnels, in the shapes of ngrok's
//! agent API (`POST` → 201 with `public_url`, `GET /api/tunnels/{name}`, `DELETE` → 204), so
//! its clients (pyngrok, ngrok's SDK docs) work unchanged. Bad input gets 400 naming the field;
//! a name in use gets 409.

use super::ApiError;
use crate::agent::{AgentHandle, StartError, TunnelSetError};
use crate::config::{ConfigError, TunnelConfig};
use crate::status::{AgentStatus, TunnelStatus};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fdt_proto::{ErrorCode, Proto};
use ipnet::IpNet;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;
use std::time::Duration;

/// How long `POST /api/tunnels` waits for the relay to bind the new tunnel.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The `POST /api/tunnels` body: ngrok's fields (`name`, `proto`, `addr`, `subdomain`,
/// `auth`, `host_header`, `remote_addr`, …) and this agent's own config keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartTunnel {
    name: String,
    proto: Proto,
    #[serde(deserialize_with = "string_or_number")]
    addr: String,
    #[serde(default)]
    subdomain: Option<String>,
    /// ngrok's custom-domain field; custom domains are not served yet.
    #[serde(default)]
    hostname: Option<String>,
    /// ngrok v2's single `user:password`.
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    basic_auth: Vec<String>,
    #[serde(default)]
    host_header: Option<String>,
    /// ngrok's `host:port` of a reserved TCP address; only the port is used.
    #[serde(default)]
    remote_addr: Option<String>,
    #[serde(default)]
    remote_port: Option<u16>,
    #[serde(default)]
    cidr_allow: Vec<IpNet>,
    #[serde(default)]
    cidr_deny: Vec<IpNet>,
    #[serde(default)]
    request_header_add: Vec<String>,
    #[serde(default)]
    request_header_remove: Vec<String>,
    #[serde(default)]
    response_header_add: Vec<String>,
    #[serde(default)]
    response_header_remove: Vec<String>,
    #[serde(default)]
    upstream_insecure: bool,
    #[serde(default)]
    pooling_enabled: bool,
    #[serde(default)]
    log_bodies: bool,
    // ngrok options that change nothing here: inspection is per agent, every http tunnel is
    // served over HTTPS and HTTP, and metadata is not kept.
    #[serde(default, rename = "inspect")]
    _inspect: Option<IgnoredAny>,
    #[serde(default, rename = "bind_tls")]
    _bind_tls: Option<IgnoredAny>,
    #[serde(default, rename = "schemes")]
    _schemes: Option<IgnoredAny>,
    #[serde(default, rename = "metadata")]
    _metadata: Option<IgnoredAny>,
}

/// ngrok clients send `addr` as `"8080"` or as `8080`.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Addr {
        S(String),
        N(u64),
    }
    Addr::deserialize(d).map(|a| match a {
        Addr::S(s) => s,
        Addr::N(n) => n.to_string(),
    })
}

impl StartTunnel {
    /// The tunnel definition, checked by the same code as the config file's.
    fn into_config(self) -> Result<(String, TunnelConfig), ApiError> {
        if self.hostname.is_some() {
            return Err(ApiError::field(
                "hostname",
                "custom domains are not available yet; use subdomain",
            ));
        }
        let remote_from_addr = match &self.remote_addr {
            None => None,
            Some(a) => Some(
                a.rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                    .ok_or_else(|| {
                        ApiError::field("remote_addr", format!("{a:?} is not host:port"))
                    })?,
            ),
        };
        let mut basic_auth = self.basic_auth;
        basic_auth.extend(self.auth);
        let config = TunnelConfig {
            subdomain: self.subdomain,
            remote_port: self.remote_port.or(remote_from_addr),
            basic_auth,
            cidr_allow: self.cidr_allow,
            cidr_deny: self.cidr_deny,
            host_header: self.host_header,
            request_header_add: self.request_header_add,
            request_header_remove: self.request_header_remove,
            response_header_add: self.response_header_add,
            response_header_remove: self.response_header_remove,
            upstream_insecure: self.upstream_insecure,
            pooling_enabled: self.pooling_enabled,
            log_bodies: self.log_bodies,
            ..TunnelConfig::new(self.proto, self.addr)
        };
        Ok((self.name, config))
    }
}

/// One tunnel in ngrok's shape; `None` while it has no public URL.
pub(super) fn tunnel_json(t: &TunnelStatus) -> Option<serde_json::Value> {
    let url = t.public_url.as_deref()?;
    let proto = if t.proto == "http" && url.starts_with("https") {
        "https"
    } else {
        t.proto.as_str()
    };
    Some(json!({
        "name": t.name,
        "uri": format!("/api/tunnels/{}", urlencoding_path(&t.name)),
        "public_url": url,
        "proto": proto,
        "config": { "addr": t.addr },
    }))
}

/// Percent-encodes the characters of a tunnel name that a URL path cannot carry as is.
fn urlencoding_path(name: &str) -> String {
    form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The ngrok-shaped tunnel list: the tunnels with a public URL.
pub fn tunnels_json(s: &AgentStatus) -> serde_json::Value {
    let tunnels: Vec<_> = s.tunnels.iter().filter_map(tunnel_json).collect();
    json!({ "tunnels": tunnels, "uri": "/api/tunnels" })
}

pub(super) async fn list(State(agent): State<AgentHandle>) -> Json<serde_json::Value> {
    Json(tunnels_json(&agent.status.borrow()))
}

pub(super) async fn get_one(
    State(agent): State<AgentHandle>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = agent.status.borrow();
    s.tunnels
        .iter()
        .find(|t| t.name == name)
        .and_then(tunnel_json)
        .map(Json)
        .ok_or_else(|| not_found(&name))
}

pub(super) async fn start(
    State(agent): State<AgentHandle>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(&body);
    let req: StartTunnel = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let field = if path == "." {
            quoted_field(&message).unwrap_or_default()
        } else {
            path.clone()
        };
        let message = if path == "." {
            message
        } else {
            format!("{path}: {message}")
        };
        ApiError::field_owned(field, message)
    })?;
    let (name, config) = req.into_config()?;
    let resolved = config.resolve(&name).map_err(|e| match e {
        ConfigError::Invalid { field, message, .. } => ApiError::field(field, message),
        other => ApiError::bad_request(other.to_string()),
    })?;
    match agent.start_tunnel(resolved, START_TIMEOUT).await {
        Ok(t) => {
            let body = tunnel_json(&t).unwrap_or_else(|| json!({ "name": t.name }));
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Err(e) => Err(start_error(e)),
    }
}

pub(super) async fn stop(
    State(agent): State<AgentHandle>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if agent.is_managed(&name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "managed_tunnel",
            format!(
                "tunnel {name:?} is managed by the control plane: stop it there \
                 (POST /v1/tunnels/{{id}}/stop)"
            ),
        ));
    }
    if agent.stop_tunnel(&name) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&name))
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "tunnel_not_found",
        format!("no tunnel named {name:?}"),
    )
}

/// serde names a missing or unknown field in backquotes: "missing field `addr`".
fn quoted_field(message: &str) -> Option<String> {
    let (_, rest) = message.split_once('`')?;
    Some(rest.split_once('`')?.0.to_string())
}

fn start_error(e: StartError) -> ApiError {
    let message = e.to_string();
    match e {
        StartError::Set(TunnelSetError::NameInUse(_)) => {
            ApiError::new(StatusCode::CONFLICT, "name_in_use", message).with_field("name")
        }
        StartError::Set(TunnelSetError::TooMany) => {
            ApiError::new(StatusCode::CONFLICT, "too_many_tunnels", message)
        }
        StartError::NotSupported => {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "not_supported", message)
        }
        StartError::Refused { code, .. } => {
            let status = match code {
                ErrorCode::NameInUse | ErrorCode::PortUnavailable => StatusCode::CONFLICT,
                ErrorCode::NameNotAllowed | ErrorCode::LimitExceeded => StatusCode::FORBIDDEN,
                ErrorCode::InvalidName | ErrorCode::InvalidPolicy => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            };
            ApiError::new(status, code.as_str(), message)
        }
        StartError::Timeout(_) => {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "bind_timeout", message)
        }
        StartError::Stopped => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "agent_stopped", message)
        }
    }
}

#[cfg(test)]
mod tests;
