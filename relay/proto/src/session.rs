//! Session state machines for both ends of the control stream, driven by an explicit clock.
//!
//! Like quinn-proto, these types perform no I/O: feed them decoded messages with
//! `handle_message(now, msg)`, fire timers with `handle_timeout(now)`, and drain what they want
//! to say with `poll_transmit()` and what happened with `poll_event()`. `poll_timeout()` tells
//! the I/O layer when to call `handle_timeout` next.

use crate::PROTOCOL_VERSION;
use crate::frame::{DecodeError, Frame, FrameKind, FrameReader};
use crate::message::{
    ClientMessage, ErrorCode, ProtoError, ReplaySpec, ServerMessage, TunnelId, TunnelSpec,
};
use bytes::BytesMut;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

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

// ---------------------------------------------------------------------------------------------
// Agent side
// ---------------------------------------------------------------------------------------------

/// Events an [`AgentSession`] reports to its I/O layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// The relay accepted the token.
    Ready {
        /// Relay session id.
        session: String,
    },
    /// A tunnel is public.
    Bound {
        /// The spec's name.
        name: String,
        /// Relay tunnel id.
        tunnel: TunnelId,
        /// Public URL.
        public_url: String,
    },
    /// A bind was refused.
    BindFailed {
        /// The spec's name.
        name: String,
        /// Why.
        error: ProtoError,
    },
    /// The relay closed a tunnel on its own.
    Unbound {
        /// The spec's name.
        name: String,
        /// The tunnel.
        tunnel: TunnelId,
        /// Why.
        reason: String,
    },
    /// The relay asks for a replay: run it, then call [`AgentSession::replay_result`].
    Replay {
        /// Job ID.
        job: String,
        /// Tunnel (one of this session's bound tunnels).
        tunnel: TunnelId,
        /// The request.
        request: ReplaySpec,
    },
    /// The session is over; the I/O layer closes the connection.
    Closed(CloseReason),
}

/// Where an agent session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    /// `Hello` sent, waiting for `Welcome`.
    Handshaking,
    /// Authenticated.
    Ready,
    /// Over.
    Closed(CloseReason),
}

/// The agent's half of the control protocol.
#[derive(Debug)]
pub struct AgentSession {
    timing: Timing,
    state: AgentState,
    outbox: VecDeque<ClientMessage>,
    events: VecDeque<AgentEvent>,
    /// Binds queued before `Welcome`, sent once ready.
    queued: Vec<TunnelSpec>,
    /// Binds sent and not yet answered, by request id, with their deadline.
    pending: BTreeMap<u32, (TunnelSpec, Instant)>,
    bound: BTreeMap<TunnelId, String>,
    next_req: u32,
    hb_seq: u64,
    /// Deadline for Welcome while handshaking.
    handshake_deadline: Instant,
    last_heard: Instant,
    next_heartbeat: Instant,
}

