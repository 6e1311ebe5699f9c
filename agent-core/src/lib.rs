//! The FlyingDarkDevTunnel agent: connects to a relay over QUIC, binds tunnels and forwards
//! their traffic to local services; serves a local API on 127.0.0.1:4040. With a control plane
//! configured it first trades its authtoken for a relay token ([`cloud`]).

pub mod agent;
pub mod api;
pub mod bind_retry;
pub mod cloud;
pub mod config;
pub mod config_edit;
pub mod console;
pub mod dial;
pub mod forward;
pub mod group;
pub mod insecure;
pub mod inspect;
pub mod inspector_ui;
pub mod replay;
pub mod status;

pub use agent::{AgentHandle, AgentOptions, Connect, RelayTarget, spawn, spawn_with};
pub use cloud::CloudLogin;
pub use config::{ConfigFile, TunnelConfig};
pub use inspect::{InspectConfig, Inspector};
pub use replay::{ReplayError, ReplayOutcome, ReplaySpec};
