//! The region's TCP addresses on every relay of the region (`tcp_forward`): the relay listens
//! on its whole TCP port range from the start, and a visitor of a port is served by the tunnel
//! holding it here, else sent to the relay of the region that holds it (placement by region
//! and port). A TCP address — region and port, as the control plane reserves and binds them —
//! then works through whichever relay of its region a visitor reaches, and stays the same when
//! its agent moves to another relay of the region.
//!
//! The visitor's bytes are read only once the holder has answered [`Answer::Accepted`], so
//! a holder that no longer has the port (placement is up to 5 s stale) costs nothing: the
//! connection is sent, untouched, to the relay holding it now.

use crate::edge::context::Edge;
use crate::edge::{forward, tcp};
use crate::metrics::Listener;
use crate::peer::placement::Name;
use crate::peer::wire::{Answer, Kind, StreamHead};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Binds every port of `min..=max` on `ip`. A port that cannot be bound (another program
/// has it) is left out and named in one warning; none bound at all is an error.
pub async fn bind_range(ip: IpAddr, min: u16, max: u16) -> std::io::Result<Vec<TcpListener>> {
    let mut bound = Vec::with_capacity(usize::from(max - min) + 1);
    let mut missing = Vec::new();
    for port in min..=max {
        match TcpListener::bind(SocketAddr::new(ip, port)).await {
            Ok(l) => bound.push(l),
            Err(e) => missing.push((port, e)),
        }
    }
    if bound.is_empty() {
        let (port, e) = missing.swap_remove(0);
        return Err(std::io::Error::new(
            e.kind(),
            format!(
                "no port of the TCP range {min}-{max} could be bound on {ip} (port {port}: {e})"
            ),
        ));
    }
    if let Some((port, e)) = missing.first() {
        tracing::warn!(
            count = missing.len(),
            first = port,
            error = %e,
            "TCP range ports not bound: tunnels cannot use them on this relay"
        );
    }
    Ok(bound)
}

/// Accepts visitors on one shared listener of `port` until the relay stops.
pub async fn run_port(edge: Arc<Edge>, listener: TcpListener, port: u16) {
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(port, error = %e, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = edge.lifecycle.shutdown.cancelled() => return,
        };
        let Some(guard) = edge.conn_limit.try_acquire(peer.ip()) else {
            edge.metrics.refused("conn_limit");
            continue;
        };
        edge.metrics.connection(Listener::Tcp);
        let task_edge = edge.clone();
        edge.lifecycle.tasks.spawn(async move {
            let _guard = guard;
            serve(&task_edge, sock, peer, port).await;
        });
    }
}

/// Serves one visitor of `port`: the tunnel holding it here (looked up per connection), else
/// the relay of the region holding it, else the connection is closed.
async fn serve(edge: &Edge, mut sock: TcpStream, peer: SocketAddr, port: u16) {
    let _ = sock.set_nodelay(true);
    if let Some(tunnel) = edge.registry.lookup_port(port) {
        if let Some(stream) = tcp::admit(edge, &tunnel, peer).await {
            tcp::carry(&tunnel, stream, &mut sock).await;
        }
        return;
    }
    // Not held here: the relay of the region that holds it, if one does.
    let head = StreamHead::tcp(peer, port);
    forward::forward_bytes(edge, sock, &head, Name::Port(port), &[], None).await;
}

/// Serves a TCP visitor another relay of the region forwarded here for `port` (`io` is the
/// peer's stream): answers whether this relay holds the port and lets the visitor in, then
/// carries the bytes. Never forwarded further (one hop).
pub(crate) async fn serve_forwarded<S>(edge: &Edge, mut io: S, visitor: SocketAddr, port: u16)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Some(tunnel) = edge.registry.lookup_port(port) else {
        edge.metrics.forwarded(Kind::Tcp, "miss");
        let _ = io.write_all(&[Answer::NotHere as u8]).await;
        let _ = io.shutdown().await;
        return;
    };
    let Some(stream) = tcp::admit(edge, &tunnel, visitor).await else {
        let _ = io.write_all(&[Answer::Refused as u8]).await;
        let _ = io.shutdown().await;
        return;
    };
    if io.write_all(&[Answer::Accepted as u8]).await.is_err() {
        return;
    }
    tcp::carry(&tunnel, stream, &mut io).await;
}
