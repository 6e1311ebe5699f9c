//! Raw TCP tunnels: each visitor connection becomes a QUIC stream to the agent, with QUIC flow
//! control as backpressure. A tunnel has its own public listener, or — with `tcp_forward` —
//! a port of the listeners the relay keeps on its whole range (see [`super::tcp_shared`]).

use crate::agents::streams::{AgentStream, OpenError};
use crate::edge::context::Edge;
use crate::edge::io::splice;
use crate::edge::shared_ports::Claim;
use crate::metrics::Listener;
use crate::registry::Tunnel;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
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
    /// The relay does not listen on the port (`tcp_forward`: it could not be bound at start).
    #[error("port {port} is not among the ports this relay listens on")]
    NotListening {
        /// The port asked for.
        port: u16,
    },
    /// Another bind on this relay is claiming the port right now.
    #[error("port {port} is being bound by another tunnel; try again")]
    Claimed {
        /// The port asked for.
        port: u16,
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

/// A port a TCP tunnel got.
#[derive(Debug)]
pub enum PortClaim {
    /// Its own listener, bound for it (served by [`run_listener`]).
    Own(TcpListener),
    /// A port of the relay's shared listeners (`tcp_forward`), which look the tunnel up per
    /// connection; claimed until the claim is dropped (once the registry has the tunnel).
    Shared(Claim),
}

impl PortClaim {
    /// The port.
    pub fn port(&self) -> std::io::Result<u16> {
        match self {
            Self::Own(l) => Ok(l.local_addr()?.port()),
            Self::Shared(c) => Ok(c.port()),
        }
    }
}

/// Claims a port for a TCP tunnel: the requested port if given (it must be in the range),
/// otherwise a free port of the range. With shared listeners the port must be one of them
/// and not held here (the registry's insert settles a race between two binds; the control
/// plane, ports held on the region's other relays).
pub async fn bind_port(edge: &Edge, requested: Option<u16>) -> Result<PortClaim, BindPortError> {
    let (min, max) = (edge.cfg.tcp_port_min, edge.cfg.tcp_port_max);
    if let Some(p) = requested
        && (p < min || p > max)
    {
        return Err(BindPortError::OutOfRange { port: p, min, max });
    }
    if let Some(shared) = &edge.shared_tcp {
        return match requested {
            Some(p) if !shared.contains(p) => Err(BindPortError::NotListening { port: p }),
            Some(p) => shared
                .claim(p)
                .map(PortClaim::Shared)
                .ok_or(BindPortError::Claimed { port: p }),
            None => {
                // Start at a random offset so concurrent binds do not all race for one port.
                let ports = shared.ports();
                let start = rand::random_range(0..ports.len().max(1));
                (0..ports.len().min(512))
                    .map(|i| ports[(start + i) % ports.len()])
                    .filter(|p| edge.registry.lookup_port(*p).is_none())
                    .find_map(|p| shared.claim(p))
                    .map(PortClaim::Shared)
                    .ok_or(BindPortError::NoneFree { min, max })
            }
        };
    }
    bind_own(edge, requested).await.map(PortClaim::Own)
}

/// Binds a listener of its own for a TCP tunnel.
async fn bind_own(edge: &Edge, requested: Option<u16>) -> Result<TcpListener, BindPortError> {
    let (min, max) = (edge.cfg.tcp_port_min, edge.cfg.tcp_port_max);
    let ip = edge.cfg.tcp_bind_ip;
    if let Some(p) = requested {
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
                    tokio::select! {
                        () = tokio::time::sleep(std::time::Duration::from_millis(50)) => continue,
                        () = edge.lifecycle.shutdown.cancelled() => return,
                    }
                }
            },
            _ = tunnel.cancel.cancelled() => return,
            _ = edge.lifecycle.shutdown.cancelled() => return,
        };
        let Some(guard) = edge.conn_limit.try_acquire(peer.ip()) else {
            edge.metrics.refused("conn_limit");
            continue;
        };
        // Refused before anything is spent on the visitor.
        if tunnel.policy.check_ip(peer.ip()).is_err() {
            edge.metrics.refused("ip_forbidden");
            continue;
        }
        edge.metrics.connection(Listener::Tcp);
        let tunnel = tunnel.clone();
        let task_edge = edge.clone();
        edge.lifecycle.tasks.spawn(async move {
            let _guard = guard;
            let mut sock = sock;
            let _ = sock.set_nodelay(true);
            if let Ok(stream) = admit(&task_edge, &tunnel, peer, None).await {
                carry(&tunnel, stream, &mut sock, &[]).await;
            }
        });
    }
}

/// Why a visitor was not let into a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The tunnel's address policy.
    Policy,
    /// The tunnel (or its agent's session) has no free stream now.
    Busy,
    /// The agent could not be reached: its session is gone or going (it may be bound on
    /// another relay already).
    Offline,
}

/// Lets visitor `peer` of a byte-stream tunnel (TCP, or TLS passthrough with its `sni`) into
/// `tunnel` if its address policy allows, with a stream to the agent; why not otherwise
/// (counted).
pub(crate) async fn admit(
    edge: &Edge,
    tunnel: &Tunnel,
    peer: SocketAddr,
    sni: Option<&str>,
) -> Result<AgentStream, Refusal> {
    if tunnel.policy.check_ip(peer.ip()).is_err() {
        tracing::debug!(%peer, ?sni, "visitor refused by IP policy");
        edge.metrics.refused("ip_forbidden");
        return Err(Refusal::Policy);
    }
    tunnel
        .open(peer, sni.map(str::to_owned))
        .await
        .map_err(|e| {
            tracing::debug!(%peer, error = %e, "visitor dropped");
            edge.metrics.refused("stream_refused");
            match e {
                OpenError::Busy => Refusal::Busy,
                OpenError::Offline(_) => Refusal::Offline,
            }
        })
}

/// Carries a visitor's bytes both ways between `sock` and the agent's `stream` until both
/// ends close — `first` (bytes already read from the visitor, a ClientHello) ahead of them —
/// counting them for the tunnel's account.
pub(crate) async fn carry<S>(tunnel: &Tunnel, mut stream: AgentStream, sock: &mut S, first: &[u8])
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !first.is_empty() && stream.send.write_all(first).await.is_err() {
        return;
    }
    let _permits = stream.permits;
    tunnel.usage.connection();
    let mut agent = tokio::io::join(stream.recv, stream.send);
    if let Ok((inbound, outbound)) = splice(sock, &mut agent).await {
        tunnel.usage.bytes(inbound + first.len() as u64, outbound);
    }
}
