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

/// Writes `bytes` to `path` atomically (a sibling temporary file, then rename), readable by
/// the owner only on Unix: settings and credentials are never half-written or world-readable.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no parent")
    })?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn private_files_replace_atomically_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/settings.toml");
        write_private(&p, b"one").unwrap();
        write_private(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = std::fs::read_dir(p.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
