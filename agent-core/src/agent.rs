//! The agent runtime: connects to the relay over QUIC, drives the control session, serves data
//! streams, and reconnects with backoff (re-binding the same names) until told to stop.
//!
//! With [`Connect::Cloud`] every connect starts with an authtoken exchange at the control
//! plane ([`crate::cloud`]), and the relays it lists are dialled best first, each next one
//! starting when the previous failed or stayed silent for 300 ms ([`crate::dial`]).

use crate::bind_retry::BindRetries;
use crate::cloud::{CloudLogin, ExchangeError, Exchanger};
use crate::config::ResolvedTunnel;
use crate::dial::{self, EndpointSlot};
use crate::forward::{LocalTarget, read_header, serve_stream};
use crate::inspect::Inspector;
use crate::replay::{JobResult, ReplayJobs, ReplayTarget};
use crate::status::{AgentStatus, Counters, SessionState, TunnelStatus};
use anyhow::Context;
use fdt_proto::Backoff;
use fdt_proto::TunnelId;
use fdt_proto::frame::FrameReader;
use fdt_proto::session::{AgentEvent, AgentSession, CloseReason, Timing};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Agent software identifier sent in `Hello`.
pub const AGENT_VERSION: &str = concat!("fdt/", env!("CARGO_PKG_VERSION"));
/// Concurrent data streams the agent accepts from the relay.
const MAX_STREAMS: u32 = 4096;

/// How to reach the relay.
#[derive(Debug, Clone)]
pub struct RelayTarget {
    /// `host:port` (UDP).
    pub addr: String,
    /// Name checked against the relay's certificate (defaults to the host of `addr`).
    pub server_name: Option<String>,
    /// Extra CA (PEM) to trust, e.g. a dev relay's CA; system web roots otherwise.
    pub ca_file: Option<PathBuf>,
}

/// How the agent finds its relay and proves who it is. `Debug` hides the token.
#[derive(Clone)]
pub enum Connect {
    /// One relay, with a relay token used as is (self-hosted relays, `fdt-relay --dev`).
    Relay {
        /// The relay.
        relay: RelayTarget,
        /// Relay token.
        token: String,
    },
    /// Exchange an authtoken at the control plane before each connect, then try the relays
    /// it lists, best first.
    Cloud(CloudLogin),
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Relay { relay, .. } => f
                .debug_struct("Relay")
                .field("relay", relay)
                .field("token", &"***")
                .finish(),
            Self::Cloud(login) => f.debug_tuple("Cloud").field(login).finish(),
        }
    }
}

impl Connect {
    fn ca_file(&self) -> Option<&PathBuf> {
        match self {
            Self::Relay { relay, .. } => relay.ca_file.as_ref(),
            Self::Cloud(login) => login.relay_ca.as_ref(),
        }
    }

    /// What the status shows as "relay" before the first connect.
    fn initial_relay(&self) -> String {
        match self {
            Self::Relay { relay, .. } => relay.addr.clone(),
            Self::Cloud(login) => login.api_url.clone(),
        }
    }
}

/// Everything an agent needs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Relay and credentials.
    pub connect: Connect,
    /// Tunnels to bind.
    pub tunnels: Vec<ResolvedTunnel>,
}

/// Why the agent stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The relay refused the credentials; retrying cannot help.
    #[error("relay refused the session: {0}")]
    Refused(String),
    /// The control plane refused the authtoken (malformed, unknown or revoked).
    #[error("the cloud refused the authtoken: {0}")]
    AuthtokenRefused(String),
    /// Local set-up failed (bad CA file, TLS configuration).
    #[error("agent set-up failed: {0}")]
    Setup(String),
}

/// A running agent.
#[derive(Debug, Clone)]
pub struct AgentHandle {
    /// Latest status; changes on connect, bind and disconnect.
    pub status: watch::Receiver<AgentStatus>,
    /// Traffic counters.
    pub counters: Arc<Counters>,
    /// Cancel to stop the agent.
    pub shutdown: CancellationToken,
    /// Captured traffic, when inspection is on.
    pub inspector: Option<Inspector>,
    /// Replay destinations of the http tunnels, by tunnel name.
    pub(crate) replays: Arc<HashMap<String, Arc<ReplayTarget>>>,
}

