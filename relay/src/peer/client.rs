//! Connections to peer relays: one QUIC connection per peer, opened on demand from this relay's
//! own endpoint, authenticated both ways (the peer by its certificate for its server name, this
//! relay by its identity token, renewed on the open connection as new ones arrive), and one
//! stream per forwarded visitor.

use crate::control::identity::Identity;
use crate::peer::wire::{self, StreamHead};
use fdt_api::PlacedRelay;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Time a peer has to complete the handshake and accept the identity.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time to open a stream on a peer connection (its stream limit may be reached).
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failed connection attempt, requests for that peer fail at once for this long
/// rather than each waiting out a connect timeout.
const FAILED_BACKOFF: Duration = Duration::from_secs(2);
/// Peers remembered at once (a fleet is far smaller; the bound only caps a bad placement feed).
const MAX_PEERS: usize = 1024;
/// Keep-alive on peer connections.
const PEER_KEEP_ALIVE: Duration = Duration::from_secs(1);
/// Silence after which a peer connection is dead (the holder's own idle timeout, when
/// shorter, wins).
const PEER_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Application close code of a connection this relay ends.
const CLOSE_DONE: u32 = 0;
/// Byte-stream visitors (TLS passthrough, TCP) forwarded to one peer at once. They may stay
/// open for hours (databases, SSH), so they get three quarters of the streams a peer allows on
/// a connection (`agents::peer_conn::MAX_PEER_STREAMS`, 4,096): HTTP requests keep the rest.
pub const MAX_BYTE_STREAMS_PER_PEER: usize = 3_072;

/// Why a stream to a peer could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The control plane has not handed this relay an identity yet.
    #[error("no relay identity yet")]
    NoIdentity,
    /// The peer's address does not resolve.
    #[error("peer address {0}: {1}")]
    Resolve(String, String),
    /// The connection or its identity exchange failed (or failed moments ago).
    #[error("peer {0} unreachable: {1}")]
    Unreachable(String, String),
    /// The connection is up but no stream could be opened in time.
    #[error("peer {0}: stream not opened: {1}")]
    Stream(String, String),
}

/// One peer's connection, or when the last attempt failed.
#[derive(Debug, Default)]
struct Slot {
    conn: Option<quinn::Connection>,
    failed_at: Option<Instant>,
}

/// Connections to peers, keyed by relay ID.
#[derive(Debug)]
pub struct PeerClient {
    endpoint: quinn::Endpoint,
    tls: quinn::ClientConfig,
    identity: Arc<Identity>,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    /// Byte-stream slots by peer (see [`MAX_BYTE_STREAMS_PER_PEER`]).
    byte_streams: Mutex<HashMap<String, Arc<Semaphore>>>,
    shutdown: CancellationToken,
}

