//! The sections of [`super::Config`] with their defaults: console, agent tokens, relays, auth,
//! traffic log, fleet and trusted proxies. Loading, layering and checking stay in `config.rs`.

use crate::secret::Secret;
use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;

/// The web console (server-rendered pages at `/`) and its sign-in cookie.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// How long a console sign-in lasts, in seconds (the cookie's access token; the session
    /// itself can be ended earlier by signing out).
    pub session_ttl_secs: u64,
    /// Mark the sign-in cookie `Secure` (sent over HTTPS only). Turn on whenever the console is
    /// reached over HTTPS, which is every deployment but a loopback one.
    pub secure_cookies: bool,
    /// Directory holding the built UI bundle (`pkg/`); found next to the executable when
    /// empty (see `fdt_ui::site::Site::discover`), or from `FDT_UI_SITE`.
    pub site_dir: Option<PathBuf>,
    /// The console's address as people reach it (`https://console.example.com`), for links
    /// the API hands out (device sign-in). Unset: the request's `Host`.
    pub public_url: Option<String>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            session_ttl_secs: 12 * 3600,
            secure_cookies: false,
            site_dir: None,
            public_url: None,
        }
    }
}

/// Agent tokens: the short-lived relay credentials agents get for their authtoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentTokenConfig {
    /// Token lifetime, in seconds. Relays check it when an agent connects; agents exchange
    /// their authtoken again on every reconnect.
    pub ttl_secs: u64,
    /// `max_tunnels` put in tokens (0 leaves the limit to the relay).
    pub max_tunnels: u32,
}

impl Default for AgentTokenConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 600,
            max_tunnels: 0,
        }
    }
}

/// A relay agents may be sent to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayEntry {
    /// Relay ID (unique; shown to agents and in logs).
    pub id: String,
    /// Region it serves (`eu`, `us-east`, …).
    pub region: String,
    /// QUIC address agents connect to, `host:port`.
    pub addr: String,
    /// Name the relay's certificate is checked against.
    pub server_name: String,
}

/// Login, token and password-hashing settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens (tokens for other audiences, e.g. relays, are refused).
    pub audience: String,
    /// Access token lifetime, in seconds.
    pub access_ttl_secs: u64,
    /// Refresh token lifetime (each rotation starts it again), in seconds.
    pub refresh_ttl_secs: u64,
    /// Clock difference tolerated when checking `exp`, in seconds.
    pub clock_skew_secs: u64,
    /// Argon2id cost parameters for new password hashes.
    pub argon2: Argon2Config,
    /// Login throttling.
    pub login_limit: LoginLimitConfig,
    /// Registration throttling.
    pub register_limit: RegisterLimitConfig,
    /// How many password hashes may run at once.
    pub password_hashing: PasswordHashingConfig,
}

/// Argon2id cost parameters (stored in each hash, so changing them affects new hashes only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Argon2Config {
    /// These parameters as Argon2 takes them, or why Argon2 refuses them. Validation and the
    /// password hasher both ask here, so a configuration that validates always builds a hasher.
    pub fn params(&self) -> Result<argon2::Params, argon2::Error> {
        argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, None)
    }
}

/// Login throttling (see `crate::auth::limiter`): hard limits per client address and per
/// (address, email) pair, answered 429 until the window ends; per email, from all addresses
/// together, only a growing delay — so nobody can lock the owner of an email out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginLimitConfig {
    /// Window length, in seconds.
    pub window_secs: u64,
    /// Failed logins from one client address per window, for all emails.
    pub max_failures_per_ip: u32,
    /// Failed logins for one email from one client address per window.
    pub max_failures_per_ip_and_email: u32,
    /// Failed logins for one email (from any address) per window before each further login
    /// for it waits. (Once a hard limit, under its old name `max_failures_per_email`.)
    #[serde(alias = "max_failures_per_email")]
    pub email_slowdown_after: u32,
    /// Milliseconds of wait each further failure adds.
    pub email_delay_step_ms: u64,
    /// Longest wait, in milliseconds.
    pub email_delay_max_ms: u64,
}

/// Registration throttling: past the limit within a window, registrations from that client
/// address answer 429 until the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegisterLimitConfig {
    /// Window length, in seconds.
    pub window_secs: u64,
    /// Registrations from one client address per window.
    pub max_per_ip: u32,
}

/// How many password hashes (each holding its Argon2 memory) run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordHashingConfig {
    /// Hashes and checks running at once; unset: twice the CPUs, at least 2.
    pub max_concurrent: Option<u32>,
    /// How long a request waits for a free slot before it gets 429, in milliseconds.
    pub max_wait_ms: u64,
}

impl PasswordHashingConfig {
    /// The number of hashes allowed at once.
    pub fn slots(&self) -> usize {
        match self.max_concurrent {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => {
                let cpus = std::thread::available_parallelism().map_or(1, usize::from);
                cpus.saturating_mul(2).max(2)
            }
        }
    }
}

impl Default for PasswordHashingConfig {
    fn default() -> Self {
        Self {
            max_concurrent: None,
            max_wait_ms: 2_000,
        }
    }
}

/// The reverse proxies in front of the cloud, as networks (`"10.0.0.0/8"`) or single
/// addresses (`"192.0.2.7"`). Only a request whose TCP peer is one of them has its client
/// address read from `X-Forwarded-For`. Empty (the default): the peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Whether `ip` is one of the proxies (an IPv4-mapped IPv6 address as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// An entry of `trusted_proxies` that is neither an address nor a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trusted_proxies: {0:?} is not an address or a CIDR network")]
pub struct TrustedProxiesError(String);

