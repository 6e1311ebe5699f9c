//! [`AgentHandle`]: what the caller of [`super::spawn`] holds — the status, the counters, the
//! shutdown token, the captured traffic — and the replays it can ask for.

use crate::inspect::Inspector;
use crate::inspect::model::ExchangeId;
use crate::replay::{ReplayError, ReplayModify, ReplayOutcome, ReplaySpec, ReplayTarget};
use crate::status::{AgentStatus, Counters, SessionState};
use anyhow::Context;
use std::collections::HashMap;
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
    pub(crate) replays: Arc<HashMap<String, Arc<ReplayTarget>>>,
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
            .get(tunnel_name)
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
