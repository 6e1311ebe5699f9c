//! `/v1/agent/sessions`: an agent trades its authtoken for a short-lived relay token and a
//! ranked list of relays to connect to.
//!
//! The call is authenticated by the authtoken itself (`Authorization: Bearer fdt_…`), not by a
//! login: it is what `fdt http 8000` does before every connect.

use crate::ids::AccountId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A relay token: an EdDSA JWT for audience `fdt-relay`, presented on the relay's control
/// stream. `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct AgentToken(String);

impl AgentToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself. Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AgentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AgentToken(***)")
    }
}

/// `POST /v1/agent/sessions`: what the agent asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentSessionRequest {
    /// Preferred region (`eu`, `us`, …); relays there are listed first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Agent software version, for the cloud's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
}

/// The answer: a relay token and where to use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentSessionResponse {
    /// The relay token.
    pub token: AgentToken,
    /// Seconds until the token expires; the agent exchanges its authtoken again on reconnect.
    pub expires_in: u64,
    /// The account the token acts for.
    pub account_id: AccountId,
    /// Relays to try, best first.
    pub relays: Vec<RelayInfo>,
}

/// A relay an agent may connect to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RelayInfo {
    /// Relay ID, as the operator named it.
    pub id: String,
    /// Region the relay serves.
    pub region: String,
    /// QUIC address agents connect to (`host:port`, UDP).
    pub addr: String,
    /// Name the relay's certificate is checked against.
    pub server_name: String,
}
