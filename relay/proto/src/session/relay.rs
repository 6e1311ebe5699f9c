//! The relay's end of the control stream.

use super::{CloseReason, Timing};
use crate::PROTOCOL_VERSION;
use crate::frame::{DecodeError, Frame, FrameKind, FrameReader};
use crate::message::{
    ClientMessage, ErrorCode, MAX_MANAGED_TUNNELS, ManagedTunnel, ProtoError, ReplaySpec,
    ServerMessage, TunnelId, TunnelSpec,
};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Replay jobs a session keeps open (sent, not answered) at once.
pub const MAX_OPEN_REPLAYS: usize = 64;

/// Encoded bytes of definitions in one `TunnelDefinitions` part: well under
/// [`crate::MAX_FRAME_LEN`], leaving room for the envelope.
pub const DEFINITIONS_PART_BYTES: usize = 48 * 1024;

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
        /// The agent asks for its account's cloud-managed tunnels: once accepted, push them
        /// with [`RelaySession::definitions`].
        managed: bool,
        /// The agent's replica group (checked well-formed), when this session is one of two,
        /// and which of the two it is (0 or 1).
        ha_group: Option<(String, u8)>,
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
    /// Replay jobs sent to the agent and not answered yet, oldest first (at most
    /// [`MAX_OPEN_REPLAYS`]). A result is accepted only for one of these, once: an agent
    /// must not be able to report on jobs it was never given.
    open_replays: VecDeque<String>,
    hello_deadline: Instant,
    last_heard: Instant,
    /// The agent's hello asked for managed tunnels.
    managed: bool,
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
            open_replays: VecDeque::new(),
            hello_deadline: now + timing.handshake_timeout,
            last_heard: now,
            managed: false,
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
                    managed,
                    ha_group,
                    ha_replica,
                },
                RelayState::AwaitingHello,
            ) => {
                if ha_group
                    .as_deref()
                    .is_some_and(|g| !crate::message::valid_ha_group(g))
                    || ha_replica > crate::message::MAX_HA_REPLICA
                {
                    self.fail(ProtoError::new(
                        ErrorCode::ProtocolViolation,
                        "ha_group must be 8 to 32 ASCII letters and digits, ha_replica 0 or 1",
                    ));
                    return;
                }
                let ha_group = ha_group.map(|g| (g, ha_replica));
                if version != PROTOCOL_VERSION {
                    self.fail(ProtoError::new(
                        ErrorCode::UnsupportedVersion,
                        format!("protocol version {version} is not supported (relay speaks {PROTOCOL_VERSION})"),
                    ));
                    return;
                }
                self.state = RelayState::Authenticating;
                self.managed = managed;
                self.events.push_back(RelayEvent::Authenticate {
                    token,
                    agent,
                    managed,
                    ha_group,
                });
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
                // A result for a job this session was not given (or already answered) is
                // dropped: the agent may only answer for its own tunnels' jobs, once each.
                if let Some(i) = self.open_replays.iter().position(|j| *j == job) {
                    self.open_replays.remove(i);
                    self.events
                        .push_back(RelayEvent::ReplayResult { job, status, error });
                }
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
    /// session is ready and holds the tunnel, or when the job is already open on it. Past
    /// [`MAX_OPEN_REPLAYS`] open jobs the oldest is forgotten (its result will be ignored; the
    /// control plane offers an unanswered job again).
    pub fn replay(&mut self, job: String, tunnel: TunnelId, request: ReplaySpec) {
        if self.state == RelayState::Ready
            && self.tunnels.contains(&tunnel)
            && !self.open_replays.contains(&job)
        {
            if self.open_replays.len() >= MAX_OPEN_REPLAYS {
                self.open_replays.pop_front();
            }
            self.open_replays.push_back(job.clone());
            self.outbox.push_back(ServerMessage::Replay {
                job,
                tunnel,
                request,
            });
        }
    }

    /// Whether the agent asked for its account's managed tunnels.
    pub fn is_managed(&self) -> bool {
        self.managed
    }

    /// Pushes the account's managed tunnels, `version` of them, in as many parts as their
    /// size needs. Ignored unless the session is ready and its agent asked for them. Returns
    /// how many definitions were left out: past [`MAX_MANAGED_TUNNELS`], or one alone larger
    /// than [`DEFINITIONS_PART_BYTES`] (the control plane refuses both, so this is a guard).
    pub fn definitions(&mut self, version: u64, tunnels: Vec<ManagedTunnel>) -> usize {
        if self.state != RelayState::Ready || !self.managed {
            return 0;
        }
        let total = tunnels.len();
        let mut parts: Vec<Vec<ManagedTunnel>> = vec![Vec::new()];
        let mut part_bytes = 0;
        let mut kept = 0;
        for t in tunnels.into_iter().take(MAX_MANAGED_TUNNELS) {
            let len = serde_json::to_vec(&t).map_or(usize::MAX, |v| v.len());
            if len > DEFINITIONS_PART_BYTES {
                continue;
            }
            if part_bytes + len > DEFINITIONS_PART_BYTES {
                parts.push(Vec::new());
                part_bytes = 0;
            }
            part_bytes += len + 1;
            kept += 1;
            if let Some(p) = parts.last_mut() {
                p.push(t);
            }
        }
        let last = parts.len() - 1;
        for (i, tunnels) in parts.into_iter().enumerate() {
            self.outbox.push_back(ServerMessage::TunnelDefinitions {
                version,
                tunnels,
                complete: i == last,
            });
        }
        total - kept
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
mod tests;
