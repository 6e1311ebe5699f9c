//! The FlyingDarkDevTunnel relay: the public edge and the QUIC endpoint agents connect to.
//!
//! Visitors arrive over HTTP, HTTPS (terminated, or passed through by SNI) and raw TCP; agents
//! arrive over QUIC and bind tunnels. Each visitor exchange or connection becomes one QUIC
//! stream to the owning agent.
//!
//! Layout, from the bottom up (each module imports only those below it):
//! - [`config`], `usage` (traffic counters per account), [`metrics`] (the Prometheus series
//!   the data path records into), [`auth`] (agent tokens), [`tls`] (certificates);
//! - [`registry`]: which host or port belongs to which agent's tunnel;
//! - `control`: the control plane's client and the tasks that talk to it (and this relay's
//!   identity for its peers);
//! - `peer`: forwarding to other relays — placement, peer connections, their wire format;
//! - `edge`: the visitor-facing listeners; `agents`: the QUIC endpoint and agent sessions;
//! - `admin`: the admin listener (`/metrics`, `/healthz`), reading the pieces above at scrape
//!   time;
//! - `server`: the one place that builds the shared pieces and hands each task its own.

mod admin;
mod agents;
pub mod auth;
pub mod config;
mod control;
pub mod domains;
pub mod edge;
pub mod metrics;
mod peer;
pub mod registry;
mod server;
mod state;
pub mod tls;
mod usage;

pub use config::RelayConfig;
pub use edge::policy::PolicyError;
pub use server::{Listeners, Relay};

/// Checks an edge policy as a bind does; the control plane checks managed tunnel definitions
/// with it, so a bad one is refused when it is saved rather than when an agent binds it.
pub fn check_edge_policy(policy: &fdt_proto::EdgePolicy) -> Result<(), PolicyError> {
    edge::policy::CompiledPolicy::compile(policy).map(|_| ())
}
