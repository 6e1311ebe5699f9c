//! The user's settings and tunnel definitions, persisted as TOML in the config directory.
//! Checking a definition turns it into an agent-core tunnel, so the window rejects what the
//! agent would reject, worded for the user.

use fdt_agent_core::config::{ResolvedTunnel, TunnelConfig};
use fdt_desktop_ipc::{DesktopError, ErrorKind, TunnelInput};
use fdt_proto::Proto;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The control plane the app talks to unless the user picks another.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8780";
/// Most tunnels one app keeps (each one is an agent session when on).
pub const MAX_TUNNELS: usize = 64;
/// Longest list of basic-auth users or CIDR rules per tunnel.
const MAX_RULES: usize = 64;

/// Everything the app remembers between runs, except the authtoken (see [`crate::secrets`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Control plane base URL.
    pub api_url: String,
    /// Web console base URL; the control plane's URL when empty (fdt-cloud serves both).
    pub console_url: String,
    /// Extra CA (PEM) trusted for relays, e.g. a development relay's.
    pub relay_ca: Option<PathBuf>,
    /// Preferred relay region.
    pub region: Option<String>,
    /// Address of the local API and inspector (`off` to disable).
    pub inspector_addr: String,
    /// The last id handed out (ids are never reused).
    pub last_id: u64,
    /// Tunnels, in the order they were added.
    pub tunnels: Vec<StoredTunnel>,
    /// Run the account's cloud-managed tunnels too (`fdt start --managed`).
    pub run_managed: bool,
    /// The organisation the app acts in (`org_…`); `None`: the account's own.
    #[serde(default)]
    pub org: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.into(),
            console_url: String::new(),
            relay_ca: None,
            region: None,
            inspector_addr: "127.0.0.1:4040".into(),
            last_id: 0,
            tunnels: vec![],
            run_managed: false,
            org: None,
        }
    }
}

/// One saved tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTunnel {
    /// Stable id.
    pub id: String,
    /// Switched on by the user (restored at the next start).
    pub enabled: bool,
    /// The definition as the user wrote it.
    pub def: TunnelInput,
}

/// Reading or writing the settings file failed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid settings TOML.
    #[error("{path} is not valid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The file cannot be written.
    #[error("cannot save {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl Settings {
    /// Loads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.into(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// Saves to `path` atomically, owner-readable only.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let text = toml::to_string_pretty(self).map_err(|e| SettingsError::Write {
            path: path.into(),
            source: std::io::Error::other(e),
        })?;
        fdt_api::private_file::write_private(path, text.as_bytes()).map_err(|source| {
            SettingsError::Write {
                path: path.into(),
                source,
            }
        })
    }

    /// The console's base URL.
    pub fn console_url(&self) -> String {
        let url = if self.console_url.is_empty() {
            &self.api_url
        } else {
            &self.console_url
        };
        url.trim_end_matches('/').to_string()
    }

    /// Adds a tunnel (no `id`) or replaces one (with `id`) after checking it; returns its id.
    pub fn upsert(&mut self, input: TunnelInput) -> Result<String, DesktopError> {
        let input = normalize(input);
        check(&input)?;
        let clash = self
            .tunnels
            .iter()
            .any(|t| t.def.name == input.name && Some(&t.id) != input.id.as_ref());
        if clash {
            return Err(invalid(format!(
                "There is already a tunnel named {:?}.",
                input.name
            )));
        }
        match input.id.clone() {
            Some(id) => {
                let t = self
                    .tunnels
                    .iter_mut()
                    .find(|t| t.id == id)
                    .ok_or_else(|| not_found(&id))?;
                t.def = TunnelInput { id: None, ..input };
                Ok(id)
            }
            None => {
                if self.tunnels.len() >= MAX_TUNNELS {
                    return Err(invalid(format!(
                        "At most {MAX_TUNNELS} tunnels can be kept; remove one first."
                    )));
                }
                self.last_id += 1;
                let id = format!("t{}", self.last_id);
                self.tunnels.push(StoredTunnel {
                    id: id.clone(),
                    enabled: false,
                    def: input,
                });
                Ok(id)
            }
        }
    }

    /// Removes tunnel `id`.
    pub fn remove(&mut self, id: &str) -> Result<StoredTunnel, DesktopError> {
        let i = self
            .tunnels
            .iter()
            .position(|t| t.id == id)
            .ok_or_else(|| not_found(id))?;
        Ok(self.tunnels.remove(i))
    }

    /// Tunnel `id`.
    pub fn tunnel_mut(&mut self, id: &str) -> Result<&mut StoredTunnel, DesktopError> {
        self.tunnels
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| not_found(id))
    }
}

