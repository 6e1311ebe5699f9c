//! Transport parameters both ends apply to their QUIC configuration, kept here so the relay
//! and the agent cannot drift apart. Plain numbers: this crate has no QUIC dependency.

/// Per-stream receive window: one stream can fill gigabits per second on a fast path.
pub const STREAM_RECEIVE_WINDOW: u32 = 8 * 1024 * 1024;
/// Connection-wide receive window (all streams together).
pub const RECEIVE_WINDOW: u32 = 32 * 1024 * 1024;
/// Connection-wide send buffer.
pub const SEND_WINDOW: u64 = 32 * 1024 * 1024;
/// Ack-eliciting packets a peer may receive before it must acknowledge (ACK frequency
/// extension): fewer pure-ACK packets on busy connections. Loss detection stays timely because
/// `max_ack_delay` still bounds the wait.
pub const ACK_ELICITING_THRESHOLD: u32 = 8;
/// Keep-alive interval in seconds, well under every idle timeout we use.
pub const KEEP_ALIVE_SECS: u64 = 5;
