//! Typed control messages exchanged on the control stream.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Relay-assigned identifier of a bound tunnel, unique within one relay process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TunnelId(pub u64);

impl fmt::Display for TunnelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

/// The kind of traffic a tunnel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// HTTP(S) terminated at the relay, routed per request by Host.
    Http,
    /// Raw TCP on a public port.
    Tcp,
    /// TLS passed through untouched, routed by the ClientHello's SNI.
    Tls,
}

impl Proto {
    /// Lower-case name as used in URLs and the agent API (`http`, `tcp`, `tls`).
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Tcp => "tcp",
            Proto::Tls => "tls",
        }
    }
}

/// Header rules applied at the edge to requests or responses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeaderRules {
    /// Headers added (appended) as `(name, value)`.
    pub add: Vec<(String, String)>,
    /// Header names removed (case-insensitive).
    pub remove: Vec<String>,
}

impl HeaderRules {
    /// True when the rules change nothing.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Edge policy the relay enforces for one tunnel before traffic reaches the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EdgePolicy {
    /// Accepted `user:password` pairs for HTTP basic auth; empty disables basic auth.
    pub basic_auth: Vec<String>,
    /// If non-empty, only visitors whose socket address is in one of these networks get in.
    pub cidr_allow: Vec<IpNet>,
    /// Visitors whose socket address is in one of these networks are refused.
    pub cidr_deny: Vec<IpNet>,
    /// Rules applied to requests before they go to the agent.
    pub request_headers: HeaderRules,
    /// Rules applied to responses before they go to the visitor.
    pub response_headers: HeaderRules,
    /// If set, the Host header forwarded upstream is replaced by this value.
    pub host_header: Option<String>,
}

/// What an agent asks the relay to expose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelSpec {
    /// The agent's own label for the tunnel (e.g. the name in `fdt.toml`).
    pub name: String,
    /// Traffic kind.
    pub proto: Proto,
    /// Requested subdomain for `http`/`tls`; the relay picks one if absent.
    #[serde(default)]
    pub subdomain: Option<String>,
    /// Requested public port for `tcp`; the relay allocates one if absent.
    #[serde(default)]
    pub remote_port: Option<u16>,
    /// Edge policy.
    #[serde(default)]
    pub policy: EdgePolicy,
    /// Both this bind and every live binding of the name asked for pooling: visitors are
    /// balanced across them.
    #[serde(default)]
    pub pooling: bool,
    /// Keep request and response bodies in the cloud traffic log (when the plan allows it);
    /// metadata is logged either way.
    #[serde(default)]
    pub log_bodies: bool,
}

/// Stable error codes. The string form is part of the protocol and never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The agent token is missing, malformed, expired, for another audience or badly signed.
    AuthFailed,
    /// The agent speaks a protocol version the relay does not.
    UnsupportedVersion,
    /// A message arrived that is not valid in the current session state.
    ProtocolViolation,
    /// The requested subdomain or port is held by another session.
    NameInUse,
    /// The token does not allow binding the requested name.
    NameNotAllowed,
    /// The requested subdomain is not a valid DNS label.
    InvalidName,
    /// The edge policy in a bind is invalid (bad CIDR, header or credentials).
    InvalidPolicy,
    /// The requested port is outside the relay's range or could not be bound.
    PortUnavailable,
    /// A per-session or per-relay limit was reached (the message names it).
    LimitExceeded,
    /// The relay failed internally.
    Internal,
    /// The agent did not answer heartbeats in time.
    Timeout,
    /// The credentials behind this session were revoked.
    Revoked,
    /// A service the relay depends on (the control plane) could not be reached; retry later.
    Unavailable,
    /// A code added by a newer peer; treated as a generic failure.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code, for exhaustive tests and documentation.
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::AuthFailed,
        ErrorCode::UnsupportedVersion,
        ErrorCode::ProtocolViolation,
        ErrorCode::NameInUse,
        ErrorCode::NameNotAllowed,
        ErrorCode::InvalidName,
        ErrorCode::InvalidPolicy,
        ErrorCode::PortUnavailable,
        ErrorCode::LimitExceeded,
        ErrorCode::Internal,
        ErrorCode::Timeout,
        ErrorCode::Revoked,
        ErrorCode::Unavailable,
        ErrorCode::Unknown,
    ];

    /// The stable wire name (`auth_failed`, `name_in_use`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::ProtocolViolation => "protocol_violation",
            ErrorCode::NameInUse => "name_in_use",
            ErrorCode::NameNotAllowed => "name_not_allowed",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::InvalidPolicy => "invalid_policy",
            ErrorCode::PortUnavailable => "port_unavailable",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::Internal => "internal",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Revoked => "revoked",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Unknown => "unknown",
        }
    }

    /// Whether reconnecting with the same credentials might succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Internal
                | ErrorCode::Timeout
                | ErrorCode::Unknown
                | ErrorCode::NameInUse
                | ErrorCode::Unavailable
        )
    }
}