impl AgentSession {
    /// Starts a session: queues `Hello` with `token` and the `agent` version string.
    pub fn new(now: Instant, timing: Timing, token: String, agent: String) -> Self {
        let mut outbox = VecDeque::new();
        outbox.push_back(ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            token,
            agent,
        });
        Self {
            timing,
            state: AgentState::Handshaking,
            outbox,
            events: VecDeque::new(),
            queued: Vec::new(),
            pending: BTreeMap::new(),
            bound: BTreeMap::new(),
            next_req: 1,
            hb_seq: 0,
            handshake_deadline: now + timing.handshake_timeout,
            last_heard: now,
            next_heartbeat: now + timing.heartbeat_interval,
        }
    }

    /// Current state.
    pub fn state(&self) -> &AgentState {
        &self.state
    }

    /// Tunnels currently bound, by relay id, with their spec name.
    pub fn bound(&self) -> &BTreeMap<TunnelId, String> {
        &self.bound
    }

    /// Asks for a tunnel; sent now if the session is ready, after `Welcome` otherwise.
    pub fn bind(&mut self, now: Instant, spec: TunnelSpec) {
        match self.state {
            AgentState::Handshaking => self.queued.push(spec),
            AgentState::Ready => self.send_bind(now, spec),
            AgentState::Closed(_) => {}
        }
    }

    /// Reports a replay's outcome to the relay.
    pub fn replay_result(&mut self, job: String, status: Option<u16>, error: Option<String>) {
        if self.state == AgentState::Ready {
            self.outbox
                .push_back(ClientMessage::ReplayResult { job, status, error });
        }
    }

    /// Releases a bound tunnel.
    pub fn unbind(&mut self, tunnel: TunnelId) {
        if self.state == AgentState::Ready && self.bound.remove(&tunnel).is_some() {
            self.outbox.push_back(ClientMessage::Unbind { tunnel });
        }
    }

    fn send_bind(&mut self, now: Instant, spec: TunnelSpec) {
        let req = self.next_req;
        self.next_req = self.next_req.wrapping_add(1).max(1);
        self.outbox.push_back(ClientMessage::Bind {
            req,
            spec: spec.clone(),
        });
        self.pending
            .insert(req, (spec, now + self.timing.handshake_timeout));
    }

    /// Processes one message from the relay.
    pub fn handle_message(&mut self, now: Instant, msg: ServerMessage) {
        if matches!(self.state, AgentState::Closed(_)) {
            return;
        }
        self.last_heard = now;
        match (msg, &self.state) {
            (
                ServerMessage::Welcome {
                    session,
                    heartbeat_ms,
                    ..
                },
                AgentState::Handshaking,
            ) => {
                // The relay may ask for a different heartbeat; keep it within sane bounds so a
                // hostile relay cannot make the agent spin or never probe.
                let hb = Duration::from_millis(u64::from(heartbeat_ms).clamp(500, 120_000));
                self.timing.heartbeat_interval = hb;
                self.timing.idle_timeout = self.timing.idle_timeout.max(hb * 3);
                self.state = AgentState::Ready;
                self.next_heartbeat = now + hb;
                self.events.push_back(AgentEvent::Ready { session });
                for spec in std::mem::take(&mut self.queued) {
                    self.send_bind(now, spec);
                }
            }
            (
                ServerMessage::Bound {
                    req,
                    tunnel,
                    public_url,
                },
                AgentState::Ready,
            ) => {
                if let Some((spec, _)) = self.pending.remove(&req) {
                    self.bound.insert(tunnel, spec.name.clone());
                    self.events.push_back(AgentEvent::Bound {
                        name: spec.name,
                        tunnel,
                        public_url,
                    });
                } else if !self.bound.contains_key(&tunnel) {
                    // A late answer to a bind we already reported as timed out: the relay now
                    // holds a tunnel nobody uses (and its name, so a retry would get NameInUse
                    // from this very session). Release it instead of silently ignoring it.
                    self.outbox.push_back(ClientMessage::Unbind { tunnel });
                }
            }
            (ServerMessage::BindFailed { req, error }, AgentState::Ready) => {
                if let Some((spec, _)) = self.pending.remove(&req) {
                    self.events.push_back(AgentEvent::BindFailed {
                        name: spec.name,
                        error,
                    });
                }
            }
            (ServerMessage::HeartbeatAck { .. }, _) => {}
            (ServerMessage::Unbound { tunnel, reason }, AgentState::Ready) => {
                if let Some(name) = self.bound.remove(&tunnel) {
                    self.events.push_back(AgentEvent::Unbound {
                        name,
                        tunnel,
                        reason,
                    });
                }
            }
            (
                ServerMessage::Replay {
                    job,
                    tunnel,
                    request,
                },
                AgentState::Ready,
            ) => self.events.push_back(AgentEvent::Replay {
                job,
                tunnel,
                request,
            }),
            (ServerMessage::Error { error }, _) => self.close(CloseReason::Error(error)),
            (ServerMessage::GoingAway { retry_after_ms, .. }, _) => {
                self.close(CloseReason::GoingAway {
                    retry_after: Duration::from_millis(u64::from(retry_after_ms).min(60_000)),
                })
            }
            (ServerMessage::Revoked { reason }, _) => self.close(CloseReason::Revoked(reason)),
            (other, _) => self.close(CloseReason::Error(ProtoError::new(
                ErrorCode::ProtocolViolation,
                format!(
                    "unexpected message from relay: {}",
                    message_name_server(&other)
                ),
            ))),
        }
    }

    /// Fires due timers: heartbeats, handshake and bind deadlines, idle timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            AgentState::Closed(_) => return,
            AgentState::Handshaking if now >= self.handshake_deadline => {
                self.close(CloseReason::TimedOut);
                return;
            }
            _ => {}
        }
        if now >= self.last_heard + self.timing.idle_timeout {
            self.close(CloseReason::TimedOut);
            return;
        }
        let expired: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, (_, deadline))| now >= *deadline)
            .map(|(req, _)| *req)
            .collect();
        for req in expired {
            if let Some((spec, _)) = self.pending.remove(&req) {
                self.events.push_back(AgentEvent::BindFailed {
                    name: spec.name,
                    error: ProtoError::new(ErrorCode::Timeout, "relay did not answer the bind"),
                });
            }
        }
        if self.state == AgentState::Ready && now >= self.next_heartbeat {
            self.hb_seq += 1;
            self.outbox
                .push_back(ClientMessage::Heartbeat { seq: self.hb_seq });
            self.next_heartbeat = now + self.timing.heartbeat_interval;
        }
    }

    /// The next instant at which `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = match self.state {
            AgentState::Closed(_) => return None,
            AgentState::Handshaking => self.handshake_deadline,
            AgentState::Ready => self.next_heartbeat,
        };
        t = t.min(self.last_heard + self.timing.idle_timeout);
        for (_, deadline) in self.pending.values() {
            t = t.min(*deadline);
        }
        Some(t)
    }

    /// Feeds every complete frame buffered in `reader` (frames of the peer's kind) to
    /// [`Self::handle_message`]. A decoding error is fatal for the control stream.
    pub fn handle_frames(
        &mut self,
        now: Instant,
        reader: &mut FrameReader,
    ) -> Result<(), DecodeError> {
        while let Some(msg) = reader.next::<ServerMessage>(FrameKind::Server)? {
            self.handle_message(now, msg);
        }
        Ok(())
    }

    /// Appends every pending message, framed, to `dst` (ready to write to the control stream).
    pub fn encode_transmits(&mut self, dst: &mut BytesMut) -> Result<(), DecodeError> {
        while let Some(msg) = self.poll_transmit() {
            Frame::encode(FrameKind::Client, &msg, dst)?;
        }
        Ok(())
    }

    /// Next message to write to the control stream.
    pub fn poll_transmit(&mut self) -> Option<ClientMessage> {
        self.outbox.pop_front()
    }

    /// Next event for the I/O layer.
    pub fn poll_event(&mut self) -> Option<AgentEvent> {
        self.events.pop_front()
    }

    /// Ends the session locally (e.g. the transport failed).
    pub fn close(&mut self, reason: CloseReason) {
        if matches!(self.state, AgentState::Closed(_)) {
            return;
        }
        self.state = AgentState::Closed(reason.clone());
        self.pending.clear();
        self.queued.clear();
        self.events.push_back(AgentEvent::Closed(reason));
    }
}

