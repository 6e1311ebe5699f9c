//! The QUIC endpoint agents connect to, and the I/O half of each agent session: it drives a
//! [`fdt_proto::session::RelaySession`] with frames from the control stream and turns its
//! events into registry changes.

use crate::auth::AgentClaims;
use crate::policy::CompiledPolicy;
use crate::registry::Tunnel;
use crate::server::Shared;
use fdt_proto::frame::FrameReader;
use fdt_proto::session::{RelayEvent, RelaySession, Timing};
use fdt_proto::{
    ErrorCode, Frame, FrameKind, Proto, ProtoError, ServerMessage, TunnelId, TunnelSpec,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// QUIC application close code: normal end of session.
pub const CLOSE_NORMAL: u32 = 0;
/// QUIC application close code: protocol or authentication error.
pub const CLOSE_ERROR: u32 = 1;
/// QUIC application close code: relay going away.
pub const CLOSE_GOING_AWAY: u32 = 2;

/// Accepts agent connections until shutdown.
pub async fn run(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    let gate = crate::quic::HandshakeGate::new(shared.cfg.limits.quic_retry_after_handshakes);
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i { Some(i) => i, None => return },
            _ = shared.shutdown.cancelled() => return,
        };
        let Some((incoming, handshake)) = gate.admit(incoming) else {
            continue;
        };
        let shared2 = shared.clone();
        shared.tasks.spawn(async move {
            let remote = incoming.remote_address();
            let handshake_result = tokio::time::timeout(Duration::from_secs(10), incoming).await;
            drop(handshake);
            match handshake_result {
                Ok(Ok(conn)) => {
                    if let Err(e) = run_session(shared2, conn).await {
                        tracing::info!(%remote, error = %e, "agent session ended");
                    }
                }
                Ok(Err(e)) => tracing::debug!(%remote, error = %e, "agent handshake failed"),
                Err(_) => tracing::debug!(%remote, "agent handshake timed out"),
            }
        });
    }
}

struct SessionIo {
    shared: Arc<Shared>,
    /// Given to this session's tunnels, so other tasks can reach the session.
    commands: tokio::sync::mpsc::Sender<crate::registry::SessionCommand>,
    /// The agent's software version, from its hello.
    agent: String,
    conn: quinn::Connection,
    claims: Option<AgentClaims>,
    tunnels: HashMap<TunnelId, Arc<Tunnel>>,
    session_streams: Arc<Semaphore>,
}