impl PeerClient {
    /// Peers dialled from `endpoint` with `tls` (ALPN [`wire::ALPN`]), presenting `identity`,
    /// until `shutdown`.
    pub fn new(
        endpoint: quinn::Endpoint,
        tls: quinn::ClientConfig,
        identity: Arc<Identity>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            endpoint,
            tls,
            identity,
            slots: Mutex::default(),
            byte_streams: Mutex::default(),
            shutdown,
        }
    }

    /// A slot for one more byte-stream visitor forwarded to `relay_id`, held while it lasts;
    /// `None` when [`MAX_BYTE_STREAMS_PER_PEER`] are open to it.
    pub fn byte_stream_slot(&self, relay_id: &str) -> Option<OwnedSemaphorePermit> {
        let slots = {
            let mut all = self
                .byte_streams
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if all.len() >= MAX_PEERS && !all.contains_key(relay_id) {
                // Forget the peers no visitor is forwarded to now.
                all.retain(|_, s| s.available_permits() < MAX_BYTE_STREAMS_PER_PEER);
            }
            all.entry(relay_id.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(MAX_BYTE_STREAMS_PER_PEER)))
                .clone()
        };
        slots.try_acquire_owned().ok()
    }

    fn slot(&self, relay_id: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.len() >= MAX_PEERS && !slots.contains_key(relay_id) {
            // Drop the slots nobody is using, closing their connections (whose identity
            // renewal would otherwise keep them open, untracked).
            slots.retain(|_, s| {
                let in_use = Arc::strong_count(s) > 1;
                if !in_use
                    && let Ok(slot) = s.try_lock()
                    && let Some(c) = &slot.conn
                {
                    c.close(CLOSE_DONE.into(), b"peer forgotten");
                }
                in_use
            });
        }
        slots.entry(relay_id.to_owned()).or_default().clone()
    }

    /// Whether connecting to `relay_id` failed moments ago (its requests would fail at once).
    pub fn recently_failed(&self, relay_id: &str) -> bool {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = slots.get(relay_id) else {
            return false;
        };
        // A slot being connected right now is not known to have failed.
        slot.try_lock()
            .is_ok_and(|s| s.failed_at.is_some_and(|t| t.elapsed() < FAILED_BACKOFF))
    }

    /// Opens a stream to `relay` and writes `head` on it.
    pub async fn open(
        &self,
        relay: &PlacedRelay,
        head: &StreamHead,
    ) -> Result<(quinn::SendStream, quinn::RecvStream), PeerError> {
        let bytes = head
            .encode()
            .map_err(|e| PeerError::Stream(relay.relay_id.clone(), e.to_string()))?;
        let conn = self.connection(relay).await?;
        let stream_err = |e: String| PeerError::Stream(relay.relay_id.clone(), e);
        let (mut send, recv) = tokio::time::timeout(OPEN_TIMEOUT, conn.open_bi())
            .await
            .map_err(|_| stream_err("timed out".into()))?
            .map_err(|e| stream_err(e.to_string()))?;
        send.write_all(&bytes)
            .await
            .map_err(|e| stream_err(e.to_string()))?;
        Ok((send, recv))
    }

    /// The live connection to `relay`, opened (once, however many ask at the same time) when
    /// there is none.
    async fn connection(&self, relay: &PlacedRelay) -> Result<quinn::Connection, PeerError> {
        let slot = self.slot(&relay.relay_id);
        let mut slot = slot.lock().await;
        if let Some(c) = slot.conn.as_ref().filter(|c| c.close_reason().is_none()) {
            return Ok(c.clone());
        }
        if slot.failed_at.is_some_and(|t| t.elapsed() < FAILED_BACKOFF) {
            return Err(PeerError::Unreachable(
                relay.relay_id.clone(),
                "failed moments ago".into(),
            ));
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, self.connect(relay)).await {
            Ok(Ok(conn)) => {
                slot.conn = Some(conn.clone());
                slot.failed_at = None;
                Ok(conn)
            }
            Ok(Err(e)) => {
                slot.failed_at = Some(Instant::now());
                Err(e)
            }
            Err(_) => {
                slot.failed_at = Some(Instant::now());
                Err(PeerError::Unreachable(
                    relay.relay_id.clone(),
                    "connection timed out".into(),
                ))
            }
        }
    }

    async fn connect(&self, relay: &PlacedRelay) -> Result<quinn::Connection, PeerError> {
        let id = &relay.relay_id;
        let unreachable = |e: String| PeerError::Unreachable(id.clone(), e);
        let token = self.identity.current().ok_or(PeerError::NoIdentity)?;
        let addr = tokio::net::lookup_host(relay.agent_addr.as_str())
            .await
            .map_err(|e| PeerError::Resolve(relay.agent_addr.clone(), e.to_string()))?
            .next()
            .ok_or_else(|| PeerError::Resolve(relay.agent_addr.clone(), "no address".into()))?;
        let conn = self
            .endpoint
            .connect_with(self.tls.clone(), addr, &relay.server_name)
            .map_err(|e| unreachable(e.to_string()))?
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut send, mut recv) = conn
            .open_bi()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let frame = wire::encode_token(&token).map_err(|e| unreachable(e.to_string()))?;
        send.write_all(&frame)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let answer = recv
            .read_u8()
            .await
            .map_err(|e| unreachable(format!("identity refused: {e}")))?;
        if answer != wire::ACCEPTED {
            return Err(unreachable("identity refused".into()));
        }
        tracing::info!(peer = %id, %addr, "peer connection open");
        tokio::spawn(renew_identity(
            conn.clone(),
            send,
            self.identity.subscribe(),
            self.shutdown.clone(),
        ));
        Ok(conn)
    }
}

/// Sends each new identity token on the identity stream of `conn` until it closes (or this
/// relay shuts down, which closes it).
async fn renew_identity(
    conn: quinn::Connection,
    mut send: quinn::SendStream,
    mut tokens: tokio::sync::watch::Receiver<Option<String>>,
    shutdown: CancellationToken,
) {
    tokens.mark_unchanged();
    loop {
        tokio::select! {
            changed = tokens.changed() => {
                if changed.is_err() {
                    return;
                }
                let token = tokens.borrow_and_update().clone();
                let Some(frame) = token.and_then(|t| wire::encode_token(&t).ok()) else {
                    continue;
                };
                if send.write_all(&frame).await.is_err() {
                    return;
                }
            }
            _ = conn.closed() => return,
            () = shutdown.cancelled() => {
                conn.close(CLOSE_DONE.into(), b"relay shutting down");
                return;
            }
        }
    }
}

/// The TLS configuration peers are dialled with: TLS 1.3, ALPN [`wire::ALPN`], the public web
/// roots plus `extra_ca` (PEM; a fleet on a private CA).
pub fn client_config(extra_ca: Option<&std::path::Path>) -> anyhow::Result<quinn::ClientConfig> {
    use anyhow::Context;
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let pem =
            std::fs::read(path).with_context(|| format!("reading peer_ca {}", path.display()))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots
                .add(cert.with_context(|| format!("peer_ca {}", path.display()))?)
                .with_context(|| format!("peer_ca {}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 with the ring provider")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![wire::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .context("QUIC-compatible TLS config")?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    fdt_proto::transport::apply(&mut transport);
    // An idle peer connection is kept (the next visitor needs no handshake), and a dead peer
    // is noticed within seconds (its agents' visitors go to their other relay): relays are few
    // and near, so a probe a second costs little.
    transport.keep_alive_interval(Some(PEER_KEEP_ALIVE));
    transport.max_idle_timeout(Some(
        PEER_IDLE_TIMEOUT.try_into().context("peer idle timeout")?,
    ));
    client.transport_config(Arc::new(transport));
    Ok(client)
}
