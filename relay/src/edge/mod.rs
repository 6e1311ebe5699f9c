//! The visitor-facing edge: HTTP and HTTPS listeners (TLS terminated here or passed through by
//! SNI), raw TCP listeners per tunnel, and what they enforce on the way (connection limits,
//! policy, the browser warning, hold and forward).

pub(crate) mod acme;
pub(crate) mod body;
pub(crate) mod conn_limit;
pub(crate) mod context;
pub(crate) mod custom;
pub(crate) mod error;
pub(crate) mod forward;
pub(crate) mod headers;
pub(crate) mod hold;
pub mod hold_budget;
pub(crate) mod http;
pub mod interstitial;
pub(crate) mod io;
pub(crate) mod listener;
pub mod policy;
pub(crate) mod shared_ports;
pub(crate) mod sni;
pub(crate) mod tcp;
pub(crate) mod tcp_shared;
pub(crate) mod tls;

pub(crate) use context::{Drain, Edge};
pub(crate) use listener::accept_loop;
