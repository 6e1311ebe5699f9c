//! The FlyingDarkDevTunnel control plane: accounts, login sessions and authtokens behind the
//! `/v1` REST API, stored in SQLite (the embedded default) or PostgreSQL.
//!
//! [`app`] builds the Axum router from an [`AppState`]; [`server::run`] serves it on a listener;
//! [`cli`] is the `fdt-cloud` binary (`serve`, `migrate`, `rotate-agent-key`, and `dev`: the
//! control plane with an embedded relay on one machine). Agents trade
//! authtokens for relay tokens at `/v1/agent/sessions`; relays verify those with the keys
//! published at `/v1/jwks`. Request and response types come from
//! `fdt-api`, shared with the agent, the UI and the tests.

// Modules other crates use (the binary, the e2e harness, this crate's integration tests).
pub mod audit;
pub mod auth;
pub mod billing;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domains;
pub mod mailer;
pub mod metrics;
pub mod random;
pub mod retention;
pub mod rotation;
pub mod secret;
pub mod server;
pub mod store;
#[cfg(feature = "test-util")]
pub mod testing;

mod bodies;
mod console;
mod dev;
mod dev_billing;
pub mod dev_providers;
mod error;
mod events;
mod fleet;
mod http;
mod jobs;
mod scim;
mod shutdown;
mod sso;
mod state;
mod traffic;

pub use config::Config;
pub use error::ApiError;
pub use http::app;
pub use state::{AppState, StateError};
pub use store::Store;
