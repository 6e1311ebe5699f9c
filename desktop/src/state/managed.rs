//! `set_run_managed`: whether the app also runs the account's cloud-managed tunnels (defined,
//! started and stopped in the console), beside its own.

use super::{AppState, storage};
use fdt_desktop_ipc::{DesktopError, DesktopState, ErrorKind};

impl AppState {
    /// `set_run_managed`: runs (or stops running) the account's cloud-managed tunnels, and
    /// remembers it.
    pub async fn set_run_managed(&self, enabled: bool) -> Result<DesktopState, DesktopError> {
        let _op = self.ops.lock().await;
        let login = {
            let mut inner = self.lock();
            let login = Self::login(&inner);
            if enabled && login.is_none() {
                return Err(DesktopError::new(
                    ErrorKind::NotSignedIn,
                    "Sign in before running managed tunnels.",
                ));
            }
            let mut next = inner.settings.clone();
            next.run_managed = enabled;
            next.save(&self.settings_path).map_err(storage)?;
            inner.settings = next;
            login.filter(|_| enabled)
        };
        self.supervisor.set_managed(login).await;
        self.changed();
        Ok(self.snapshot())
    }
}
