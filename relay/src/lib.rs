//! The FlyingDarkDevTunnel relay: the public edge and the QUIC endpoint agents connect to.
//!
//! Visitors arrive over HTTP, HTTPS (terminated, or passed through by SNI) and raw TCP; agents
//! arrive over QUIC and bind tunnels. Each visitor exchange or connection becomes one QUIC
//! stream to the owning agent.

pub mod agent_endpoint;
pub mod agent_pool;
pub mod auth;
pub mod certs;
pub mod cloud_sync;
pub mod config;
pub mod dev_certs;
pub mod devca;
pub mod hold;
pub mod http_edge;
pub mod interstitial;
pub mod io;
pub mod jwks;
pub mod limits;
pub mod pages;
pub mod policy;
pub mod quic;
pub mod registry;
pub mod report_queue;
pub mod revocations;
pub mod server;
pub mod sni;
pub mod tcp_edge;
pub mod tls_edge;
pub mod traffic_log;

pub use config::RelayConfig;
pub use server::{Listeners, Relay};
