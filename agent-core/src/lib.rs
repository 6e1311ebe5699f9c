//! The FlyingDarkDevTunnel agent: connects to a relay over QUIC, binds tunnels and forwards
//! their traffic to local services; serves a local API on 127.0.0.1:4040.

pub mod agent;
pub mod api;
pub mod backoff;
pub mod config;
pub mod console;
pub mod forward;
pub mod insecure;
pub mod status;

pub use agent::{AgentHandle, AgentOptions, RelayTarget, spawn};
pub use config::{ConfigFile, TunnelConfig};
