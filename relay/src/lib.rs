//! The FlyingDarkDevTunnel relay: the public edge and the QUIC endpoint agents connect to.
//!
//! Visitors arrive over HTTP, HTTPS (terminated, or passed through by SNI) and raw TCP; agents
//! arrive over QUIC and bind tunnels. Each visitor exchange or connection becomes one QUIC
//! stream to the owning agent.

pub mod certs;
pub mod devca;
pub mod policy;
pub mod sni;
