//! The agents' side of the relay: the QUIC endpoint ([`endpoint`]), one session per
//! connection ([`session`]) binding tunnels ([`bind`]), and the streams the edge opens to
//! agents ([`streams`], and [`upstream`] for pooled HTTP/1.1 over them).

pub(crate) mod bind;
pub(crate) mod context;
pub(crate) mod endpoint;
pub(crate) mod peer_conn;
pub(crate) mod quic;
pub(crate) mod session;
pub(crate) mod streams;
pub(crate) mod upstream;

pub(crate) use context::{Agents, CLOSE_GOING_AWAY};
