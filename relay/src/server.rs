//! Wiring, the one place that builds the relay's shared pieces and hands each task its own
//! handles: binds the listeners, starts the edges, the agent endpoint and the control-plane
//! tasks, and shuts them down gracefully (stop accepting → drain in-flight exchanges →
//! going-away to agents).

use crate::agents::{Agents, CLOSE_GOING_AWAY};
use crate::auth::TokenVerifier;
use crate::config::RelayConfig;
use crate::control::client::ControlClient;
use crate::control::heartbeat::{Advert, Heartbeats};
use crate::control::identity::Identity;
use crate::control::reporter::Reporter;
use crate::control::traffic_log::TrafficQueue;
use crate::edge::conn_limit::IpLimiter;
use crate::edge::hold_budget::HoldBudget;
use crate::edge::interstitial::ConsentKey;
use crate::edge::{Drain, Edge};
use crate::metrics::RelayMetrics;
use crate::peer::Peers;
use crate::peer::client::PeerClient;
use crate::peer::placement::Placements;
use crate::registry::Registry;
use crate::state::{Lifecycle, PublicUrls, SessionCount, Tunnels};
use anyhow::Context;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::server::ResolvesServerCert;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// Sockets a relay serves on; bind them yourself (tests use port 0) or with [`Listeners::bind`].
#[derive(Debug)]
pub struct Listeners {
    /// UDP socket of the agent QUIC endpoint.
    pub agent: std::net::UdpSocket,
    /// Plain-HTTP edge.
    pub http: Option<TcpListener>,
    /// HTTPS / TLS-passthrough edge.
    pub https: Option<TcpListener>,
    /// Admin listener (`/metrics`, `/healthz`).
    pub admin: Option<TcpListener>,
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
        let admin = match cfg.admin_listen {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .with_context(|| format!("binding admin listener {a}"))?,
            ),
            None => None,
        };
        Ok(Self {
            agent,
            http,
            https,
            admin,
        })
    }
}

