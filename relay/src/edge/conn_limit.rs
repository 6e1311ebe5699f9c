//! Per-visitor-IP connection accounting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Maps an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) to its IPv4 form.
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Counts open connections per visitor IP and refuses those over the limit.
#[derive(Debug, Clone)]
pub struct IpLimiter {
    max: u32,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// Held while a connection is open; releases its slot on drop.
#[derive(Debug)]
pub struct IpGuard {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl IpLimiter {
    /// A limiter allowing `max` concurrent connections per IP (0 = unlimited).
    pub fn new(max: u32) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// Takes a slot for `ip`, or `None` if it already holds `max` connections.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<IpGuard> {
        let ip = normalize_ip(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if self.max != 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpGuard {
            ip,
            open: self.open.clone(),
        })
    }

    /// Visitor connections open now, from all IPs (reported to the control plane as load).
    pub fn total(&self) -> u64 {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.values().map(|&n| u64::from(n)).sum()
    }
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                // Remove empty entries so the map does not grow with every IP ever seen.
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn limit_per_ip_and_release_on_drop() {
        let l = IpLimiter::new(2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let a = l.try_acquire(ip).unwrap();
        let _b = l.try_acquire(mapped).unwrap();
        assert!(
            l.try_acquire(ip).is_none(),
            "mapped v6 counts as the same IP"
        );
        let c = l.try_acquire("10.0.0.2".parse().unwrap());
        assert!(c.is_some());
        assert_eq!(l.total(), 3);
        drop(a);
        drop(c);
        assert_eq!(l.total(), 1);
        assert!(l.try_acquire(ip).is_some());
    }
}