/// An error with a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({})", code.as_str())]
pub struct ProtoError {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

impl ProtoError {
    /// Builds an error from a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// The highest [`ClientMessage::Hello`] `ha_replica`: an agent keeps two sessions at most.
pub const MAX_HA_REPLICA: u8 = 1;

/// Whether `group` is a well-formed [`ClientMessage::Hello`] `ha_group`: 8 to 32 ASCII
/// letters and digits.
pub fn valid_ha_group(group: &str) -> bool {
    (8..=32).contains(&group.len()) && group.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Agent → relay control messages.
#[allow(
    clippy::large_enum_variant,
    reason = "low-rate control traffic; boxing the spec would only churn the public API"
)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Opens the session: protocol version, agent token and agent software version.
    Hello {
        /// Protocol version spoken by the agent.
        version: u16,
        /// Signed agent token (JWT).
        token: String,
        /// Agent software, e.g. `fdt/0.1.0`.
        agent: String,
        /// The agent runs its account's cloud-managed tunnels: the relay pushes their
        /// definitions ([`ServerMessage::TunnelDefinitions`]) now and after every change.
        /// Absent (false) from agents that predate it, and ignored by relays that do.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        managed: bool,
        /// The agent keeps this session and another on a second relay, binding the same
        /// tunnels on both (high availability): the group both sessions share, so the
        /// control plane lets their bindings coexist instead of one taking the names over.
        /// 8 to 32 ASCII letters and digits ([`valid_ha_group`]). Absent from agents with one
        /// session, and from those that predate it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ha_group: Option<String>,
        /// Which of the two sessions this is: 0 (the primary) or 1 (the standby).
        #[serde(default, skip_serializing_if = "is_zero")]
        ha_replica: u8,
    },
    /// Asks for a tunnel; answered by `Bound` or `BindFailed` carrying the same `req`.
    Bind {
        /// Request id chosen by the agent, echoed in the answer.
        req: u32,
        /// What to expose.
        spec: TunnelSpec,
    },
    /// Releases a tunnel.
    Unbind {
        /// The tunnel to release.
        tunnel: TunnelId,
    },
    /// Liveness probe; answered by `HeartbeatAck` with the same `seq`.
    Heartbeat {
        /// Sequence number.
        seq: u64,
    },
    /// The outcome of a `Replay` (sent once per job, even if the job arrived twice).
    ReplayResult {
        /// The job.
        job: String,
        /// Status the local service answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// Why it was not replayed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// A request the agent is asked to send again to a tunnel's local service (a replay queued in
/// the cloud). The agent sends it to that tunnel's configured upstream only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaySpec {
    /// Method.
    pub method: String,
    /// Origin-form path and query.
    pub path: String,
    /// Headers.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Body, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// One cloud-managed tunnel as the control plane defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedTunnel {
    /// The definition's ID in the control plane (`tcf_…`).
    pub id: String,
    /// The tunnel's name (unique per account).
    pub name: String,
    /// Whether it should run now (`/v1/tunnels/{id}/start` and `/stop`).
    pub enabled: bool,
    /// The definition: the keys of an `fdt.toml` `[tunnels.NAME]` table as a JSON object,
    /// checked by the control plane with the agent's own code, and read by the agent the same
    /// way. A JSON object rather than typed fields so that both ends share one definition of
    /// the keys (the agent's config) instead of a third copy here.
    pub config: serde_json::Map<String, serde_json::Value>,
}

/// Most managed tunnels one push carries in total (over all its parts).
pub const MAX_MANAGED_TUNNELS: usize = 256;

/// Relay → agent control messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The agent is authenticated; the session is ready for binds.
    Welcome {
        /// Relay-assigned session id (for logs).
        session: String,
        /// How often the agent should send heartbeats, in milliseconds.
        heartbeat_ms: u32,
        /// Most concurrent data streams the relay will open on this session.
        max_streams: u32,
    },
    /// A tunnel is bound and public.
    Bound {
        /// The `req` of the `Bind` this answers.
        req: u32,
        /// Relay-assigned tunnel id, used in stream headers.
        tunnel: TunnelId,
        /// Public URL (`https://name.domain`, `tcp://host:port`, `tls://name.domain`).
        public_url: String,
    },
    /// A bind was refused.
    BindFailed {
        /// The `req` of the `Bind` this answers.
        req: u32,
        /// Why.
        error: ProtoError,
    },
    /// Answer to a heartbeat.
    HeartbeatAck {
        /// The heartbeat's sequence number.
        seq: u64,
    },
    /// A fatal session error; the relay closes the connection after sending it.
    Error {
        /// Why.
        error: ProtoError,
    },
    /// The relay is shutting down gracefully; reconnect (to it or another relay) after the delay.
    GoingAway {
        /// Reason for logs.
        reason: String,
        /// Suggested delay before reconnecting, in milliseconds.
        retry_after_ms: u32,
    },
    /// The credentials of this session were revoked; do not reconnect with them.
    Revoked {
        /// Reason for logs.
        reason: String,
    },
    /// The relay closed one of the session's tunnels on its own (stopped by its owner or an
    /// operator, or taken over by the same agent elsewhere); the agent should not re-bind it
    /// on this session.
    Unbound {
        /// The tunnel.
        tunnel: TunnelId,
        /// Why, for people.
        reason: String,
    },
    /// Replay a request to a tunnel's local service; answer with `ReplayResult`. Jobs may come
    /// more than once (at-least-once delivery): the agent runs each `job` once.
    Replay {
        /// Job ID.
        job: String,
        /// The tunnel whose upstream receives it.
        tunnel: TunnelId,
        /// The request.
        request: ReplaySpec,
    },
    /// The account's cloud-managed tunnels (only to agents whose `Hello` asked for them): the
    /// whole set, sent after `Welcome` and again after every change. A set too large for one
    /// frame comes in parts with the same `version`; the last has `complete`. The agent
    /// applies a version once complete, and never one older than what it applied.
    TunnelDefinitions {
        /// Increases with every change of the account's definitions.
        version: u64,
        /// This part's definitions.
        tunnels: Vec<ManagedTunnel>,
        /// Whether this is the last part of `version`.
        complete: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_names_match_the_wire() {
        for c in ErrorCode::ALL {
            let wire = serde_json::to_string(&c).unwrap_or_default();
            assert_eq!(wire, format!("\"{}\"", c.as_str()));
        }
        let e = ProtoError::new(ErrorCode::NameInUse, "app.localhost is taken");
        assert_eq!(e.to_string(), "app.localhost is taken (name_in_use)");
    }
}
