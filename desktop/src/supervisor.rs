//! Runs the switched-on tunnels: one agent-core agent, so one QUIC connection to the relay,
//! carrying every tunnel. Tunnels are started and stopped in it live (agent-core's tunnel
//! set), so switching one off never drops the others' connections or changes their URLs. The
//! agent's local API (the inspector's page and `/api`) is the app's.
//!
//! With "run managed tunnels" on, the same agent also asks for the account's cloud-managed
//! tunnels and runs them (agent-core applies the console's changes live); it then runs even
//! while no tunnel of the app's own is switched on.

use fdt_agent_core::agent::AgentError;
use fdt_agent_core::config::ResolvedTunnel;
use fdt_agent_core::idle::idle_status;
use fdt_agent_core::status::AgentStatus;
use fdt_agent_core::{AgentHandle, AgentOptions, CloudLogin, Connect, Inspector};
use fdt_desktop_ipc::{ManagedTunnelView, TunnelState};
use fdt_ui::site as fdt_ui_site;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a stopping agent may take to leave its relay before its replacement starts.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

mod live;

use live::managed_lines;
pub use live::{AgentExitError, Live};

/// The one agent and how it was started.
struct Running {
    handle: AgentHandle,
    /// The account it signed in with: another login needs another agent.
    login: CloudLogin,
    /// Whether it asked for the account's managed tunnels.
    managed: bool,
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
    /// Run the account's cloud-managed tunnels (with a login).
    managed: Option<CloudLogin>,
    /// The managed tunnels' lines, as last published.
    managed_live: Vec<ManagedTunnelView>,
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
            let wants_managed = inner.managed.is_some();
            let same_login = inner
                .agent
                .as_ref()
                .filter(|a| a.login == login && a.managed == wants_managed)
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
        let managed = inner.managed.is_some();
        let (handle, join) = fdt_agent_core::spawn_with(
            AgentOptions {
                connect: Connect::Cloud(login.clone()),
                tunnels,
                managed,
                ha: false,
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
            managed,
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
        if inner.tunnels.is_empty() && inner.managed.is_none() {
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
        inner.managed = None;
        inner.managed_live.clear();
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

    /// Runs the account's cloud-managed tunnels as `login` (`Some`), or stops running them
    /// (`None`). The agent restarts with the change (its hello says whether it wants them);
    /// with nothing left to run it stops.
    pub async fn set_managed(&self, login: Option<CloudLogin>) {
        let (replaced, previous) = {
            let mut inner = self.lock();
            if inner.managed == login {
                return;
            }
            inner.managed = login.clone();
            inner.managed_live.clear();
            let previous = inner.agent.as_ref().map(|a| a.login.clone());
            (Self::take_agent(&mut inner), previous)
        };
        if let Some(old) = replaced {
            let _ = tokio::time::timeout(STOP_GRACE, old).await;
        }
        let relogin = {
            let inner = self.lock();
            (!inner.tunnels.is_empty() || inner.managed.is_some())
                .then(|| login.or(previous))
                .flatten()
        };
        if let Some(l) = relogin {
            self.spawn_agent(l);
        }
        self.publish();
    }

    /// The managed tunnels' lines.
    pub fn managed_live(&self) -> Vec<ManagedTunnelView> {
        self.lock().managed_live.clone()
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
        let managed = managed_lines(status, exit);
        let mut changed = inner.managed_live != managed;
        inner.managed_live = managed;
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
