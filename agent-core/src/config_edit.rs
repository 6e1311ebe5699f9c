//! `fdt config add-authtoken` (and `fdt-cloud dev`): writes top-level settings such as the
//! authtoken into `fdt.toml`, keeping everything else in the file — other keys, tables,
//! comments and layout — as it was.
//!
//! The edit is textual: each top-level `key = …` line set is replaced, or one is added at the
//! top. The result is parsed as a [`ConfigFile`] before anything is written, so a file this
//! cannot edit safely is reported rather than damaged. The file holds a secret: it is written
//! with mode 0600 (through a temporary file and a rename) and a missing directory is created
//! with mode 0700, by FDT's one owner-only writer ([`fdt_api::private_file`]).

use crate::config::ConfigFile;
use fdt_api::private_file::{create_private_dir, write_private};
use std::path::{Path, PathBuf};

/// Why the authtoken could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigEditError {
    /// The token is empty or has whitespace or control characters.
    #[error("the authtoken must be one word without spaces")]
    BadToken,
    /// Reading, creating or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The existing file is not a valid `fdt.toml`, or would not be after the edit.
    #[error("{path} is not a valid fdt.toml ({message}); fix it or add the authtoken by hand")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// Sets `authtoken` in the config file at `path`, creating the file and its directory if
/// needed.
pub fn set_authtoken(path: &Path, token: &str) -> Result<(), ConfigEditError> {
    let token = token.trim();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigEditError::BadToken);
    }
    set_values(path, &[("authtoken", token)])
}

/// Sets top-level string settings (`authtoken`, `api_url`, `relay_ca`, …) in the config file
/// at `path`, creating the file and its directory if needed. Keys not in `values` are kept.
pub fn set_values(path: &Path, values: &[(&str, &str)]) -> Result<(), ConfigEditError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ConfigEditError::Io { path, source }
    };
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(path)(e)),
    };
    let invalid = |e: toml::de::Error| ConfigEditError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    };
    toml::from_str::<ConfigFile>(&old).map_err(invalid)?;
    let new = with_values(&old, values);
    toml::from_str::<ConfigFile>(&new).map_err(invalid)?;
    let table = toml::from_str::<toml::Table>(&new).map_err(invalid)?;
    for (key, value) in values {
        if table.get(*key).and_then(toml::Value::as_str) != Some(*value) {
            return Err(ConfigEditError::Invalid {
                path: path.to_owned(),
                message: format!("the {key} line could not be placed"),
            });
        }
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        create_private_dir(dir).map_err(io(dir))?;
    }
    write_private(path, new.as_bytes()).map_err(io(path))
}

/// `text` with its top-level lines for `values` set (added first, in order, when absent).
fn with_values(text: &str, values: &[(&str, &str)]) -> String {
    // Serialising through toml quotes and escapes the value correctly.
    let line = |key: &str, value: &str| format!("{key} = {}", toml::Value::String(value.into()));
    let mut out = Vec::new();
    let mut replaced = vec![false; values.len()];
    let mut top_level = true;
    for l in text.lines() {
        let trimmed = l.trim_start();
        if trimmed.starts_with('[') {
            top_level = false;
        }
        let setting = values.iter().position(|(key, _)| {
            trimmed
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        match setting {
            Some(i) if top_level && !replaced[i] => {
                out.push(line(values[i].0, values[i].1));
                replaced[i] = true;
            }
            _ => out.push(l.to_owned()),
        }
    }
    let missing = values
        .iter()
        .zip(&replaced)
        .filter(|(_, done)| !**done)
        .map(|((key, value), _)| line(key, value));
    let mut s = missing.chain(out).collect::<Vec<_>>().join("\n");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn creates_the_file_and_directory_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/fdt/fdt.toml");
        set_authtoken(&path, " fdt_abc ").unwrap();
        let cfg = ConfigFile::load(&path).unwrap();
        assert_eq!(cfg.authtoken.unwrap().0, "fdt_abc");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
    }

    #[test]
    fn replaces_the_token_and_keeps_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fdt.toml");
        let before = "# my agent\napi_url = \"https://api.example\"\nauthtoken = \"old\"\n\n\
                      [tunnels.web]\nproto = \"http\" # local app\naddr = \"8000\"\n";
        std::fs::write(&path, before).unwrap();
        set_authtoken(&path, "fdt_new").unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(after, before.replace("\"old\"", "\"fdt_new\""));
        let cfg = ConfigFile::load(&path).unwrap();
        assert_eq!(cfg.api_url.as_deref(), Some("https://api.example"));
        assert_eq!(cfg.tunnels["web"].addr, "8000");
    }

    #[test]
    fn adds_the_token_above_tables_and_refuses_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fdt.toml");
        std::fs::write(&path, "[tunnels.a]\nproto = \"tcp\"\naddr = \"22\"\n").unwrap();
        set_authtoken(&path, "fdt_x").unwrap();
        let cfg = ConfigFile::load(&path).unwrap();
        assert_eq!(cfg.authtoken.unwrap().0, "fdt_x");
        assert_eq!(cfg.tunnels.len(), 1);

        std::fs::write(&path, "authtoken = \n").unwrap();
        assert!(matches!(
            set_authtoken(&path, "fdt_y"),
            Err(ConfigEditError::Invalid { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "authtoken = \n");
        assert!(matches!(
            set_authtoken(&path, "two words"),
            Err(ConfigEditError::BadToken)
        ));
    }

    #[test]
    fn sets_several_values_keeping_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fdt.toml");
        let before = "region = \"eu\"\napi_url = \"https://old\"\n\n[tunnels.a]\nproto = \"tcp\"\naddr = \"22\"\n";
        std::fs::write(&path, before).unwrap();
        set_values(
            &path,
            &[
                ("authtoken", "fdt_x"),
                ("api_url", "http://127.0.0.1:8780"),
                ("relay_ca", "/d/ca.pem"),
            ],
        )
        .unwrap();
        let cfg = ConfigFile::load(&path).unwrap();
        assert_eq!(cfg.authtoken.unwrap().0, "fdt_x");
        assert_eq!(cfg.api_url.as_deref(), Some("http://127.0.0.1:8780"));
        assert_eq!(cfg.relay_ca, Some(PathBuf::from("/d/ca.pem")));
        assert_eq!(cfg.region.as_deref(), Some("eu"));
        assert_eq!(cfg.tunnels.len(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("api_url").count(), 1, "{text}");
    }
}
