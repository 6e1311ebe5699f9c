//! A tunnel's live state as the window and tray show it, read from the agent's status.

use fdt_agent_core::agent::AgentError;
use fdt_agent_core::status::{AgentStatus, SessionState, TunnelStatus};
use fdt_desktop_ipc::{ManagedTunnelView, TunnelState};

/// A running tunnel's live state, as the window and tray show it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Live {
    /// State.
    pub state: TunnelState,
    /// Public URL while online.
    pub public_url: Option<String>,
    /// Why it is failing or reconnecting.
    pub error: Option<String>,
}

/// How an agent's task ended badly.
#[derive(Debug, thiserror::Error)]
pub enum AgentExitError {
    /// The agent stopped for good (refused, or its set-up failed).
    #[error(transparent)]
    Stopped(#[from] AgentError),
    /// The agent's task panicked or was aborted.
    #[error("the agent task ended: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl Live {
    /// The live state of tunnel `name` from its agent's status; `exit` is how the agent
    /// ended, once it has.
    pub fn from_status(
        s: &AgentStatus,
        name: &str,
        exit: Option<&Result<(), AgentExitError>>,
    ) -> Self {
        let t: Option<&TunnelStatus> = s.tunnels.iter().find(|t| t.name == name);
        let bind_error = t.and_then(|t| t.error.clone());
        match s.state {
            SessionState::Stopped => match exit {
                Some(Ok(())) => Self::default(),
                Some(Err(e)) => Self::failed(e.to_string()),
                None => Self::failed(
                    s.last_error
                        .clone()
                        .unwrap_or_else(|| "the agent stopped".into()),
                ),
            },
            SessionState::Connecting => Self {
                state: TunnelState::Connecting,
                public_url: None,
                error: s.last_error.clone(),
            },
            SessionState::Reconnecting => Self {
                state: TunnelState::Reconnecting,
                public_url: None,
                error: s.last_error.clone(),
            },
            SessionState::Online => match (t.and_then(|t| t.public_url.clone()), bind_error) {
                (Some(url), _) => Self {
                    state: TunnelState::Online,
                    public_url: Some(url),
                    error: None,
                },
                (None, Some(e)) => Self::failed(e),
                (None, None) => Self {
                    state: TunnelState::Connecting,
                    public_url: None,
                    error: None,
                },
            },
        }
    }

    pub(super) fn failed(e: String) -> Self {
        Self {
            state: TunnelState::Error,
            public_url: None,
            error: Some(e),
        }
    }
}

/// The managed tunnels' lines from an agent's status.
pub(super) fn managed_lines(
    status: &AgentStatus,
    exit: Option<&Result<(), AgentExitError>>,
) -> Vec<ManagedTunnelView> {
    status
        .tunnels
        .iter()
        .filter_map(|t| {
            let id = t.managed_id.clone()?;
            let live = Live::from_status(status, &t.name, exit);
            Some(ManagedTunnelView {
                id,
                name: t.name.clone(),
                proto: t.proto.clone(),
                addr: t.addr.clone(),
                state: live.state,
                public_url: live.public_url,
                error: live.error,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use fdt_agent_core::status::TunnelStatus;

    fn status(state: SessionState, url: Option<&str>, error: Option<&str>) -> AgentStatus {
        AgentStatus {
            state,
            relay: "relay".into(),
            session: None,
            tunnels: vec![TunnelStatus {
                name: "web".into(),
                proto: "http".into(),
                public_url: url.map(Into::into),
                addr: "localhost:3000".into(),
                error: error.map(Into::into),
                error_code: None,
                managed_id: None,
            }],
            last_error: None,
            reconnects: 0,
        }
    }

    #[test]
    fn agent_statuses_map_to_tunnel_states() {
        use SessionState as S;
        use TunnelState as T;
        let cases = [
            (status(S::Connecting, None, None), None, T::Connecting),
            (status(S::Online, None, None), None, T::Connecting),
            (
                status(S::Online, Some("https://w.example"), None),
                None,
                T::Online,
            ),
            (
                status(S::Online, None, Some("subdomain taken")),
                None,
                T::Error,
            ),
            (status(S::Reconnecting, None, None), None, T::Reconnecting),
            (status(S::Stopped, None, None), Some(Ok(())), T::Off),
            (
                status(S::Stopped, None, None),
                Some(Err(AgentError::Refused("refused".into()).into())),
                T::Error,
            ),
        ];
        for (s, exit, want) in cases {
            let live = Live::from_status(&s, "web", exit.as_ref());
            assert_eq!(live.state, want, "{s:?} {exit:?}");
            assert_eq!(live.public_url.is_some(), want == T::Online);
        }
        let failed = Live::from_status(
            &status(S::Online, None, Some("subdomain taken")),
            "web",
            None,
        );
        assert_eq!(failed.error.as_deref(), Some("subdomain taken"));
    }
}
