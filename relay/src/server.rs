//! Wiring: binds the listeners, starts the edges and the agent endpoint, and shuts them down
//! gracefully (stop accepting → drain in-flight exchanges → going-away to agents).

use crate::auth::TokenVerifier;
use crate::config::RelayConfig;
use crate::limits::IpLimiter;
use crate::registry::Registry;
use anyhow::Context;
use fdt_proto::Proto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::server::ResolvesServerCert;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// State shared by every task of a relay.
#[derive(Debug)]
pub struct Shared {
    /// Configuration.
    pub cfg: RelayConfig,
    /// Agent token verifier.
    pub verifier: TokenVerifier,
    /// Live tunnels.
    pub registry: Registry,
    /// Per-IP connection limiter (all edges).
    pub limiter: IpLimiter,
    /// TLS configuration of the HTTPS edge.
    pub edge_tls: Arc<rustls::ServerConfig>,
    /// Cancelled to stop accepting visitors and agents.
    pub shutdown: CancellationToken,
    /// Cancelled once in-flight exchanges have drained: agents are then told to go away.
    pub drained: CancellationToken,
    /// Every spawned task, awaited on shutdown.
    pub tasks: TaskTracker,
    /// Live sessions by the authtoken they were opened with (closed when it is revoked).
    pub revocations: crate::revocations::SessionIndex,
    /// The control plane, when the relay is attached to one.
    pub cloud: Option<Arc<crate::cloud_sync::CloudSync>>,
    /// Traffic per account, for heartbeats.
    pub usage: crate::cloud_sync::UsageMeter,
    /// Live agent sessions.
    pub live_sessions: std::sync::atomic::AtomicUsize,
    /// Actual HTTP port (for URLs).
    pub http_port: Option<u16>,
    /// Actual HTTPS port (for URLs).
    pub https_port: Option<u16>,
    /// Key of the browser-warning consent cookies (see [`crate::interstitial`]).
    pub consent_key: crate::interstitial::ConsentKey,
}

impl Shared {
    /// Live agent sessions.
    pub fn sessions(&self) -> usize {
        self.live_sessions
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes a tunnel out of the registry and tells the control plane it ended.
    pub fn tunnel_gone(&self, tunnel: &crate::registry::Tunnel) {
        self.registry.remove(tunnel);
        if let (Some(sync), Some(id)) = (&self.cloud, &tunnel.cloud_id) {
            sync.ended(id.clone());
        }
    }

    /// The public URL of an http or tls tunnel on `host`.
    pub fn public_url(&self, proto: Proto, host: &str) -> String {
        let https = self.cfg.public_https_port.or(self.https_port);
        let http = self.cfg.public_http_port.or(self.http_port);
        let with_port = |scheme: &str, port: u16, default: u16| {
            if port == default {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}:{port}")
            }
        };
        match (proto, https, http) {
            (Proto::Tls, Some(p), _) => with_port("tls", p, 443),
            (_, Some(p), _) => with_port("https", p, 443),
            (_, None, Some(p)) => with_port("http", p, 80),
            _ => format!("http://{host}"),
        }
    }
}

/// Sockets a relay serves on; bind them yourself (tests use port 0) or with [`Listeners::bind`].
#[derive(Debug)]
pub struct Listeners {
    /// UDP socket of the agent QUIC endpoint.
    pub agent: std::net::UdpSocket,
    /// Plain-HTTP edge.
    pub http: Option<TcpListener>,
    /// HTTPS / TLS-passthrough edge.
    pub https: Option<TcpListener>,
}

impl Listeners {
    /// Binds the addresses of `cfg`.
    pub async fn bind(cfg: &RelayConfig) -> anyhow::Result<Self> {
        let agent = std::net::UdpSocket::bind(cfg.agent_listen)
            .with_context(|| format!("binding agent endpoint udp/{}", cfg.agent_listen))?;
        let http = match cfg.http_listen {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .with_context(|| format!("binding HTTP edge {a}"))?,
            ),
            None => None,
        };
        let https = match cfg.https_listen {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .with_context(|| format!("binding HTTPS edge {a}"))?,
            ),
            None => None,
        };
        Ok(Self { agent, http, https })
    }
}

/// A running relay.
#[derive(Debug)]
pub struct Relay {
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    edges: TaskTracker,
    graceful: Arc<std::sync::Mutex<Option<GracefulShutdown>>>,
    /// Address agents connect to (UDP).
    pub agent_addr: SocketAddr,
    /// HTTP edge address.
    pub http_addr: Option<SocketAddr>,
    /// HTTPS edge address.
    pub https_addr: Option<SocketAddr>,
}