fn message_name_server(m: &ServerMessage) -> &'static str {
    match m {
        ServerMessage::Welcome { .. } => "welcome",
        ServerMessage::Bound { .. } => "bound",
        ServerMessage::BindFailed { .. } => "bind_failed",
        ServerMessage::HeartbeatAck { .. } => "heartbeat_ack",
        ServerMessage::Error { .. } => "error",
        ServerMessage::GoingAway { .. } => "going_away",
        ServerMessage::Revoked { .. } => "revoked",
        ServerMessage::Replay { .. } => "replay",
        ServerMessage::Unbound { .. } => "unbound",
    }
}

// ---------------------------------------------------------------------------------------------
// Relay side
// ---------------------------------------------------------------------------------------------

/// Events a [`RelaySession`] reports to its I/O layer.
#[allow(
    clippy::large_enum_variant,
    reason = "low-rate control traffic; boxing the spec would only churn the public API"
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// The agent presented a token: verify it and call [`RelaySession::accept`] or
    /// [`RelaySession::reject`].
    Authenticate {
        /// The token as sent.
        token: String,
        /// Agent software version.
        agent: String,
    },
    /// The agent asks for a tunnel: answer with [`RelaySession::bound`] or
    /// [`RelaySession::bind_failed`].
    Bind {
        /// Request id to answer.
        req: u32,
        /// What to expose.
        spec: TunnelSpec,
    },
    /// The agent reports a replay's outcome.
    ReplayResult {
        /// Job ID.
        job: String,
        /// Status the local service answered.
        status: Option<u16>,
        /// Why it was not replayed.
        error: Option<String>,
    },
    /// The agent released a tunnel.
    Unbind {
        /// The tunnel.
        tunnel: TunnelId,
    },
    /// The session is over; the I/O layer releases its tunnels and closes the connection.
    Closed(CloseReason),
}

/// Where a relay session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayState {
    /// Waiting for `Hello`.
    AwaitingHello,
    /// `Hello` received, token being verified.
    Authenticating,
    /// Authenticated.
    Ready,
    /// Over.
    Closed(CloseReason),
}

/// The relay's half of the control protocol.
#[derive(Debug)]
pub struct RelaySession {
    timing: Timing,
    state: RelayState,
    session_id: String,
    max_streams: u32,
    max_tunnels: usize,
    outbox: VecDeque<ServerMessage>,
    events: VecDeque<RelayEvent>,
    /// Binds reported to the I/O layer and not answered yet.
    pending: Vec<u32>,
    tunnels: Vec<TunnelId>,
    hello_deadline: Instant,
    last_heard: Instant,
}

