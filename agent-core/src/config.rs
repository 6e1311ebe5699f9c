//! What the agent exposes and where it connects: tunnel definitions from flags or `fdt.toml`.

use fdt_proto::{EdgePolicy, HeaderRules, Proto, TunnelSpec};
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A secret string whose `Debug` output is redacted.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// One tunnel as the user describes it (flags or a `[tunnels.NAME]` table).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TunnelConfig {
    /// `http`, `tcp` or `tls`.
    pub proto: Proto,
    /// Local address: a port (`8000`), `host:port`, or for http a URL (`https://localhost:8443`).
    pub addr: String,
    /// Requested subdomain (http, tls).
    #[serde(default)]
    pub subdomain: Option<String>,
    /// Requested public port (tcp).
    #[serde(default)]
    pub remote_port: Option<u16>,
    /// `user:pass` credentials required at the edge.
    #[serde(default)]
    pub basic_auth: Vec<String>,
    /// Allowed visitor networks.
    #[serde(default)]
    pub cidr_allow: Vec<IpNet>,
    /// Denied visitor networks.
    #[serde(default)]
    pub cidr_deny: Vec<IpNet>,
    /// `rewrite` (send the local address as Host), a literal host, or absent (keep the visitor's).
    #[serde(default)]
    pub host_header: Option<String>,
    /// `Name: value` headers added to requests.
    #[serde(default)]
    pub request_header_add: Vec<String>,
    /// Header names removed from requests.
    #[serde(default)]
    pub request_header_remove: Vec<String>,
    /// `Name: value` headers added to responses.
    #[serde(default)]
    pub response_header_add: Vec<String>,
    /// Header names removed from responses.
    #[serde(default)]
    pub response_header_remove: Vec<String>,
    /// Skip certificate verification of an `https://` upstream.
    #[serde(default)]
    pub upstream_insecure: bool,
    /// Share the subdomain with the account's other agents that also enable pooling; the relay
    /// balances visitors across them (http, tls).
    #[serde(default)]
    pub pooling_enabled: bool,
    /// Keep this tunnel's request and response bodies in the cloud traffic log (when the plan
    /// allows it).
    #[serde(default)]
    pub log_bodies: bool,
}

/// The `fdt.toml` file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Authtoken (`fdt_…`, exchanged at `api_url`) or, without `api_url`, a relay token.
    #[serde(default)]
    pub authtoken: Option<Secret>,
    /// Control-plane API URL; when set the agent exchanges its authtoken there before each
    /// connect and uses the relays it lists.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Preferred relay region (with `api_url`).
    #[serde(default)]
    pub region: Option<String>,
    /// Relay address (`host:port`, UDP).
    #[serde(default)]
    pub relay: Option<String>,
    /// CA certificate (PEM) trusted for the relay, e.g. a dev relay's CA.
    #[serde(default)]
    pub relay_ca: Option<PathBuf>,
    /// Capture traffic for the local inspector (default true; false costs nothing).
    #[serde(default)]
    pub inspect: Option<bool>,
    /// Inspection database file (default `$XDG_DATA_HOME/fdt/inspect.db`).
    #[serde(default)]
    pub inspect_db_path: Option<PathBuf>,
    /// Size cap of the inspection database in bytes (default 50 MB); oldest records go first.
    #[serde(default)]
    pub inspect_db_max_bytes: Option<u64>,
    /// Bytes kept of each captured body or WebSocket message (default 64 KiB).
    #[serde(default)]
    pub inspect_body_max_bytes: Option<usize>,
    /// `user:pass` the local API asks for with HTTP Basic (needed to serve it beyond
    /// loopback, see `--api-allow-remote`).
    #[serde(default)]
    pub api_auth: Option<Secret>,
    /// Named tunnels.
    #[serde(default)]
    pub tunnels: BTreeMap<String, TunnelConfig>,
}

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The file is not valid (unknown keys included).
    #[error("parsing {0}: {1}")]
    Parse(PathBuf, String),
    /// A value is wrong.
    #[error("tunnel {name:?}: {message}")]
    Invalid {
        /// The tunnel.
        name: String,
        /// The setting at fault (`addr`, `basic_auth`…), for APIs that point at it.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Where `fdt` looks for its config file: `$XDG_CONFIG_HOME/fdt/fdt.toml`, else
/// `$HOME/.config/fdt/fdt.toml`; `None` when neither variable is set.
pub fn default_config_path() -> Option<PathBuf> {
    Some(
        xdg_base("XDG_CONFIG_HOME", ".config")?
            .join("fdt")
            .join("fdt.toml"),
    )
}

/// `$VAR` when set and not empty, else `$HOME/home_relative`; `None` when neither is set.
pub fn xdg_base(var: &str, home_relative: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(home_relative)))
}

