//! Session state machines for both ends of the control stream, driven by an explicit clock.
//!
//! Like quinn-proto, these types perform no I/O: feed them decoded messages with
//! `handle_message(now, msg)`, fire timers with `handle_timeout(now)`, and drain what they want
//! to say with `poll_transmit()` and what happened with `poll_event()`. `poll_timeout()` tells
//! the I/O layer when to call `handle_timeout` next.

use crate::message::ProtoError;
use std::time::Duration;

/// Timing parameters of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Interval between agent heartbeats.
    pub heartbeat_interval: Duration,
    /// Silence after which the peer is considered dead.
    pub idle_timeout: Duration,
    /// Time the relay waits for `Hello`, and the agent for `Welcome` or a bind answer.
    pub handshake_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer said something invalid or fatal.
    Error(ProtoError),
    /// Nothing was heard from the peer within the idle timeout.
    TimedOut,
    /// The relay is going away; the agent should reconnect after the delay.
    GoingAway {
        /// Suggested delay before reconnecting.
        retry_after: Duration,
    },
    /// The session's credentials were revoked.
    Revoked(String),
    /// Closed locally.
    Local,
}

impl CloseReason {
    /// Whether an agent should try to reconnect after this.
    pub fn should_reconnect(&self) -> bool {
        match self {
            CloseReason::Error(e) => e.code.is_retryable(),
            CloseReason::TimedOut | CloseReason::GoingAway { .. } => true,
            CloseReason::Revoked(_) | CloseReason::Local => false,
        }
    }
}

mod agent;
mod relay;

pub use agent::{AgentEvent, AgentSession, AgentState};
pub use relay::{MAX_OPEN_REPLAYS, RelayEvent, RelaySession, RelayState};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameReader;
    use bytes::BytesMut;
    use std::time::Instant;

    #[test]
    fn frames_carry_a_handshake_both_ways_and_garbage_is_fatal() {
        let now = Instant::now();
        let mut agent = AgentSession::new(now, Timing::default(), "tok".into(), "fdt/t".into());
        let mut relay = RelaySession::new(now, Timing::default(), "s1".into(), 8, 4);
        let mut wire = BytesMut::new();
        assert!(agent.encode_transmits(&mut wire).is_ok());
        let mut at_relay = FrameReader::new();
        at_relay.push(&wire);
        assert!(relay.handle_frames(now, &mut at_relay).is_ok());
        assert!(matches!(
            relay.poll_event(),
            Some(RelayEvent::Authenticate { token, .. }) if token == "tok"
        ));
        relay.accept();
        let mut back = BytesMut::new();
        assert!(relay.encode_transmits(&mut back).is_ok());
        let mut at_agent = FrameReader::new();
        at_agent.push(&back);
        assert!(agent.handle_frames(now, &mut at_agent).is_ok());
        assert!(matches!(agent.poll_event(), Some(AgentEvent::Ready { .. })));

        let mut junk = FrameReader::new();
        junk.push(b"\x07garbage");
        assert!(relay.handle_frames(now, &mut junk).is_err());
    }
}
