//! What a proxy has forwarded and dropped, readable while it runs.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one direction. Updated with relaxed atomics: each is exact, but a snapshot
/// taken while traffic flows may mix slightly different moments.
#[derive(Debug, Default)]
pub(crate) struct DirectionCounters {
    forwarded: AtomicU64,
    bytes: AtomicU64,
    lost: AtomicU64,
    queue_full: AtomicU64,
    cut: AtomicU64,
    duplicated: AtomicU64,
}

impl DirectionCounters {
    pub(crate) fn forwarded(&self, len: usize) {
        self.forwarded.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(len as u64, Ordering::Relaxed);
    }

    pub(crate) fn lost(&self) {
        self.lost.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn queue_full(&self) {
        self.queue_full.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn cut(&self) {
        self.cut.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn duplicated(&self) {
        self.duplicated.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> DirectionStats {
        DirectionStats {
            forwarded: self.forwarded.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            queue_full: self.queue_full.load(Ordering::Relaxed),
            cut: self.cut.load(Ordering::Relaxed),
            duplicated: self.duplicated.load(Ordering::Relaxed),
        }
    }
}

/// Which way traffic goes through a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From a client of the proxy to the upstream address.
    ToUpstream,
    /// From the upstream back to the client.
    ToClient,
}

/// Live counters of a proxy, shared by its tasks; [`Counters::snapshot`] reads them.
///
/// A flow is one client address of the UDP proxy or one connection of the TCP proxy.
#[derive(Debug, Default)]
pub struct Counters {
    to_upstream: DirectionCounters,
    to_client: DirectionCounters,
    flows_opened: AtomicU64,
    flows_rejected: AtomicU64,
    flows_expired: AtomicU64,
    io_errors: AtomicU64,
}

impl Counters {
    /// The counters as plain numbers.
    pub fn snapshot(&self) -> Stats {
        Stats {
            to_upstream: self.to_upstream.snapshot(),
            to_client: self.to_client.snapshot(),
            flows_opened: self.flows_opened.load(Ordering::Relaxed),
            flows_rejected: self.flows_rejected.load(Ordering::Relaxed),
            flows_expired: self.flows_expired.load(Ordering::Relaxed),
            io_errors: self.io_errors.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn direction(&self, dir: Direction) -> &DirectionCounters {
        match dir {
            Direction::ToUpstream => &self.to_upstream,
            Direction::ToClient => &self.to_client,
        }
    }

    pub(crate) fn flow_opened(&self) {
        self.flows_opened.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn flow_rejected(&self) {
        self.flows_rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn flow_expired(&self) {
        self.flows_expired.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn io_error(&self) {
        self.io_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// One direction's counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Datagrams (UDP) or chunks (TCP) delivered.
    pub forwarded: u64,
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Hit by loss: dropped (UDP), or delivered one RTO late (TCP, which never drops).
    pub lost: u64,
    /// Dropped because the delay queue was full in packets or bytes (UDP only: TCP waits).
    pub queue_full: u64,
    /// Dropped because the path was cut ([`super::Partition`]; UDP only).
    pub cut: u64,
    /// Sent twice (`dup=`; UDP only): `forwarded` counts both copies.
    pub duplicated: u64,
}

/// A proxy's counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// From clients to the upstream.
    pub to_upstream: DirectionStats,
    /// From the upstream to clients.
    pub to_client: DirectionStats,
    /// Flows started.
    pub flows_opened: u64,
    /// Flows refused because the proxy already served as many as it may.
    pub flows_rejected: u64,
    /// UDP flows forgotten after their idle timeout.
    pub flows_expired: u64,
    /// Socket errors met and survived (receive, send, accept, upstream connect).
    pub io_errors: u64,
}

impl fmt::Display for DirectionStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "forwarded={} bytes={} lost={} queue_full={} cut={} duplicated={}",
            self.forwarded, self.bytes, self.lost, self.queue_full, self.cut, self.duplicated
        )
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "to_upstream: {}; to_client: {}; flows opened={} rejected={} expired={}; io_errors={}",
            self.to_upstream,
            self.to_client,
            self.flows_opened,
            self.flows_rejected,
            self.flows_expired,
            self.io_errors
        )
    }
}
