//! The app's state and the logic behind every command, independent of Tauri: settings,
//! credentials, the running tunnels, start-at-login, and the snapshot the window and tray show.

use crate::autostart::Autostart;
use crate::cloud;
use crate::local_api::LocalApi;
use crate::secrets::{Backend, Credentials, SecretStore, hint};
use crate::settings::{self, Settings};
use crate::supervisor::{STOP_GRACE, Supervisor};
use fdt_agent_core::CloudLogin;
use fdt_api::AccessToken;
use fdt_desktop_ipc::{
    AccountView, ApiAnswer, ApiCall, DesktopError, DesktopState, ErrorKind, Overall, SetEnabled,
    SignInPassword, SignInToken, TunnelInput, TunnelView,
};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

mod device;
mod invoices;
mod managed;
mod orgs;
mod session;

/// Where the state lives and what it talks to.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// The app's config directory (settings, fallback credentials).
    pub config_dir: PathBuf,
    /// The XDG config home (for `autostart/`).
    pub xdg_config_home: PathBuf,
    /// Use the OS keyring when one answers.
    pub use_keyring: bool,
    /// The executable autostart launches.
    pub exe: PathBuf,
    /// Control plane URL to use instead of the saved one (`FDT_DESKTOP_API_URL`).
    pub api_url: Option<String>,
    /// Extra CA (PEM) for relays instead of the saved one (`FDT_DESKTOP_RELAY_CA`).
    pub relay_ca: Option<PathBuf>,
    /// Local API address instead of the saved one (`127.0.0.1:0` in tests).
    pub inspector_addr: Option<String>,
    /// Where invoices' PDFs are saved (the Downloads folder); `None`: nowhere known.
    pub downloads_dir: Option<PathBuf>,
}

impl StateConfig {
    /// Overrides from the environment (see [`crate::USAGE`]).
    pub fn with_env_overrides(mut self) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        self.api_url = var("FDT_DESKTOP_API_URL").or(self.api_url);
        self.relay_ca = var("FDT_DESKTOP_RELAY_CA")
            .map(Into::into)
            .or(self.relay_ca);
        self
    }
}

struct Inner {
    settings: Settings,
    creds: Option<(Credentials, Backend)>,
    /// The API session's access token (after an email sign-in), refreshed on demand.
    access: Option<AccessToken>,
    /// A device sign-in in progress: its attempt number and what the window shows.
    device: Option<(u64, fdt_desktop_ipc::DeviceSignInView)>,
    /// Device sign-ins started; an older attempt's outcome is ignored.
    device_attempts: u64,
}

/// Shared app state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Mutex<Inner>>,
    /// Serialises commands that change things, so two quick toggles cannot interleave.
    ops: Arc<tokio::sync::Mutex<()>>,
    /// Held while the API session's tokens change (a refresh, a sign-in, a sign-out), so
    /// concurrent `cloud_api` calls share one refresh (see [`session`]).
    session: Arc<tokio::sync::Mutex<()>>,
    settings_path: PathBuf,
    downloads_dir: Option<PathBuf>,
    secrets: SecretStore,
    autostart: Autostart,
    supervisor: Supervisor,
    local_api: LocalApi,
    /// Bumped on every change the window or tray should see.
    changes: Arc<watch::Sender<u64>>,
}

fn storage(e: impl std::fmt::Display) -> DesktopError {
    DesktopError::new(ErrorKind::Storage, format!("{e}."))
}

