//! Drives a `RelaySession` from fuzz input: a byte program whose instructions feed frame bytes
//! to the control stream, advance a virtual clock, and make the relay I/O layer's calls
//! (accept, reject, answer binds, shut down, revoke, push managed definitions) in any order.
//!
//! Checked on every step: nothing panics, timers are never in the past after they fire, a
//! closed session has no timer and reports `Closed` once, the tunnel limit holds, and every
//! message the relay sends round-trips through the codec.
//!
//! The body of the `session` fuzz target, shared with the stable replay test
//! (`relay/proto/tests/fuzz_replay.rs`), which includes this file with `#[path]`.

use bytes::BytesMut;
use fdt_proto::frame::FrameReader;
use fdt_proto::session::{RelayEvent, RelaySession, RelayState, Timing};
use fdt_proto::{
    ClientMessage, ErrorCode, Frame, FrameKind, MAX_FRAME_LEN, ManagedTunnel, ProtoError,
    ServerMessage, TunnelId,
};
use std::time::{Duration, Instant};

const MAX_TUNNELS: usize = 3;

struct Driver {
    now: Instant,
    relay: RelaySession,
    reader: FrameReader,
    stream_dead: bool,
    unanswered: Vec<u32>,
    closed: bool,
    next_tunnel: u64,
    /// Definitions pushes left in this program (each costs real encoding work).
    pushes_left: u8,
}

impl Driver {
    fn drain(&mut self) {
        while let Some(msg) = self.relay.poll_transmit() {
            let mut buf = BytesMut::new();
            Frame::encode(FrameKind::Server, &msg, &mut buf).expect("relay output encodes");
            assert!(buf.len() <= MAX_FRAME_LEN + 16, "a frame over the limit");
            let frame = Frame::decode(&mut buf).expect("decodes").expect("complete");
            let back: ServerMessage = frame.parse(FrameKind::Server).expect("parses");
            assert_eq!(back, msg);
        }
        while let Some(event) = self.relay.poll_event() {
            assert!(!self.closed, "event {event:?} after Closed");
            match event {
                RelayEvent::Bind { req, .. } => self.unanswered.push(req),
                RelayEvent::Closed(_) => self.closed = true,
                RelayEvent::Authenticate { .. }
                | RelayEvent::Unbind { .. }
                | RelayEvent::ReplayResult { .. } => {}
            }
        }
        let closed_state = matches!(self.relay.state(), RelayState::Closed(_));
        assert_eq!(closed_state, self.closed, "state and Closed event disagree");
        if closed_state {
            assert_eq!(self.relay.poll_timeout(), None);
        }
        assert!(self.relay.tunnels().len() <= MAX_TUNNELS);
    }

    fn feed(&mut self, bytes: &[u8]) {
        if self.stream_dead {
            return;
        }
        self.reader.push(bytes);
        loop {
            match self.reader.next::<ClientMessage>(FrameKind::Client) {
                Ok(Some(msg)) => {
                    self.relay.handle_message(self.now, msg);
                    self.drain();
                }
                Ok(None) => return,
                // The I/O layer closes the connection on a decode error.
                Err(_) => {
                    self.stream_dead = true;
                    return;
                }
            }
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        if self.relay.poll_timeout().is_some_and(|t| t <= self.now) {
            self.relay.handle_timeout(self.now);
            if let Some(t) = self.relay.poll_timeout() {
                assert!(t > self.now, "timer not in the future after firing");
            }
        }
    }
}

/// One fuzz input; panics on a bug.
pub fn run(data: &[u8]) {
    let now = Instant::now();
    let timing = Timing {
        heartbeat_interval: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
        handshake_timeout: Duration::from_secs(10),
    };
    let mut d = Driver {
        now,
        relay: RelaySession::new(now, timing, "fuzz".into(), 8, MAX_TUNNELS),
        reader: FrameReader::new(),
        stream_dead: false,
        unanswered: Vec::new(),
        closed: false,
        next_tunnel: 1,
        pushes_left: 2,
    };
    let mut input = data;
    while let Some((&op, rest)) = input.split_first() {
        input = rest;
        match op % 9 {
            0 => {
                let (&hi, rest) = input.split_first().unwrap_or((&0, &[]));
                input = rest;
                d.advance(u64::from(hi) * 250);
            }
            1 => {
                let (&len, rest) = input.split_first().unwrap_or((&0, &[]));
                let n = usize::from(len).min(rest.len());
                d.feed(&rest[..n]);
                input = &rest[n..];
            }
            2 => d.relay.accept(),
            3 => d
                .relay
                .reject(ProtoError::new(ErrorCode::AuthFailed, "fuzz says no")),
            4 | 5 => {
                // Answer the oldest bind, or a made-up request id when none is waiting.
                let req = if d.unanswered.is_empty() {
                    u32::from(op)
                } else {
                    d.unanswered.remove(0)
                };
                if op % 8 == 4 {
                    let tunnel = TunnelId(d.next_tunnel);
                    d.next_tunnel += 1;
                    d.relay
                        .bound(req, tunnel, format!("https://t{}.fuzz", tunnel.0));
                } else {
                    let err = ProtoError::new(ErrorCode::NameInUse, "taken");
                    d.relay.bind_failed(req, err);
                }
            }
            6 => d
                .relay
                .going_away("fuzz", Duration::from_millis(u64::from(op))),
            7 => d.relay.revoke("fuzz"),
            _ => {
                // Push up to 7 managed definitions, each small (`size` × 16 bytes), 20 KiB
                // (`size` ≥ 200: a few make several parts) or 60 KiB (≥ 250: left out, too
                // large for a frame). At most two pushes per program: they are the costly op.
                let (&count, rest) = input.split_first().unwrap_or((&0, &[]));
                let (&size, rest) = rest.split_first().unwrap_or((&0, &[]));
                input = rest;
                if d.pushes_left == 0 {
                    continue;
                }
                d.pushes_left -= 1;
                let bytes = match size {
                    250.. => 60 * 1024,
                    200.. => 20 * 1024,
                    n => usize::from(n) * 16,
                };
                let tunnels: Vec<ManagedTunnel> = (0..u32::from(count % 8))
                    .map(|i| {
                        let mut config = serde_json::Map::new();
                        config.insert("addr".into(), "x".repeat(bytes).into());
                        ManagedTunnel {
                            id: format!("tcf_{i}"),
                            name: format!("t{i}"),
                            enabled: i % 2 == 0,
                            config,
                        }
                    })
                    .collect();
                let n = tunnels.len();
                let left_out = d.relay.definitions(u64::from(op), tunnels);
                assert!(left_out <= n);
            }
        }
        d.drain();
    }
}
