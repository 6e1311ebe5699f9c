//! A handle with no agent behind it: what the desktop app's local API answers with while no
//! tunnel is on, so the inspector's captures stay browsable. It starts nothing.

use crate::agent::AgentHandle;
use crate::inspect::Inspector;
use crate::status::{AgentStatus, Counters, SessionState};
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

impl AgentHandle {
    /// A handle showing `status` (see [`idle_status`]) and the captures of `inspector`; its
    /// replays find no tunnel and it cannot start one.
    pub fn idle(status: watch::Receiver<AgentStatus>, inspector: Option<Inspector>) -> Self {
        AgentHandle {
            status,
            counters: Arc::new(Counters::default()),
            shutdown: CancellationToken::new(),
            inspector,
            replays: Arc::default(),
            tunnels: None,
            standby: None,
        }
    }
}

/// The status of no agent: stopped, no tunnels.
pub fn idle_status() -> AgentStatus {
    AgentStatus {
        state: SessionState::Stopped,
        relay: String::new(),
        session: None,
        tunnels: vec![],
        last_error: None,
        reconnects: 0,
    }
}