impl AgentHandle {
    /// Waits until every tunnel has a public URL (or one failed to bind); returns the status.
    pub async fn wait_bound(&mut self, timeout: Duration) -> anyhow::Result<AgentStatus> {
        let fut = self.status.wait_for(|s| {
            s.state == SessionState::Stopped
                || (s.state == SessionState::Online
                    && s.tunnels
                        .iter()
                        .all(|t| t.public_url.is_some() || t.error.is_some()))
        });
        let s = tokio::time::timeout(timeout, fut)
            .await
            .context("timed out waiting for tunnels")?
            .context("agent gone")?
            .clone();
        if let Some(t) = s.tunnels.iter().find(|t| t.error.is_some()) {
            anyhow::bail!(
                "tunnel {} failed: {}",
                t.name,
                t.error.clone().unwrap_or_default()
            );
        }
        if s.state == SessionState::Stopped {
            anyhow::bail!(
                "agent stopped: {}",
                s.last_error.clone().unwrap_or_default()
            );
        }
        Ok(s)
    }
}

type Targets = Arc<RwLock<HashMap<TunnelId, Arc<LocalTarget>>>>;

/// Starts an agent in the background without inspection; see [`spawn_with`].
pub fn spawn(opts: AgentOptions) -> (AgentHandle, tokio::task::JoinHandle<Result<(), AgentError>>) {
    spawn_with(opts, None)
}

/// Starts an agent in the background; it runs until `handle.shutdown` is cancelled or the
/// relay refuses it. The returned join handle yields the reason it stopped. With an
/// `inspector`, every exchange and connection is captured into it.
pub fn spawn_with(
    opts: AgentOptions,
    inspector: Option<Inspector>,
) -> (AgentHandle, tokio::task::JoinHandle<Result<(), AgentError>>) {
    let replays: HashMap<String, Arc<ReplayTarget>> = opts
        .tunnels
        .iter()
        .filter(|t| t.spec.proto == fdt_proto::Proto::Http)
        .filter_map(|t| match ReplayTarget::new(t) {
            Ok(r) => Some((t.spec.name.clone(), Arc::new(r))),
            Err(e) => {
                tracing::warn!(tunnel = %t.spec.name, error = %e, "replay disabled for this tunnel");
                None
            }
        })
        .collect();
    let replays = Arc::new(replays);
    let status = AgentStatus {
        state: SessionState::Connecting,
        relay: opts.connect.initial_relay(),
        session: None,
        tunnels: opts
            .tunnels
            .iter()
            .map(|t| TunnelStatus {
                name: t.spec.name.clone(),
                proto: t.spec.proto.as_str().to_string(),
                public_url: None,
                addr: t.upstream.display(),
                error: None,
            })
            .collect(),
        last_error: None,
        reconnects: 0,
    };
    let (tx, rx) = watch::channel(status);
    let handle = AgentHandle {
        status: rx,
        counters: Arc::default(),
        shutdown: CancellationToken::new(),
        inspector,
        replays: replays.clone(),
    };
    let runner = Runner {
        opts,
        status: tx,
        counters: handle.counters.clone(),
        shutdown: handle.shutdown.clone(),
        targets: Arc::default(),
        bound: Arc::new(Notify::new()),
        jobs: Arc::new(ReplayJobs::new(replays, handle.inspector.clone())),
        inspector: handle.inspector.clone(),
    };
    let join = tokio::spawn(runner.run());
    (handle, join)
}

struct Runner {
    opts: AgentOptions,
    status: watch::Sender<AgentStatus>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    targets: Targets,
    /// Woken whenever a tunnel is bound, for streams that raced ahead of their `Bound`.
    bound: Arc<Notify>,
    inspector: Option<Inspector>,
    /// Replays the relay asks for (queued in the cloud).
    jobs: Arc<ReplayJobs>,
}