impl Relay {
    /// Starts serving on `listeners`. `certs` resolves certificates for both the HTTPS edge and
    /// the agent endpoint. When `verifier` follows a JWKS, its scheduled refresh (first fetch
    /// at once) runs until shutdown.
    pub async fn start(
        cfg: RelayConfig,
        listeners: Listeners,
        verifier: TokenVerifier,
        certs: Arc<dyn ResolvesServerCert>,
    ) -> anyhow::Result<Relay> {
        cfg.validate()?;
        let agent_addr = listeners.agent.local_addr()?;
        let http_addr = listeners
            .http
            .as_ref()
            .map(|l| l.local_addr())
            .transpose()?;
        let https_addr = listeners
            .https
            .as_ref()
            .map(|l| l.local_addr())
            .transpose()?;
        let edge_tls =
            crate::certs::server_config(certs.clone(), vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        let endpoint = crate::quic::server_endpoint(&cfg, listeners.agent, certs)?;
        let advertised = cfg
            .advertise_agent_addr
            .clone()
            .unwrap_or_else(|| agent_addr.to_string());
        let server_name = cfg
            .server_name
            .clone()
            .unwrap_or_else(|| cfg.base_domain.clone());
        let name_grace = Duration::from_millis(cfg.limits.name_grace_ms);
        let shared = Arc::new(Shared {
            limiter: IpLimiter::new(cfg.limits.max_conns_per_ip),
            cloud: crate::cloud_sync::CloudSync::new(&cfg)?.map(Arc::new),
            cfg,
            verifier,
            registry: Registry::with_name_grace(name_grace),
            edge_tls,
            shutdown: CancellationToken::new(),
            drained: CancellationToken::new(),
            tasks: TaskTracker::new(),
            revocations: Default::default(),
            usage: Default::default(),
            live_sessions: Default::default(),
            http_port: http_addr.map(|a| a.port()),
            https_port: https_addr.map(|a| a.port()),
            consent_key: crate::interstitial::ConsentKey::random(),
        });
        if let Some(jwks) = shared.verifier.jwks() {
            shared
                .tasks
                .spawn(jwks.clone().run_refresh(shared.shutdown.clone()));
        }
        if let (Some(url), Some(secret)) = (&shared.cfg.cloud_url, &shared.cfg.relay_secret) {
            shared.tasks.spawn(crate::revocations::run_poller(
                shared.clone(),
                url.clone(),
                secret.expose().to_owned(),
                shared.shutdown.clone(),
            ));
        }
        if let Some(sync) = &shared.cloud {
            tracing::info!(region = sync.region(), agents = %advertised, "registering with the control plane");
            shared.tasks.spawn(crate::traffic_log::run_shipper(
                shared.clone(),
                sync.clone(),
            ));
            shared.tasks.spawn(crate::cloud_sync::run_heartbeats(
                shared.clone(),
                sync.clone(),
                advertised,
                server_name,
            ));
        }
        let graceful = Arc::new(std::sync::Mutex::new(Some(GracefulShutdown::new())));
        let edges = TaskTracker::new();
        shared
            .tasks
            .spawn(crate::agent_endpoint::run(shared.clone(), endpoint.clone()));
        if let Some(l) = listeners.http {
            edges.spawn(accept_loop(shared.clone(), l, graceful.clone(), false));
        }
        if let Some(l) = listeners.https {
            edges.spawn(accept_loop(shared.clone(), l, graceful.clone(), true));
        }
        edges.close();
        tracing::info!(agents = %agent_addr, http = ?http_addr, https = ?https_addr, "relay listening");
        Ok(Relay {
            shared,
            endpoint,
            edges,
            graceful,
            agent_addr,
            http_addr,
            https_addr,
        })
    }

    /// State shared with the relay's tasks (for inspection in tests and status endpoints).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Graceful shutdown: stop accepting, let in-flight exchanges finish (bounded by
    /// `limits.drain_timeout_ms`), tell agents to go away, then close the endpoint.
    pub async fn shutdown(self) {
        let drain = Duration::from_millis(self.shared.cfg.limits.drain_timeout_ms);
        self.shared.shutdown.cancel();
        self.edges.wait().await;
        let g = self
            .graceful
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(g) = g
            && tokio::time::timeout(drain, g.shutdown()).await.is_err()
        {
            tracing::warn!("drain timeout: closing remaining visitor connections");
        }
        self.shared.drained.cancel();
        self.shared.tasks.close();
        if tokio::time::timeout(Duration::from_secs(2), self.shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::debug!("some relay tasks still running at shutdown");
        }
        self.endpoint.close(
            crate::agent_endpoint::CLOSE_GOING_AWAY.into(),
            b"relay shutting down",
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    graceful: Arc<std::sync::Mutex<Option<GracefulShutdown>>>,
    tls: bool,
) {
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shared.shutdown.cancelled() => return,
        };
        let Some(guard) = shared.limiter.try_acquire(peer.ip()) else {
            tracing::debug!(%peer, "connection limit per IP reached");
            continue;
        };
        // Each connection registers with the drain before it is served.
        let watcher = {
            let g = graceful.lock().unwrap_or_else(|e| e.into_inner());
            match g.as_ref() {
                Some(g) => g.watcher(),
                None => return,
            }
        };
        let _ = sock.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let _guard = guard;
            if tls {
                crate::tls_edge::handle_conn(shared, sock, peer, watcher).await;
            } else {
                let ctx = crate::http_edge::ConnCtx {
                    peer,
                    tls: false,
                    sni: None,
                };
                crate::http_edge::serve_conn(shared, sock, ctx, watcher).await;
            }
        });
    }
}
