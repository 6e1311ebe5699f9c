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
use crate::edge::forward;
use crate::edge::tcp::{self, Refusal};
use crate::metrics::Listener;
use crate::peer::placement::Name;
use crate::peer::wire::{Answer, Kind, StreamHead};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Binds every port of `min..=max` on `ip`; the first port that cannot be bound (another
/// program, or another of this relay's listeners, has it) is an error: the region's
/// addresses must work through every relay of the region.
pub async fn bind_range(ip: IpAddr, min: u16, max: u16) -> std::io::Result<Vec<TcpListener>> {
    let mut bound = Vec::with_capacity(usize::from(max - min) + 1);
    for port in min..=max {
        let l = TcpListener::bind(SocketAddr::new(ip, port))
            .await
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("port {port} of the TCP range {min}-{max} on {ip}: {e}"),
                )
            })?;
        bound.push(l);
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
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                        () = edge.lifecycle.shutdown.cancelled() => return,
                    }
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
        match tcp::admit(edge, &tunnel, peer, None).await {
            Ok(stream) => return tcp::carry(&tunnel, stream, &mut sock, &[]).await,
            // The agent's session here is gone (it may be bound on another relay of the
            // region already): as if the port were not held here.
            Err(Refusal::Offline) => {}
            Err(Refusal::Policy | Refusal::Busy) => return,
        }
    }
    // Not held here: the relay of the region that holds it, if one does.
    let head = StreamHead::tcp(peer, port);
    forward::forward_bytes(edge, sock, &head, Name::Port(port), &[], None).await;
}

/// Serves a TCP visitor another relay of the region forwarded here for `port` (`io` is the
/// peer's stream): answers whether this relay takes it (see [`Answer`]), then carries the
/// bytes. Never forwarded further (one hop).
pub(crate) async fn serve_forwarded<S>(edge: &Edge, mut io: S, visitor: SocketAddr, port: u16)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let admitted = match edge.registry.lookup_port(port) {
        Some(tunnel) => tcp::admit(edge, &tunnel, visitor, None)
            .await
            .map(|stream| (tunnel, stream)),
        None => Err(Refusal::Offline),
    };
    match admitted {
        Ok((tunnel, stream)) => {
            if io.write_all(&[Answer::Accepted as u8]).await.is_ok() {
                tcp::carry(&tunnel, stream, &mut io, &[]).await;
            }
        }
        Err(refusal) => refuse(edge, Kind::Tcp, &mut io, refusal).await,
    }
}

/// Answers a forwarded visitor this relay does not take: [`Answer::NotHere`] when it holds no
/// reachable tunnel for the name (the forwarding relay tries the one holding it now),
/// [`Answer::Refused`] when the tunnel said no.
pub(crate) async fn refuse<S>(edge: &Edge, kind: Kind, io: &mut S, refusal: Refusal)
where
    S: tokio::io::AsyncWrite + Unpin,
{
    let answer = match refusal {
        Refusal::Offline => {
            edge.metrics.forwarded(kind, "miss");
            Answer::NotHere
        }
        Refusal::Policy | Refusal::Busy => Answer::Refused,
    };
    let _ = io.write_all(&[answer as u8]).await;
    let _ = io.shutdown().await;
}
