//! Raw TCP tunnels: one public listener per tunnel; each accepted connection becomes a QUIC
//! stream to the agent, with QUIC flow control as backpressure.

use crate::edge::context::Edge;
use crate::edge::io::splice;
use crate::metrics::Listener;
use crate::registry::Tunnel;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Why a TCP tunnel's public port could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindPortError {
    /// The agent asked for a port outside the relay's range.
    #[error("port {port} is outside the relay's range {min}-{max}")]
    OutOfRange {
        /// The port asked for.
        port: u16,
        /// Lowest port of the range.
        min: u16,
        /// Highest port of the range.
        max: u16,
    },
    /// The port asked for is taken or cannot be bound.
    #[error("port {port} is not available: {source}")]
    Unavailable {
        /// The port asked for.
        port: u16,
        /// Why.
        source: std::io::Error,
    },
    /// Every port of the range tried is taken.
    #[error("no free port in {min}-{max}")]
    NoneFree {
        /// Lowest port of the range.
        min: u16,
        /// Highest port of the range.
        max: u16,
    },
}

/// Binds a listener for a TCP tunnel: the requested port if given (it must be in the range),
/// otherwise a free port of the range.
pub async fn bind_port(edge: &Edge, requested: Option<u16>) -> Result<TcpListener, BindPortError> {
    let (min, max) = (edge.cfg.tcp_port_min, edge.cfg.tcp_port_max);
    let ip = edge.cfg.tcp_bind_ip;
    if let Some(p) = requested {
        if p < min || p > max {
            return Err(BindPortError::OutOfRange { port: p, min, max });
        }
        // A reconnecting agent may ask for its port while the listener of its previous session
        // (already cancelled by the registry's takeover) is still closing: retry briefly.
        let mut last = None;
        for _ in 0..20 {
            match TcpListener::bind(SocketAddr::new(ip, p)).await {
                Ok(l) => return Ok(l),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    last = Some(e);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => return Err(BindPortError::Unavailable { port: p, source: e }),
            }
        }
        let source = last.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into());
        return Err(BindPortError::Unavailable { port: p, source });
    }
    // Start at a random offset so concurrent binds do not all race for the same port.
    let span = u32::from(max - min) + 1;
    let start = rand::random::<u32>() % span;
    for i in 0..span.min(512) {
        let port = min + ((start + i) % span) as u16;
        if edge.registry.lookup_port(port).is_some() {
            continue;
        }
        if let Ok(l) = TcpListener::bind(SocketAddr::new(ip, port)).await {
            return Ok(l);
        }
    }
    Err(BindPortError::NoneFree { min, max })
}

/// Accepts visitors on `listener` for `tunnel` until the tunnel is released or the relay stops.
pub async fn run_listener(edge: Arc<Edge>, listener: TcpListener, tunnel: Arc<Tunnel>) {
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = tunnel.cancel.cancelled() => return,
            _ = edge.lifecycle.shutdown.cancelled() => return,
        };
        let Some(guard) = edge.conn_limit.try_acquire(peer.ip()) else {
            edge.metrics.refused("conn_limit");
            continue;
        };
        if tunnel.policy.check_ip(peer.ip()).is_err() {
            edge.metrics.refused("ip_forbidden");
            continue;
        }
        edge.metrics.connection(Listener::Tcp);
        let _ = sock.set_nodelay(true);
        let tunnel = tunnel.clone();
        let metrics = edge.metrics.clone();
        edge.lifecycle.tasks.spawn(async move {
            let _guard = guard;
            let mut sock = sock;
            let stream = match tunnel.open(peer, None).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "tcp visitor dropped");
                    metrics.refused("stream_refused");
                    return;
                }
            };
            let _permits = stream.permits;
            tunnel.usage.connection();
            let mut agent = tokio::io::join(stream.recv, stream.send);
            if let Ok((inbound, outbound)) = splice(&mut sock, &mut agent).await {
                tunnel.usage.bytes(inbound, outbound);
            }
        });
    }
}
