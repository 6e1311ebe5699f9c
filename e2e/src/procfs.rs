//! A process's open file descriptors from `/proc`, for leak checks: what is left open after a
//! fault that was not open before. Connections to a control plane come and go with HTTP
//! client pools, and a test's proxies open a socket per flow, so sockets can be left out of
//! the count by port. And a process's CPU time, for costs per request.

use std::collections::HashSet;

/// The open file descriptors of process `pid` (`"self"` for this one), not counting TCP or
/// UDP sockets whose local or remote port is one of `ports`.
pub fn open_fds_except_ports(pid: &str, ports: &[u16]) -> anyhow::Result<usize> {
    let skip = inodes_on_ports(pid, ports)?;
    let dir = format!("/proc/{pid}/fd");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).map_err(|e| anyhow::anyhow!("{dir}: {e}"))? {
        // A descriptor closed while listing is simply not counted.
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue;
        };
        let target = target.display().to_string();
        let inode = target
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
            .and_then(|s| s.parse::<u64>().ok());
        if !inode.is_some_and(|i| skip.contains(&i)) {
            n += 1;
        }
    }
    Ok(n)
}

/// Inodes of the TCP and UDP sockets (IPv4 and IPv6) in `pid`'s network namespace with a
/// local or remote port in `ports`.
fn inodes_on_ports(pid: &str, ports: &[u16]) -> anyhow::Result<HashSet<u64>> {
    let mut inodes = HashSet::new();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let path = format!("/proc/{pid}/net/{table}");
        let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        // `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...`,
        // addresses as `HEXADDR:HEXPORT`.
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let port = |col: usize| {
                cols.get(col)
                    .and_then(|a| a.rsplit_once(':'))
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            };
            let on_port = [port(1), port(2)]
                .into_iter()
                .flatten()
                .any(|p| ports.contains(&p));
            if on_port && let Some(inode) = cols.get(9).and_then(|i| i.parse().ok()) {
                inodes.insert(inode);
            }
        }
    }
    Ok(inodes)
}

/// CPU time (user + system) process `pid` has used so far, in seconds.
pub fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: fields are counted after its `)`.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("/proc/{pid}/stat: no `)`"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i - 3)
            .ok_or_else(|| anyhow::anyhow!("/proc/{pid}/stat: field {i} missing"))?
            .parse::<u64>()? as f64)
    };
    Ok((ticks(14)? + ticks(15)?) / clock_ticks()?)
}

/// Clock ticks per second (`getconf CLK_TCK`), read once.
fn clock_ticks() -> anyhow::Result<f64> {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    if let Some(t) = TICKS.get() {
        return Ok(*t);
    }
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()?;
    let t: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
    anyhow::ensure!(t > 0.0, "CLK_TCK {t}");
    Ok(*TICKS.get_or_init(|| t))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_connection_on_a_left_out_port_is_not_counted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let all = open_fds_except_ports("self", &[]).unwrap();
        let without = open_fds_except_ports("self", &[port]).unwrap();
        assert_eq!(without, all - 1);
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert_eq!(open_fds_except_ports("self", &[]).unwrap(), all + 2);
        assert_eq!(open_fds_except_ports("self", &[port]).unwrap(), without);
        drop((client, server));
    }
}
