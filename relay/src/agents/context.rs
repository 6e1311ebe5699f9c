//! The handles the agent endpoint and its sessions share.

use crate::auth::TokenVerifier;
use crate::config::RelayConfig;
use crate::control::client::ControlClient;
use crate::control::managed::ManagedIndex;
use crate::control::reporter::Reporter;
use crate::control::revocations::SessionIndex;
use crate::edge::Edge;
use crate::state::{Lifecycle, PublicUrls, SessionCount, Tunnels};
use crate::usage::UsageMeter;
use std::sync::Arc;

/// QUIC application close code: normal end of session.
pub const CLOSE_NORMAL: u32 = 0;
/// QUIC application close code: protocol or authentication error.
pub const CLOSE_ERROR: u32 = 1;
/// QUIC application close code: relay going away.
pub const CLOSE_GOING_AWAY: u32 = 2;

/// What agent sessions use: their own handles, nothing else of the relay.
#[derive(Debug)]
pub(crate) struct Agents {
    /// Configuration (limits, base domain).
    pub cfg: Arc<RelayConfig>,
    /// Checks agents' tokens.
    pub verifier: TokenVerifier,
    /// Live tunnels: binds add to them, ends release them.
    pub tunnels: Tunnels,
    /// Traffic per account, handed to each tunnel.
    pub usage: Arc<UsageMeter>,
    /// Sessions by authtoken, closed when it is revoked.
    pub revocations: Arc<SessionIndex>,
    /// Managed sessions by account, woken when its tunnel definitions change.
    pub managed: Arc<ManagedIndex>,
    /// Live sessions, for the load report.
    pub sessions: Arc<SessionCount>,
    /// Replay results for the next heartbeat (relays with a control plane).
    pub reporter: Option<Arc<Reporter>>,
    /// Authorises binds of cloud-issued tokens (relays with a control plane).
    pub control: Option<ControlClient>,
    /// Public URLs of tunnels.
    pub urls: PublicUrls,
    /// The edge, for the public listeners of TCP tunnels.
    pub edge: Arc<Edge>,
    /// Stop signals and the task set.
    pub lifecycle: Lifecycle,
}