impl ConfigFile {
    /// Reads `fdt.toml`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_path_buf(), e))?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse(path.to_path_buf(), e.to_string()))
    }
}

/// Where the agent sends a tunnel's traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// Plain HTTP to `host:port`.
    Http(String),
    /// HTTPS to `host:port`.
    Https(String),
    /// Raw TCP (tcp and tls tunnels) to `host:port`.
    Tcp(String),
}

impl Upstream {
    /// `host:port` part.
    pub fn authority(&self) -> &str {
        match self {
            Upstream::Http(a) | Upstream::Https(a) | Upstream::Tcp(a) => a,
        }
    }

    /// The address as shown to users (`http://localhost:8000`).
    pub fn display(&self) -> String {
        match self {
            Upstream::Http(a) => format!("http://{a}"),
            Upstream::Https(a) => format!("https://{a}"),
            Upstream::Tcp(a) => a.clone(),
        }
    }
}

/// A tunnel ready to bind: the spec for the relay and the local target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTunnel {
    /// What the relay is asked for.
    pub spec: TunnelSpec,
    /// Where traffic goes.
    pub upstream: Upstream,
    /// Skip upstream certificate verification.
    pub upstream_insecure: bool,
    /// The address as the user wrote it.
    pub addr: String,
    /// Set when the control plane defines this tunnel (cloud-managed): the definition's ID.
    pub managed_id: Option<String>,
}

fn parse_header_pairs(
    name: &str,
    field: &'static str,
    items: &[String],
) -> Result<Vec<(String, String)>, ConfigError> {
    items
        .iter()
        .map(|i| {
            let (k, v) = i.split_once(':').ok_or_else(|| ConfigError::Invalid {
                name: name.into(),
                field,
                message: format!("header {i:?} is not `Name: value`"),
            })?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Normalises a local address: `8000` → `localhost:8000`.
fn local_authority(addr: &str) -> String {
    if addr.parse::<u16>().is_ok() {
        format!("localhost:{addr}")
    } else if addr.parse::<SocketAddr>().is_ok() || addr.contains(':') {
        addr.to_string()
    } else {
        format!("{addr}:80")
    }
}

/// Longest tunnel name: it shows in status lines, URLs of the local API and captures.
pub const MAX_NAME_LEN: usize = 64;

/// A tunnel name: 1 to [`MAX_NAME_LEN`] characters, ASCII letters, digits and ` -_.:()`
/// (ngrok's own names look like `command_line (http)`).
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "a tunnel name has 1 to {MAX_NAME_LEN} characters, not {}",
            name.chars().count()
        ));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || " -_.:()".contains(*c)))
    {
        Some(c) => Err(format!(
            "a tunnel name has ASCII letters, digits and ` -_.:()` only, not {c:?}"
        )),
        None => Ok(()),
    }
}

impl TunnelConfig {
    /// A minimal tunnel of `proto` to `addr`.
    pub fn new(proto: Proto, addr: impl Into<String>) -> Self {
        Self {
            proto,
            addr: addr.into(),
            subdomain: None,
            remote_port: None,
            basic_auth: vec![],
            cidr_allow: vec![],
            cidr_deny: vec![],
            host_header: None,
            request_header_add: vec![],
            request_header_remove: vec![],
            response_header_add: vec![],
            response_header_remove: vec![],
            upstream_insecure: false,
            pooling_enabled: false,
            log_bodies: false,
        }
    }

