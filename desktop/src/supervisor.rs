//! Runs the switched-on tunnels: one agent-core agent per tunnel, so switching one tunnel off
//! never drops the others' connections or changes their URLs. All agents share one inspector,
//! and one local API (the inspector's page and `/api`) answers for all of them.

use fdt_agent_core::agent::AgentError;
use fdt_agent_core::config::ResolvedTunnel;
use fdt_agent_core::merged::merge_status;
use fdt_agent_core::status::{AgentStatus, SessionState};
use fdt_agent_core::{AgentHandle, AgentOptions, CloudLogin, Connect, Inspector};
use fdt_desktop_ipc::TunnelState;
use fdt_ui::site as fdt_ui_site;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a stopping agent may take to leave its relay before its replacement starts.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

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
    /// The live state of a one-tunnel agent from its status; `exit` is how the agent ended,
    /// once it has.
    pub fn from_status(s: &AgentStatus, exit: Option<&Result<(), AgentExitError>>) -> Self {
        let t = s.tunnels.first();
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

    fn failed(e: String) -> Self {
        Self {
            state: TunnelState::Error,
            public_url: None,
            error: Some(e),
        }
    }
}

struct Running {
    handle: AgentHandle,
    /// Which start of the tunnel this is: a stopped agent's last words must not overwrite
    /// the state of the agent that replaced it.
    generation: u64,
    /// Ends once the agent has stopped.
    watcher: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Inner {
    running: BTreeMap<String, Running>,
    generations: u64,
    /// Last known status of each running (or failed) agent, for the merged local-API view.
    statuses: BTreeMap<String, AgentStatus>,
    live: BTreeMap<String, Live>,
    /// The local API over the current agents; rebuilt when agents start or stop.
    router: Option<axum::Router>,
}

/// The agents of the switched-on tunnels.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Mutex<Inner>>,
    inspector: Inspector,
    /// The inspector page's files, loaded once.
    site: Arc<fdt_ui_site::Site>,
    merged: watch::Sender<AgentStatus>,
    /// Bumped whenever any tunnel's live state changes.
    changes: Arc<watch::Sender<u64>>,
}

