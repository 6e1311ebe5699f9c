//! Typed relay configuration: defaults, then a TOML file, then command-line flags.

use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The issuer of the control plane's agent tokens unless configured otherwise.
pub const DEFAULT_CLOUD_ISSUER: &str = "fdt-cloud";

/// Limits applied to visitors and agents.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Time a visitor has to send complete request headers (slowloris guard), in ms.
    pub header_read_timeout_ms: u64,
    /// Largest request head accepted, in bytes (larger gets 431).
    pub max_header_bytes: usize,
    /// Concurrent connections per visitor IP (0 = unlimited).
    pub max_conns_per_ip: u32,
    /// Concurrent streams (exchanges/connections) per tunnel; excess gets 503 or a reset.
    pub max_streams_per_tunnel: u32,
    /// Concurrent streams per agent session.
    pub max_streams_per_agent: u32,
    /// Tunnels one agent session may bind.
    pub max_tunnels_per_session: u32,
    /// Agent heartbeat interval, in ms.
    pub heartbeat_ms: u64,
    /// Silence after which an agent is dropped, in ms.
    pub agent_idle_timeout_ms: u64,
    /// Time in-flight exchanges get to finish on shutdown, in ms.
    pub drain_timeout_ms: u64,
    /// Time a visitor's TLS ClientHello may take to arrive, in ms.
    pub tls_hello_timeout_ms: u64,
    /// How long a request for a name whose agent is reconnecting is held, waiting for the name
    /// to be bound again, in ms (0 disables holding: such requests get 502 at once).
    pub hold_ms: u64,
    /// Requests held at once per name.
    pub hold_max_requests: u32,
    /// Bytes (heads and buffered bodies) held at once per name.
    pub hold_max_bytes: u64,
    /// Requests held at once by the whole relay.
    pub hold_max_total_requests: u32,
    /// Bytes held at once by the whole relay.
    pub hold_max_total_bytes: u64,
    /// How long a name stays its account's after its last tunnel went away, in ms: another
    /// account cannot bind it meanwhile (its agent is reconnecting, and requests may be held
    /// for it). At least `hold_ms`.
    pub name_grace_ms: u64,
    /// Agent QUIC handshakes in flight at which new clients are first sent a stateless Retry,
    /// proving their address before the relay keeps any state for them (0: always).
    pub quic_retry_after_handshakes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 10_000,
            max_header_bytes: 32 * 1024,
            max_conns_per_ip: 2_000,
            max_streams_per_tunnel: 1_000,
            max_streams_per_agent: 4_000,
            max_tunnels_per_session: 32,
            heartbeat_ms: 10_000,
            agent_idle_timeout_ms: 30_000,
            drain_timeout_ms: 10_000,
            tls_hello_timeout_ms: 10_000,
            hold_ms: 10_000,
            hold_max_requests: 64,
            hold_max_bytes: 8 * 1024 * 1024,
            hold_max_total_requests: 10_000,
            hold_max_total_bytes: 256 * 1024 * 1024,
            name_grace_ms: 60_000,
            quic_retry_after_handshakes: 64,
        }
    }
}

impl Limits {
    /// Header read timeout as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// How long requests for a reconnecting name are held; `None` when holding is disabled.
    pub fn hold_window(&self) -> Option<Duration> {
        (self.hold_ms > 0).then(|| Duration::from_millis(self.hold_ms))
    }
}

/// Most ports a relay listens on with `tcp_forward` (one socket each).
pub const MAX_SHARED_TCP_PORTS: u32 = 16_384;

