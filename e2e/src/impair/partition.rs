//! A switch that cuts a path completely, for partitions in chaos drills: while it is cut, a
//! proxy drops every datagram in both directions (and counts them), then forwards again once
//! healed. One switch may be shared by several proxies, to cut an agent off from all relays.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a path is cut; clones share the state. Healed when made.
#[derive(Debug, Clone, Default)]
pub struct Partition(Arc<AtomicBool>);

impl Partition {
    /// Cuts the path: from now on every datagram is dropped.
    pub fn cut(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Heals the path: datagrams flow again (those dropped meanwhile stay lost).
    pub fn heal(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Whether the path is cut now.
    pub fn is_cut(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
