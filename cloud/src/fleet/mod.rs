//! The fleet's decisions, between the `/v1` handlers and the store: which relays an agent is
//! sent to ([`assign`]), whether a relay may bind a name for an account ([`bind`]), which
//! names an account reserves ([`reserve`]), and what a relay's heartbeat changes
//! ([`heartbeat`]).
//!
//! Handlers parse and authorise, call one function here, and map its answer — a domain type
//! or a typed error — to the wire. Functions here read and write through the
//! [`Store`](crate::store::Store) and never see a request or a status code.

pub(crate) mod assign;
pub(crate) mod bind;
pub(crate) mod heartbeat;
pub(crate) mod reserve;
