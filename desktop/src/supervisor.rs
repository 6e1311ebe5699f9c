//! Runs the switched-on tunnels: one agent-core agent, so one QUIC connection to the relay,
//! carrying every tunnel. Tunnels are started and stopped in it live (agent-core's tunnel
//! set), so switching one off never drops the others' connections or changes their URLs. The
//! agent's local API (the inspector's page and `/api`) is the app's.

use fdt_agent_core::agent::AgentError;
use fdt_agent_core::config::ResolvedTunnel;
use fdt_agent_core::idle::idle_status;
use fdt_agent_core::status::{AgentStatus, SessionState, TunnelStatus};
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

    fn failed(e: String) -> Self {
        Self {
            state: TunnelState::Error,
            public_url: None,
            error: Some(e),
        }
    }
}

/// The one agent and how it was started.
struct Running {
    handle: AgentHandle,
    /// The account it signed in with: another login needs another agent.
    login: CloudLogin,
    /// Which agent this is: a stopped agent's last words must not overwrite the state of the
    /// agent that replaced it.
    generation: u64,
    /// Ends once the agent has stopped.
    watcher: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Inner {
    agent: Option<Running>,
    generations: u64,
    /// The switched-on tunnels, by the app's tunnel id.
    tunnels: BTreeMap<String, ResolvedTunnel>,
    live: BTreeMap<String, Live>,
    /// The local API over the current agent; rebuilt when the agent changes.
    router: Option<axum::Router>,
}

/// The agent of the switched-on tunnels.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Mutex<Inner>>,
    inspector: Inspector,
    /// The inspector page's files, loaded once.
    site: Arc<fdt_ui_site::Site>,
    /// The status the local API shows while no agent runs.
    idle: watch::Sender<AgentStatus>,
    /// Bumped whenever any tunnel's live state changes.
    changes: Arc<watch::Sender<u64>>,
}