impl Supervisor {
    /// A supervisor whose agents capture into `inspector`.
    pub fn new(inspector: Inspector) -> Self {
        Self {
            inner: Arc::default(),
            inspector,
            site: Arc::new(fdt_ui_site::Site::load(site_dir().as_deref())),
            merged: watch::Sender::new(merge_status([])),
            changes: Arc::new(watch::Sender::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notified after every live-state change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The shared inspector.
    pub fn inspector(&self) -> &Inspector {
        &self.inspector
    }

    /// Live state of tunnel `id` (off when it is not running).
    pub fn live(&self, id: &str) -> Live {
        self.lock().live.get(id).cloned().unwrap_or_default()
    }

    /// The local API (`/api/...` and the inspector page) over the running agents.
    pub fn router(&self) -> axum::Router {
        let mut inner = self.lock();
        if let Some(r) = &inner.router {
            return r.clone();
        }
        let parts: Vec<AgentHandle> = inner.running.values().map(|r| r.handle.clone()).collect();
        let merged = AgentHandle::merged(
            self.merged.subscribe(),
            Some(self.inspector.clone()),
            &parts,
        );
        let router = fdt_agent_core::api::app_with_site(merged, &self.site);
        inner.router = Some(router.clone());
        router
    }

    /// Starts tunnel `id`. A running one is stopped first, and its agent given up to a second
    /// to leave the relay, so the new one can bind the same name.
    pub async fn start(&self, id: &str, login: CloudLogin, tunnel: ResolvedTunnel) {
        if let Some(old) = self.stop_one(id) {
            let _ = tokio::time::timeout(STOP_GRACE, old).await;
        }
        let (handle, join) = fdt_agent_core::spawn_with(
            AgentOptions {
                connect: Connect::Cloud(login),
                tunnels: vec![tunnel],
            },
            Some(self.inspector.clone()),
        );
        let mut inner = self.lock();
        inner.generations += 1;
        let generation = inner.generations;
        inner.live.insert(
            id.to_string(),
            Live {
                state: TunnelState::Connecting,
                ..Live::default()
            },
        );
        inner.running.insert(
            id.to_string(),
            Running {
                handle: handle.clone(),
                generation,
                watcher: None,
            },
        );
        // Registered before the watcher runs, so its first report is never dropped.
        let watcher = tokio::spawn(self.clone().watch(id.to_string(), generation, handle, join));
        if let Some(r) = inner.running.get_mut(id) {
            r.watcher = Some(watcher);
        }
        inner.router = None;
        drop(inner);
        self.publish();
    }

    /// Stops tunnel `id`; its live state becomes off.
    pub fn stop(&self, id: &str) {
        let _ = self.stop_one(id);
    }

    /// Stops tunnel `id`; the returned task ends once its agent has closed its connection.
    fn stop_one(&self, id: &str) -> Option<JoinHandle<()>> {
        let mut inner = self.lock();
        let was = inner.running.remove(id);
        inner.live.remove(id);
        inner.statuses.remove(id);
        inner.router = None;
        drop(inner);
        let r = was?;
        r.handle.shutdown.cancel();
        self.publish();
        r.watcher
    }

    /// Stops every tunnel.
    pub fn stop_all(&self) {
        let ids: Vec<String> = self.lock().running.keys().cloned().collect();
        for id in ids {
            self.stop(&id);
        }
    }

    /// Stops every tunnel and waits (at most `limit`) until their agents have told their
    /// relays goodbye, so the public URLs go away now rather than at the relay's idle timeout.
    pub async fn stop_all_and_wait(&self, limit: Duration) {
        let ids: Vec<String> = self.lock().running.keys().cloned().collect();
        let watchers: Vec<_> = ids.iter().filter_map(|id| self.stop_one(id)).collect();
        let deadline = tokio::time::Instant::now() + limit;
        for w in watchers {
            let _ = tokio::time::timeout_at(deadline, w).await;
        }
    }

    /// Ids of the running tunnels.
    pub fn running(&self) -> Vec<String> {
        self.lock().running.keys().cloned().collect()
    }

    /// Follows one agent's status until it ends.
    async fn watch(
        self,
        id: String,
        generation: u64,
        handle: AgentHandle,
        mut join: JoinHandle<Result<(), AgentError>>,
    ) {
        let mut status = handle.status.clone();
        let ended = |r: Result<Result<(), AgentError>, tokio::task::JoinError>| {
            Ok::<_, AgentExitError>(r??)
        };
        loop {
            let exit = tokio::select! {
                changed = status.changed() => match changed {
                    Ok(()) => None,
                    // The agent is gone: how it ended is in its join handle.
                    Err(_) => Some(ended((&mut join).await)),
                },
                r = &mut join => Some(ended(r)),
            };
            let snapshot = status.borrow_and_update().clone();
            let live = Live::from_status(&snapshot, exit.as_ref());
            self.record(&id, generation, snapshot, live);
            if exit.is_some() {
                return;
            }
        }
    }

    fn record(&self, id: &str, generation: u64, status: AgentStatus, live: Live) {
        let mut inner = self.lock();
        if inner.running.get(id).map(|r| r.generation) != Some(generation) {
            return;
        }
        let changed = inner.live.get(id) != Some(&live);
        inner.live.insert(id.to_string(), live);
        inner.statuses.insert(id.to_string(), status);
        let merged = merge_status(inner.statuses.values());
        drop(inner);
        self.merged.send_replace(merged);
        if changed {
            self.publish();
        }
    }

    fn publish(&self) {
        self.changes.send_modify(|n| *n += 1);
    }
}

/// Where the inspector page's browser bundle is: the usual places (`$FDT_UI_SITE`, next to
/// the binary, `/usr/share/fdt/site`), else the desktop package's own copy.
fn site_dir() -> Option<std::path::PathBuf> {
    fdt_ui_site::Site::discover().or_else(|| {
        let own = std::path::PathBuf::from("/usr/share/fdt-desktop/site");
        own.join("pkg").is_dir().then_some(own)
    })
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
            let live = Live::from_status(&s, exit.as_ref());
            assert_eq!(live.state, want, "{s:?} {exit:?}");
            assert_eq!(live.public_url.is_some(), want == T::Online);
        }
        let failed = Live::from_status(&status(S::Online, None, Some("subdomain taken")), None);
        assert_eq!(failed.error.as_deref(), Some("subdomain taken"));
    }
}
