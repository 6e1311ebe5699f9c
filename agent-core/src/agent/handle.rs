//! [`AgentHandle`]: what the caller of [`super::spawn`] holds — the status, the counters, the
//! shutdown token, the captured traffic — and the replays it can ask for.

use super::tunnels::{Replays, TunnelSet, TunnelSetError};
use crate::config::ResolvedTunnel;
use crate::inspect::Inspector;
use crate::inspect::model::ExchangeId;
use crate::replay::{ReplayError, ReplayModify, ReplayOutcome, ReplaySpec};
use crate::status::{AgentStatus, Counters, SessionState, TunnelStatus};
use anyhow::Context;
use fdt_proto::ErrorCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A running agent.
#[derive(Debug, Clone)]
pub struct AgentHandle {
    /// Latest status; changes on connect, bind and disconnect.
    pub status: watch::Receiver<AgentStatus>,
    /// Traffic counters.
    pub counters: Arc<Counters>,
    /// Cancel to stop the agent.
    pub shutdown: CancellationToken,
    /// Captured traffic, when inspection is on.
    pub inspector: Option<Inspector>,
    /// Replay destinations of the http tunnels, by tunnel name.
    pub(crate) replays: Replays,
    /// The agent's tunnels, to start and stop while it runs; `None` for a handle with no
    /// agent behind it ([`AgentHandle::idle`]).
    pub(crate) tunnels: Option<TunnelSet>,
    /// The standby session's status, when the agent keeps two (`ha`); `status` is the
    /// primary's.
    pub standby: Option<watch::Receiver<AgentStatus>>,
}

