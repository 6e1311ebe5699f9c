//! The agent runtime: connects to the relay over QUIC, drives the control session, serves data
//! streams, and reconnects with backoff (re-binding the same names) until told to stop.
//!
//! With [`Connect::Cloud`] every connect starts with an authtoken exchange at the control
//! plane ([`crate::cloud`]), and the relays it lists are dialled best first, each next one
//! starting when the previous failed or stayed silent for 300 ms ([`crate::dial`]).
//!
//! The rooms, top down: this file builds the state and spawns the [`runner`] (the reconnect
//! loop), which runs one [`session`] per connection; [`options`] holds what an agent is
//! started with and [`handle`] what its caller holds.

mod handle;
mod options;
mod runner;
mod session;

pub use handle::AgentHandle;
pub use options::{AgentError, AgentOptions, Connect};

use crate::inspect::Inspector;
use crate::replay::{ReplayJobs, ReplayTarget};
use crate::status::{AgentStatus, SessionState, TunnelStatus};
use runner::Runner;
use session::SessionDriver;
use std::collections::HashMap;
use std::sync::Arc;
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
    let replays: HashMap<String, Arc<ReplayTarget>> = opts
        .tunnels
        .iter()
        .filter(|t| t.spec.proto == fdt_proto::Proto::Http)
        .filter_map(|t| match ReplayTarget::new(t) {
            Ok(r) => Some((t.spec.name.clone(), Arc::new(r))),
            Err(e) => {
                tracing::warn!(tunnel = %t.spec.name, error = %e, "replay disabled for this tunnel");
                None
            }
        })
        .collect();
    let replays = Arc::new(replays);
    let status = AgentStatus {
        state: SessionState::Connecting,
        relay: opts.connect.initial_relay(),
        session: None,
        tunnels: opts
            .tunnels
            .iter()
            .map(|t| TunnelStatus {
                name: t.spec.name.clone(),
                proto: t.spec.proto.as_str().to_string(),
                public_url: None,
                addr: t.upstream.display(),
                error: None,
            })
            .collect(),
        last_error: None,
        reconnects: 0,
    };
    let (tx, rx) = watch::channel(status);
    let handle = AgentHandle {
        status: rx,
        counters: Arc::default(),
        shutdown: CancellationToken::new(),
        inspector,
        replays: replays.clone(),
    };
    let runner = Runner {
        connect: opts.connect,
        session: SessionDriver {
            tunnels: opts.tunnels,
            status: tx,
            counters: handle.counters.clone(),
            shutdown: handle.shutdown.clone(),
            targets: Arc::default(),
            bound: Arc::new(Notify::new()),
            jobs: Arc::new(ReplayJobs::new(replays, handle.inspector.clone())),
            inspector: handle.inspector.clone(),
        },
    };
    let join = tokio::spawn(runner.run());
    (handle, join)
}