impl RelaySession {
    /// Starts a session for a freshly accepted connection.
    pub fn new(
        now: Instant,
        timing: Timing,
        session_id: String,
        max_streams: u32,
        max_tunnels: usize,
    ) -> Self {
        Self {
            timing,
            state: RelayState::AwaitingHello,
            session_id,
            max_streams,
            max_tunnels,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            pending: Vec::new(),
            tunnels: Vec::new(),
            hello_deadline: now + timing.handshake_timeout,
            last_heard: now,
        }
    }

    /// Current state.
    pub fn state(&self) -> &RelayState {
        &self.state
    }

    /// Tunnels bound on this session.
    pub fn tunnels(&self) -> &[TunnelId] {
        &self.tunnels
    }

    /// Processes one message from the agent.
    pub fn handle_message(&mut self, now: Instant, msg: ClientMessage) {
        if matches!(self.state, RelayState::Closed(_)) {
            return;
        }
        self.last_heard = now;
        match (msg, &self.state) {
            (
                ClientMessage::Hello {
                    version,
                    token,
                    agent,
                },
                RelayState::AwaitingHello,
            ) => {
                if version != PROTOCOL_VERSION {
                    self.fail(ProtoError::new(
                        ErrorCode::UnsupportedVersion,
                        format!("protocol version {version} is not supported (relay speaks {PROTOCOL_VERSION})"),
                    ));
                    return;
                }
                self.state = RelayState::Authenticating;
                self.events
                    .push_back(RelayEvent::Authenticate { token, agent });
            }
            (ClientMessage::Bind { req, spec }, RelayState::Ready) => {
                if self.pending.contains(&req) {
                    self.fail(ProtoError::new(
                        ErrorCode::ProtocolViolation,
                        format!("bind request id {req} reused while pending"),
                    ));
                } else if self.tunnels.len() + self.pending.len() >= self.max_tunnels {
                    self.outbox.push_back(ServerMessage::BindFailed {
                        req,
                        error: ProtoError::new(
                            ErrorCode::LimitExceeded,
                            format!("at most {} tunnels per session", self.max_tunnels),
                        ),
                    });
                } else {
                    self.pending.push(req);
                    self.events.push_back(RelayEvent::Bind { req, spec });
                }
            }
            (ClientMessage::Unbind { tunnel }, RelayState::Ready) => {
                if let Some(i) = self.tunnels.iter().position(|t| *t == tunnel) {
                    self.tunnels.swap_remove(i);
                    self.events.push_back(RelayEvent::Unbind { tunnel });
                }
            }
            (ClientMessage::Heartbeat { seq }, RelayState::Ready) => {
                self.outbox.push_back(ServerMessage::HeartbeatAck { seq });
            }
            (ClientMessage::ReplayResult { job, status, error }, RelayState::Ready) => {
                self.events
                    .push_back(RelayEvent::ReplayResult { job, status, error });
            }
            (other, _) => {
                let name = match other {
                    ClientMessage::Hello { .. } => "hello",
                    ClientMessage::Bind { .. } => "bind",
                    ClientMessage::Unbind { .. } => "unbind",
                    ClientMessage::Heartbeat { .. } => "heartbeat",
                    ClientMessage::ReplayResult { .. } => "replay_result",
                };
                self.fail(ProtoError::new(
                    ErrorCode::ProtocolViolation,
                    format!("unexpected {name} message in state {:?}", self.state),
                ));
            }
        }
    }

    /// Token verified: the session is ready.
    pub fn accept(&mut self) {
        if self.state == RelayState::Authenticating {
            self.state = RelayState::Ready;
            self.outbox.push_back(ServerMessage::Welcome {
                session: self.session_id.clone(),
                // Bounded by Timing's construction; saturate rather than wrap.
                heartbeat_ms: u32::try_from(self.timing.heartbeat_interval.as_millis())
                    .unwrap_or(u32::MAX),
                max_streams: self.max_streams,
            });
        }
    }

    /// Token refused: tell the agent why and end the session.
    pub fn reject(&mut self, error: ProtoError) {
        if self.state == RelayState::Authenticating {
            self.fail(error);
        }
    }

    /// Answers a pending bind with success.
    pub fn bound(&mut self, req: u32, tunnel: TunnelId, public_url: String) {
        if self.take_pending(req) {
            self.tunnels.push(tunnel);
            self.outbox.push_back(ServerMessage::Bound {
                req,
                tunnel,
                public_url,
            });
        }
    }