impl AppState {
    /// Loads settings and credentials, opens the inspector and switches on the tunnels that
    /// were on when the app last ran. Must run inside the Tokio runtime.
    pub async fn open(cfg: StateConfig) -> anyhow::Result<Self> {
        let settings_path = cfg.config_dir.join("settings.toml");
        let mut settings = Settings::load(&settings_path)?;
        if let Some(url) = cfg.api_url {
            settings.api_url = url;
        }
        if let Some(ca) = cfg.relay_ca {
            settings.relay_ca = Some(ca);
        }
        if let Some(addr) = cfg.inspector_addr {
            settings.inspector_addr = addr;
        }
        let secrets = SecretStore::new(&cfg.config_dir, cfg.use_keyring);
        let creds = {
            let s = secrets.clone();
            tokio::task::spawn_blocking(move || s.load()).await??
        };
        let inspector = fdt_agent_core::Inspector::open(&fdt_agent_core::InspectConfig {
            db_path: Some(cfg.config_dir.join("inspect.db")),
            ..Default::default()
        })
        .await;
        let inspector = match inspector {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "inspection database unavailable; keeping captures in memory");
                fdt_agent_core::Inspector::open(&Default::default()).await?
            }
        };
        let supervisor = Supervisor::new(inspector);
        let local_api = LocalApi::new(supervisor.clone());
        local_api.serve(&settings.inspector_addr).await;
        let state = Self {
            inner: Arc::new(Mutex::new(Inner {
                settings,
                creds,
                access: None,
                device: None,
                device_attempts: 0,
            })),
            ops: Arc::default(),
            session: Arc::default(),
            settings_path,
            downloads_dir: cfg.downloads_dir,
            secrets,
            autostart: Autostart::new(&cfg.xdg_config_home, cfg.exe),
            supervisor,
            local_api,
            changes: Arc::new(watch::Sender::new(0)),
        };
        state.forward_changes();
        state.start_enabled().await;
        Ok(state)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notified after every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Notified when the inspector captures or clears traffic.
    pub fn subscribe_inspector(&self) -> watch::Receiver<u64> {
        self.supervisor.inspector().subscribe()
    }

    /// The tunnels' agents.
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Tunnel state changes are app state changes.
    fn forward_changes(&self) {
        let mut rx = self.supervisor.subscribe();
        let changes = self.changes.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                changes.send_modify(|n| *n += 1);
            }
        });
    }

    /// What the window and tray show.
    pub fn snapshot(&self) -> DesktopState {
        let inner = self.lock();
        let tunnels: Vec<TunnelView> = inner
            .settings
            .tunnels
            .iter()
            .map(|t| {
                let live = self.supervisor.live(&t.id);
                TunnelView {
                    id: t.id.clone(),
                    def: t.def.clone(),
                    enabled: t.enabled,
                    state: live.state,
                    public_url: live.public_url,
                    error: live.error,
                }
            })
            .collect();
        DesktopState {
            account: inner.creds.as_ref().map(|(c, b)| AccountView {
                email: c.email.clone(),
                authtoken_hint: hint(&c.authtoken),
                stored_in: b.as_str().into(),
                has_api_session: c.refresh_token.is_some(),
            }),
            api_url: inner.settings.api_url.clone(),
            console_url: inner.settings.console_url(),
            inspector_url: self.local_api.url(),
            overall: Overall::of(tunnels.iter().map(|t| &t.state)),
            tunnels,
            start_at_login: self.autostart.is_enabled(),
            run_managed: inner.settings.run_managed,
            org: inner.settings.org.clone(),
            managed_tunnels: self.supervisor.managed_live(),
            device_sign_in: inner
                .device
                .as_ref()
                .filter(|_| inner.creds.is_none())
                .map(|(_, v)| v.clone()),
        }
    }

    fn save_settings(&self, inner: &Inner) -> Result<(), DesktopError> {
        inner.settings.save(&self.settings_path).map_err(storage)
    }

    fn login(inner: &Inner) -> Option<CloudLogin> {
        let (c, _) = inner.creds.as_ref()?;
        Some(CloudLogin {
            api_url: inner.settings.api_url.clone(),
            authtoken: c.authtoken.clone(),
            region: inner.settings.region.clone(),
            relay_ca: inner.settings.relay_ca.clone(),
        })
    }

    /// (Re)starts every switched-on tunnel; stops the rest.
    async fn start_enabled(&self) {
        let (login, wanted, run_managed) = {
            let inner = self.lock();
            let wanted: Vec<_> = inner
                .settings
                .tunnels
                .iter()
                .filter(|t| t.enabled)
                .map(|t| (t.id.clone(), settings::resolve(&t.def)))
                .collect();
            (Self::login(&inner), wanted, inner.settings.run_managed)
        };
        self.supervisor.stop_all_and_wait(STOP_GRACE).await;
        let Some(login) = login else { return };
        if run_managed {
            self.supervisor.set_managed(Some(login.clone())).await;
        }
        for (id, resolved) in wanted {
            match resolved {
                Ok(r) => self.supervisor.start(&id, login.clone(), r).await,
                Err(e) => tracing::warn!(tunnel = %id, error = %e, "saved tunnel is invalid"),
            }
        }
        self.changed();
    }

    /// Reconnects the running tunnels now (after sleep or a network change).
    pub async fn reconnect_all(&self) {
        let _op = self.ops.lock().await;
        if !self.supervisor.running().is_empty() || self.lock().settings.run_managed {
            self.start_enabled().await;
        }
    }

    /// Stops every tunnel (the app is quitting); their switches stay as saved.
    pub fn shutdown(&self) {
        self.supervisor.stop_all();
    }

    /// Stops every tunnel and waits up to a second for their relays to hear it, so the public
    /// URLs stop answering now (Quit); the switches stay as saved.
    pub async fn quit(&self) {
        self.supervisor.stop_all_and_wait(STOP_GRACE).await;
    }

    fn api_url_for(&self, requested: Option<&str>) -> Result<String, DesktopError> {
        let url = match requested.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => self.lock().settings.api_url.clone(),
        };
        cloud::client(&url)?;
        Ok(url)
    }

    async fn keep_credentials(
        &self,
        api_url: String,
        creds: Credentials,
        access: Option<AccessToken>,
    ) -> Result<DesktopState, DesktopError> {
        let tokens = self.session.lock().await;
        let store = self.secrets.clone();
        let saved = creds.clone();
        let backend = tokio::task::spawn_blocking(move || store.save(&saved))
            .await
            .map_err(storage)?
            .map_err(storage)?;
        {
            let mut inner = self.lock();
            if inner.settings.api_url != api_url {
                inner.settings.api_url = api_url;
                self.save_settings(&inner)?;
            }
            inner.creds = Some((creds, backend));
            inner.access = access;
        }
        drop(tokens);
        self.start_enabled().await;
        Ok(self.snapshot())
    }

    /// `sign_in_token`: checks the authtoken with the control plane, then keeps it.
    pub async fn sign_in_token(&self, input: SignInToken) -> Result<DesktopState, DesktopError> {
        let _op = self.ops.lock().await;
        let api_url = self.api_url_for(input.api_url.as_deref())?;
        let token = input.authtoken.trim().to_string();
        if token.is_empty() {
            return Err(DesktopError::new(
                ErrorKind::InvalidInput,
                "Paste the authtoken from the console's Authtokens page.",
            ));
        }
        let relay_ca = self.lock().settings.relay_ca.clone();
        cloud::check_authtoken(&CloudLogin {
            api_url: api_url.clone(),
            authtoken: token.clone(),
            region: None,
            relay_ca,
        })
        .await?;
        let creds = Credentials {
            authtoken: token,
            email: None,
            refresh_token: None,
        };
        self.keep_credentials(api_url, creds, None).await
    }

    /// `sign_in_password`: signs in, mints an authtoken for this computer, keeps both.
    pub async fn sign_in_password(
        &self,
        input: SignInPassword,
    ) -> Result<DesktopState, DesktopError> {
        let _op = self.ops.lock().await;
        let api_url = self.api_url_for(input.api_url.as_deref())?;
        let (creds, access) =
            cloud::sign_in_password(&api_url, &input.email, &input.password).await?;
        self.keep_credentials(api_url, creds, Some(access)).await
    }

    /// `sign_out`: stops the tunnels and forgets the credentials (the settings stay).
    pub async fn sign_out(&self) -> Result<DesktopState, DesktopError> {
        let _op = self.ops.lock().await;
        self.supervisor.stop_all();
        let _session = self.session.lock().await;
        let store = self.secrets.clone();
        tokio::task::spawn_blocking(move || store.clear())
            .await
            .map_err(storage)?
            .map_err(storage)?;
        {
            let mut inner = self.lock();
            inner.creds = None;
            inner.access = None;
            inner.device = None;
        }
        self.changed();
        Ok(self.snapshot())
    }

    /// `save_tunnel`: adds or edits a tunnel; a running one restarts with the new definition.
    pub async fn save_tunnel(&self, input: TunnelInput) -> Result<DesktopState, DesktopError> {
        let _op = self.ops.lock().await;
        let (id, restart) = {
            let mut inner = self.lock();
            let mut next = inner.settings.clone();
            let id = next.upsert(input)?;
            next.save(&self.settings_path).map_err(storage)?;
            inner.settings = next;
            let t = inner.settings.tunnel_mut(&id)?;
            let restart = t.enabled.then(|| settings::resolve(&t.def)).transpose()?;
            (id, restart.zip(Self::login(&inner)))
        };
        if let Some((resolved, login)) = restart {
            self.supervisor.start(&id, login, resolved).await;
        }
        self.changed();
        Ok(self.snapshot())
    }

    /// `remove_tunnel`.
    pub async fn remove_tunnel(&self, id: &str) -> Result<DesktopState, DesktopError> {
        let _op = self.ops.lock().await;
        {
            let mut inner = self.lock();
            let mut next = inner.settings.clone();
            next.remove(id)?;
            next.save(&self.settings_path).map_err(storage)?;
            inner.settings = next;
        }
        self.supervisor.stop(id);
        self.changed();
        Ok(self.snapshot())
    }

    /// `set_tunnel_enabled`: switches one tunnel on or off and remembers it.
    pub async fn set_tunnel_enabled(
        &self,
        input: SetEnabled,
    ) -> Result<DesktopState, DesktopError> {
        let _op = self.ops.lock().await;
        let start = {
            let mut inner = self.lock();
            let login = Self::login(&inner);
            if input.enabled && login.is_none() {
                return Err(DesktopError::new(
                    ErrorKind::NotSignedIn,
                    "Sign in before switching tunnels on.",
                ));
            }
            let mut next = inner.settings.clone();
            let t = next.tunnel_mut(&input.id)?;
            t.enabled = input.enabled;
            let resolved = input
                .enabled
                .then(|| settings::resolve(&t.def))
                .transpose()?;
            next.save(&self.settings_path).map_err(storage)?;
            inner.settings = next;
            resolved.zip(login)
        };
        match start {
            Some((resolved, login)) => self.supervisor.start(&input.id, login, resolved).await,
            None => self.supervisor.stop(&input.id),
        }
        self.changed();
        Ok(self.snapshot())
    }

    /// `set_start_at_login`.
    pub async fn set_start_at_login(&self, enabled: bool) -> Result<DesktopState, DesktopError> {
        let _op = self.ops.lock().await;
        self.autostart.set(enabled).map_err(|e| {
            DesktopError::new(
                ErrorKind::Storage,
                format!("Cannot change {}: {e}.", self.autostart.path().display()),
            )
        })?;
        self.changed();
        Ok(self.snapshot())
    }

    /// `agent_api`: the local agent API, answered in process.
    pub async fn agent_api(&self, call: ApiCall) -> Result<ApiAnswer, DesktopError> {
        self.local_api.call(call).await
    }

    /// `open_external`: only pages of the console or the control plane, in the system browser.
    pub fn external_url(&self, url: &str) -> Result<String, DesktopError> {
        let inner = self.lock();
        let allowed = [inner.settings.console_url(), inner.settings.api_url.clone()];
        let url = url.trim();
        let ok = allowed.iter().any(|base| {
            let base = base.trim_end_matches('/');
            url == base
                || url
                    .strip_prefix(base)
                    .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'))
        }) && (url.starts_with("https://") || url.starts_with("http://"))
            && !url.chars().any(|c| c.is_control() || c.is_whitespace());
        if ok {
            Ok(url.to_string())
        } else {
            Err(DesktopError::new(
                ErrorKind::InvalidInput,
                "Only console pages can be opened from the app.",
            ))
        }
    }
}
