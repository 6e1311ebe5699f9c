//! What the partition scenarios compare before a fault and after healing: agent sessions on
//! the relays, the relays' runtime tasks and file descriptors, and this process's (where the
//! agent runs). Sockets on the ports given are left out: connections to the control plane
//! come and go with HTTP client pools, and a proxy opens one socket per flow.

use fdt_e2e::RelayProcess;
use std::fmt;
use std::time::Duration;

/// The counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counts {
    pub sessions: u64,
    pub relay_tasks: u64,
    pub relay_fds: usize,
    pub own_fds: usize,
}

impl Counts {
    /// Reads them from `relays` (their admin listener and `/proc`) and this process.
    pub async fn read(relays: &[&RelayProcess], skip: &[u16]) -> anyhow::Result<Self> {
        let mut c = Self {
            sessions: 0,
            relay_tasks: 0,
            relay_fds: 0,
            own_fds: fdt_e2e::procfs::open_fds_except_ports("self", skip)?,
        };
        for r in relays {
            c.sessions += r.metric("fdt_relay_agent_sessions").await? as u64;
            c.relay_tasks += r.metric("fdt_relay_runtime_tasks").await? as u64;
            c.relay_fds += r.open_fds_except_ports(skip)?;
        }
        Ok(c)
    }

    /// Waits (bounded by `limit`) until the counts are back to `self`; the last reading
    /// otherwise, for the failure message.
    pub async fn settle_back(
        &self,
        relays: &[&RelayProcess],
        skip: &[u16],
        limit: Duration,
    ) -> Result<Self, String> {
        let last = std::sync::Mutex::new(None);
        fdt_e2e::poll_until(limit, "counts back to where they were", || async {
            let now = Self::read(relays, skip).await.ok()?;
            *last.lock().unwrap() = Some(now);
            (now == *self).then_some(now)
        })
        .await
        .map_err(|e| format!("{e}: before {self:?}, last {:?}", last.lock().unwrap()))
    }
}

/// `after` beside `before`, for a report row.
pub(super) struct Compared(pub Counts, pub Counts);

impl fmt::Display for Compared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Compared(before, after) = self;
        write!(
            f,
            "{} session, relay tasks {} (before {}), relay fds {} (before {}), agent-side fds {} \
             (before {})",
            after.sessions,
            after.relay_tasks,
            before.relay_tasks,
            after.relay_fds,
            before.relay_fds,
            after.own_fds,
            before.own_fds
        )
    }
}
