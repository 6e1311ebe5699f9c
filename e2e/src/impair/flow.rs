//! The task of one UDP flow: it owns the flow's upstream socket, receives the upstream's
//! replies, and sends both directions when their datagrams are due.

use super::counters::Counters;
use super::line::{Line, MAX_DATAGRAM};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Pause after a socket error, so that one that keeps coming back cannot spin a core.
pub(crate) const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// When a flow last saw a datagram either way, in milliseconds since the proxy started (an
/// atomic, because the listener task and the flow task both see traffic).
#[derive(Debug)]
pub(crate) struct LastSeen {
    epoch: Instant,
    millis: AtomicU64,
}

impl LastSeen {
    pub(crate) fn new(epoch: Instant, now: Instant) -> Self {
        let seen = Self {
            epoch,
            millis: AtomicU64::new(0),
        };
        seen.touch(now);
        seen
    }

    pub(crate) fn touch(&self, now: Instant) {
        self.millis.store(self.since_epoch(now), Ordering::Relaxed);
    }

    /// Whether nothing was seen for `idle` before `now`.
    pub(crate) fn idle_for(&self, now: Instant, idle: Duration) -> bool {
        let quiet = self
            .since_epoch(now)
            .saturating_sub(self.millis.load(Ordering::Relaxed));
        u128::from(quiet) >= idle.as_millis()
    }

    fn since_epoch(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
}

/// One client address of the UDP proxy and everything that serves it.
pub(crate) struct Flow {
    /// Where replies go, through the proxy's listening socket.
    pub(crate) client: SocketAddr,
    pub(crate) listener: Arc<UdpSocket>,
    /// Connected to the upstream, so the kernel delivers nothing else to it.
    pub(crate) upstream: UdpSocket,
    /// Fed by the listener task, drained here.
    pub(crate) to_upstream: Arc<Line>,
    pub(crate) to_client: Line,
    pub(crate) last_seen: Arc<LastSeen>,
    pub(crate) counters: Arc<Counters>,
    /// Cancelled when the flow expires or the proxy stops; queued datagrams are then dropped.
    pub(crate) stop: CancellationToken,
}

impl Flow {
    /// Serves the flow until `stop` is cancelled.
    pub(crate) async fn run(self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let due = earliest(self.to_upstream.next_due(), self.to_client.next_due());
            tokio::select! {
                () = self.stop.cancelled() => return,
                // A datagram from the client was queued: it may be due before the timer below.
                () = self.to_upstream.queued() => {}
                received = self.upstream.recv(&mut buf) => match received {
                    Ok(n) => {
                        let now = Instant::now();
                        self.last_seen.touch(now);
                        self.to_client.offer(now, &buf[..n]);
                    }
                    Err(_) => {
                        // Typically ICMP port unreachable while the upstream restarts: the
                        // flow stays, as a NAT mapping would.
                        self.counters.io_error();
                        tokio::time::sleep(ERROR_BACKOFF).await;
                    }
                },
                () = sleep_until(due) => self.send_due().await,
            }
        }
    }

    async fn send_due(&self) {
        let now = Instant::now();
        while let Some(datagram) = self.to_upstream.pop_due(now) {
            match self.upstream.send(&datagram).await {
                Ok(_) => self.to_upstream.sent(datagram.len()),
                // Gone, as it would be on a real path; the endpoints' own recovery handles it.
                Err(_) => self.counters.io_error(),
            }
        }
        while let Some(datagram) = self.to_client.pop_due(now) {
            match self.listener.send_to(&datagram, self.client).await {
                Ok(_) => self.to_client.sent(datagram.len()),
                Err(_) => self.counters.io_error(),
            }
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Sleeps until `due`, or forever when nothing is queued.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}
