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

/// A congestion controller (quinn's implementations of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Congestion {
    /// CUBIC, quinn's default.
    Cubic,
    /// BBR (quinn marks its implementation experimental).
    Bbr,
}

/// The congestion controller both ends send with. BBR, measured (issue 13, `e2e/bench/run.sh
/// fdt fdt_wan`, 2 cores): behind a 50 ms RTT path with 1 % random loss each way, CUBIC
/// reads every loss as congestion and one iperf3 stream got 0.003 Gbit/s (the Mathis limit);
/// BBR got 0.287 Gbit/s, 8 streams 0.002 → 0.727, wrk 273 → 567 req/s with p99 293 → 108 ms.
/// On loopback both are within noise of each other.
pub const CONGESTION: Congestion = Congestion::Bbr;