/// Why a tunnel could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// This handle has no agent to start tunnels in ([`AgentHandle::idle`]).
    #[error("no agent is running here to start tunnels in")]
    NotSupported,
    /// The agent refused to add it (the name is taken, too many tunnels).
    #[error(transparent)]
    Set(#[from] TunnelSetError),
    /// The relay refused the bind; `code` is its stable error code.
    #[error("relay refused the tunnel: {message}")]
    Refused {
        /// The relay's code.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
    /// Not bound in time (the agent is not connected, or the relay did not answer).
    #[error("the tunnel was not bound within {0:?}; is the agent connected?")]
    Timeout(Duration),
    /// The agent stopped.
    #[error("the agent stopped")]
    Stopped,
}

impl AgentHandle {
    /// Waits until every tunnel has a public URL (or one failed to bind); returns the status.
    pub async fn wait_bound(&mut self, timeout: Duration) -> anyhow::Result<AgentStatus> {
        let fut = self.status.wait_for(|s| {
            s.state == SessionState::Stopped
                || (s.state == SessionState::Online
                    && s.tunnels
                        .iter()
                        .all(|t| t.public_url.is_some() || t.error.is_some()))
        });
        let s = tokio::time::timeout(timeout, fut)
            .await
            .context("timed out waiting for tunnels")?
            .context("agent gone")?
            .clone();
        if let Some(t) = s.tunnels.iter().find(|t| t.error.is_some()) {
            anyhow::bail!(
                "tunnel {} failed: {}",
                t.name,
                t.error.clone().unwrap_or_default()
            );
        }
        if s.state == SessionState::Stopped {
            anyhow::bail!(
                "agent stopped: {}",
                s.last_error.clone().unwrap_or_default()
            );
        }
        Ok(s)
    }

    /// Starts `tunnel` in the running agent and waits, up to `timeout`, for the relay to bind
    /// it; returns its status line (with the public URL). A tunnel the relay refuses, or that
    /// is not bound in time, is removed again: a failed start leaves nothing behind.
    pub async fn start_tunnel(
        &self,
        tunnel: ResolvedTunnel,
        timeout: Duration,
    ) -> Result<TunnelStatus, StartError> {
        let set = self.tunnels.as_ref().ok_or(StartError::NotSupported)?;
        let name = tunnel.spec.name.clone();
        // Subscribed before the add, so the line's first state cannot be missed.
        let mut status = self.status.clone();
        status.mark_unchanged();
        set.add(tunnel.clone())?;
        let settled = status.wait_for(|s| {
            s.state == SessionState::Stopped
                || s.tunnels
                    .iter()
                    .any(|t| t.name == name && (t.public_url.is_some() || t.error.is_some()))
        });
        let outcome = match tokio::time::timeout(timeout, settled).await {
            Err(_) => Err(StartError::Timeout(timeout)),
            Ok(Err(_)) => Err(StartError::Stopped),
            Ok(Ok(s)) => match s.tunnels.iter().find(|t| t.name == name) {
                Some(t) if t.public_url.is_some() => Ok(t.clone()),
                Some(t) => Err(StartError::Refused {
                    code: t.error_code.unwrap_or(ErrorCode::Unknown),
                    message: t.error.clone().unwrap_or_default(),
                }),
                None => Err(StartError::Stopped),
            },
        };
        if outcome.is_err() && set.get(&name).as_ref() == Some(&tunnel) {
            set.remove(&name);
        }
        outcome
    }

    /// The agent's tunnel set, to start and stop tunnels without waiting for the relay
    /// (`None` for a handle with no agent, [`AgentHandle::idle`]).
    pub fn tunnels(&self) -> Option<&TunnelSet> {
        self.tunnels.as_ref()
    }

    /// Stops tunnel `name`: the relay releases it and new visitors get the offline page.
    /// `false` when the agent has no such tunnel, cannot stop tunnels, or the tunnel is
    /// cloud-managed (stopped in the control plane).
    pub fn stop_tunnel(&self, name: &str) -> bool {
        if self.is_managed(name) {
            return false;
        }
        self.tunnels
            .as_ref()
            .is_some_and(|set| set.remove(name).is_some())
    }

    /// Whether tunnel `name` is cloud-managed: started and stopped in the control plane, so
    /// [`Self::stop_tunnel`] leaves it alone.
    pub fn is_managed(&self, name: &str) -> bool {
        self.tunnels
            .as_ref()
            .is_some_and(|set| set.is_managed(name))
    }

    /// Replays `spec` to the configured local upstream of http tunnel `tunnel_name` (and
    /// nowhere else: see [`crate::replay`] for what is refused), capturing the replay when
    /// inspection is on. This is the entry point for replays the control plane asks for as
    /// well as the local API's. `original_host` is the Host the visitor sent, which the spec
    /// may keep; any other Host is refused unless it is the upstream's own.
    pub async fn replay(
        &self,
        tunnel_name: &str,
        spec: ReplaySpec,
        original_host: Option<&str>,
    ) -> Result<ReplayOutcome, ReplayError> {
        let target = self
            .replays
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tunnel_name)
            .cloned()
            .ok_or_else(|| ReplayError::UnknownTunnel(tunnel_name.to_string()))?;
        target
            .send(&spec, original_host, self.inspector.as_ref())
            .await
    }

    /// Replays captured exchange `id`, as is or with `modify` applied, through its tunnel
    /// (`tunnel_name`, when given, must be that tunnel).
    pub async fn replay_captured(
        &self,
        id: ExchangeId,
        tunnel_name: Option<&str>,
        modify: Option<&ReplayModify>,
    ) -> Result<ReplayOutcome, ReplayError> {
        let inspector = self.inspector.as_ref().ok_or(ReplayError::InspectionOff)?;
        let ex = inspector
            .store()
            .get(id)
            .await?
            .ok_or(ReplayError::NotFound(id))?;
        if let Some(t) = tunnel_name
            && t != ex.tunnel_name
        {
            return Err(ReplayError::Refused(format!(
                "exchange {id} came through tunnel {:?}, not {t:?}",
                ex.tunnel_name
            )));
        }
        let spec = match modify {
            Some(m) => ReplaySpec::modified(&ex, m)?,
            None => ReplaySpec::from_exchange(&ex)?,
        };
        self.replay(&ex.tunnel_name, spec, Some(&ex.host)).await
    }
}
