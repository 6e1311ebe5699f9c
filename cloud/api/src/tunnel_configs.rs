//! `/v1/tunnel-configs`: cloud-managed tunnels, like cloudflared's remotely managed tunnels.
//! A definition lives in the control plane; every agent of the account started with
//! `fdt start --managed` (and the signed-in desktop app) receives the definitions over its
//! relay session and runs the enabled ones, applying each change live.
//!
//! The relay side, `/v1/relay/tunnel-configs` and `/v1/relay/tunnel-config-changes`, is how
//! relays learn what to push.

use crate::ids::{AccountId, TunnelConfigId};
use crate::tunnels::TunnelProto;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Most tunnel definitions one account keeps.
pub const MAX_TUNNEL_CONFIGS: usize = 100;

/// Largest definition, in bytes of its JSON form: it travels to agents inside one control
/// frame part (see `fdt_proto`'s `DEFINITIONS_PART_BYTES`).
pub const MAX_DEFINITION_BYTES: usize = 8 * 1024;

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a tunnel exposes and how: the keys of an `fdt.toml` `[tunnels.NAME]` table, checked by
/// the same code as the agent's own config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TunnelDefinition {
    /// Traffic kind.
    pub proto: TunnelProto,
    /// Local address on the agent's machine: a port (`8000`), `host:port`, or for http a URL
    /// (`https://localhost:8443`).
    pub addr: String,
    /// Requested subdomain (http, tls); the account must hold it, or it must be free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// Requested public port (tcp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_port: Option<u16>,
    /// `user:password` pairs visitors must present (http).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub basic_auth: Vec<String>,
    /// Only visitors from these networks get in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidr_allow: Vec<String>,
    /// Visitors from these networks are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidr_deny: Vec<String>,
    /// `rewrite` (the local address), a literal host, or absent (keep the visitor's) (http).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_header: Option<String>,
    /// `Name: value` headers added to requests (http).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_header_add: Vec<String>,
    /// Header names removed from requests (http).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_header_remove: Vec<String>,
    /// `Name: value` headers added to responses (http).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_header_add: Vec<String>,
    /// Header names removed from responses (http).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_header_remove: Vec<String>,
    /// Skip certificate checks of an `https://` local address.
    #[serde(default, skip_serializing_if = "is_false")]
    pub upstream_insecure: bool,
    /// Share the subdomain with the account's other agents that pool it (http, tls).
    #[serde(default, skip_serializing_if = "is_false")]
    pub pooling_enabled: bool,
    /// Keep request and response bodies in the traffic log (when the plan allows it).
    #[serde(default, skip_serializing_if = "is_false")]
    pub log_bodies: bool,
}

impl TunnelDefinition {
    /// A minimal definition of `proto` to `addr`.
    pub fn new(proto: TunnelProto, addr: impl Into<String>) -> Self {
        Self {
            proto,
            addr: addr.into(),
            subdomain: None,
            remote_port: None,
            basic_auth: Vec::new(),
            cidr_allow: Vec::new(),
            cidr_deny: Vec::new(),
            host_header: None,
            request_header_add: Vec::new(),
            request_header_remove: Vec::new(),
            response_header_add: Vec::new(),
            response_header_remove: Vec::new(),
            upstream_insecure: false,
            pooling_enabled: false,
            log_bodies: false,
        }
    }
}

fn yes() -> bool {
    true
}

/// `POST /v1/tunnel-configs` and `PUT /v1/tunnel-configs/{id}` (a whole replacement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TunnelConfigRequest {
    /// Name, unique in the account: 1–64 ASCII letters, digits and ` -_.:()`.
    pub name: String,
    /// Whether agents run it (default true); `/v1/tunnels/{id}/start` and `/stop` flip it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What it exposes.
    pub definition: TunnelDefinition,
}

/// A cloud-managed tunnel definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TunnelConfig {
    /// ID.
    pub id: TunnelConfigId,
    /// Name, unique in the account.
    pub name: String,
    /// Whether agents run it.
    pub enabled: bool,
    /// What it exposes. Basic-auth passwords are not shown: each entry reads `user:***`.
    pub definition: TunnelDefinition,
    /// Increases with every change.
    pub revision: i64,
    /// Created at.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub created_at: OffsetDateTime,
    /// Last changed at.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub updated_at: OffsetDateTime,
}

/// `GET /v1/tunnel-configs`: the account's definitions by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TunnelConfigList {
    /// The definitions.
    pub tunnel_configs: Vec<TunnelConfig>,
}

/// `GET /v1/relay/tunnel-configs?account_id=…`: the query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RelayTunnelConfigsQuery {
    /// The account whose managed agents the relay serves.
    pub account_id: AccountId,
}

/// One definition as relays push it: with its secrets, which agents and relays need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RelayTunnelConfig {
    /// ID.
    pub id: TunnelConfigId,
    /// Name.
    pub name: String,
    /// Whether agents run it.
    pub enabled: bool,
    /// The definition, whole.
    pub definition: TunnelDefinition,
}

/// `GET /v1/relay/tunnel-configs`: an account's definitions and their version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RelayTunnelConfigs {
    /// Increases with every change of the account's definitions (0: never defined any).
    pub version: i64,
    /// The definitions by name.
    pub tunnel_configs: Vec<RelayTunnelConfig>,
}

/// `GET /v1/relay/tunnel-config-changes?after=<cursor>`: the query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TunnelConfigChangesQuery {
    /// The `cursor` of the previous answer; 0 (or absent) for the whole feed.
    #[serde(default)]
    pub after: i64,
}

/// `GET /v1/relay/tunnel-config-changes`: accounts whose definitions changed after the cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TunnelConfigChanges {
    /// The accounts, each once; a relay refetches the definitions of those it serves.
    pub accounts: Vec<AccountId>,
    /// Pass as `after` next time.
    pub cursor: i64,
}