/// A running relay.
#[derive(Debug)]
pub struct Relay {
    lifecycle: Lifecycle,
    registry: Arc<Registry>,
    edge: Arc<Edge>,
    endpoint: quinn::Endpoint,
    edges: TaskTracker,
    drain: Drain,
    drain_timeout: Duration,
    /// Address agents connect to (UDP).
    pub agent_addr: SocketAddr,
    /// HTTP edge address.
    pub http_addr: Option<SocketAddr>,
    /// HTTPS edge address.
    pub https_addr: Option<SocketAddr>,
    /// Admin listener address (`/metrics`, `/healthz`).
    pub admin_addr: Option<SocketAddr>,
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
        let cfg = Arc::new(cfg);
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
        let admin_addr = listeners
            .admin
            .as_ref()
            .map(|l| l.local_addr())
            .transpose()?;
        let domains = Arc::new(crate::domains::CustomDomains::default());
        let edge_tls = crate::tls::certs::server_config(
            Arc::new(crate::domains::DomainResolver::new(
                domains.clone(),
                certs.clone(),
            )),
            vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        );
        let endpoint = crate::agents::quic::server_endpoint(&cfg, listeners.agent, certs)?;
        let advert = Advert {
            agent_addr: cfg
                .advertise_agent_addr
                .clone()
                .unwrap_or_else(|| agent_addr.to_string()),
            server_name: cfg
                .server_name
                .clone()
                .unwrap_or_else(|| cfg.base_domain.clone()),
            capacity: cfg.capacity,
            weight: cfg.weight,
        };
        let lifecycle = Lifecycle::default();
        let control = ControlClient::from_config(&cfg)?;
        let reporter = control.as_ref().map(|_| Arc::new(Reporter::default()));
        let traffic = control.as_ref().map(|_| Arc::new(TrafficQueue::default()));
        let registry = Arc::new(Registry::with_name_grace(Duration::from_millis(
            cfg.limits.name_grace_ms,
        )));
        let tunnels = Tunnels::new(registry.clone(), reporter.clone());
        let conn_limit = Arc::new(IpLimiter::new(cfg.limits.max_conns_per_ip));
        let usage = Arc::new(Default::default());
        let sessions = Arc::new(SessionCount::default());
        let metrics = Arc::new(RelayMetrics::new());
        let drain: Drain = Arc::new(std::sync::Mutex::new(Some(GracefulShutdown::new())));
        let identity = Arc::new(Identity::default());
        let peers = match (&control, cfg.forward) {
            (Some(control), true) => Some(Arc::new(Peers {
                placement: Arc::new(Placements::new(control.clone())),
                client: PeerClient::new(
                    endpoint.clone(),
                    crate::peer::client::client_config(cfg.peer_ca.as_deref())?,
                    identity.clone(),
                    lifecycle.drained.clone(),
                ),
            })),
            _ => None,
        };
        // With `tcp_forward` the whole TCP range is listened on from the start (the region's
        // TCP addresses work through every relay of the region).
        let shared_tcp = if cfg.tcp_forward {
            let bound = crate::edge::tcp_shared::bind_range(
                cfg.tcp_bind_ip,
                cfg.tcp_port_min,
                cfg.tcp_port_max,
            )
            .await
            .context("binding the TCP range (tcp_forward)")?;
            let ports = bound
                .into_iter()
                .map(|l| Ok((l.local_addr()?.port(), l)))
                .collect::<std::io::Result<Vec<_>>>()?;
            Some(ports)
        } else {
            None
        };
        let edge = Arc::new(Edge {
            shared_tcp: shared_tcp.as_ref().map(|ports| {
                Arc::new(crate::edge::shared_ports::SharedPorts::new(
                    ports.iter().map(|(p, _)| *p).collect(),
                ))
            }),
            cfg: cfg.clone(),
            registry: registry.clone(),
            conn_limit: conn_limit.clone(),
            holds: HoldBudget::default(),
            traffic: traffic.clone(),
            consent_key: ConsentKey::random(),
            tls: edge_tls,
            domains: domains.clone(),
            control: control.clone(),
            acme_lookups: Arc::new(tokio::sync::Semaphore::new(
                crate::edge::acme::MAX_ACME_LOOKUPS,
            )),
            lifecycle: lifecycle.clone(),
            metrics: metrics.clone(),
            peers,
            drain: drain.clone(),
        });
        let agents = Arc::new(Agents {
            cfg: cfg.clone(),
            verifier: verifier.clone(),
            tunnels: tunnels.clone(),
            usage: Arc::clone(&usage),
            revocations: Default::default(),
            managed: Default::default(),
            sessions: sessions.clone(),
            reporter: reporter.clone(),
            control: control.clone(),
            urls: PublicUrls {
                https: cfg.public_https_port.or(https_addr.map(|a| a.port())),
                http: cfg.public_http_port.or(http_addr.map(|a| a.port())),
                tcp_host: cfg.public_host().to_owned(),
            },
            edge: edge.clone(),
            lifecycle: lifecycle.clone(),
        });
        let tasks = &lifecycle.tasks;
        for (port, l) in shared_tcp.into_iter().flatten() {
            tasks.spawn(crate::edge::tcp_shared::run_port(edge.clone(), l, port));
        }
        tasks.spawn(run_upkeep(metrics.clone(), lifecycle.drained.clone()));
        if let Some(l) = listeners.admin {
            let scrape = crate::admin::Scrape::new(
                metrics.clone(),
                edge.clone(),
                sessions.clone(),
                usage.clone(),
                served_cert_expiry(&cfg),
            );
            tasks.spawn(crate::admin::serve(
                l,
                scrape,
                cfg.admin_token.clone(),
                lifecycle.shutdown.clone(),
                lifecycle.drained.clone(),
            ));
        }
        if let Some(jwks) = verifier.jwks() {
            tasks.spawn(jwks.clone().run_refresh(lifecycle.shutdown.clone()));
        }
        if let (Some(control), Some(reporter), Some(traffic)) = (control, reporter, traffic) {
            tracing::info!(region = control.region(), agents = %advert.agent_addr, "registering with the control plane");
            tasks.spawn(crate::control::revocations::run_poller(
                control.clone(),
                agents.revocations.clone(),
                metrics.clone(),
                lifecycle.shutdown.clone(),
            ));
            if let Some(peers) = &edge.peers {
                tasks.spawn(crate::peer::feed::run(
                    control.clone(),
                    peers.placement.clone(),
                    metrics.clone(),
                    lifecycle.shutdown.clone(),
                ));
            }
            tasks.spawn(crate::control::domains::run_poller(
                control.clone(),
                domains,
                lifecycle.shutdown.clone(),
            ));
            tasks.spawn(crate::control::managed::run_poller(
                control.clone(),
                agents.managed.clone(),
                lifecycle.shutdown.clone(),
            ));
            tasks.spawn(crate::control::traffic_log::run_shipper(
                control.clone(),
                traffic,
                lifecycle.shutdown.clone(),
            ));
            let heartbeats = Heartbeats {
                client: control,
                reporter,
                usage,
                tunnels,
                sessions,
                conn_limit,
                advert,
                shutdown: lifecycle.shutdown.clone(),
                metrics,
                identity,
                moving: lifecycle.moving.clone(),
            };
            tasks.spawn(heartbeats.run());
        }
        let edges = TaskTracker::new();
        tasks.spawn(crate::agents::endpoint::run(agents, endpoint.clone()));
        if let Some(l) = listeners.http {
            edges.spawn(crate::edge::accept_loop(
                edge.clone(),
                l,
                drain.clone(),
                false,
            ));
        }
        if let Some(l) = listeners.https {
            edges.spawn(crate::edge::accept_loop(
                edge.clone(),
                l,
                drain.clone(),
                true,
            ));
        }
        edges.close();
        tracing::info!(agents = %agent_addr, http = ?http_addr, https = ?https_addr, admin = ?admin_addr, "relay listening");
        Ok(Relay {
            drain_timeout: Duration::from_millis(cfg.limits.drain_timeout_ms),
            lifecycle,
            registry,
            edge,
            endpoint,
            edges,
            drain,
            agent_addr,
            http_addr,
            https_addr,
            admin_addr,
        })
    }

    /// The live tunnels (for tests and status endpoints).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Agent connections open now: one per agent, however many tunnels it holds.
    pub fn agent_connections(&self) -> usize {
        self.endpoint.open_connections()
    }

    /// Visitor connections open now, across every listener.
    pub fn visitor_connections(&self) -> u64 {
        self.edge.conn_limit.total()
    }

    /// What is held now for reconnecting names.
    pub fn holds(&self) -> &HoldBudget {
        &self.edge.holds
    }

    /// Graceful shutdown: stop accepting, let in-flight exchanges finish (bounded by
    /// `limits.drain_timeout_ms`), tell agents to go away, then close the endpoint.
    pub async fn shutdown(self) {
        self.lifecycle.shutdown.cancel();
        self.edges.wait().await;
        let g = self.drain.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(g) = g
            && tokio::time::timeout(self.drain_timeout, g.shutdown())
                .await
                .is_err()
        {
            tracing::warn!("drain timeout: closing remaining visitor connections");
        }
        self.lifecycle.drained.cancel();
        self.lifecycle.tasks.close();
        if tokio::time::timeout(Duration::from_secs(2), self.lifecycle.tasks.wait())
            .await
            .is_err()
        {
            tracing::debug!("some relay tasks still running at shutdown");
        }
        self.endpoint
            .close(CLOSE_GOING_AWAY.into(), b"relay shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}

/// Folds histogram samples into their buckets every few seconds until the relay has drained
/// (see [`RelayMetrics::upkeep`]).
async fn run_upkeep(metrics: Arc<RelayMetrics>, stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => metrics.upkeep(),
            () = stop.cancelled() => return,
        }
    }
}

/// What bounds the validity of the certificates the relay serves: the `tls_cert` file's leaf,
/// else the dev CA that issues them on demand (as `fdt-relay --dev` and `fdt-cloud dev` keep
/// it in the data directory). `None` when neither can be read.
fn served_cert_expiry(cfg: &RelayConfig) -> Option<(&'static str, i64)> {
    match &cfg.tls_cert {
        Some(path) => crate::tls::certs::pem_file_expiry(path).map(|t| ("tls_cert", t)),
        None => crate::tls::certs::pem_file_expiry(&cfg.data_dir.join("dev-ca").join("ca.pem"))
            .map(|t| ("dev_ca", t)),
    }
}
