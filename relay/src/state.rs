//! The pieces of a running relay that several tasks share. They sit below every task that
//! uses them; `server` builds them once and hands each task only the ones it needs.

use crate::control::reporter::Reporter;
use crate::registry::{Registry, Tunnel};
use fdt_proto::Proto;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The stop signals every task follows, and the set of tasks awaited on shutdown.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    /// Cancelled to stop accepting visitors and agents.
    pub shutdown: CancellationToken,
    /// Cancelled once in-flight exchanges have drained: agents are then told to go away.
    pub drained: CancellationToken,
    /// Every spawned task, awaited on shutdown.
    pub tasks: TaskTracker,
}

/// The live tunnels, and the report to the control plane when one of its tunnels ends.
#[derive(Debug, Clone)]
pub struct Tunnels {
    /// Which host or port belongs to which tunnel.
    pub registry: Arc<Registry>,
    /// Ended tunnels go into the next heartbeat (relays attached to a control plane).
    reporter: Option<Arc<Reporter>>,
}

impl Tunnels {
    /// `registry`, reporting ended cloud tunnels to `reporter` when there is one.
    pub fn new(registry: Arc<Registry>, reporter: Option<Arc<Reporter>>) -> Self {
        Self { registry, reporter }
    }

    /// Takes a tunnel out of the registry and tells the control plane it ended.
    pub fn release(&self, tunnel: &Tunnel) {
        self.registry.remove(tunnel);
        if let (Some(reporter), Some(id)) = (&self.reporter, &tunnel.cloud_id) {
            reporter.ended(id.clone());
        }
    }
}

/// Live agent sessions, for the load the relay reports.
#[derive(Debug, Default)]
pub struct SessionCount(AtomicUsize);

impl SessionCount {
    /// Counts a session until the returned guard is dropped.
    pub fn enter(&self) -> SessionGuard<'_> {
        self.0.fetch_add(1, Ordering::Relaxed);
        SessionGuard(self)
    }

    /// Sessions live now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// One live session in a [`SessionCount`].
#[derive(Debug)]
pub struct SessionGuard<'a>(&'a SessionCount);

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How visitors reach this relay: the ports and host in tunnels' public URLs.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    /// HTTPS port in URLs (the configured public one, else the bound one).
    pub https: Option<u16>,
    /// HTTP port in URLs.
    pub http: Option<u16>,
    /// Host of `tcp://` URLs.
    pub tcp_host: String,
}

impl PublicUrls {
    /// The public URL of an http or tls tunnel on `host`.
    pub fn for_host(&self, proto: Proto, host: &str) -> String {
        let with_port = |scheme: &str, port: u16, default: u16| {
            if port == default {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}:{port}")
            }
        };
        match (proto, self.https, self.http) {
            (Proto::Tls, Some(p), _) => with_port("tls", p, 443),
            (_, Some(p), _) => with_port("https", p, 443),
            (_, None, Some(p)) => with_port("http", p, 80),
            _ => format!("http://{host}"),
        }
    }

    /// The public URL of a tcp tunnel on `port`.
    pub fn for_port(&self, port: u16) -> String {
        format!("tcp://{}:{port}", self.tcp_host)
    }
}
