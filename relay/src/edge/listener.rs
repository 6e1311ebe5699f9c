//! Accepting visitors on the HTTP and HTTPS listeners.

use crate::edge::context::{Drain, Edge};
use crate::edge::{http, tls};
use crate::metrics::Listener;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Accepts visitors on `listener` until shutdown, each connection served in its own task:
/// `tls` listeners read the ClientHello first (passthrough or termination), others serve HTTP.
pub(crate) async fn accept_loop(edge: Arc<Edge>, listener: TcpListener, drain: Drain, tls: bool) {
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
            _ = edge.lifecycle.shutdown.cancelled() => return,
        };
        let Some(guard) = edge.conn_limit.try_acquire(peer.ip()) else {
            tracing::debug!(%peer, "connection limit per IP reached");
            edge.metrics.refused("conn_limit");
            continue;
        };
        edge.metrics
            .connection(if tls { Listener::Https } else { Listener::Http });
        // Each connection registers with the drain before it is served.
        let watcher = {
            let g = drain.lock().unwrap_or_else(|e| e.into_inner());
            match g.as_ref() {
                Some(g) => g.watcher(),
                None => return,
            }
        };
        let _ = sock.set_nodelay(true);
        let edge = edge.clone();
        tokio::spawn(async move {
            let _guard = guard;
            if tls {
                tls::handle_conn(edge, sock, peer, watcher).await;
            } else {
                let ctx = http::ConnCtx {
                    peer,
                    tls: false,
                    sni: None,
                    forwarded: false,
                };
                http::serve_conn(edge, sock, ctx, watcher).await;
            }
        });
    }
}