async fn run_session(shared: Arc<Shared>, conn: quinn::Connection) -> anyhow::Result<()> {
    let limits = &shared.cfg.limits;
    let timing = Timing {
        heartbeat_interval: Duration::from_millis(limits.heartbeat_ms),
        idle_timeout: Duration::from_millis(limits.agent_idle_timeout_ms),
        handshake_timeout: Duration::from_secs(10),
    };
    let (mut send, mut recv) = tokio::time::timeout(timing.handshake_timeout, conn.accept_bi())
        .await
        .map_err(|_| anyhow::anyhow!("no control stream in time"))??;
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
        shared: shared.clone(),
        agent: String::new(),
        conn: conn.clone(),
        claims: None,
        tunnels: HashMap::new(),
    };
    let mut reader = FrameReader::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut going_away = false;
    let _live = SessionCount::enter(&shared);
    // Set once authenticated with a token naming its authtoken (`atk`).
    let mut registration: Option<crate::revocations::Registration<'_>> = None;
    let never = CancellationToken::new();
    let result = loop {
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
            registration = Some(shared.revocations.register(atk));
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
                        break Err(anyhow::anyhow!("protocol violation on control stream: {e}"));
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
            _ = shared.drained.cancelled(), if !going_away => {
                going_away = true;
                session.going_away("relay is shutting down", Duration::from_millis(200));
            }
            _ = revoked.cancelled() => {
                tracing::info!(session = %session_id, "authtoken revoked: closing the session");
                session.revoke("authtoken revoked");
            }
            Some(cmd) = command_rx.recv() => match cmd {
                crate::registry::SessionCommand::Replay { job, tunnel, request } => {
                    session.replay(job, tunnel, request);
                }
                crate::registry::SessionCommand::Unbind { tunnel, reason } => {
                    if let Some(t) = io.tunnels.remove(&tunnel) {
                        shared.tunnel_gone(&t);
                    }
                    session.unbound(tunnel, reason);
                }
            },
            _ = conn.closed() => break Ok(()),
        }
    };
    drop(registration);
    for t in io.tunnels.values() {
        shared.tunnel_gone(t);
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
            RelayEvent::Authenticate { token, agent } => {
                match self.shared.verifier.verify_fresh(&token).await {
                    Ok(claims) => {
                        tracing::info!(account = %claims.sub, %agent, remote = %self.conn.remote_address(), "agent authenticated");
                        self.claims = Some(claims);
                        self.agent = agent;
                        session.accept();
                    }
                    Err(e) => {
                        tracing::info!(remote = %self.conn.remote_address(), error = %e, "agent token refused");
                        session.reject(ProtoError::new(ErrorCode::AuthFailed, e.to_string()));
                    }
                }
            }
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
                if let Some(sync) = &self.shared.cloud {
                    sync.replay_done(job, status, error);
                }
            }
            RelayEvent::Unbind { tunnel } => {
                if let Some(t) = self.tunnels.remove(&tunnel) {
                    self.shared.tunnel_gone(&t);
                }
            }
            RelayEvent::Closed(_) => {}
        }
    }

    async fn bind(&mut self, spec: TunnelSpec) -> Result<Arc<Tunnel>, ProtoError> {
        let claims = self.claims.as_ref().ok_or_else(|| {
            ProtoError::new(ErrorCode::ProtocolViolation, "bind before authentication")
        })?;
        if claims.max_tunnels != 0 && self.tunnels.len() >= claims.max_tunnels as usize {
            return Err(ProtoError::new(
                ErrorCode::LimitExceeded,
                format!("online tunnel limit of {} reached", claims.max_tunnels),
            ));
        }
        let policy = CompiledPolicy::compile(&spec.policy)
            .map_err(|e| ProtoError::new(ErrorCode::InvalidPolicy, e.to_string()))?;
        let cfg = &self.shared.cfg;
        let id = self.shared.registry.next_id();
        // Names the relay picks are tried again when the cloud says another account holds or
        // reserved them; names the agent asked for are not.
        let random = match spec.proto {
            Proto::Http | Proto::Tls => spec.subdomain.is_none(),
            Proto::Tcp => spec.remote_port.is_none(),
        };
        let mut attempts = 0;
        let (host, port, listener, public_url, cloud_id) = loop {
            attempts += 1;
            let (host, port, listener, url) = self.pick_name(&spec, claims).await?;
            let cloud = self.shared.cloud.as_ref();
            let (Some(sync), Some(atk)) = (cloud, claims.atk.as_deref()) else {
                break (host, port, listener, url, None);
            };
            let label = host
                .as_deref()
                .and_then(|h| h.strip_suffix(&format!(".{}", cfg.base_domain)));
            let ask = crate::cloud_sync::BindAsk {
                account: &claims.sub,
                authtoken: atk,
                proto: spec.proto,
                subdomain: label,
                port,
                random,
                public_url: &url,
                pooling: spec.pooling,
                agent_version: &self.agent,
            };
            match sync.authorize(&ask).await {
                Ok(granted) => break (host, port, listener, url, Some(granted.tunnel_id)),
                Err(e)
                    if random
                        && attempts < 4
                        && matches!(e.code, ErrorCode::NameInUse | ErrorCode::NameNotAllowed) => {}
                Err(e) => return Err(e),
            }
        };
        let max_header_bytes = cfg.limits.max_header_bytes;
        let is_http = spec.proto == Proto::Http;
        let usage = self.shared.usage.counters(&claims.sub);
        let tunnel = Arc::new_cyclic(|weak| Tunnel {
            http: is_http.then(|| crate::agent_pool::client_for(weak.clone(), max_header_bytes)),
            id,
            cloud_id,
            usage,
            commands: self.commands.clone(),
            log_bodies: spec.log_bodies && claims.bodies,
            browser_warning: claims.warn,
            rate: std::num::NonZeroU32::new(claims.rpm)
                .map(|rpm| governor::RateLimiter::direct(governor::Quota::per_minute(rpm))),
            name: spec.name.clone(),
            account: claims.sub.clone(),
            proto: spec.proto,
            host,
            port,
            pooling: spec.pooling,
            public_url,
            policy,
            conn: self.conn.clone(),
            streams: Arc::new(Semaphore::new(cfg.limits.max_streams_per_tunnel as usize)),
            session_streams: self.session_streams.clone(),
            cancel: CancellationToken::new(),
        });
        if let Err(e) = self.shared.registry.insert(tunnel.clone()) {
            // The cloud recorded it online: take that back.
            self.shared.tunnel_gone(&tunnel);
            return Err(ProtoError::new(ErrorCode::NameInUse, e.to_string()));
        }
        if let Some(l) = listener {
            let shared = self.shared.clone();
            let t = tunnel.clone();
            self.shared
                .tasks
                .spawn(crate::tcp_edge::run_listener(shared, l, t));
        }
        Ok(tunnel)
    }

    /// The host name (http, tls) or bound port (tcp) a bind gets on this relay, and its URL.
    async fn pick_name(
        &self,
        spec: &TunnelSpec,
        claims: &AgentClaims,
    ) -> Result<
        (
            Option<String>,
            Option<u16>,
            Option<tokio::net::TcpListener>,
            String,
        ),
        ProtoError,
    > {
        let cfg = &self.shared.cfg;
        Ok(match spec.proto {
            Proto::Http | Proto::Tls => {
                let label = match &spec.subdomain {
                    Some(s) => s.to_ascii_lowercase(),
                    None => random_label(),
                };
                validate_label(&label)?;
                if !claims.may_bind(&label) {
                    return Err(ProtoError::new(
                        ErrorCode::NameNotAllowed,
                        format!("this token may not bind {label:?}"),
                    ));
                }
                let host = format!("{label}.{}", cfg.base_domain);
                self.shared
                    .registry
                    .check_host(&host, &claims.sub)
                    .map_err(|e| ProtoError::new(ErrorCode::NameInUse, e.to_string()))?;
                let url = self.shared.public_url(spec.proto, &host);
                (Some(host), None, None, url)
            }
            Proto::Tcp => {
                if spec.pooling {
                    return Err(ProtoError::new(
                        ErrorCode::InvalidPolicy,
                        "pooling is supported for http and tls tunnels",
                    ));
                }
                if let Some(p) = spec.remote_port {
                    self.shared
                        .registry
                        .release_port_for(p, &claims.sub)
                        .map_err(|e| ProtoError::new(ErrorCode::NameInUse, e.to_string()))?;
                }
                let listener = crate::tcp_edge::bind_port(&self.shared, spec.remote_port)
                    .await
                    .map_err(|e| ProtoError::new(ErrorCode::PortUnavailable, e))?;
                let port = listener
                    .local_addr()
                    .map_err(|e| ProtoError::new(ErrorCode::Internal, e.to_string()))?
                    .port();
                let url = format!("tcp://{}:{port}", cfg.public_host());
                (None, Some(port), Some(listener), url)
            }
        })
    }
}

