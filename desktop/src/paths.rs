//! Where the app keeps its files: `$FDT_DESKTOP_CONFIG_DIR`, else `$XDG_CONFIG_HOME/fdt-desktop`,
//! else `~/.config/fdt-desktop` (and the OS's own places elsewhere, via Tauri's path resolver).

use std::path::PathBuf;

/// The app's directory name under the user's config directory.
pub const APP_DIR: &str = "fdt-desktop";

/// The config directory from the environment, when it names one.
pub fn config_dir_from_env() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FDT_DESKTOP_CONFIG_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    fdt_agent_core::config::xdg_base("XDG_CONFIG_HOME", ".config").map(|d| d.join(APP_DIR))
}

/// The user's XDG config home (`$XDG_CONFIG_HOME`, else `~/.config`), where `autostart/` lives.
pub fn xdg_config_home() -> Option<PathBuf> {
    fdt_agent_core::config::xdg_base("XDG_CONFIG_HOME", ".config")
}

/// Where saved files go: the user's Downloads folder (XDG's `XDG_DOWNLOAD_DIR`, or the OS's),
/// else `~/Downloads`.
pub fn downloads_dir() -> Option<PathBuf> {
    dirs::download_dir().or_else(|| dirs::home_dir().map(|h| h.join("Downloads")))
}
