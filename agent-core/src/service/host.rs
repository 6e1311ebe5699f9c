//! What `fdt service` takes from the process and the machine: the running binary, the
//! environment variables that place files, the systemd programs. One struct, so that tests
//! hand in their own instead of changing the process environment (which every test thread
//! shares).

use super::systemctl::Systemd;
use super::unit::Scope;
use crate::config::default_config_path;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The process and machine as `fdt service` sees them.
#[derive(Debug)]
pub(super) struct Host {
    /// The service manager's programs.
    pub(super) systemd: Systemd,
    /// The running `fdt` binary.
    pub(super) exe: std::io::Result<PathBuf>,
    /// `$XDG_CONFIG_HOME`, for the user unit directory.
    pub(super) xdg_config_home: Option<OsString>,
    /// `$HOME`, for the user unit directory.
    pub(super) home: Option<OsString>,
    /// Where `fdt` looks for its config file by default.
    pub(super) default_config: Option<PathBuf>,
    /// Where `fdt` keeps its inspection database by default.
    pub(super) default_db: Option<PathBuf>,
    /// The directories PrivateTmp= replaces with empty ones in the service.
    pub(super) private_tmp: Vec<PathBuf>,
}

impl Host {
    /// This process's view: its binary, environment and PATH's systemd programs.
    pub(super) fn from_process(scope: Scope) -> Self {
        Self {
            systemd: Systemd::new(scope),
            exe: std::env::current_exe(),
            xdg_config_home: std::env::var_os("XDG_CONFIG_HOME"),
            home: std::env::var_os("HOME"),
            default_config: default_config_path(),
            default_db: crate::inspect::default_db_path(),
            private_tmp: vec!["/tmp".into(), "/var/tmp".into()],
        }
    }

    /// Whether the service would not see `path`. Symbolic links are followed: what counts is
    /// where the file really is.
    pub(super) fn hidden_by_private_tmp(&self, path: &Path) -> bool {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        self.private_tmp
            .iter()
            .any(|tmp| real.starts_with(tmp) || path.starts_with(tmp))
    }
}

/// `/etc/systemd/system`, or `$XDG_CONFIG_HOME/systemd/user` (`~/.config/systemd/user`), as
/// the user manager reads them: it ignores an XDG_CONFIG_HOME that is not absolute.
pub(super) fn default_unit_dir(
    scope: Scope,
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    match scope {
        Scope::System => Some(PathBuf::from("/etc/systemd/system")),
        Scope::User => xdg_config_home
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.map(|h| PathBuf::from(h).join(".config")))
            .map(|c| c.join("systemd").join("user")),
    }
}
