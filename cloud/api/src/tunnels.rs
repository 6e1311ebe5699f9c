//! `/v1/tunnels` (live tunnels, as relays report them) and `/v1/reserved-names` (subdomains and
//! TCP addresses an account keeps whether or not a tunnel is online).

use crate::ids::{AuthtokenId, ReservedNameId, TunnelId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The kind of traffic a tunnel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TunnelProto {
    /// HTTP(S), routed by host name.
    Http,
    /// TLS passed through, routed by SNI.
    Tls,
    /// Raw TCP on a port.
    Tcp,
}

impl TunnelProto {
    /// The name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tls => "tls",
            Self::Tcp => "tcp",
        }
    }

    /// Parses [`TunnelProto::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Http, Self::Tls, Self::Tcp]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A tunnel online now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TunnelInfo {
    /// Tunnel ID.
    pub id: TunnelId,
    /// Traffic kind.
    pub proto: TunnelProto,
    /// Public URL (`https://name.example.com`, `tcp://host:port`).
    pub public_url: String,
    /// The subdomain (http, tls) or `port` (tcp) it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// The public port (tcp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Whether it shares its name with other tunnels of the account (load-balanced).
    pub pooling: bool,
    /// Relay serving it.
    pub relay_id: String,
    /// Region of that relay.
    pub region: String,
    /// Agent software version.
    pub agent_version: String,
    /// The authtoken its agent used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authtoken_id: Option<AuthtokenId>,
    /// Online since.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub started_at: OffsetDateTime,
}

/// `GET /v1/tunnels`: the caller's tunnels online now, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TunnelList {
    /// The tunnels.
    pub tunnels: Vec<TunnelInfo>,
}

/// What a reservation keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReservedKind {
    /// A subdomain of the base domain, for http and tls tunnels.
    Subdomain,
    /// A TCP port in a region, for tcp tunnels.
    TcpAddress,
}

/// `POST /v1/reserved-names`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateReservedName {
    /// What to reserve.
    pub kind: ReservedKind,
    /// With `subdomain`: the DNS label (`a-z`, `0-9`, `-`, at most 63).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// With `tcp_address`: the region whose relays will serve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `PATCH /v1/reserved-names/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateReservedName {
    /// New description; an empty string clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A reserved name, with the tunnels online on it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReservedName {
    /// Reservation ID.
    pub id: ReservedNameId,
    /// What it keeps.
    pub kind: ReservedKind,
    /// The subdomain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// The region of a TCP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The port of a TCP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When it was reserved.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub created_at: OffsetDateTime,
    /// Tunnels online on this name now (empty: offline).
    pub tunnels: Vec<TunnelInfo>,
}

/// `GET /v1/reserved-names`: the caller's reservations, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReservedNameList {
    /// The reservations.
    pub reserved_names: Vec<ReservedName>,
}