fn invalid(message: String) -> DesktopError {
    DesktopError::new(ErrorKind::InvalidInput, message)
}

fn not_found(id: &str) -> DesktopError {
    DesktopError::new(ErrorKind::NotFound, format!("There is no tunnel {id:?}."))
}

/// Trims fields and drops blank list entries.
fn normalize(mut t: TunnelInput) -> TunnelInput {
    let clean = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    t.name = t.name.trim().to_string();
    t.proto = t.proto.trim().to_ascii_lowercase();
    t.addr = t.addr.trim().to_string();
    t.subdomain = t
        .subdomain
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty());
    t.basic_auth = clean(t.basic_auth);
    t.cidr_allow = clean(t.cidr_allow);
    t.cidr_deny = clean(t.cidr_deny);
    t
}

/// Checks a definition the way the agent will, with messages for the window.
pub fn check(t: &TunnelInput) -> Result<(), DesktopError> {
    resolve(t).map(|_| ())
}

/// Turns a definition into what the agent binds.
pub fn resolve(t: &TunnelInput) -> Result<ResolvedTunnel, DesktopError> {
    let name_ok = !t.name.is_empty()
        && t.name.len() <= 64
        && t.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(invalid(
            "Name: use 1 to 64 letters, digits, '-' or '_'.".into(),
        ));
    }
    let proto = match t.proto.as_str() {
        "http" => Proto::Http,
        "tcp" => Proto::Tcp,
        "tls" => Proto::Tls,
        other => {
            return Err(invalid(format!(
                "Protocol: {other:?} is not one of http, tcp, tls."
            )));
        }
    };
    if t.addr.is_empty() {
        return Err(invalid(
            "Local address: give a port (3000), host:port or, for http, a URL.".into(),
        ));
    }
    if t.basic_auth.len() > MAX_RULES || t.cidr_allow.len() + t.cidr_deny.len() > MAX_RULES {
        return Err(invalid(format!(
            "At most {MAX_RULES} basic-auth users and {MAX_RULES} network rules per tunnel."
        )));
    }
    let cidrs = |field: &str, items: &[String]| -> Result<Vec<IpNet>, DesktopError> {
        items
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        invalid(format!(
                            "{field}: {s:?} is not a network like 10.0.0.0/8 or an address."
                        ))
                    })
            })
            .collect()
    };
    let mut cfg = TunnelConfig::new(proto, t.addr.clone());
    cfg.subdomain = t.subdomain.clone();
    cfg.basic_auth = t.basic_auth.clone();
    cfg.cidr_allow = cidrs("Allowed networks", &t.cidr_allow)?;
    cfg.cidr_deny = cidrs("Denied networks", &t.cidr_deny)?;
    if proto == Proto::Tcp && cfg.subdomain.is_some() {
        return Err(invalid(
            "Subdomain: tcp tunnels get a public port, not a subdomain.".into(),
        ));
    }
    cfg.resolve(&t.name)
        .map_err(|e| invalid(sentence(&e.to_string())))
}

/// Agent-core messages start lower-case; the window shows sentences.
fn sentence(s: &str) -> String {
    let mut c = s.chars();
    let mut out = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests;