    /// Checks the definition and turns it into a bind request and a local target.
    pub fn resolve(&self, name: &str) -> Result<ResolvedTunnel, ConfigError> {
        let invalid = |field: &'static str, m: String| ConfigError::Invalid {
            name: name.into(),
            field,
            message: m,
        };
        check_name(name).map_err(|m| invalid("name", m))?;
        if self.remote_port == Some(0) {
            return Err(invalid("remote_port", "remote_port must be 1-65535".into()));
        }
        let upstream = match self.proto {
            Proto::Http => {
                if let Some(rest) = self.addr.strip_prefix("https://") {
                    Upstream::Https(local_authority(rest.trim_end_matches('/')))
                } else if let Some(rest) = self.addr.strip_prefix("http://") {
                    Upstream::Http(local_authority(rest.trim_end_matches('/')))
                } else {
                    Upstream::Http(local_authority(&self.addr))
                }
            }
            Proto::Tcp | Proto::Tls => {
                if self.addr.contains("://") {
                    return Err(invalid(
                        "addr",
                        format!("{} tunnels take a port or host:port", self.proto.as_str()),
                    ));
                }
                Upstream::Tcp(local_authority(&self.addr))
            }
        };
        if upstream
            .authority()
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .filter(|p| *p != 0)
            .is_none()
        {
            return Err(invalid(
                "addr",
                format!("{:?} has no valid port (1-65535)", self.addr),
            ));
        }
        for cred in &self.basic_auth {
            match cred.split_once(':') {
                Some((u, p)) if !u.is_empty() && !p.is_empty() => {}
                _ => {
                    return Err(invalid(
                        "basic_auth",
                        "basic auth must be user:password".into(),
                    ));
                }
            }
        }
        if self.proto != Proto::Http
            && (!self.basic_auth.is_empty()
                || self.host_header.is_some()
                || !self.request_header_add.is_empty())
        {
            let field = if !self.basic_auth.is_empty() {
                "basic_auth"
            } else if self.host_header.is_some() {
                "host_header"
            } else {
                "request_header_add"
            };
            return Err(invalid(
                field,
                "basic auth and header rules apply to http tunnels only".into(),
            ));
        }
        if self.pooling_enabled && self.proto == Proto::Tcp {
            return Err(invalid(
                "pooling_enabled",
                "pooling_enabled is supported for http and tls tunnels only".into(),
            ));
        }
        let host_header = match self.host_header.as_deref() {
            None | Some("preserve") => None,
            Some("rewrite") => Some(upstream.authority().to_string()),
            Some(h) => Some(h.to_string()),
        };
        let spec = TunnelSpec {
            name: name.to_string(),
            proto: self.proto,
            subdomain: self.subdomain.clone(),
            remote_port: self.remote_port,
            policy: EdgePolicy {
                basic_auth: self.basic_auth.clone(),
                cidr_allow: self.cidr_allow.clone(),
                cidr_deny: self.cidr_deny.clone(),
                request_headers: HeaderRules {
                    add: parse_header_pairs(name, "request_header_add", &self.request_header_add)?,
                    remove: self.request_header_remove.clone(),
                },
                response_headers: HeaderRules {
                    add: parse_header_pairs(
                        name,
                        "response_header_add",
                        &self.response_header_add,
                    )?,
                    remove: self.response_header_remove.clone(),
                },
                host_header,
            },
            pooling: self.pooling_enabled,
            log_bodies: self.log_bodies,
        };
        Ok(ResolvedTunnel {
            spec,
            upstream,
            upstream_insecure: self.upstream_insecure,
            addr: self.addr.clone(),
            managed_id: None,
        })
    }
}

#[cfg(test)]
mod tests;