/// Everything a relay needs to run.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Domain under which tunnels get names (`<name>.<base_domain>`).
    pub base_domain: String,
    /// Directory for generated keys and the dev CA.
    pub data_dir: PathBuf,
    /// UDP address of the QUIC endpoint for agents.
    pub agent_listen: SocketAddr,
    /// TCP address of the plain-HTTP edge (none disables it).
    pub http_listen: Option<SocketAddr>,
    /// TCP address of the HTTPS / TLS-passthrough edge (none disables it).
    pub https_listen: Option<SocketAddr>,
    /// Address TCP tunnels listen on.
    pub tcp_bind_ip: IpAddr,
    /// First port of the range TCP tunnels are allocated from.
    pub tcp_port_min: u16,
    /// Last port of the range (inclusive).
    pub tcp_port_max: u16,
    /// Host name used in `tcp://` URLs (defaults to the base domain).
    pub public_host: Option<String>,
    /// Port shown in `http://` URLs (defaults to the HTTP listener's port).
    pub public_http_port: Option<u16>,
    /// Port shown in `https://` and `tls://` URLs (defaults to the HTTPS listener's port).
    pub public_https_port: Option<u16>,
    /// PEM files of Ed25519 public keys accepted for agent tokens.
    pub agent_public_keys: Vec<PathBuf>,
    /// The control plane's JWKS URL (`https://api.example.com/v1/jwks`): its keys are accepted
    /// for agent tokens too, refreshed every `jwks_refresh_secs` and when a token names an
    /// unknown key.
    pub jwks_url: Option<String>,
    /// Seconds between scheduled JWKS refreshes.
    pub jwks_refresh_secs: u64,
    /// The `iss` the control plane's agent tokens must carry (its `auth.issuer`).
    pub agent_token_issuer: String,
    /// The control plane's base URL (`https://api.example.com`): with `relay_secret`, the relay
    /// polls its authtoken revocation feed and closes the sessions of revoked authtokens.
    pub cloud_url: Option<String>,
    /// Secret the relay presents to the control plane (one of its `relay_secrets`).
    pub relay_secret: Option<RelaySecret>,
    /// Key of this relay's cluster (its region) for certificate events: with `cloud_url`, the
    /// relay reports each custom-domain certificate version it puts in service, signed with it
    /// (the control plane lists the key under `[[domains.clusters]]` with `name = region`).
    pub cert_event_key: Option<RelaySecret>,
    /// This relay's ID in the fleet (`a-z 0-9 -`); with `cloud_url` it registers under it.
    pub relay_id: String,
    /// Region it serves (`eu`, `us-east`, …).
    pub region: String,
    /// `host:port` agents are told to dial (defaults to the bound agent address).
    pub advertise_agent_addr: Option<String>,
    /// Name agents check the relay's certificate against (defaults to `base_domain`).
    pub server_name: Option<String>,
    /// Agent sessions this relay takes before the cloud stops preferring it.
    pub capacity: u32,
    /// Relative share of new agents among the relays of its region (1–1000).
    pub weight: u32,
    /// Forward visitors of names this relay does not hold to a relay that does (needs
    /// `cloud_url`: placement and the relays' identities come from the control plane).
    pub forward: bool,
    /// CA certificates (PEM) trusted for peer relays' certificates besides the public web
    /// roots: a fleet whose agent endpoints use a private CA.
    pub peer_ca: Option<PathBuf>,
    /// Listen on every port of the TCP range from the start, and send a visitor of a port this
    /// relay does not hold to the relay of its region that does (needs `forward`). Every relay
    /// of a region then serves the region's TCP addresses: give them the same range (the
    /// control plane's `fleet.reserved_tcp_ports` within it) and one DNS name (`public_host`).
    /// At most 16,384 ports (one socket each); a port of the range that cannot be bound stops
    /// the relay at start.
    pub tcp_forward: bool,
    /// TCP address of the admin listener (`/metrics`, `/healthz`), off the public edge; none
    /// disables it. On an address other than loopback it needs `admin_token`.
    pub admin_listen: Option<SocketAddr>,
    /// Bearer token `/metrics` asks for (at least 16 characters); without one, the admin
    /// listener must be on loopback. `/healthz` is open to whoever reaches the listener.
    pub admin_token: Option<RelaySecret>,
    /// Certificate chain (PEM) for the edge and the agent endpoint; dev CA when absent.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) matching `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Limits.
    pub limits: Limits,
}

impl Default for RelayConfig {
    fn default() -> Self {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Self {
            base_domain: "localhost".into(),
            data_dir: default_data_dir(),
            agent_listen: SocketAddr::new(lo, 7443),
            http_listen: Some(SocketAddr::new(lo, 8080)),
            https_listen: Some(SocketAddr::new(lo, 8443)),
            tcp_bind_ip: lo,
            tcp_port_min: 20_000,
            tcp_port_max: 20_999,
            public_host: None,
            public_http_port: None,
            public_https_port: None,
            agent_public_keys: Vec::new(),
            jwks_url: None,
            jwks_refresh_secs: 300,
            agent_token_issuer: DEFAULT_CLOUD_ISSUER.into(),
            cloud_url: None,
            relay_secret: None,
            cert_event_key: None,
            relay_id: "local".into(),
            region: "local".into(),
            advertise_agent_addr: None,
            server_name: None,
            capacity: 10_000,
            weight: 100,
            forward: true,
            peer_ca: None,
            tcp_forward: false,
            admin_listen: None,
            admin_token: None,
            tls_cert: None,
            tls_key: None,
            limits: Limits::default(),
        }
    }
}

/// The relay's secret for the control plane; `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RelaySecret(String);

