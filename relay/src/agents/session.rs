//! The I/O half of an agent session: it drives a [`fdt_proto::session::RelaySession`] with
//! frames from the control stream and turns its events into registry changes.

use crate::agents::bind::Binder;
use crate::agents::context::{Agents, CLOSE_ERROR, CLOSE_GOING_AWAY, CLOSE_NORMAL};
use crate::auth::AgentClaims;
use crate::control::managed::{Watch, run_fetcher};
use crate::control::revocations::Registration;
use crate::registry::{SessionCommand, Tunnel};
use fdt_proto::DecodeError;
use fdt_proto::frame::FrameReader;
use fdt_proto::session::{RelayEvent, RelaySession, Timing};
use fdt_proto::{ErrorCode, Frame, FrameKind, ProtoError, ServerMessage, TunnelId, TunnelSpec};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Why a session ended other than by a clean close.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The agent opened no control stream within the handshake timeout.
    #[error("no control stream in time")]
    NoControlStream,
    /// The agent broke the protocol on its control stream.
    #[error("protocol violation on control stream: {0}")]
    Protocol(DecodeError),
    /// The connection failed.
    #[error(transparent)]
    Connection(#[from] quinn::ConnectionError),
    /// Reading the control stream failed.
    #[error(transparent)]
    Read(#[from] quinn::ReadError),
    /// Writing the control stream failed.
    #[error(transparent)]
    Write(#[from] quinn::WriteError),
    /// A frame could not be encoded.
    #[error("encoding a frame: {0}")]
    Encode(#[from] DecodeError),
}

/// One agent session's state on this side.
struct SessionIo {
    agents: Arc<Agents>,
    /// Given to this session's tunnels, so other tasks can reach the session.
    commands: tokio::sync::mpsc::Sender<SessionCommand>,
    /// The agent's software version, from its hello.
    agent: String,
    /// The agent's replica group and index, from its hello (one of two sessions of one agent).
    ha_group: Option<(String, u8)>,
    conn: quinn::Connection,
    claims: Option<AgentClaims>,
    tunnels: HashMap<TunnelId, Arc<Tunnel>>,
    session_streams: Arc<Semaphore>,
    /// A managed session's place in the index, and its fetcher's stop signal (both end with
    /// the session).
    managed: Option<(Watch, tokio_util::sync::DropGuard)>,
}

/// Runs one agent's session on `conn` until it ends, then releases its tunnels.
pub(crate) async fn run_session(
    agents: Arc<Agents>,
    conn: quinn::Connection,
) -> Result<(), SessionError> {
    let limits = &agents.cfg.limits;
    let timing = Timing {
        heartbeat_interval: Duration::from_millis(limits.heartbeat_ms),
        idle_timeout: Duration::from_millis(limits.agent_idle_timeout_ms),
        handshake_timeout: Duration::from_secs(10),
    };
    let (mut send, mut recv) = tokio::time::timeout(timing.handshake_timeout, conn.accept_bi())
        .await
        .map_err(|_| SessionError::NoControlStream)??;
    let session_id = format!("s{:016x}", rand::random::<u64>());
    let mut session = RelaySession::new(
        Instant::now(),
        timing,
        session_id.clone(),
        limits.max_streams_per_agent,
        limits.max_tunnels_per_session as usize,
    );
    let (commands, mut command_rx) = tokio::sync::mpsc::channel(64);
    let mut io = SessionIo {
        commands,
        session_streams: Arc::new(Semaphore::new(limits.max_streams_per_agent as usize)),
        agents: agents.clone(),
        agent: String::new(),
        ha_group: None,
        conn: conn.clone(),
        claims: None,
        tunnels: HashMap::new(),
        managed: None,
    };
    let mut reader = FrameReader::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut going_away = false;
    let _live = agents.sessions.enter(&conn);
    agents.edge.metrics.session_started();
    // Set once authenticated with a token naming its authtoken (`atk`).
    let mut registration: Option<Registration<'_>> = None;
    let never = CancellationToken::new();
    // An operator's drain: this session is told to go away at a random moment within the
    // drain time (agents then reconnect to other relays, a few at a time).
    let mut moving = agents.lifecycle.moving.subscribe();
    let mut move_at: Option<tokio::time::Instant> = None;
    let spread = Duration::from_millis(limits.drain_timeout_ms);
    let result = loop {
        match (move_at, *moving.borrow_and_update()) {
            (None, true) => {
                move_at = Some(tokio::time::Instant::now() + spread.mul_f64(rand::random()));
            }
            // The operator undid the drain before this session's turn: it stays.
            (Some(_), false) => move_at = None,
            _ => {}
        }
        // Drain events and messages until the state machine is quiet.
        let mut closed = false;
        while let Some(ev) = session.poll_event() {
            match ev {
                RelayEvent::Closed(reason) => {
                    tracing::debug!(session = %session_id, ?reason, "session closed");
                    closed = true;
                }
                ev => io.handle_event(&mut session, ev).await,
            }
        }
        let mut out = bytes::BytesMut::new();
        session.encode_transmits(&mut out)?;
        if !out.is_empty() {
            send.write_all(&out).await?;
        }
        if closed {
            let _ = send.finish();
            // Give the final frame a moment to reach the agent before closing.
            let _ = tokio::time::timeout(Duration::from_millis(500), send.stopped()).await;
            break Ok(());
        }
        if registration.is_none()
            && let Some(atk) = io.claims.as_ref().and_then(|c| c.atk.as_deref())
        {
            registration = Some(agents.revocations.register(atk));
        }
        let revoked = registration.as_ref().map_or(&never, |r| &r.revoked);
        let deadline = session
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = recv.read(&mut buf) => match r {
                Ok(Some(n)) => {
                    reader.push(&buf[..n]);
                    if let Err(e) = session.handle_frames(Instant::now(), &mut reader) {
                        let error = ProtoError::new(ErrorCode::ProtocolViolation, e.to_string());
                        let frame = Frame::to_bytes(FrameKind::Server, &ServerMessage::Error { error })?;
                        let _ = send.write_all(&frame).await;
                        let _ = send.finish();
                        break Err(SessionError::Protocol(e));
                    }
                }
                Ok(None) => break Ok(()),
                // An agent that stops cleanly closes its connection with code 0: not an error.
                Err(quinn::ReadError::ConnectionLost(quinn::ConnectionError::ApplicationClosed(c)))
                    if c.error_code == quinn::VarInt::from_u32(CLOSE_NORMAL) =>
                {
                    tracing::info!(session = %session_id, "agent disconnected");
                    break Ok(());
                }
                Err(e) => break Err(e.into()),
            },
            _ = tokio::time::sleep_until(deadline.into()) => session.handle_timeout(Instant::now()),
            _ = agents.lifecycle.drained.cancelled(), if !going_away => {
                going_away = true;
                session.going_away("relay is shutting down", Duration::from_millis(200));
            }
            Ok(()) = moving.changed() => {}
            () = sleep_until_some(move_at), if move_at.is_some() && !going_away => {
                tracing::info!(session = %session_id, "relay draining: agent asked to move");
                going_away = true;
                session.going_away("relay is draining", Duration::from_millis(200));
            }
            _ = revoked.cancelled() => {
                tracing::info!(session = %session_id, "authtoken revoked: closing the session");
                session.revoke("authtoken revoked");
            }
            Some(cmd) = command_rx.recv() => match cmd {
                SessionCommand::Replay { job, tunnel, request } => {
                    session.replay(job, tunnel, request);
                }
                SessionCommand::Unbind { tunnel, reason } => {
                    if let Some(t) = io.tunnels.remove(&tunnel) {
                        agents.tunnels.release(&t);
                    }
                    session.unbound(tunnel, &reason);
                }
                SessionCommand::Definitions { version, tunnels } => {
                    let count = tunnels.len();
                    let left_out = session.definitions(version, tunnels);
                    tracing::info!(session = %session_id, version, count, "tunnel definitions pushed");
                    if left_out > 0 {
                        tracing::warn!(session = %session_id, left_out, "tunnel definitions too large for the protocol were left out");
                    }
                }
            },
            _ = conn.closed() => break Ok(()),
        }
    };
    drop(registration);
    io.managed = None;
    for t in io.tunnels.values() {
        agents.tunnels.release(t);
    }
    let code = if going_away {
        CLOSE_GOING_AWAY
    } else if result.is_err() {
        CLOSE_ERROR
    } else {
        CLOSE_NORMAL
    };
    conn.close(code.into(), b"session over");
    result
}

impl SessionIo {
    async fn handle_event(&mut self, session: &mut RelaySession, ev: RelayEvent) {
        match ev {
            RelayEvent::Authenticate {
                token,
                agent,
                managed,
                ha_group,
            } => match self.agents.verifier.verify_fresh(&token).await {
                Ok(claims) => {
                    tracing::info!(account = %claims.sub, %agent, managed, remote = %self.conn.remote_address(), "agent authenticated");
                    // Accepted first: the session pushes definitions only once ready.
                    session.accept();
                    if managed {
                        self.watch_definitions(&claims.sub);
                    }
                    self.claims = Some(claims);
                    self.agent = agent;
                    self.ha_group = ha_group;
                }
                Err(e) => {
                    tracing::info!(remote = %self.conn.remote_address(), error = %e, "agent token refused");
                    session.reject(ProtoError::new(ErrorCode::AuthFailed, e.to_string()));
                }
            },
            RelayEvent::Bind { req, spec } => match self.bind(spec).await {
                Ok(t) => {
                    tracing::info!(url = %t.public_url, name = %t.name, "tunnel bound");
                    let (id, url) = (t.id, t.public_url.clone());
                    self.tunnels.insert(id, t);
                    session.bound(req, id, url);
                }
                Err(e) => session.bind_failed(req, e),
            },
            RelayEvent::ReplayResult { job, status, error } => {
                if let Some(reporter) = &self.agents.reporter {
                    reporter.replay_done(job, status, error);
                }
            }
            RelayEvent::Unbind { tunnel } => {
                if let Some(t) = self.tunnels.remove(&tunnel) {
                    self.agents.tunnels.release(&t);
                }
            }
            RelayEvent::Closed(_) => {}
        }
    }

    /// Starts pushing `account`'s cloud-managed tunnels to this session: registers it for the
    /// change feed's wake-ups and spawns its fetcher. Without a control plane (or with a
    /// token that names no cloud account) there are none to push.
    fn watch_definitions(&mut self, account: &str) {
        let (Some(control), Ok(account)) =
            (&self.agents.control, account.parse::<fdt_api::AccountId>())
        else {
            tracing::info!(%account, "managed tunnels asked for, but this relay has no control plane account for them");
            return;
        };
        let watch = self.agents.managed.register(account.clone());
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(run_fetcher(
            control.clone(),
            account,
            watch.changed.clone(),
            self.commands.clone(),
            stop.clone(),
        ));
        self.managed = Some((watch, stop.drop_guard()));
    }

    /// Binds a tunnel for this session's agent.
    async fn bind(&mut self, spec: TunnelSpec) -> Result<Arc<Tunnel>, ProtoError> {
        let claims = self.claims.as_ref().ok_or_else(|| {
            ProtoError::new(ErrorCode::ProtocolViolation, "bind before authentication")
        })?;
        let binder = Binder {
            agents: &self.agents,
            conn: &self.conn,
            commands: &self.commands,
            session_streams: &self.session_streams,
            agent_version: &self.agent,
            ha_group: self.ha_group.as_ref().map(|(g, r)| (g.as_str(), *r)),
        };
        binder.bind(claims, self.tunnels.len(), spec).await
    }
}

/// Completes at `at`; never when there is none.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
