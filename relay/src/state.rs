//! The pieces of a running relay that several tasks share. They sit below every task that
//! uses them; `server` builds them once and hands each task only the ones it needs.

use crate::control::reporter::Reporter;
use crate::registry::{Registry, Tunnel};
use fdt_proto::Proto;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
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
    /// Whether the control plane asks this relay to move its agents to other relays (an
    /// operator's drain): each session is then told to go away at a random moment within the
    /// drain time, so the fleet takes them in gradually.
    pub moving: MoveAsk,
}

/// The control plane's "move your agents" state, followed by every session.
#[derive(Debug, Clone)]
pub struct MoveAsk(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for MoveAsk {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::channel(false).0))
    }
}

impl MoveAsk {
    /// Records the control plane's latest answer.
    pub fn set(&self, moving: bool) {
        self.0
            .send_if_modified(|m| std::mem::replace(m, moving) != moving);
    }

    /// Follows it.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.subscribe()
    }
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

/// Live agent sessions: their count for the load the relay reports, their connections for
/// the QUIC statistics it exports.
#[derive(Debug, Default)]
pub struct SessionCount {
    live: AtomicUsize,
    conns: Mutex<Conns>,
}

/// The connections of live sessions, and what the ended ones added to the totals.
#[derive(Debug, Default)]
struct Conns {
    next: u64,
    live: HashMap<u64, quinn::Connection>,
    ended: QuicTotals,
}

/// QUIC path statistics over every agent connection, live and ended.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct QuicTotals {
    /// Packets sent.
    pub sent_packets: u64,
    /// Packets declared lost.
    pub lost_packets: u64,
    /// Congestion events.
    pub congestion_events: u64,
    /// Mean round-trip time over live connections (zero without any).
    pub rtt_mean: Duration,
    /// Largest round-trip time over live connections.
    pub rtt_max: Duration,
}

impl QuicTotals {
    fn add(&mut self, s: &quinn::ConnectionStats) {
        self.sent_packets += s.path.sent_packets;
        self.lost_packets += s.path.lost_packets;
        self.congestion_events += s.path.congestion_events;
    }
}

impl SessionCount {
    fn conns(&self) -> std::sync::MutexGuard<'_, Conns> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a session on `conn` until the returned guard is dropped.
    pub fn enter(&self, conn: &quinn::Connection) -> SessionGuard<'_> {
        self.live.fetch_add(1, Ordering::Relaxed);
        let mut c = self.conns();
        c.next += 1;
        let id = c.next;
        c.live.insert(id, conn.clone());
        SessionGuard { count: self, id }
    }

    /// Sessions live now.
    pub fn get(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Statistics over every session's connection so far. Counts never go down: an ended
    /// connection's final figures move into the totals under the same lock this reads them.
    pub fn quic_totals(&self) -> QuicTotals {
        let c = self.conns();
        let mut t = c.ended;
        let mut rtt_sum = Duration::ZERO;
        for conn in c.live.values() {
            let s = conn.stats();
            t.add(&s);
            rtt_sum += s.path.rtt;
            t.rtt_max = t.rtt_max.max(s.path.rtt);
        }
        let n = u32::try_from(c.live.len()).unwrap_or(u32::MAX).max(1);
        t.rtt_mean = rtt_sum / n;
        t
    }
}

/// One live session in a [`SessionCount`].
#[derive(Debug)]
pub struct SessionGuard<'a> {
    count: &'a SessionCount,
    id: u64,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.count.live.fetch_sub(1, Ordering::Relaxed);
        let mut c = self.count.conns();
        if let Some(conn) = c.live.remove(&self.id) {
            let s = conn.stats();
            c.ended.add(&s);
        }
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