impl RelaySecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RelaySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this structure (unknown keys included).
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl RelayConfig {
    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Checks values a person can get wrong, with messages they can act on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.cloud_url.is_some() != self.relay_secret.is_some() {
            return bad("cloud_url and relay_secret go together: set both or neither".into());
        }
        if self.cert_event_key.is_some() && self.cloud_url.is_none() {
            return bad("cert_event_key needs cloud_url (the events go there)".into());
        }
        if self
            .cert_event_key
            .as_ref()
            .is_some_and(|k| k.expose().len() < 32)
        {
            return bad("cert_event_key must be at least 32 characters".into());
        }
        if self
            .admin_token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            return bad("admin_token must be at least 16 characters".into());
        }
        if let Some(a) = self.admin_listen
            && !a.ip().is_loopback()
            && self.admin_token.is_none()
        {
            return bad(format!(
                "admin_listen {a} is not loopback: set admin_token, or Prometheus' scrapes would be open to anyone who reaches it"
            ));
        }
        if fdt_api::validate::check_label("relay_id", &self.relay_id).is_err() {
            return bad(format!(
                "relay_id {:?}: use 1-63 of a-z, 0-9 and '-'",
                self.relay_id
            ));
        }
        if fdt_api::validate::check_region(&self.region).is_err() {
            return bad(format!(
                "region {:?}: use 1-32 of a-z, 0-9 and '-'",
                self.region
            ));
        }
        let l = &self.limits;
        if l.hold_ms > 60_000 {
            return bad("limits.hold_ms must be at most 60000 (visitors wait that long)".into());
        }
        if l.hold_ms > 0
            && (l.hold_max_requests == 0
                || l.hold_max_bytes == 0
                || l.hold_max_total_requests < l.hold_max_requests
                || l.hold_max_total_bytes < l.hold_max_bytes)
        {
            return bad(
                "limits.hold_max_* must be at least 1, and the relay-wide totals at least the per-name ones"
                    .into(),
            );
        }
        if l.name_grace_ms < l.hold_ms {
            return bad("limits.name_grace_ms must be at least limits.hold_ms".into());
        }
        if self.capacity == 0 || !(1..=1000).contains(&self.weight) {
            return bad("capacity must be at least 1 and weight 1 to 1000".into());
        }
        if self.base_domain.is_empty() || self.base_domain.starts_with('.') {
            return bad(format!(
                "base_domain {:?} is not a domain name",
                self.base_domain
            ));
        }
        if self.tcp_port_min == 0 || self.tcp_port_min > self.tcp_port_max {
            return bad(format!(
                "tcp port range {}-{} is empty or starts at 0",
                self.tcp_port_min, self.tcp_port_max
            ));
        }
        if self.tcp_forward {
            if !self.forward || self.cloud_url.is_none() {
                return bad(
                    "tcp_forward needs forward and cloud_url (placement comes from the control plane)"
                        .into(),
                );
            }
            let ports = u32::from(self.tcp_port_max) - u32::from(self.tcp_port_min) + 1;
            let most = MAX_SHARED_TCP_PORTS;
            if ports > most {
                return bad(format!(
                    "tcp_forward listens on every port of the range: {ports} ports is more than {most}"
                ));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return bad("tls_cert and tls_key must be given together".into());
        }
        if self.limits.max_header_bytes < 8192 {
            return bad("limits.max_header_bytes must be at least 8192".into());
        }
        if self.limits.max_streams_per_tunnel == 0 || self.limits.max_streams_per_agent == 0 {
            return bad("stream limits must be at least 1".into());
        }
        if let Some(url) = &self.jwks_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad(format!(
                "jwks_url {url:?} must be an http:// or https:// URL"
            ));
        }
        if self.jwks_refresh_secs < 10 {
            return bad("jwks_refresh_secs must be at least 10".into());
        }
        if self.limits.agent_idle_timeout_ms < 2 * self.limits.heartbeat_ms {
            return bad("limits.agent_idle_timeout_ms must be at least twice heartbeat_ms".into());
        }
        Ok(())
    }

    /// Host name used in `tcp://` URLs.
    pub fn public_host(&self) -> &str {
        self.public_host.as_deref().unwrap_or(&self.base_domain)
    }

    /// Whether `host` (lower case) is the base domain or a name under it.
    pub fn is_under_base(&self, host: &str) -> bool {
        host == self.base_domain
            || host
                .strip_suffix(self.base_domain.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    }
}

/// `$XDG_DATA_HOME/fdt-relay`, `~/.local/share/fdt-relay`, or `./fdt-relay-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("fdt-relay");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".local/share/fdt-relay");
    }
    PathBuf::from("fdt-relay-data")
}

#[cfg(test)]
mod tests;