/// Where each connect attempt gets its token and relays.
enum Source {
    /// The same relay and token every time.
    Fixed { relay: RelayTarget, token: String },
    /// A fresh exchange at the cloud every time.
    Cloud(Exchanger),
}

impl Source {
    fn new(connect: &Connect) -> Result<Self, AgentError> {
        match connect {
            Connect::Relay { relay, token } => Ok(Self::Fixed {
                relay: relay.clone(),
                token: token.clone(),
            }),
            Connect::Cloud(login) => Exchanger::new(login).map(Self::Cloud).map_err(|e| match e {
                ExchangeError::Refused(m) => AgentError::AuthtokenRefused(m),
                other => AgentError::Setup(other.to_string()),
            }),
        }
    }

    /// The token to present and the relays to try, best first.
    async fn plan(&self) -> Result<(String, Vec<RelayTarget>), AttemptError> {
        match self {
            Self::Fixed { relay, token } => Ok((token.clone(), vec![relay.clone()])),
            Self::Cloud(exchanger) => match exchanger.exchange().await {
                Ok(x) => Ok((x.token, x.relays)),
                Err(ExchangeError::Refused(m)) => {
                    Err(AttemptError::Fatal(AgentError::AuthtokenRefused(m)))
                }
                Err(e) => Err(AttemptError::Failed(e.into())),
            },
        }
    }
}

/// Why one connect attempt failed.
enum AttemptError {
    /// Retrying cannot help (the credentials were refused).
    Fatal(AgentError),
    /// Anything worth retrying after a backoff.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for AttemptError {
    fn from(e: anyhow::Error) -> Self {
        Self::Failed(e)
    }
}

impl Runner {
    async fn run(self) -> Result<(), AgentError> {
        let setup = self
            .client_config()
            .map_err(|e| AgentError::Setup(format!("{e:#}")))
            .and_then(|cfg| Ok((cfg, Source::new(&self.opts.connect)?)));
        let (client_cfg, source) = match setup {
            Ok(x) => x,
            Err(e) => {
                self.status.send_modify(|s| {
                    s.state = SessionState::Stopped;
                    s.last_error = Some(e.to_string());
                });
                return Err(e);
            }
        };
        let mut endpoint = EndpointSlot::default();
        let mut backoff = Backoff::default();
        let result = loop {
            let outcome = tokio::select! {
                r = self.attempt(&source, &mut endpoint, &client_cfg) => r,
                _ = self.shutdown.cancelled() => break Ok(()),
            };
            let delay = match outcome {
                Ok((reason, was_ready)) => {
                    if was_ready {
                        backoff.reset();
                    }
                    match reason {
                        CloseReason::Local => break Ok(()),
                        CloseReason::GoingAway { retry_after } => {
                            tracing::info!("relay is going away; reconnecting");
                            retry_after.max(backoff.next_delay(rand::random()))
                        }
                        r if !r.should_reconnect() => {
                            let msg = match r {
                                CloseReason::Error(e) => e.to_string(),
                                CloseReason::Revoked(why) => format!("credentials revoked: {why}"),
                                other => format!("{other:?}"),
                            };
                            break Err(AgentError::Refused(msg));
                        }
                        r => {
                            tracing::warn!(reason = ?r, "session lost; reconnecting");
                            backoff.next_delay(rand::random())
                        }
                    }
                }
                Err(AttemptError::Fatal(e)) => break Err(e),
                Err(AttemptError::Failed(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot reach relay");
                    self.status
                        .send_modify(|s| s.last_error = Some(format!("{e:#}")));
                    backoff.next_delay(rand::random())
                }
            };
            self.set_offline();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shutdown.cancelled() => break Ok(()),
            }
        };
        self.status.send_modify(|s| {
            s.state = SessionState::Stopped;
            if let Err(e) = &result {
                s.last_error = Some(e.to_string());
            }
        });
        if let Some((_, endpoint)) = endpoint.0.take() {
            endpoint.close(0u32.into(), b"agent stopping");
            let _ = tokio::time::timeout(Duration::from_millis(500), endpoint.wait_idle()).await;
        }
        result
    }

