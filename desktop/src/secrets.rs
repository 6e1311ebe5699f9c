//! The credentials: the authtoken (and, after an email sign-in, the API session's refresh
//! token) kept in the OS keyring (Secret Service on Linux, Keychain, Credential Manager), or in
//! a file readable by the owner only where no keyring answers (headless machines, CI).

use fdt_api::private_file::write_private;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Keyring service name (the app identifier).
const SERVICE: &str = "dev.flyingdark.tunnel";
/// Keyring account name.
const ACCOUNT: &str = "credentials";
/// A keyring daemon that does not answer within this is treated as absent.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(3);

/// What the app needs to act for the user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The authtoken agents exchange for relay tokens.
    pub authtoken: String,
    /// Account email, after an email sign-in.
    #[serde(default)]
    pub email: Option<String>,
    /// Refresh token of the API session, after an email sign-in (plan and usage).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("authtoken", &hint(&self.authtoken))
            .field("email", &self.email)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The non-secret start of an authtoken (`fdt_ab12…`), for recognising it.
pub fn hint(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    format!("{head}…")
}

/// Where credentials are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The OS keyring.
    Keyring,
    /// `credentials.json` (mode 0600) in the config directory.
    File,
}

impl Backend {
    /// The word the window shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keyring => "keyring",
            Self::File => "file",
        }
    }
}

/// Reading or writing credentials failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(String);

/// The credential store.
#[derive(Debug, Clone)]
pub struct SecretStore {
    file: PathBuf,
    use_keyring: bool,
}

impl SecretStore {
    /// A store with its fallback file in `config_dir`; `use_keyring = false` keeps everything in
    /// the file (set `FDT_DESKTOP_KEYRING=off` for that).
    pub fn new(config_dir: &std::path::Path, use_keyring: bool) -> Self {
        Self {
            file: config_dir.join("credentials.json"),
            use_keyring,
        }
    }

    /// Whether the environment turns the keyring off.
    pub fn keyring_wanted() -> bool {
        std::env::var("FDT_DESKTOP_KEYRING").map_or(true, |v| v != "off")
    }

    /// The saved credentials and where they were, if any.
    pub fn load(&self) -> Result<Option<(Credentials, Backend)>, SecretError> {
        match std::fs::read(&self.file) {
            Ok(bytes) => {
                let c = serde_json::from_slice(&bytes).map_err(|e| {
                    SecretError(format!("{} is not valid: {e}", self.file.display()))
                })?;
                return Ok(Some((c, Backend::File)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(SecretError(format!(
                    "cannot read {}: {e}",
                    self.file.display()
                )));
            }
        }
        if !self.use_keyring {
            return Ok(None);
        }
        match keyring_call(|e| e.get_password()) {
            Ok(json) => serde_json::from_str(&json)
                .map(|c| Some((c, Backend::Keyring)))
                .map_err(|e| SecretError(format!("the keyring entry is not valid: {e}"))),
            Err(KeyringFailure::NoEntry) | Err(KeyringFailure::Unavailable(_)) => Ok(None),
        }
    }

    /// Saves credentials in the keyring when one answers, else in the file. Returns where.
    pub fn save(&self, c: &Credentials) -> Result<Backend, SecretError> {
        let json = serde_json::to_string(c).map_err(|e| SecretError(e.to_string()))?;
        if self.use_keyring {
            let stored = json.clone();
            match keyring_call(move |e| e.set_password(&stored)) {
                // An older fallback file must not outlive the keyring copy: `load` reads the
                // file first. When it cannot be removed, the file gets the new credentials too.
                Ok(()) => match std::fs::remove_file(&self.file) {
                    Ok(()) => return Ok(Backend::Keyring),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Ok(Backend::Keyring);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot remove the old credentials file"),
                },
                Err(e) => {
                    tracing::info!(reason = %e, "no OS keyring; keeping the authtoken in a 0600 file");
                }
            }
        }
        write_private(&self.file, json.as_bytes())
            .map_err(|e| SecretError(format!("cannot save {}: {e}", self.file.display())))?;
        Ok(Backend::File)
    }

    /// Forgets the credentials everywhere.
    pub fn clear(&self) -> Result<(), SecretError> {
        match std::fs::remove_file(&self.file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(SecretError(format!(
                    "cannot remove {}: {e}",
                    self.file.display()
                )));
            }
        }
        if self.use_keyring {
            match keyring_call(|e| e.delete_credential()) {
                Ok(()) | Err(KeyringFailure::NoEntry) => {}
                Err(KeyringFailure::Unavailable(why)) => {
                    tracing::warn!(%why, "the keyring did not answer; a copy kept there stays");
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
enum KeyringFailure {
    NoEntry,
    Unavailable(String),
}

impl std::fmt::Display for KeyringFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoEntry => f.write_str("no entry"),
            Self::Unavailable(m) => f.write_str(m),
        }
    }
}

/// Runs one keyring operation on its own thread with a timeout: the Secret Service client
/// blocks on D-Bus, and a missing or locked daemon must not hang the app.
fn keyring_call<T: Send + 'static>(
    op: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
) -> Result<T, KeyringFailure> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = keyring::Entry::new(SERVICE, ACCOUNT).and_then(|e| op(&e));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(KEYRING_TIMEOUT) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(keyring::Error::NoEntry)) => Err(KeyringFailure::NoEntry),
        Ok(Err(e)) => Err(KeyringFailure::Unavailable(e.to_string())),
        Err(_) => Err(KeyringFailure::Unavailable(
            "the keyring did not answer".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            authtoken: "fdt_abcdefghijklmnop".into(),
            email: Some("ann@example.com".into()),
            refresh_token: Some("refresh-secret".into()),
        }
    }

    #[test]
    fn without_a_keyring_the_file_is_owner_only_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::new(dir.path(), false);
        assert!(store.load().unwrap().is_none());
        assert_eq!(store.save(&creds()).unwrap(), Backend::File);
        let (back, from) = store.load().unwrap().unwrap();
        assert_eq!((back, from), (creds(), Backend::File));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("credentials.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        store.clear().unwrap();
        assert!(store.load().unwrap().is_none());
        store.clear().unwrap();
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let shown = format!("{:?}", creds());
        assert!(!shown.contains("ijklmnop"), "{shown}");
        assert!(!shown.contains("refresh-secret"), "{shown}");
        assert!(shown.contains("fdt_abcd…"), "{shown}");
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_sign_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("credentials.json"), "{").unwrap();
        let store = SecretStore::new(dir.path(), false);
        assert!(store.load().is_err());
    }
}
