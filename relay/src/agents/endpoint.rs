//! The QUIC endpoint agents connect to: admits handshakes (with a stateless Retry under load)
//! and runs each connection's session in its own task — an agent session, or a peer relay's
//! forwarded visitors.

use crate::agents::context::Agents;
use crate::agents::quic::HandshakeGate;
use crate::agents::session::run_session;
use std::sync::Arc;
use std::time::Duration;

/// Accepts agent connections until shutdown.
pub(crate) async fn run(agents: Arc<Agents>, endpoint: quinn::Endpoint) {
    let gate = HandshakeGate::new(agents.cfg.limits.quic_retry_after_handshakes);
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i { Some(i) => i, None => return },
            _ = agents.lifecycle.shutdown.cancelled() => return,
        };
        let Some((incoming, handshake)) = gate.admit(incoming) else {
            continue;
        };
        let agents2 = agents.clone();
        agents.lifecycle.tasks.spawn(async move {
            let remote = incoming.remote_address();
            let handshake_result = tokio::time::timeout(Duration::from_secs(10), incoming).await;
            drop(handshake);
            match handshake_result {
                Ok(Ok(conn)) if is_peer(&conn) => {
                    crate::agents::peer_conn::run(
                        agents2.edge.clone(),
                        agents2.verifier.clone(),
                        conn,
                    )
                    .await;
                }
                Ok(Ok(conn)) => {
                    if let Err(e) = run_session(agents2, conn).await {
                        tracing::info!(%remote, error = %e, "agent session ended");
                    }
                }
                Ok(Err(e)) => tracing::debug!(%remote, error = %e, "agent handshake failed"),
                Err(_) => tracing::debug!(%remote, "agent handshake timed out"),
            }
        });
    }
}

/// Whether `conn` negotiated the peer relays' ALPN rather than the agents'.
fn is_peer(conn: &quinn::Connection) -> bool {
    conn.handshake_data()
        .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|h| h.protocol)
        .is_some_and(|p| p == crate::peer::wire::ALPN)
}
