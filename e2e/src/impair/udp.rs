//! The UDP proxy (for QUIC): one upstream socket per client address, each direction of each
//! flow through its own decider and bounded queue.

use super::budget::ByteBudget;
use super::counters::{Counters, Direction};
use super::decide::Decider;
use super::flow::{ERROR_BACKOFF, Flow, LastSeen};
use super::line::{Line, MAX_DATAGRAM};
use super::partition::Partition;
use super::queue::QueueLimits;
use super::spec::Impairment;
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Impairment and limits of a [`UdpProxy`].
#[derive(Debug, Clone)]
pub struct UdpConfig {
    /// What happens to datagrams, in each direction.
    pub impairment: Impairment,
    /// Most client addresses served at once; datagrams from more are dropped (and counted).
    pub max_flows: usize,
    /// A flow with no datagram either way for this long is forgotten with its upstream socket.
    pub idle_timeout: Duration,
    /// Limits of each direction's queue of each flow.
    pub queue: QueueLimits,
    /// Most bytes queued in all flows together, so memory stays bounded however many flows.
    pub total_queue_bytes: usize,
    /// Cuts the path while set (shared with whoever holds a clone).
    pub partition: Partition,
}

impl Default for UdpConfig {
    /// No impairment; 256 flows; 60 s idle timeout (above QUIC's usual 30 s idle timeout, so a
    /// live but quiet connection keeps its mapping); [`QueueLimits::default`]; 64 MiB in all; not cut.
    fn default() -> Self {
        Self {
            impairment: Impairment::default(),
            max_flows: 256,
            idle_timeout: Duration::from_secs(60),
            queue: QueueLimits::default(),
            total_queue_bytes: 64 * 1024 * 1024,
            partition: Partition::default(),
        }
    }
}

/// Forwards datagrams between its clients and one upstream address through the impairment.
///
/// Like a NAT, it gives each client address its own upstream socket, so the upstream sees one
/// peer per client and its replies go back to the right one.
pub struct UdpProxy {
    socket: Arc<UdpSocket>,
    upstream: SocketAddr,
    config: UdpConfig,
    counters: Arc<Counters>,
}

impl UdpProxy {
    /// A proxy receiving on `socket` (bound by the caller, so its address can be handed out
    /// before the proxy runs) and forwarding to `upstream`.
    pub fn new(socket: UdpSocket, upstream: SocketAddr, config: UdpConfig) -> Self {
        Self {
            socket: Arc::new(socket),
            upstream,
            config,
            counters: Arc::new(Counters::default()),
        }
    }

    /// The address clients send to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The proxy's counters, readable while it runs and after.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Forwards until `shutdown` is cancelled, then returns once every flow task has stopped.
    /// Socket errors are counted and survived; nothing a peer sends can end the proxy.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut flows = FlowTable {
            flows: HashMap::new(),
            tasks: TaskTracker::new(),
            budget: Arc::new(ByteBudget::new(self.config.total_queue_bytes)),
            epoch: Instant::now(),
            next_stream: 0,
            shutdown: shutdown.clone(),
        };
        let mut buf = vec![0u8; MAX_DATAGRAM];
        // Expiry is checked a few times per idle timeout, so a flow outlives it by at most a
        // quarter (and at least every 5 s, at most every 10 ms).
        let period =
            (self.config.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        let mut sweep = tokio::time::interval(period);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = sweep.tick() => flows.expire(&self, Instant::now()),
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((n, client)) => flows.on_datagram(&self, client, &buf[..n]).await,
                    Err(_) => {
                        // On Linux, mostly ICMP errors for an earlier send: not fatal.
                        self.counters.io_error();
                        tokio::time::sleep(ERROR_BACKOFF).await;
                    }
                },
            }
        }
        // Each flow's stop token is a child of `shutdown`, so they are all stopping.
        flows.tasks.close();
        flows.tasks.wait().await;
    }
}

/// The flows of a running proxy, owned by its listener task alone: only that task adds and
/// removes entries, so a datagram is never handed to a flow that is being removed.
struct FlowTable {
    flows: HashMap<SocketAddr, FlowEntry>,
    tasks: TaskTracker,
    budget: Arc<ByteBudget>,
    epoch: Instant,
    /// Numbers the flows' decider streams, so each direction of each flow has its own.
    next_stream: u64,
    shutdown: CancellationToken,
}

/// What the listener task keeps of a flow: the way in, and when to forget it.
struct FlowEntry {
    to_upstream: Arc<Line>,
    last_seen: Arc<LastSeen>,
    stop: CancellationToken,
}

impl FlowTable {
    async fn on_datagram(&mut self, proxy: &UdpProxy, client: SocketAddr, datagram: &[u8]) {
        let now = Instant::now();
        if !self.flows.contains_key(&client) {
            let Some(entry) = self.open(proxy, client, now).await else {
                return;
            };
            self.flows.insert(client, entry);
        }
        if let Some(entry) = self.flows.get(&client) {
            entry.last_seen.touch(now);
            entry.to_upstream.offer(now, datagram);
        }
    }

    /// Starts a flow for `client`, unless the table is full or no upstream socket can be made.
    async fn open(
        &mut self,
        proxy: &UdpProxy,
        client: SocketAddr,
        now: Instant,
    ) -> Option<FlowEntry> {
        if self.flows.len() >= proxy.config.max_flows {
            // Idle flows may be waiting for the next sweep: forget them first.
            self.expire(proxy, now);
            if self.flows.len() >= proxy.config.max_flows {
                proxy.counters.flow_rejected();
                return None;
            }
        }
        let upstream = match connect_upstream(proxy.upstream).await {
            Ok(socket) => socket,
            Err(_) => {
                proxy.counters.io_error();
                return None;
            }
        };
        let line = |stream: u64, direction: Direction| {
            Line::new(
                Decider::new(&proxy.config.impairment, stream),
                proxy.config.queue,
                self.budget.clone(),
                proxy.counters.clone(),
                direction,
                proxy.config.partition.clone(),
            )
        };
        let to_upstream = Arc::new(line(self.next_stream, Direction::ToUpstream));
        let to_client = line(self.next_stream + 1, Direction::ToClient);
        self.next_stream += 2;
        let last_seen = Arc::new(LastSeen::new(self.epoch, now));
        let stop = self.shutdown.child_token();
        self.tasks.spawn(
            Flow {
                client,
                listener: proxy.socket.clone(),
                upstream,
                to_upstream: to_upstream.clone(),
                to_client,
                last_seen: last_seen.clone(),
                counters: proxy.counters.clone(),
                stop: stop.clone(),
            }
            .run(),
        );
        proxy.counters.flow_opened();
        Some(FlowEntry {
            to_upstream,
            last_seen,
            stop,
        })
    }

    /// Stops and forgets the flows idle for the idle timeout.
    fn expire(&mut self, proxy: &UdpProxy, now: Instant) {
        self.flows.retain(|_, flow| {
            let idle = flow.last_seen.idle_for(now, proxy.config.idle_timeout);
            if idle {
                flow.stop.cancel();
                proxy.counters.flow_expired();
            }
            !idle
        });
    }
}

/// A socket connected to `upstream`, from an ephemeral port of the same address family.
async fn connect_upstream(upstream: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(any).await?;
    // Connected, so the kernel drops datagrams from anyone but the upstream.
    socket.connect(upstream).await?;
    Ok(socket)
}

#[cfg(test)]
mod tests;
