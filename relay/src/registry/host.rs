//! The tunnels serving one host name: one, or several of one account that all asked for
//! pooling, taken in turn.

use super::Tunnel;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The tunnels serving one host name: one, or several that all asked for pooling.
#[derive(Debug)]
pub(super) struct HostTunnels {
    /// Never empty while the pool is in the map.
    pub(super) members: Vec<Arc<Tunnel>>,
    /// Round-robin position; atomic so lookups only need the read lock.
    cursor: AtomicUsize,
}

impl HostTunnels {
    pub(super) fn new(tunnel: Arc<Tunnel>) -> Self {
        Self {
            members: vec![tunnel],
            cursor: AtomicUsize::new(0),
        }
    }

    /// The next member in turn, skipping members whose agent connection is known to be closed
    /// (a pooled agent that reconnected leaves its old binding here until the relay notices).
    pub(super) fn pick(&self) -> Option<&Arc<Tunnel>> {
        let n = self.members.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.members[start.wrapping_add(i) % n])
            .find(|t| t.conn().close_reason().is_none())
            .or_else(|| self.members.get(start % n.max(1)))
    }
}
