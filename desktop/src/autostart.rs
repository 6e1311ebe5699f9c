//! "Start at login" on Linux and other XDG desktops: a `.desktop` entry in
//! `$XDG_CONFIG_HOME/autostart/` (the XDG Autostart spec). Written here rather than through a
//! plugin because the spec's directory honours `$XDG_CONFIG_HOME`, which tests rely on.

use std::path::{Path, PathBuf};

/// File name of the entry.
const ENTRY: &str = "fdt-desktop.desktop";

/// The autostart entry of one user.
#[derive(Debug, Clone)]
pub struct Autostart {
    dir: PathBuf,
    exe: PathBuf,
}

impl Autostart {
    /// Entries go to `config_home/autostart`, starting `exe`.
    pub fn new(config_home: &Path, exe: PathBuf) -> Self {
        Self {
            dir: config_home.join("autostart"),
            exe,
        }
    }

    /// Where the entry lives.
    pub fn path(&self) -> PathBuf {
        self.dir.join(ENTRY)
    }

    /// Whether the app starts at login (an entry exists and is not hidden).
    pub fn is_enabled(&self) -> bool {
        std::fs::read_to_string(self.path())
            .is_ok_and(|t| !t.lines().any(|l| l.trim() == "Hidden=true"))
    }

    /// Creates or removes the entry.
    pub fn set(&self, enabled: bool) -> std::io::Result<()> {
        if !enabled {
            return match std::fs::remove_file(self.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        fdt_api::private_file::write_private(&self.path(), self.entry().as_bytes())
    }

    /// The entry's text. `--hidden` starts in the tray without opening the window.
    fn entry(&self) -> String {
        format!(
            "[Desktop Entry]\nType=Application\nName=FlyingDarkDevTunnel\n\
             Comment=Expose local services through secure tunnels\nExec={} --hidden\n\
             Icon=fdt-desktop\nTerminal=false\nX-GNOME-Autostart-enabled=true\n",
            exec_quote(&self.exe.to_string_lossy())
        )
    }
}

/// Quotes a path for an `Exec=` key (the Desktop Entry spec's rules).
fn exec_quote(path: &str) -> String {
    if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        return path.to_string();
    }
    let mut out = String::from("\"");
    for c in path.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn switching_writes_and_removes_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let a = Autostart::new(dir.path(), "/opt/FDT app/fdt-desktop".into());
        assert!(!a.is_enabled());
        a.set(true).unwrap();
        assert!(a.is_enabled());
        let text =
            std::fs::read_to_string(dir.path().join("autostart/fdt-desktop.desktop")).unwrap();
        assert!(
            text.contains("Exec=\"/opt/FDT app/fdt-desktop\" --hidden"),
            "{text}"
        );
        assert!(text.starts_with("[Desktop Entry]\nType=Application\n"));
        a.set(false).unwrap();
        assert!(!a.is_enabled());
        a.set(false).unwrap();
    }

    #[test]
    fn exec_paths_are_quoted_per_spec() {
        assert_eq!(exec_quote("/usr/bin/fdt-desktop"), "/usr/bin/fdt-desktop");
        assert_eq!(exec_quote("/a b/$x\"y"), "\"/a b/\\$x\\\"y\"");
    }
}
