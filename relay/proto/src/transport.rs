//! Transport parameters both ends apply to their QUIC configuration, kept here so the relay
//! and the agent cannot drift apart. The numbers are plain constants; [`apply`], which sets
//! them on a quinn `TransportConfig`, exists only with the `quinn` feature, so the protocol
//! crate stays free of any QUIC dependency for its other users (fuzz targets, tests).

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
/// How often an agent pings a relay it has heard nothing from, in milliseconds (a QUIC PING,
/// about 50 bytes, answered by an ACK; only sent on a quiet connection, since every packet
/// received restarts the timer).
pub const AGENT_KEEP_ALIVE_MS: u64 = 400;
/// The QUIC idle timeout an agent asks for, in milliseconds: how long a relay may stay silent
/// before the agent gives up on it and fails over. Both ends use the smaller of the two sides'
/// values, so the relay drops a silent agent as quickly.
///
/// Three keep-alive intervals. Quinn restarts the timer when it last heard from the relay and
/// again at the first packet it sends after that (RFC 9000 §10.1), i.e. at the next keep-alive
/// at the latest, so a dead relay is noticed 1.2–1.6 s after it dies. A slow path
/// raises no false alarm: quinn never lets the timeout fall below three probe timeouts (RFC
/// 9000 §10.1), which grow with the measured RTT and its variance. A lossy one rarely does: a
/// lost PING is re-sent at the probe timeout, so a window holds three or more exchanges, and
/// at 5 % loss each way every one of them fails with odds under 1 in 1000 (the chaos drill's
/// lossy scenario counts reconnects under exactly that).
pub const AGENT_IDLE_TIMEOUT_MS: u64 = 1_200;

/// A congestion controller (quinn's implementations of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Congestion {
    /// CUBIC, quinn's default.
    Cubic,
    /// BBR (quinn marks its implementation experimental).
    Bbr,
}

/// The congestion controller both ends send with: CUBIC, quinn's default, for now.
///
/// BBR was measured (issue 13, `e2e/bench/run.sh`, 2 cores). Behind fdt-impair's 50 ms RTT
/// with 1 % random loss each way (`fdt_wan`), CUBIC reads every loss as congestion. BBR took
/// one iperf3 stream from 0.003 to 0.287 Gbit/s and 8 streams from 0.002 to 0.727. wrk went
/// from 273 to 567 req/s, with p99 293 → 108 ms. But on loopback, in each of 6 series, the
/// first 100 MiB download after the agent started was slow or failed with BBR. The first
/// values were 18.5, a timeout, 260, 248, 3.8 and 255 MiB/s; later downloads reached
/// ~580 MiB/s. All 8 CUBIC downloads gave 525–637 MiB/s. quinn calls its BBR experimental.
/// Switch when that stall is understood (see the note on issue 13). Both ends read this one
/// constant.
pub const CONGESTION: Congestion = Congestion::Cubic;

/// Sets the parameters both ends share on a quinn transport: keep-alive, receive and send
/// windows, ACK frequency and the congestion controller. Stream limits and the idle timeout
/// differ per end and stay with the caller.
#[cfg(feature = "quinn")]
pub fn apply(t: &mut quinn::TransportConfig) {
    t.keep_alive_interval(Some(std::time::Duration::from_secs(KEEP_ALIVE_SECS)));
    t.stream_receive_window(STREAM_RECEIVE_WINDOW.into());
    t.receive_window(RECEIVE_WINDOW.into());
    t.send_window(SEND_WINDOW);
    let mut ack = quinn::AckFrequencyConfig::default();
    ack.ack_eliciting_threshold(ACK_ELICITING_THRESHOLD.into());
    t.ack_frequency_config(Some(ack));
    match CONGESTION {
        Congestion::Cubic => {}
        Congestion::Bbr => {
            let bbr = quinn::congestion::BbrConfig::default();
            t.congestion_controller_factory(std::sync::Arc::new(bbr));
        }
    }
}