impl TryFrom<Vec<String>> for TrustedProxies {
    type Error = TrustedProxiesError;

    fn try_from(entries: Vec<String>) -> Result<Self, TrustedProxiesError> {
        entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| TrustedProxiesError(e.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl std::str::FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    /// A comma-separated list (the environment variable's form).
    fn from_str(s: &str) -> Result<Self, TrustedProxiesError> {
        let entries = s.split(',').filter(|e| !e.trim().is_empty());
        Self::try_from(entries.map(str::to_owned).collect::<Vec<_>>())
    }
}

/// The cloud traffic log.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrafficConfig {
    /// Where bodies are kept: a directory, or `s3://bucket[/prefix]` (credentials and endpoint
    /// from `AWS_*` variables). Empty: `data_dir/bodies`.
    pub body_store: String,
    /// Header names redacted in the log besides `authorization`, `proxy-authorization`,
    /// `cookie` and `set-cookie` (case-insensitive).
    pub redact_headers: Vec<String>,
    /// Seconds between retention sweeps.
    pub retention_interval_secs: u64,
    /// Seconds a replay handed to a relay waits for its answer before it is sent again.
    pub replay_resend_secs: u64,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            body_store: String::new(),
            redact_headers: Vec::new(),
            retention_interval_secs: 60,
            replay_resend_secs: 30,
        }
    }
}

/// How the cloud judges and uses its relays.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetConfig {
    /// Seconds between a relay's heartbeats (told to relays in every answer).
    pub heartbeat_secs: u64,
    /// A relay not heard from for this many seconds is unhealthy: agents are not sent to it
    /// and its tunnels count as offline.
    pub unhealthy_after_secs: u64,
    /// Per region, the regions to use next when it has no healthy relay
    /// (`[fleet.failover] eu = ["us"]`).
    pub failover: std::collections::BTreeMap<String, Vec<String>>,
    /// Ports TCP addresses are reserved from, inclusive (each relay's TCP range must
    /// include them).
    pub reserved_tcp_ports: (u16, u16),
    /// Seconds a name stays its owner's after its last tunnel ends (the agent is
    /// reconnecting; relays may be holding visitors' requests for it). Another account
    /// binding it meanwhile gets `name_in_use`. At least the relays' `limits.hold_ms`.
    pub name_grace_secs: u64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            heartbeat_secs: 5,
            unhealthy_after_secs: 20,
            failover: std::collections::BTreeMap::new(),
            reserved_tcp_ports: (20_000, 20_999),
            name_grace_secs: 60,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "fdt-cloud".into(),
            audience: "fdt-api".into(),
            access_ttl_secs: 600,
            refresh_ttl_secs: 30 * 24 * 3600,
            clock_skew_secs: 5,
            argon2: Argon2Config::default(),
            login_limit: LoginLimitConfig::default(),
            register_limit: RegisterLimitConfig::default(),
            password_hashing: PasswordHashingConfig::default(),
        }
    }
}

impl Default for Argon2Config {
    fn default() -> Self {
        // OWASP's second recommended Argon2id setting (19 MiB, 2 passes, 1 lane).
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Default for LoginLimitConfig {
    fn default() -> Self {
        Self {
            window_secs: 300,
            max_failures_per_ip: 50,
            max_failures_per_ip_and_email: 10,
            email_slowdown_after: 10,
            email_delay_step_ms: 250,
            email_delay_max_ms: 2_000,
        }
    }
}

impl Default for RegisterLimitConfig {
    fn default() -> Self {
        Self {
            window_secs: 60,
            max_per_ip: 10,
        }
    }
}

/// How old the control plane's secrets may grow before they are due for rotation
/// (`GET /v1/admin/secrets`): amber from four fifths of the maximum, red past it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretRotationConfig {
    /// Days the access-token and agent-token signing keys may live.
    pub signing_key_max_days: u32,
    /// Days a relay secret may live.
    pub relay_secret_max_days: u32,
}

impl Default for SecretRotationConfig {
    fn default() -> Self {
        Self {
            signing_key_max_days: 90,
            relay_secret_max_days: 180,
        }
    }
}

/// Prometheus metrics (`[metrics]`): `GET /metrics` on the API's address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// The bearer token Prometheus presents (`authorization.credentials` in its scrape
    /// config). Unset: `/metrics` answers no one (but loopback, with `loopback_without_token`).
    pub token: Option<Secret<String>>,
    /// Scrapes from a loopback TCP peer need no token (`fdt-cloud dev` turns it on). Never
    /// behind a reverse proxy on the same machine: every request would come from loopback.
    pub loopback_without_token: bool,
}

/// The audit log (`[audit]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Seconds between signed checkpoints of the log's head, taken when rows were added since
    /// the last one (0: only by hand).
    pub checkpoint_interval_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_interval_secs: 3600,
        }
    }
}

/// Single sign-on (`[sso]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SsoOptions {
    /// Accept `http://` issuers, and issuers on loopback or private addresses. Off in
    /// production: an organisation's issuer URL is fetched by the control plane, so it must
    /// not reach the control plane's own network. Tests against a local provider turn it on.
    pub allow_insecure_issuers: bool,
}
