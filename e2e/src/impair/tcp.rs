//! The TCP proxy (for TCP tunnels such as rathole's or bore's): each accepted connection gets
//! its own upstream connection, and each direction runs through a delay line.
//!
//! How the impairment reads for TCP, which carries a byte stream and never loses bytes:
//!
//! - delay and jitter: each chunk read arrives `delay` (± jitter) later, in order: jitter
//!   never reorders a stream, a late chunk holds back those behind it;
//! - loss: a chunk hit by loss arrives one [`TCP_RTO`](super::TCP_RTO) late, which is how a lost
//!   segment looks to the application (a stall while the sender retransmits); see
//!   [`Decider::chunk`] for how per-packet loss maps to chunks;
//! - rate: the link's serialization time per chunk, with reading paused when the line is full;
//! - handshake: the kernel completes the client's connect at once, but the upstream connection
//!   is opened one `delay` later (the SYN crossing) and the client's first bytes cannot reach
//!   the upstream before three `delay`s (SYN, SYN-ACK, then the data), as on a real path. Only
//!   the client's own view of `connect()` is instant. A lost SYN is not modelled.

use super::counters::{Counters, Direction};
use super::decide::Decider;
use super::flow::ERROR_BACKOFF;
use super::pipe::{Room, pipe};
use super::spec::Impairment;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Impairment and limits of a [`TcpProxy`].
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// What happens to the streams, in each direction.
    pub impairment: Impairment,
    /// Most connections relayed at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Longest wait for the upstream to accept a connection.
    pub connect_timeout: Duration,
    /// Most bytes read but not yet delivered, per direction of each connection.
    pub in_flight_bytes: usize,
    /// Most bytes in flight in all connections together, so memory stays bounded however many.
    pub total_in_flight_bytes: usize,
}

impl Default for TcpConfig {
    /// No impairment; 4096 connections (a benchmark holds 1000 through a tunnel that opens one
    /// upstream connection per visitor); 10 s connect timeout; 4 MiB per direction (a 25 ms
    /// line then carries ~1.3 Gbit/s, like Linux's default socket buffers at that RTT); 256 MiB
    /// in all.
    fn default() -> Self {
        Self {
            impairment: Impairment::default(),
            max_connections: 4096,
            connect_timeout: Duration::from_secs(10),
            in_flight_bytes: 4 * 1024 * 1024,
            total_in_flight_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Relays TCP connections from its listener to one upstream address through the impairment.
pub struct TcpProxy {
    listener: TcpListener,
    upstream: SocketAddr,
    config: TcpConfig,
    counters: Arc<Counters>,
}

impl TcpProxy {
    /// A proxy accepting on `listener` (bound by the caller, so its address can be handed out
    /// before the proxy runs) and connecting each client to `upstream`.
    pub fn new(listener: TcpListener, upstream: SocketAddr, config: TcpConfig) -> Self {
        Self {
            listener,
            upstream,
            config,
            counters: Arc::new(Counters::default()),
        }
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The proxy's counters, readable while it runs and after.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Relays until `shutdown` is cancelled, then closes every connection and returns once
    /// their tasks have stopped. Errors are counted and survived.
    pub async fn run(self, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(
            self.config.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let shared = Arc::new(Semaphore::new(
            self.config
                .total_in_flight_bytes
                .clamp(1, Semaphore::MAX_PERMITS),
        ));
        let config = Arc::new(self.config);
        let tasks = TaskTracker::new();
        let mut next_stream = 0u64;
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            let client = match accepted {
                Ok((client, _)) => client,
                Err(_) => {
                    // E.g. out of file descriptors: wait for some to close instead of spinning.
                    self.counters.io_error();
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                // Dropping `client` closes it: refusing beats queueing without bound.
                self.counters.flow_rejected();
                continue;
            };
            self.counters.flow_opened();
            let conn = Connection {
                upstream: self.upstream,
                config: config.clone(),
                counters: self.counters.clone(),
                shared: shared.clone(),
                stream: next_stream,
                _slot: slot,
            };
            next_stream += 2;
            tasks.spawn(conn.relay(client, shutdown.clone()));
        }
        tasks.close();
        tasks.wait().await;
    }
}

/// What one relayed connection needs from the proxy.
struct Connection {
    upstream: SocketAddr,
    config: Arc<TcpConfig>,
    counters: Arc<Counters>,
    shared: Arc<Semaphore>,
    /// First of the two decider streams of this connection.
    stream: u64,
    /// Frees the connection's place under `max_connections` when dropped.
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn relay(self, client: TcpStream, shutdown: CancellationToken) {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = self.relay_until_closed(client) => {}
        }
    }

    async fn relay_until_closed(&self, client: TcpStream) {
        let accepted = Instant::now();
        let delay = self.config.impairment.delay;
        // The SYN crossing the path.
        tokio::time::sleep(delay).await;
        let connect = TcpStream::connect(self.upstream);
        let server = match tokio::time::timeout(self.config.connect_timeout, connect).await {
            Ok(Ok(server)) => server,
            // Dropping `client` closes it, as a refused or unreachable upstream would.
            _ => {
                self.counters.io_error();
                return;
            }
        };
        // The proxy must not add Nagle delays of its own to the modelled ones.
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let imp = &self.config.impairment;
        let room = || {
            let own = self.config.in_flight_bytes.clamp(1, Semaphore::MAX_PERMITS);
            Room {
                own: Arc::new(Semaphore::new(own)),
                shared: self.shared.clone(),
                capacity: own.min(self.config.total_in_flight_bytes.max(1)),
            }
        };
        // SYN, SYN-ACK, then the client's first bytes: three crossings before they can arrive.
        let first_bytes = accepted
            .checked_add(delay.saturating_mul(3))
            .unwrap_or(accepted);
        let (up, down) = tokio::join!(
            pipe(
                client_read,
                server_write,
                Decider::new(imp, self.stream),
                room(),
                self.counters.direction(Direction::ToUpstream),
                first_bytes,
            ),
            pipe(
                server_read,
                client_write,
                Decider::new(imp, self.stream + 1),
                room(),
                self.counters.direction(Direction::ToClient),
                accepted,
            ),
        );
        // Resets are how many connections end; counted, as the UDP side counts its errors.
        if up.is_err() || down.is_err() {
            self.counters.io_error();
        }
    }
}

#[cfg(test)]
mod tests;
