//! Several network namespaces on one bridged subnet of this namespace: the processes in them
//! reach each other and this namespace (which reaches them) over veth pairs and a bridge,
//! without routing — no `ip_forward`, no firewall rules on the machine.
//!
//! The subnet is `10.232.N.0/24`: the bridge holds `.1`, the namespaces `.2`, `.3`, …; N is
//! unique per LAN made by this process and among concurrent test processes. Everything goes
//! when the [`Lan`] is dropped.

use super::{NetNs, run};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};

/// LANs made by this process so far (part of each one's name and subnet).
static MADE: AtomicU32 = AtomicU32::new(0);

/// A bridge with namespaces on it; deleted (with them) when dropped.
#[derive(Debug)]
pub struct Lan {
    /// The bridge's name.
    pub bridge: String,
    /// The bridge's address: this namespace, as the members reach it.
    pub host_ip: Ipv4Addr,
    /// The namespaces, in order (`ns_ip` .2, .3, …; their `host_ip` is the bridge's).
    pub members: Vec<NetNs>,
}

impl Lan {
    /// Makes a bridge and `count` namespaces on it (at most 200), each with loopback up.
    pub fn create(count: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(count <= 200, "{count} namespaces on one /24");
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        // 256 subnets: PIDs and the per-process count share them (as `NetNs` does).
        let id = (std::process::id() % 64) * 4 + n % 4;
        let third = u8::try_from(id)?;
        let bridge = format!("fdtb{id}");
        let host_ip = Ipv4Addr::new(10, 232, third, 1);
        // Left over from a crashed run with the same number: go.
        let _ = run("ip", &["link", "del", &bridge]);
        run("ip", &["link", "add", "name", &bridge, "type", "bridge"])?;
        let mut lan = Self {
            bridge,
            host_ip,
            members: Vec::with_capacity(count),
        };
        run(
            "ip",
            &["addr", "add", &format!("{host_ip}/24"), "dev", &lan.bridge],
        )?;
        run("ip", &["link", "set", &lan.bridge, "up"])?;
        for i in 0..count {
            let name = format!("fdtl{id}m{i}");
            let ns_ip = Ipv4Addr::new(10, 232, third, u8::try_from(i + 2)?);
            let bridge = &lan.bridge;
            let ns = NetNs::with_pair(name, (host_ip, ns_ip, 24), |host_if| {
                run("ip", &["link", "set", host_if, "master", bridge])
            })?;
            lan.members.push(ns);
        }
        Ok(lan)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // The namespaces first (their pairs go with them), then the bridge.
        self.members.clear();
        let _ = run("ip", &["link", "del", &self.bridge]);
    }
}
