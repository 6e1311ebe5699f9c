//! The agent runtime: connects to the relay over QUIC, drives the control session, serves data
//! streams, and reconnects with backoff (re-binding the same names) until told to stop.
//!
//! With [`Connect::Cloud`] every connect starts with an authtoken exchange at the control
//! plane ([`crate::cloud`]), and the relays it lists are dialled best first, each next one
//! starting when the previous failed or stayed silent for 300 ms ([`crate::dial`]).
//!
//! Tunnels can be started and stopped while the agent runs ([`AgentHandle::start_tunnel`],
//! the local API's `POST /api/tunnels`): the [`tunnels`] set holds what is wanted now, and each
//! session follows it live on its one QUIC connection ([`live`] works out the binds and
//! releases), so nothing reconnects and the other tunnels keep serving.
//!
//! With [`AgentOptions::managed`] the session also asks the relay for the account's
//! cloud-managed tunnels; each pushed set goes into the same [`tunnels`] set ([`managed`]
//! reads the definitions), so a change in the control plane is applied live the same way.
//!
//! The rooms, top down: this file builds the state and spawns the [`runner`] (the reconnect
//! loop), which runs one [`session`] per connection; [`options`] holds what an agent is
//! started with and [`handle`] what its caller holds.

mod handle;
mod live;
pub mod managed;
mod options;
mod runner;
mod session;
mod tunnels;

pub use handle::{AgentHandle, StartError};
pub use options::{AgentError, AgentOptions, Connect};
pub(crate) use tunnels::Replays;
pub use tunnels::{MAX_TUNNELS, TunnelSet, TunnelSetError};

use crate::inspect::Inspector;
use crate::replay::ReplayJobs;
use crate::status::{AgentStatus, SessionState, TunnelStatus};
use runner::{Replica, Runner};
use session::SessionDriver;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Starts an agent in the background without inspection; see [`spawn_with`].
pub fn spawn(opts: AgentOptions) -> (AgentHandle, tokio::task::JoinHandle<Result<(), AgentError>>) {
    spawn_with(opts, None)
}

/// Starts an agent in the background; it runs until `handle.shutdown` is cancelled or the
/// relay refuses it. The returned join handle yields the reason it stopped. With an
/// `inspector`, every exchange and connection is captured into it.
pub fn spawn_with(
    opts: AgentOptions,
    inspector: Option<Inspector>,
) -> (AgentHandle, tokio::task::JoinHandle<Result<(), AgentError>>) {
    // Names are unique where options come from (config tables, one flag set); a duplicate
    // here is the caller's mistake, logged and dropped rather than a panic.
    let tunnels = TunnelSet::default();
    for t in opts.tunnels {
        let name = t.spec.name.clone();
        if let Err(e) = tunnels.add(t) {
            tracing::warn!(tunnel = %name, error = %e, "tunnel ignored");
        }
    }
    let desired = tunnels.snapshot();
    let status = AgentStatus {
        state: SessionState::Connecting,
        relay: opts.connect.initial_relay(),
        session: None,
        tunnels: desired.iter().map(TunnelStatus::offline).collect(),
        last_error: None,
        reconnects: 0,
    };
    let (tx, rx) = watch::channel(status);
    let handle = AgentHandle {
        status: rx,
        counters: Arc::default(),
        shutdown: CancellationToken::new(),
        inspector,
        replays: tunnels.replays(),
        tunnels: Some(tunnels.clone()),
        standby: None,
    };
    let jobs = Arc::new(ReplayJobs::new(tunnels.replays(), handle.inspector.clone()));
    let ha = opts.ha && matches!(opts.connect, Connect::Cloud(_));
    let group = ha.then(new_ha_group);
    let on = Arc::new(watch::channel([None, None]).0);
    // Each replica has its own session state (tunnel IDs are per relay); they share the
    // tunnels, counters, captures and replay jobs.
    let driver = |status, me: usize| SessionDriver {
        jobs: jobs.clone(),
        tunnels: tunnels.clone(),
        shown: Mutex::new(desired.clone()),
        status,
        counters: handle.counters.clone(),
        shutdown: handle.shutdown.clone(),
        targets: Arc::default(),
        bound: Arc::new(Notify::new()),
        inspector: handle.inspector.clone(),
        // Definitions pushed to one session are the account's; the primary applies them.
        managed: opts.managed && me == 0,
        ha_group: group.clone().map(|g| (g, u8::try_from(me).unwrap_or(1))),
    };
    let runner = |status, me| Runner {
        connect: opts.connect.clone(),
        session: driver(status, me),
        replica: ha.then(|| Replica { me, on: on.clone() }),
    };
    let primary = runner(tx, 0);
    let (handle, join) = if ha {
        let (standby_tx, standby_rx) = watch::channel(handle.status.borrow().clone());
        let standby = runner(standby_tx, 1);
        let handle = AgentHandle {
            standby: Some(standby_rx),
            ..handle
        };
        let join = tokio::spawn(async move {
            // The agent stops when both have: a refusal stops both (same credentials).
            let (first, second) = tokio::join!(primary.run(), standby.run());
            first.and(second)
        });
        (handle, join)
    } else {
        (handle, tokio::spawn(primary.run()))
    };
    (handle, join)
}

/// A fresh replica group: 16 random letters and digits.
fn new_ha_group() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..16)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}
