//! The agent↔relay wire protocol of FlyingDarkDevTunnel, without any I/O.
//!
//! An agent opens one QUIC connection (ALPN [`ALPN`]) to a relay. The first bidirectional
//! stream it opens is the *control stream*: it carries [`frame`]s holding
//! [`message::ClientMessage`]s one way and [`message::ServerMessage`]s the other. Every visitor
//! connection or HTTP exchange then travels on a stream of its own, opened by the relay and
//! starting with a [`stream::StreamHeader`] frame.
//!
//! Nothing here touches a socket, a runtime or the system clock: the codec works on
//! [`bytes::BytesMut`] and the [`session`] state machines take `now` as an argument, so they
//! are tested with virtual time and fuzzed. [`Backoff`] takes its randomness the same way.

pub mod backoff;
pub mod frame;
pub mod message;
pub mod session;
pub mod stream;
pub mod transport;
pub mod wire;

pub use backoff::Backoff;
pub use frame::{DecodeError, Frame, FrameKind, MAX_FRAME_LEN};
pub use message::{
    ClientMessage, EdgePolicy, ErrorCode, HeaderRules, MAX_MANAGED_TUNNELS, ManagedTunnel, Proto,
    ProtoError, ReplaySpec, ServerMessage, TunnelId, TunnelSpec,
};
pub use stream::StreamHeader;

/// ALPN protocol identifier negotiated on the agent QUIC connection.
pub const ALPN: &[u8] = b"fdt/1";

/// Version of the control protocol spoken by this crate; sent in `Hello`.
pub const PROTOCOL_VERSION: u16 = 1;
