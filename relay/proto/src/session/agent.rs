//! The agent's end of the control stream.

use super::{CloseReason, Timing};
use crate::PROTOCOL_VERSION;
use crate::frame::{DecodeError, Frame, FrameKind, FrameReader};
use crate::message::{
    ClientMessage, ErrorCode, MAX_MANAGED_TUNNELS, ManagedTunnel, ProtoError, ReplaySpec,
    ServerMessage, TunnelId, TunnelSpec,
};
use bytes::BytesMut;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

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
    /// The account's cloud-managed tunnels changed (sessions made with
    /// [`AgentSession::managed`] only): the whole set, newer than any reported before.
    Definitions {
        /// The set's version.
        version: u64,
        /// Every definition.
        tunnels: Vec<ManagedTunnel>,
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
    /// The hello asked for managed tunnels.
    managed: bool,
    /// Newest definitions version reported.
    definitions_version: Option<u64>,
    /// Parts of a definitions version still arriving.
    definitions_parts: Option<(u64, Vec<ManagedTunnel>)>,
}

impl AgentSession {
    /// Starts a session: queues `Hello` with `token` and the `agent` version string.
    pub fn new(now: Instant, timing: Timing, token: String, agent: String) -> Self {
        let mut outbox = VecDeque::new();
        outbox.push_back(ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            token,
            agent,
            managed: false,
            ha_group: None,
            ha_replica: 0,
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
            managed: false,
            definitions_version: None,
            definitions_parts: None,
        }
    }

    /// Asks the relay for the account's cloud-managed tunnels ([`AgentEvent::Definitions`]).
    /// Call before the hello is transmitted.
    pub fn managed(mut self) -> Self {
        self.managed = true;
        for msg in &mut self.outbox {
            if let ClientMessage::Hello { managed, .. } = msg {
                *managed = true;
            }
        }
        self
    }

    /// Makes this session replica `replica` (0 or 1) of the agent's sessions in `group` (see
    /// [`ClientMessage::Hello`]). Call before the hello is transmitted.
    pub fn ha_group(mut self, group: String, replica: u8) -> Self {
        for msg in &mut self.outbox {
            if let ClientMessage::Hello {
                ha_group,
                ha_replica,
                ..
            } = msg
            {
                *ha_group = Some(group.clone());
                *ha_replica = replica;
            }
        }
        self
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
            (
                ServerMessage::TunnelDefinitions {
                    version,
                    tunnels,
                    complete,
                },
                AgentState::Ready,
            ) if self.managed => self.definitions(version, tunnels, complete),
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

    /// Collects a part of a definitions push; reports the set once complete and newer.
    fn definitions(&mut self, version: u64, tunnels: Vec<ManagedTunnel>, complete: bool) {
        if self.definitions_version.is_some_and(|v| version <= v) {
            return;
        }
        // A part of another version than the one collecting starts over: the relay sends a
        // version's parts back to back, so the older one is abandoned.
        let parts = match &mut self.definitions_parts {
            Some((v, parts)) if *v == version => parts,
            slot => &mut slot.insert((version, Vec::new())).1,
        };
        if parts.len() + tunnels.len() > MAX_MANAGED_TUNNELS {
            self.close(CloseReason::Error(ProtoError::new(
                ErrorCode::ProtocolViolation,
                format!("more than {MAX_MANAGED_TUNNELS} managed tunnels"),
            )));
            return;
        }
        parts.extend(tunnels);
        if complete && let Some((version, tunnels)) = self.definitions_parts.take() {
            self.definitions_version = Some(version);
            self.events
                .push_back(AgentEvent::Definitions { version, tunnels });
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
        ServerMessage::TunnelDefinitions { .. } => "tunnel_definitions",
    }
}
