//! One view over several agents: the desktop app runs one agent per tunnel (so switching one
//! tunnel off never disturbs the others) and serves a single local API and inspector for all
//! of them. (Not a load-balancing group of agents sharing a name: that is the relay's
//! pooling.)

use crate::agent::AgentHandle;
use crate::inspect::Inspector;
use crate::status::{AgentStatus, Counters, SessionState};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

impl AgentHandle {
    /// A handle for the local API ([`crate::api::app`]) over `parts`: `status` is the caller's
    /// merged view (see [`merge_status`]), captures come from the shared `inspector`, and a
    /// replay goes to the agent whose tunnel captured the exchange. Cancelling the returned
    /// handle's `shutdown` stops nothing but what the caller ties to it.
    pub fn merged(
        status: watch::Receiver<AgentStatus>,
        inspector: Option<Inspector>,
        parts: &[AgentHandle],
    ) -> AgentHandle {
        let replays: HashMap<_, _> = parts
            .iter()
            .flat_map(|p| p.replays.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect();
        AgentHandle {
            status,
            counters: Arc::new(Counters::default()),
            shutdown: CancellationToken::new(),
            inspector,
            replays: Arc::new(replays),
        }
    }
}

/// Merges several agents' statuses into one: the tunnels of all of them, the worst session
/// state among them (reconnecting beats connecting beats online), their reconnects summed.
pub fn merge_status<'a>(parts: impl IntoIterator<Item = &'a AgentStatus>) -> AgentStatus {
    let mut out = AgentStatus {
        state: SessionState::Stopped,
        relay: String::new(),
        session: None,
        tunnels: vec![],
        last_error: None,
        reconnects: 0,
    };
    let rank = |s: SessionState| match s {
        SessionState::Stopped => 0,
        SessionState::Online => 1,
        SessionState::Connecting => 2,
        SessionState::Reconnecting => 3,
    };
    for p in parts {
        if out.tunnels.is_empty() || rank(p.state) > rank(out.state) {
            out.state = p.state;
        }
        if out.relay.is_empty() {
            out.relay = p.relay.clone();
        }
        out.session = out.session.or_else(|| p.session.clone());
        out.last_error = out.last_error.or_else(|| p.last_error.clone());
        out.reconnects += p.reconnects;
        out.tunnels.extend(p.tunnels.iter().cloned());
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::status::TunnelStatus;

    fn status(state: SessionState, name: &str) -> AgentStatus {
        AgentStatus {
            state,
            relay: format!("relay-{name}"),
            session: None,
            tunnels: vec![TunnelStatus {
                name: name.into(),
                proto: "http".into(),
                public_url: None,
                addr: "localhost:1".into(),
                error: None,
            }],
            last_error: None,
            reconnects: 1,
        }
    }

    #[test]
    fn merged_status_keeps_every_tunnel_and_the_worst_state() {
        let a = status(SessionState::Online, "a");
        let b = status(SessionState::Reconnecting, "b");
        let m = merge_status([&a, &b]);
        assert_eq!(m.state, SessionState::Reconnecting);
        assert_eq!(m.tunnels.len(), 2);
        assert_eq!(m.reconnects, 2);
        assert_eq!(m.relay, "relay-a");
        let empty = merge_status([]);
        assert_eq!(empty.state, SessionState::Stopped);
        assert!(empty.tunnels.is_empty());
        let stopped_and_online = merge_status([&status(SessionState::Stopped, "x"), &a]);
        assert_eq!(stopped_and_online.state, SessionState::Online);
    }
}