    /// The host (and port) of tunnel `name`'s public URL, which replays may keep as Host.
    fn public_host(&self, name: &str) -> Option<String> {
        let s = self.status.borrow();
        let url = s
            .tunnels
            .iter()
            .find(|t| t.name == name)?
            .public_url
            .clone()?;
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        Some(rest.split('/').next().unwrap_or(rest).to_string())
    }

    fn set_offline(&self) {
        self.targets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.status.send_modify(|s| {
            s.state = SessionState::Reconnecting;
            s.session = None;
            s.reconnects += 1;
            for t in &mut s.tunnels {
                t.public_url = None;
            }
        });
    }

    fn client_config(&self) -> anyhow::Result<quinn::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(ca) = self.opts.connect.ca_file() {
            let pem =
                std::fs::read(ca).with_context(|| format!("reading relay CA {}", ca.display()))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                roots.add(cert.with_context(|| format!("parsing {}", ca.display()))?)?;
            }
        }
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![fdt_proto::ALPN.to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
        let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.max_concurrent_bidi_streams(MAX_STREAMS.into());
        transport.max_concurrent_uni_streams(0u32.into());
        transport.max_idle_timeout(Some(Duration::from_secs(30).try_into()?));
        // Same parameters as the relay (see fdt_proto::transport).
        {
            use fdt_proto::transport as p;
            transport.keep_alive_interval(Some(Duration::from_secs(p::KEEP_ALIVE_SECS)));
            transport.stream_receive_window(p::STREAM_RECEIVE_WINDOW.into());
            transport.receive_window(p::RECEIVE_WINDOW.into());
            transport.send_window(p::SEND_WINDOW);
            let mut ack = quinn::AckFrequencyConfig::default();
            ack.ack_eliciting_threshold(p::ACK_ELICITING_THRESHOLD.into());
            transport.ack_frequency_config(Some(ack));
        }
        cfg.transport_config(Arc::new(transport));
        Ok(cfg)
    }

    /// One connect attempt: get a token and relays, reach the first relay that answers, and
    /// run the session there. `Ok((reason, was_ready))` once the session ends.
    async fn attempt(
        &self,
        source: &Source,
        slot: &mut EndpointSlot,
        client_cfg: &quinn::ClientConfig,
    ) -> Result<(CloseReason, bool), AttemptError> {
        let (token, relays) = source.plan().await?;
        let (conn, addr, relay) = Self::reach(&relays, slot, client_cfg).await?;
        self.status.send_modify(|s| s.relay = relay.addr.clone());
        Ok(self.run_session(conn, addr, token).await?)
    }

    /// Completes a QUIC handshake with one of `relays`: staggered, best first (see
    /// [`dial::race`]), when they share an address family; one by one otherwise, because the
    /// endpoint is per family and switching it closes the other family's dials.
    async fn reach<'r>(
        relays: &'r [RelayTarget],
        slot: &mut EndpointSlot,
        client_cfg: &quinn::ClientConfig,
    ) -> anyhow::Result<(quinn::Connection, SocketAddr, &'r RelayTarget)> {
        let unreachable = |relay: &str, e: &anyhow::Error| {
            tracing::warn!(relay = %relay, error = %format!("{e:#}"), "relay unreachable");
        };
        let mut last = None;
        let mut resolved = Vec::new();
        for relay in relays {
            match dial::resolve_relay(relay).await {
                Ok((addr, name)) => resolved.push((relay, addr, name)),
                Err(e) => {
                    unreachable(&relay.addr, &e);
                    last = Some(e);
                }
            }
        }
        let one_family = resolved
            .windows(2)
            .all(|w| w[0].1.is_ipv6() == w[1].1.is_ipv6());
        if let Some((_, first, _)) = resolved.first()
            && one_family
        {
            let endpoint = slot.for_addr(*first, client_cfg)?;
            let won = dial::race(resolved.len(), dial::STAGGER, |i| {
                let (relay, addr, name) = &resolved[i];
                let (relay, addr) = (relay.addr.clone(), *addr);
                let handshake = dial::handshake(endpoint.clone(), addr, name.clone());
                async move {
                    let r = handshake.await;
                    if let Err(e) = &r {
                        unreachable(&relay, e);
                    }
                    r
                }
            })
            .await;
            match won {
                Ok((i, conn)) => return Ok((conn, resolved[i].1, resolved[i].0)),
                Err(e) => last = Some(e),
            }
        } else {
            for (relay, addr, name) in &resolved {
                let endpoint = slot.for_addr(*addr, client_cfg)?;
                match dial::handshake(endpoint, *addr, name.clone()).await {
                    Ok(conn) => return Ok((conn, *addr, relay)),
                    Err(e) => {
                        unreachable(&relay.addr, &e);
                        last = Some(e);
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no relay to connect to")))
    }

    /// One connection's life. `Ok((reason, was_ready))` once the session ends.
    async fn run_session(
        &self,
        conn: quinn::Connection,
        addr: SocketAddr,
        token: String,
    ) -> anyhow::Result<(CloseReason, bool)> {
        let (mut send, mut recv) = conn.open_bi().await.context("opening control stream")?;
        let now = Instant::now();
        let mut session = AgentSession::new(now, Timing::default(), token, AGENT_VERSION.into());
        let by_name: HashMap<String, ResolvedTunnel> = self
            .opts
            .tunnels
            .iter()
            .map(|t| (t.spec.name.clone(), t.clone()))
            .collect();
        for t in &self.opts.tunnels {
            session.bind(now, t.spec.clone());
        }
        let (job_tx, mut job_rx) = tokio::sync::mpsc::channel::<JobResult>(64);
        let streams = tokio::spawn(accept_streams(
            conn.clone(),
            self.targets.clone(),
            self.bound.clone(),
            self.counters.clone(),
        ));
        let mut reader = FrameReader::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut was_ready = false;
        let mut retries = BindRetries::default();
        let result = 'outer: loop {
            let mut out = bytes::BytesMut::new();
            session.encode_transmits(&mut out)?;
            if !out.is_empty() {
                send.write_all(&out)
                    .await
                    .context("writing control stream")?;
            }
            while let Some(ev) = session.poll_event() {
                match ev {
                    AgentEvent::Ready { session: id } => {
                        was_ready = true;
                        tracing::info!(session = %id, relay = %addr, "connected to relay");
                        self.status.send_modify(|s| {
                            s.state = SessionState::Online;
                            s.session = Some(id);
                            s.last_error = None;
                        });
                    }
                    AgentEvent::Bound {
                        name,
                        tunnel,
                        public_url,
                    } => {
                        if retries.succeeded(&name) {
                            self.status.send_modify(|s| s.last_error = None);
                        }
                        if let Some(t) = by_name.get(&name) {
                            let target = LocalTarget::new(t.clone())
                                .map_err(|e| anyhow::anyhow!("TLS set-up for {name}: {e}"))?
                                .with_inspector(self.inspector.clone());
                            self.targets
                                .write()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(tunnel, Arc::new(target));
                            self.bound.notify_waiters();
                            tracing::info!(%name, url = %public_url, addr = %t.upstream.display(), "tunnel online");
                            self.status.send_modify(|s| {
                                if let Some(ts) = s.tunnels.iter_mut().find(|x| x.name == name) {
                                    ts.public_url = Some(public_url.clone());
                                    ts.error = None;
                                }
                            });
                        }
                    }
                    AgentEvent::BindFailed { name, error }
                        if BindRetries::is_retryable(error.code) =>
                    {
                        // The relay could not decide (e.g. its control plane is down): ask
                        // again later on this session instead of giving the name up.
                        let delay = retries.schedule(&name, Instant::now(), rand::random());
                        tracing::warn!(%name, %error, retry_in = ?delay, "relay could not bind the tunnel yet; retrying");
                        self.status.send_modify(|s| {
                            s.last_error = Some(format!("tunnel {name}: {error}; retrying"));
                        });
                    }
                    AgentEvent::BindFailed { name, error } => {
                        tracing::error!(%name, %error, "relay refused the tunnel");
                        self.status.send_modify(|s| {
                            if let Some(ts) = s.tunnels.iter_mut().find(|x| x.name == name) {
                                ts.error = Some(error.to_string());
                            }
                        });
                    }
                    AgentEvent::Unbound {
                        name,
                        tunnel,
                        reason,
                    } => {
                        // Closed on the relay's side (stopped from the console, or bound
                        // again elsewhere): not re-bound on this session.
                        tracing::warn!(%name, %reason, "relay closed the tunnel");
                        self.targets
                            .write()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&tunnel);
                        self.status.send_modify(|s| {
                            if let Some(ts) = s.tunnels.iter_mut().find(|x| x.name == name) {
                                ts.public_url = None;
                                ts.error = Some(format!("closed by the relay: {reason}"));
                            }
                        });
                    }
                    AgentEvent::Replay {
                        job,
                        tunnel,
                        request,
                    } => {
                        // The same guarded replay as the local API's: this tunnel's
                        // configured upstream only; the result comes back on `job_rx`.
                        let name = self
                            .targets
                            .read()
                            .unwrap_or_else(|e| e.into_inner())
                            .get(&tunnel)
                            .map(|t| t.tunnel.spec.name.clone());
                        let public_host = name.as_ref().and_then(|n| self.public_host(n));
                        // Not bound here: the job fails as an unknown tunnel, named by its id.
                        let name = name.unwrap_or_else(|| tunnel.to_string());
                        self.jobs
                            .start(job, name, public_host, request, job_tx.clone());
                    }
                    AgentEvent::Closed(reason) => break 'outer Ok((reason, was_ready)),
                }
            }
            // Saturates after ~584,000 years; the cast cannot matter.
            let rtt_us = u64::try_from(conn.rtt().as_micros()).unwrap_or(u64::MAX);
            self.counters
                .rtt_us
                .store(rtt_us, std::sync::atomic::Ordering::Relaxed);
            let deadline = session
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let deadline = retries.next_due().map_or(deadline, |due| due.min(deadline));
            tokio::select! {
                r = recv.read(&mut buf) => match r {
                    Ok(Some(n)) => {
                        reader.push(&buf[..n]);
                        if let Err(e) = session.handle_frames(Instant::now(), &mut reader) {
                            break Err(anyhow::anyhow!("relay sent an invalid frame: {e}"));
                        }
                    }
                    Ok(None) => break Ok((CloseReason::TimedOut, was_ready)),
                    Err(e) => break Err(anyhow::Error::from(e).context("control stream")),
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    session.handle_timeout(now);
                    for name in retries.take_due(now) {
                        if let Some(t) = by_name.get(&name) {
                            session.bind(now, t.spec.clone());
                        }
                    }
                }
                Some(r) = job_rx.recv() => {
                    session.replay_result(r.job, r.status, r.error);
                }
                _ = self.shutdown.cancelled() => {
                    session.close(CloseReason::Local);
                }
            }
        };
        streams.abort();
        let code = if matches!(result, Ok((CloseReason::Local, _))) {
            0u32
        } else {
            1u32
        };
        conn.close(code.into(), b"agent session over");
        result
    }
}

async fn accept_streams(
    conn: quinn::Connection,
    targets: Targets,
    bound: Arc<Notify>,
    counters: Arc<Counters>,
) {
    while let Ok((send, mut recv)) = conn.accept_bi().await {
        let targets = targets.clone();
        let bound = bound.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            let header =
                match tokio::time::timeout(Duration::from_secs(10), read_header(&mut recv)).await {
                    Ok(Ok(h)) => h,
                    _ => return,
                };
            // A visitor can reach the relay between it registering a tunnel and us processing
            // `Bound`; give the control stream a moment to catch up.
            let deadline = Instant::now() + Duration::from_secs(2);
            let target = loop {
                let notified = bound.notified();
                if let Some(t) = targets
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&header.tunnel)
                {
                    break t.clone();
                }
                if tokio::time::timeout_at(deadline.into(), notified)
                    .await
                    .is_err()
                {
                    tracing::debug!(tunnel = %header.tunnel, "stream for unknown tunnel");
                    return;
                }
            };
            serve_stream(target, header, send, recv, counters).await;
        });
    }
}
