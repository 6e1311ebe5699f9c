//! The ports of the TCP range a relay listens on for its region (`tcp_forward`), and those a
//! bind is claiming right now: with no socket of its own to bind, a tunnel's port is taken by
//! claiming it here until the registry has it, so two binds on this relay never pick the same
//! free port.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// The shared ports of one relay.
#[derive(Debug)]
pub struct SharedPorts {
    /// Sorted.
    ports: Box<[u16]>,
    claiming: Mutex<HashSet<u16>>,
}

impl SharedPorts {
    /// The relay listens on `ports`.
    pub fn new(mut ports: Vec<u16>) -> Self {
        ports.sort_unstable();
        ports.dedup();
        Self {
            ports: ports.into(),
            claiming: Mutex::default(),
        }
    }

    /// The ports, sorted.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Whether the relay listens on `port`.
    pub fn contains(&self, port: u16) -> bool {
        self.ports.binary_search(&port).is_ok()
    }

    /// Claims `port` for a bind in progress until the guard is dropped; `None` when the relay
    /// does not listen on it or another bind is claiming it.
    pub fn claim(self: &Arc<Self>, port: u16) -> Option<Claim> {
        if !self.contains(port) {
            return None;
        }
        let fresh = self
            .claiming
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(port);
        fresh.then(|| Claim {
            ports: self.clone(),
            port,
        })
    }
}

/// A port claimed by a bind in progress; released when dropped (by then the registry holds
/// the tunnel, or the bind failed).
#[derive(Debug)]
pub struct Claim {
    ports: Arc<SharedPorts>,
    port: u16,
}

impl Claim {
    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.ports
            .claiming
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_claimed_once_at_a_time_and_only_if_listened_on() {
        let ports = Arc::new(SharedPorts::new(vec![20_002, 20_000, 20_001]));
        assert_eq!(ports.ports(), &[20_000, 20_001, 20_002]);
        assert!(ports.claim(19_999).is_none(), "not listened on");
        let first = ports.claim(20_001).expect("free");
        assert_eq!(first.port(), 20_001);
        assert!(
            ports.claim(20_001).is_none(),
            "claimed by a bind in progress"
        );
        assert!(ports.claim(20_000).is_some());
        drop(first);
        assert!(ports.claim(20_001).is_some(), "released with its guard");
    }
}
