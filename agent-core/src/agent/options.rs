//! What an agent is started with ([`AgentOptions`], [`Connect`]) and why it stops for good
//! ([`AgentError`]): plain types the runner and the session below read.

use crate::cloud::CloudLogin;
use crate::config::ResolvedTunnel;
use crate::dial::RelayTarget;
use std::path::PathBuf;

/// How the agent finds its relay and proves who it is. `Debug` hides the token.
#[derive(Clone)]
pub enum Connect {
    /// One relay, with a relay token used as is (self-hosted relays, `fdt-relay --dev`).
    Relay {
        /// The relay.
        relay: RelayTarget,
        /// Relay token.
        token: String,
    },
    /// Exchange an authtoken at the control plane before each connect, then try the relays
    /// it lists, best first.
    Cloud(CloudLogin),
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Relay { relay, .. } => f
                .debug_struct("Relay")
                .field("relay", relay)
                .field("token", &"***")
                .finish(),
            Self::Cloud(login) => f.debug_tuple("Cloud").field(login).finish(),
        }
    }
}

impl Connect {
    /// The extra CA the relays' certificates may chain to.
    pub(super) fn ca_file(&self) -> Option<&PathBuf> {
        match self {
            Self::Relay { relay, .. } => relay.ca_file.as_ref(),
            Self::Cloud(login) => login.relay_ca.as_ref(),
        }
    }

    /// What the status shows as "relay" before the first connect.
    pub(super) fn initial_relay(&self) -> String {
        match self {
            Self::Relay { relay, .. } => relay.addr.clone(),
            Self::Cloud(login) => login.api_url.clone(),
        }
    }
}

/// Everything an agent needs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Relay and credentials.
    pub connect: Connect,
    /// Tunnels to bind.
    pub tunnels: Vec<ResolvedTunnel>,
    /// Also run the account's cloud-managed tunnels, as the control plane defines them now
    /// and after every change (`fdt start --managed`; needs [`Connect::Cloud`]).
    pub managed: bool,
    /// Keep a second session on another relay with the same tunnels bound (high
    /// availability, `fdt start --ha`; needs [`Connect::Cloud`]): visitors keep being served
    /// through it when the first relay dies, while that session reconnects.
    pub ha: bool,
}

/// Why the agent stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The relay refused the credentials; retrying cannot help.
    #[error("relay refused the session: {0}")]
    Refused(String),
    /// The control plane refused the authtoken (malformed, unknown or revoked).
    #[error("the cloud refused the authtoken: {0}")]
    AuthtokenRefused(String),
    /// Local set-up failed (bad CA file, TLS configuration).
    #[error("agent set-up failed: {0}")]
    Setup(String),
}
