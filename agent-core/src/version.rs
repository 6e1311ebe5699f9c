//! What the agent calls itself: sent in the relay's `Hello` and in the control plane's
//! session exchange. Its own room so both paths take it from below.

/// Agent software identifier sent in `Hello` and with the authtoken exchange.
pub const AGENT_VERSION: &str = concat!("fdt/", env!("CARGO_PKG_VERSION"));
