//! QUIC endpoint for agents (and peer relays): TLS 1.3 only, ALPN `fdt/1` (or `fdt-peer/1`), bounded streams, keep-alive, and a
//! stateless Retry for unvalidated clients once many handshakes are in flight.
//!
//! Initials in datagrams under 1200 bytes (RFC 9000 §14.1) are dropped by quinn itself, before
//! any state is created or any packet is sent back (`e2e/tests/quic_edge.rs` checks it).

use crate::config::RelayConfig;
use anyhow::Context;
use rustls::server::ResolvesServerCert;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Builds the server endpoint on an already-bound UDP socket.
pub fn server_endpoint(
    cfg: &RelayConfig,
    socket: std::net::UdpSocket,
    certs: Arc<dyn ResolvesServerCert>,
) -> anyhow::Result<quinn::Endpoint> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 with the ring provider")?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    // Agents speak `fdt/1`; peer relays forwarding visitors speak `fdt-peer/1` on the same
    // port (see `agents::peer_conn`).
    tls.alpn_protocols = vec![fdt_proto::ALPN.to_vec(), crate::peer::wire::ALPN.to_vec()];
    // Agents never resume with 0-RTT: its data could be replayed.
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .context("QUIC-compatible TLS config")?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    // Agents open exactly one stream (control); every data stream is opened by the relay.
    transport.max_concurrent_bidi_streams(1u32.into());
    transport.max_concurrent_uni_streams(0u32.into());
    transport.max_idle_timeout(Some(
        Duration::from_millis(cfg.limits.agent_idle_timeout_ms)
            .try_into()
            .context("agent idle timeout")?,
    ));
    fdt_proto::transport::apply(&mut transport);
    server.transport_config(Arc::new(transport));
    grow_socket_buffers(&socket);
    let runtime = quinn::default_runtime().context("no async runtime for QUIC")?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        socket,
        runtime,
    )
    .context("starting the QUIC endpoint")
}

/// Asks the kernel for 4 MiB UDP buffers: at gigabit rates the default (~200 KiB) overflows
/// between two polls of the endpoint and every drop costs a loss-recovery round. The kernel may
/// cap the request (`net.core.rmem_max`); that only costs throughput, so failures are ignored.
pub fn grow_socket_buffers(socket: &std::net::UdpSocket) {
    let s = socket2::SockRef::from(socket);
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
}

/// Decides, per incoming agent connection, whether to accept it or first make the client prove
/// it can receive at its source address (a stateless Retry, RFC 9000 §8.1.2).
///
/// A Retry costs a legitimate client one round trip but costs the relay no handshake state, so
/// it is only asked for once `retry_after` handshakes are already in flight (0: always): a flood
/// of spoofed Initials then gets one small packet each instead of a TLS handshake each.
#[derive(Debug)]
pub struct HandshakeGate {
    retry_after: usize,
    in_flight: Arc<AtomicUsize>,
}

impl HandshakeGate {
    /// A gate that asks for a Retry once `retry_after` handshakes are in flight.
    pub fn new(retry_after: u32) -> Self {
        Self {
            retry_after: retry_after as usize,
            in_flight: Arc::default(),
        }
    }

    /// Accepts `incoming` (counting its handshake as in flight until the returned guard is
    /// dropped), or answers it with a Retry and returns `None`.
    pub fn admit(&self, incoming: quinn::Incoming) -> Option<(quinn::Incoming, HandshakeInFlight)> {
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let incoming = if in_flight >= self.retry_after && !incoming.remote_address_validated() {
            let remote = incoming.remote_address();
            match incoming.retry() {
                Ok(()) => {
                    tracing::debug!(%remote, in_flight, "agent handshake: sent Retry");
                    return None;
                }
                // Unreachable while the address is unvalidated (quinn guarantees `may_retry`);
                // accepting is the safe fallback.
                Err(e) => e.into_incoming(),
            }
        } else {
            incoming
        };
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Some((incoming, HandshakeInFlight(self.in_flight.clone())))
    }
}

/// One handshake in progress; dropping it (handshake done, failed or timed out) frees its place.
#[derive(Debug)]
pub struct HandshakeInFlight(Arc<AtomicUsize>);

impl Drop for HandshakeInFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