    /// Answers a pending bind with failure.
    pub fn bind_failed(&mut self, req: u32, error: ProtoError) {
        if self.take_pending(req) {
            self.outbox
                .push_back(ServerMessage::BindFailed { req, error });
        }
    }

    fn take_pending(&mut self, req: u32) -> bool {
        if !matches!(self.state, RelayState::Ready) {
            return false;
        }
        match self.pending.iter().position(|r| *r == req) {
            Some(i) => {
                self.pending.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Tells the agent the relay is shutting down and ends the session.
    pub fn going_away(&mut self, reason: &str, retry_after: Duration) {
        if matches!(self.state, RelayState::Closed(_)) {
            return;
        }
        self.outbox.push_back(ServerMessage::GoingAway {
            reason: reason.to_string(),
            retry_after_ms: u32::try_from(retry_after.as_millis()).unwrap_or(u32::MAX),
        });
        self.close(CloseReason::GoingAway { retry_after });
    }

    /// Closes one of the session's tunnels on the relay's initiative and tells the agent.
    pub fn unbound(&mut self, tunnel: TunnelId, reason: &str) {
        if self.state == RelayState::Ready
            && let Some(i) = self.tunnels.iter().position(|t| *t == tunnel)
        {
            self.tunnels.swap_remove(i);
            self.outbox.push_back(ServerMessage::Unbound {
                tunnel,
                reason: reason.to_owned(),
            });
        }
    }

    /// Asks the agent to replay `request` to `tunnel`'s local service. Ignored unless the
    /// session is ready and holds the tunnel.
    pub fn replay(&mut self, job: String, tunnel: TunnelId, request: ReplaySpec) {
        if self.state == RelayState::Ready && self.tunnels.contains(&tunnel) {
            self.outbox.push_back(ServerMessage::Replay {
                job,
                tunnel,
                request,
            });
        }
    }

    /// Tells the agent its credentials were revoked and ends the session.
    pub fn revoke(&mut self, reason: &str) {
        if matches!(self.state, RelayState::Closed(_)) {
            return;
        }
        self.outbox.push_back(ServerMessage::Revoked {
            reason: reason.to_string(),
        });
        self.close(CloseReason::Revoked(reason.to_string()));
    }

    fn fail(&mut self, error: ProtoError) {
        self.outbox.push_back(ServerMessage::Error {
            error: error.clone(),
        });
        self.close(CloseReason::Error(error));
    }

    fn close(&mut self, reason: CloseReason) {
        if matches!(self.state, RelayState::Closed(_)) {
            return;
        }
        self.state = RelayState::Closed(reason.clone());
        self.pending.clear();
        self.events.push_back(RelayEvent::Closed(reason));
    }

    /// Fires due timers: the hello deadline and the idle timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            RelayState::Closed(_) => {}
            RelayState::AwaitingHello | RelayState::Authenticating
                if now >= self.hello_deadline =>
            {
                self.fail(ProtoError::new(ErrorCode::Timeout, "no hello in time"));
            }
            _ if now >= self.last_heard + self.timing.idle_timeout => {
                self.fail(ProtoError::new(ErrorCode::Timeout, "no heartbeat in time"));
            }
            _ => {}
        }
    }

    /// The next instant at which `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            RelayState::Closed(_) => None,
            RelayState::AwaitingHello | RelayState::Authenticating => Some(self.hello_deadline),
            RelayState::Ready => Some(self.last_heard + self.timing.idle_timeout),
        }
    }

    /// Feeds every complete frame buffered in `reader` (frames of the peer's kind) to
    /// [`Self::handle_message`]. A decoding error is fatal for the control stream.
    pub fn handle_frames(
        &mut self,
        now: Instant,
        reader: &mut FrameReader,
    ) -> Result<(), DecodeError> {
        while let Some(msg) = reader.next::<ClientMessage>(FrameKind::Client)? {
            self.handle_message(now, msg);
        }
        Ok(())
    }

    /// Appends every pending message, framed, to `dst` (ready to write to the control stream).
    pub fn encode_transmits(&mut self, dst: &mut BytesMut) -> Result<(), DecodeError> {
        while let Some(msg) = self.poll_transmit() {
            Frame::encode(FrameKind::Server, &msg, dst)?;
        }
        Ok(())
    }

    /// Next message to write to the control stream.
    pub fn poll_transmit(&mut self) -> Option<ServerMessage> {
        self.outbox.pop_front()
    }

    /// Next event for the I/O layer.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
