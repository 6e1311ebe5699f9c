//! The handles the edge's tasks share.

use crate::config::RelayConfig;
use crate::control::traffic_log::TrafficQueue;
use crate::edge::conn_limit::IpLimiter;
use crate::edge::hold_budget::HoldBudget;
use crate::edge::interstitial::ConsentKey;
use crate::metrics::RelayMetrics;
use crate::registry::Registry;
use crate::state::Lifecycle;
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::{Arc, Mutex};

/// What the edge's tasks share: their own handles, nothing else of the relay.
#[derive(Debug)]
pub(crate) struct Edge {
    /// Configuration (limits, base domain, TCP port range).
    pub cfg: Arc<RelayConfig>,
    /// Where each host and port goes.
    pub registry: Arc<Registry>,
    /// Visitor connections per IP, across every listener.
    pub conn_limit: Arc<IpLimiter>,
    /// Requests held for reconnecting names.
    pub holds: HoldBudget,
    /// Records for the cloud traffic log, when the relay has a control plane.
    pub traffic: Option<Arc<TrafficQueue>>,
    /// Key of the browser-warning consent cookies.
    pub consent_key: ConsentKey,
    /// TLS configuration of the HTTPS edge.
    pub tls: Arc<rustls::ServerConfig>,
    /// Verified custom domains and their certificates.
    pub domains: Arc<crate::domains::CustomDomains>,
    /// The control plane (answers to ACME HTTP-01 challenges), when the relay has one.
    pub control: Option<crate::control::client::ControlClient>,
    /// Slots for ACME HTTP-01 lookups at the control plane: visitors choose the path, so
    /// how many lookups they can cause at once is capped.
    pub acme_lookups: Arc<tokio::sync::Semaphore>,
    /// Stop signals and the task set.
    pub lifecycle: Lifecycle,
    /// What the edge counts for `/metrics`.
    pub metrics: Arc<RelayMetrics>,
    /// Forwarding to the relays holding names this one does not (relays with a control
    /// plane and forwarding on).
    pub peers: Option<Arc<crate::peer::Peers>>,
    /// Drains in-flight visitor connections on shutdown (taken then).
    pub drain: Drain,
    /// The ports of the TCP range this relay listens on for its region (with `tcp_forward`;
    /// TCP tunnels then claim one of them instead of binding a listener of their own).
    pub shared_tcp: Option<Arc<crate::edge::shared_ports::SharedPorts>>,
}

impl Edge {
    /// A watcher on the drain, for a new visitor connection; `None` once shutting down.
    pub fn watcher(&self) -> Option<hyper_util::server::graceful::Watcher> {
        let g = self.drain.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().map(GracefulShutdown::watcher)
    }
}

/// Drains in-flight visitor connections on shutdown; taken once.
pub(crate) type Drain = Arc<Mutex<Option<GracefulShutdown>>>;