impl Supervisor {
    /// A supervisor whose agent captures into `inspector`.
    pub fn new(inspector: Inspector) -> Self {
        Self {
            inner: Arc::default(),
            inspector,
            site: Arc::new(fdt_ui_site::Site::load(site_dir().as_deref())),
            idle: watch::Sender::new(idle_status()),
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

    /// The agent's handle while one runs (its status, its connection count in tests).
    pub fn agent(&self) -> Option<AgentHandle> {
        self.lock().agent.as_ref().map(|a| a.handle.clone())
    }

    /// The local API (`/api/...` and the inspector page) over the running agent.
    pub fn router(&self) -> axum::Router {
        let mut inner = self.lock();
        if let Some(r) = &inner.router {
            return r.clone();
        }
        let handle = match &inner.agent {
            Some(a) => a.handle.clone(),
            None => AgentHandle::idle(self.idle.subscribe(), Some(self.inspector.clone())),
        };
        let router = fdt_agent_core::api::app_with_site(handle, &self.site);
        inner.router = Some(router.clone());
        router
    }

    /// Starts tunnel `id` (restarts it with `tunnel` when it runs) in the agent, which is
    /// started with `login` first if none runs. An agent signed in with another login is
    /// replaced, given up to [`STOP_GRACE`] to leave its relay, and its tunnels move over.
    pub async fn start(&self, id: &str, login: CloudLogin, tunnel: ResolvedTunnel) {
        let replaced = {
            let mut inner = self.lock();
            let previous = inner.tunnels.insert(id.to_string(), tunnel.clone());
            inner.live.insert(
                id.to_string(),
                Live {
                    state: TunnelState::Connecting,
                    ..Live::default()
                },
            );
            let same_login = inner
                .agent
                .as_ref()
                .filter(|a| a.login == login)
                .and_then(|a| a.handle.tunnels().cloned());
            match same_login {
                Some(set) => {
                    if let Some(p) = previous {
                        set.remove(&p.spec.name);
                    }
                    if let Err(e) = set.add(tunnel) {
                        inner
                            .live
                            .insert(id.to_string(), Live::failed(e.to_string()));
                    }
                    drop(inner);
                    self.publish();
                    return;
                }
                None => Self::take_agent(&mut inner),
            }
        };
        if let Some(old) = replaced {
            let _ = tokio::time::timeout(STOP_GRACE, old).await;
        }
        self.spawn_agent(login);
        self.publish();
    }

    /// Starts an agent with every switched-on tunnel.
    fn spawn_agent(&self, login: CloudLogin) {
        let mut inner = self.lock();
        let tunnels: Vec<ResolvedTunnel> = inner.tunnels.values().cloned().collect();
        let (handle, join) = fdt_agent_core::spawn_with(
            AgentOptions {
                connect: Connect::Cloud(login.clone()),
                tunnels,
                managed: false,
            },
            Some(self.inspector.clone()),
        );
        inner.generations += 1;
        let generation = inner.generations;
        // Registered before the watcher runs, so its first report is never dropped.
        let watcher = tokio::spawn(self.clone().watch(generation, handle.clone(), join));
        inner.agent = Some(Running {
            handle,
            login,
            generation,
            watcher: Some(watcher),
        });
        inner.router = None;
    }

    /// Takes the agent out and tells it to stop; the returned task ends once it has.
    fn take_agent(inner: &mut Inner) -> Option<JoinHandle<()>> {
        let a = inner.agent.take()?;
        inner.router = None;
        a.handle.shutdown.cancel();
        a.watcher
    }

    /// Stops tunnel `id`; its live state becomes off. The last one stops the agent.
    pub fn stop(&self, id: &str) {
        let mut inner = self.lock();
        inner.live.remove(id);
        let Some(t) = inner.tunnels.remove(id) else {
            return;
        };
        if inner.tunnels.is_empty() {
            let _ = Self::take_agent(&mut inner);
        } else if let Some(set) = inner.agent.as_ref().and_then(|a| a.handle.tunnels()) {
            set.remove(&t.spec.name);
        }
        drop(inner);
        self.publish();
    }

    /// Stops every tunnel.
    pub fn stop_all(&self) {
        let _ = self.stop_everything();
    }

    fn stop_everything(&self) -> Option<JoinHandle<()>> {
        let mut inner = self.lock();
        inner.tunnels.clear();
        inner.live.clear();
        let watcher = Self::take_agent(&mut inner);
        drop(inner);
        self.publish();
        watcher
    }

    /// Stops every tunnel and waits (at most `limit`) until the agent has told its relay
    /// goodbye, so the public URLs go away now rather than at the relay's idle timeout.
    pub async fn stop_all_and_wait(&self, limit: Duration) {
        if let Some(w) = self.stop_everything() {
            let _ = tokio::time::timeout(limit, w).await;
        }
    }

    /// Ids of the running tunnels.
    pub fn running(&self) -> Vec<String> {
        self.lock().tunnels.keys().cloned().collect()
    }

    /// Follows the agent's status until it ends.
    async fn watch(
        self,
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
            self.record(generation, &snapshot, exit.as_ref());
            if exit.is_some() {
                return;
            }
        }
    }

    fn record(
        &self,
        generation: u64,
        status: &AgentStatus,
        exit: Option<&Result<(), AgentExitError>>,
    ) {
        let mut inner = self.lock();
        if inner.agent.as_ref().map(|a| a.generation) != Some(generation) {
            return;
        }
        let lives: Vec<(String, Live)> = inner
            .tunnels
            .iter()
            .map(|(id, t)| (id.clone(), Live::from_status(status, &t.spec.name, exit)))
            .collect();
        let mut changed = false;
        for (id, live) in lives {
            if inner.live.get(&id) != Some(&live) {
                inner.live.insert(id, live);
                changed = true;
            }
        }
        drop(inner);
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
