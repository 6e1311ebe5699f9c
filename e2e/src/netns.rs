//! A network namespace joined to this one by a veth pair, with nftables rules inside it: the
//! chaos drill's faults in the kernel (random loss, a partition) on the traffic of a real
//! process started in it. Needs root, `ip` (iproute2) and `nft` (nftables, installed by the
//! test command); [`NetNs::available`] says whether this machine has them.
//!
//! The namespace gets `10.231.N.2/30` on its end of the pair, this namespace `10.231.N.1/30`,
//! N unique per namespace made by this process and among concurrent test processes; both ends
//! and the namespace go away when the [`NetNs`] is dropped.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

mod lan;

pub use lan::Lan;

/// The nftables table this module owns inside a namespace.
const TABLE: &str = "fdt_chaos";

/// Namespaces made by this process so far (part of each one's name and subnet).
static MADE: AtomicU32 = AtomicU32::new(0);

/// A network namespace with a veth pair to this one; deleted when dropped.
#[derive(Debug)]
pub struct NetNs {
    /// The namespace's name (`ip netns`).
    pub name: String,
    /// This namespace's end of the pair.
    pub host_ip: Ipv4Addr,
    /// The namespace's end.
    pub ns_ip: Ipv4Addr,
}

impl NetNs {
    /// `Ok` when namespaces and nftables can be used here; otherwise why not (for a test to say
    /// it is skipped).
    pub fn available() -> Result<(), String> {
        let uid = output("id", &["-u"]).map_err(|e| format!("id -u: {e}"))?;
        if uid.trim() != "0" {
            return Err("network namespaces need root".into());
        }
        for tool in ["ip", "nft"] {
            if Command::new(tool)
                .arg("-V")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
            {
                return Err(format!("`{tool}` is not installed (iproute2, nftables)"));
            }
        }
        // Root in a container may still lack the capabilities: try one, with a table in it.
        let probe = format!("fdtprobe{}", std::process::id());
        let made = run("ip", &["netns", "add", &probe]).and_then(|()| {
            run(
                "ip",
                &[
                    "netns", "exec", &probe, "nft", "add", "table", "inet", TABLE,
                ],
            )
        });
        let _ = run("ip", &["netns", "del", &probe]);
        made.map_err(|e| format!("network namespaces or nftables unusable here: {e}"))
    }

    /// Makes a namespace with loopback up and a veth pair to this one, addressed and up.
    pub fn create() -> anyhow::Result<Self> {
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        // Unique within this process and, but for PIDs 1000 apart, among concurrent test
        // processes: 16,000 names and /30 subnets of 10.231.0.0/16.
        let id = (std::process::id() % 1000) * 16 + n % 16;
        let (hi, lo) = (u8::try_from(id / 64)?, u8::try_from((id % 64) * 4)?);
        let name = format!("fdtc{id}");
        let host_ip = Ipv4Addr::new(10, 231, hi, lo + 1);
        let ns_ip = Ipv4Addr::new(10, 231, hi, lo + 2);
        Self::with_pair(name, (host_ip, ns_ip, 30), |host_if| {
            run(
                "ip",
                &["addr", "add", &format!("{host_ip}/30"), "dev", host_if],
            )
        })
    }

    /// Adds namespace `name` with loopback up and a veth pair `{name}h` (here) / `{name}n`
    /// (there): the far end gets `ns_ip/prefix`, the near end whatever `near` gives it, and
    /// both come up. `host_ip` is how the namespace reaches this one.
    fn with_pair(
        name: String,
        (host_ip, ns_ip, prefix): (Ipv4Addr, Ipv4Addr, u8),
        near: impl FnOnce(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        let (host_if, ns_if) = (format!("{name}h"), format!("{name}n"));
        // Left over from a crashed run with the same number: go.
        let _ = run("ip", &["netns", "del", &name]);
        let _ = run("ip", &["link", "del", &host_if]);
        run("ip", &["netns", "add", &name])?;
        let ns = Self {
            name,
            host_ip,
            ns_ip,
        };
        run(
            "ip",
            &[
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ],
        )?;
        run("ip", &["link", "set", &ns_if, "netns", &ns.name])?;
        near(&host_if)?;
        run("ip", &["link", "set", &host_if, "up"])?;
        ns.exec(
            "ip",
            &["addr", "add", &format!("{ns_ip}/{prefix}"), "dev", &ns_if],
        )?;
        ns.exec("ip", &["link", "set", &ns_if, "up"])?;
        ns.exec("ip", &["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Drops `percent` % of the UDP datagrams to and from `port` inside the namespace, each
    /// independently (nftables' `numgen random`), replacing any rule set before.
    pub fn lose_udp(&self, port: u16, percent: u8) -> anyhow::Result<()> {
        anyhow::ensure!(percent <= 100, "{percent} % is not a share");
        self.rules(
            &format!("udp dport {port} numgen random mod 100 < {percent} counter drop",),
            &format!("udp sport {port} numgen random mod 100 < {percent} counter drop",),
        )
    }

    /// Drops every UDP datagram to and from `port` inside the namespace (a partition of
    /// whoever talks to it there), replacing any rule set before.
    pub fn cut_udp(&self, port: u16) -> anyhow::Result<()> {
        self.rules(
            &format!("udp dport {port} counter drop"),
            &format!("udp sport {port} counter drop"),
        )
    }

    /// Removes this module's rules: traffic flows again.
    pub fn heal(&self) -> anyhow::Result<()> {
        // Declaring the table first makes deleting it succeed whether or not it existed.
        self.nft(&format!(
            "table inet {TABLE} {{}}\ndelete table inet {TABLE}\n"
        ))
    }

    /// Packets dropped by this module's rules so far, both directions.
    pub fn dropped(&self) -> anyhow::Result<u64> {
        let listing = self.exec_output("nft", &["list", "table", "inet", TABLE])?;
        // `counter packets N bytes M drop`
        Ok(listing
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0] == "packets")
            .filter_map(|w| w[1].parse::<u64>().ok())
            .sum())
    }

    /// One table, an input and an output chain, one rule each: loaded in one transaction.
    fn rules(&self, input: &str, output: &str) -> anyhow::Result<()> {
        self.heal()?;
        self.nft(&format!(
            "table inet {TABLE} {{\n\
             chain in {{ type filter hook input priority 0; policy accept;\n{input}\n}}\n\
             chain out {{ type filter hook output priority 0; policy accept;\n{output}\n}}\n}}\n"
        ))
    }

    fn nft(&self, script: &str) -> anyhow::Result<()> {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("nft's stdin"))?
            .write_all(script.as_bytes())?;
        let out = child.wait_with_output()?;
        anyhow::ensure!(
            out.status.success(),
            "nft -f in {}: {}\n{script}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    fn exec(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    fn exec_output(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        output("ip", &all)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the pair, and with it the other end.
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    output(program, args).map(|_| ())
}

fn output(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("{program}: {e}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