/// Counts a live agent session in [`Shared::sessions`] until dropped.
struct SessionCount<'a>(&'a Shared);

impl<'a> SessionCount<'a> {
    fn enter(shared: &'a Shared) -> Self {
        shared
            .live_sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(shared)
    }
}

impl Drop for SessionCount<'_> {
    fn drop(&mut self) {
        self.0
            .live_sessions
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A random 10-character name for tunnels that did not ask for one.
fn random_label() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    (0..10)
        .map(|_| ALPHABET[rand::random::<u32>() as usize % ALPHABET.len()] as char)
        .collect()
}

/// A subdomain must be one DNS label: 1–63 of `a-z 0-9 -`, not starting or ending with `-`.
fn validate_label(label: &str) -> Result<(), ProtoError> {
    fdt_api::validate::check_label("subdomain", label).map_err(|_| {
        ProtoError::new(
            ErrorCode::InvalidName,
            format!("{label:?} is not a valid subdomain (a-z, 0-9 and '-', at most 63)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_validated() {
        assert!(validate_label("my-app1").is_ok());
        for bad in ["", "-a", "a-", "a.b", "A", "ünï", &"x".repeat(64)] {
            assert!(validate_label(bad).is_err(), "{bad:?}");
        }
        let r = random_label();
        assert!(validate_label(&r).is_ok(), "{r}");
    }
}
