//! The FlyingDarkDevTunnel agent: connects to a relay over QUIC, binds tunnels and forwards
//! their traffic to local services; serves a local API on 127.0.0.1:4040. With a control plane
//! configured it first trades its authtoken for a relay token ([`cloud`]).
//!
//! Public modules are the ones other crates (the `fdt` binary, the desktop app, the cloud's
//! `dev` command, the e2e tests) use; the rest is private.

pub mod agent;
pub mod api;
pub mod cloud;
pub mod config;
pub mod config_edit;
pub mod idle;
pub mod inspect;
pub mod login;
pub mod service;
pub mod status;
pub mod status_view;
pub mod tunnel_flags;

mod bind_retry;
mod dial;
mod forward;
mod insecure;
mod inspector_ui;
mod replay;
mod version;

pub use agent::{AgentHandle, AgentOptions, Connect, spawn, spawn_with};
pub use cloud::CloudLogin;
pub use config::{ConfigFile, TunnelConfig};
pub use dial::RelayTarget;
pub use inspect::{InspectConfig, Inspector};
pub use replay::{ReplayError, ReplayOutcome, ReplaySpec};
