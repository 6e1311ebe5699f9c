//! Typed configuration for `fdt-cloud`, layered: defaults, then a TOML file, then `FDT_…`
//! environment variables, then command-line flags. Unknown keys in the file are errors.
//!
//! The environment is read through [`Env`], so tests pass a map instead of mutating the
//! process environment (which is shared by every test thread).

use crate::secret::Secret;
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

mod billing;
mod domains;
mod env;
mod sections;
mod smtp;
pub use billing::{
    BillingConfig, InvoiceConfig, OncePrice, PaypalConfig, RazorpayConfig, StripeConfig,
};
pub use domains::{AcmeChallenge, Dns01Config, Dns01Provider, DomainsConfig, EventCluster};
pub use env::{Env, ProcessEnv};
pub use sections::{
    AgentTokenConfig, Argon2Config, AuditConfig, AuthConfig, ConsoleConfig, FleetConfig,
    LoginLimitConfig, MetricsConfig, PasswordHashingConfig, RegisterLimitConfig, RelayEntry,
    SecretRotationConfig, SsoOptions, TrafficConfig, TrustedProxies, TrustedProxiesError,
};
pub use smtp::{SmtpConfig, SmtpSecurity};

/// Environment variable naming the config file when `--config` is not given. (`FDT_CONFIG` is
/// the agent's.)
pub const CONFIG_FILE_ENV: &str = "FDT_CLOUD_CONFIG";

/// Everything the control plane needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Directory for the SQLite database and the signing key. Empty means
    /// `$XDG_DATA_HOME/fdt-cloud` (or `~/.local/share/fdt-cloud`), resolved by [`Config::load`].
    pub data_dir: PathBuf,
    /// Database URL (`sqlite://…` or `postgres://…`); a SQLite file in `data_dir` when unset.
    pub database_url: Option<Secret<String>>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for per-client limits).
    pub trusted_proxies: TrustedProxies,
    /// Login, token and password-hashing settings.
    pub auth: AuthConfig,
    /// Agent tokens handed out by `POST /v1/agent/sessions`.
    pub agent_tokens: AgentTokenConfig,
    /// Relays agents are sent to besides the ones that register themselves by heartbeat
    /// (`[[relays]]` tables). A listed relay that also heartbeats is judged by its heartbeats.
    pub relays: Vec<RelayEntry>,
    /// Relay registration, health and assignment.
    pub fleet: FleetConfig,
    /// The cloud traffic log and replays.
    pub traffic: TrafficConfig,
    /// The web console and admin panel.
    pub console: ConsoleConfig,
    /// Secrets relays present (`Authorization: Bearer …`) to read `/v1/relay/…`, such as the
    /// authtoken revocation feed. None configured: those routes refuse everyone.
    pub relay_secrets: Vec<Secret<String>>,
    /// Maximum ages of the signing keys and relay secrets.
    pub secret_rotation: SecretRotationConfig,
    /// Single sign-on.
    pub sso: SsoOptions,
    /// The audit log.
    pub audit: AuditConfig,
    /// Custom domains and certificates.
    pub domains: DomainsConfig,
    /// Payment providers.
    pub billing: BillingConfig,
    /// Where the email outbox is sent (`[smtp]`); unset: written, not sent.
    pub smtp: Option<SmtpConfig>,
    /// Prometheus metrics.
    pub metrics: MetricsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8780)),
            data_dir: PathBuf::new(),
            database_url: None,
            max_body_bytes: 64 * 1024,
            trusted_proxies: TrustedProxies::default(),
            auth: AuthConfig::default(),
            agent_tokens: AgentTokenConfig::default(),
            relays: Vec::new(),
            fleet: FleetConfig::default(),
            traffic: TrafficConfig::default(),
            console: ConsoleConfig::default(),
            relay_secrets: Vec::new(),
            secret_rotation: SecretRotationConfig::default(),
            sso: SsoOptions::default(),
            audit: AuditConfig::default(),
            domains: DomainsConfig::default(),
            billing: BillingConfig::default(),
            smtp: None,
            metrics: MetricsConfig::default(),
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config FILE`.
    pub config_file: Option<PathBuf>,
    /// `--listen ADDR`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--database-url URL`.
    pub database_url: Option<String>,
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A SQLite file, created when missing.
    SqliteFile(PathBuf),
    /// A `sqlite:` or `postgres://` URL.
    Url(Secret<String>),
}

/// Why a configuration cannot be used; each message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for this schema (syntax, unknown key, wrong type).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the offending line.
        message: String,
    },
    /// An environment variable has a value of the wrong type.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Builds the configuration from all layers and validates it.
    ///
    /// The file is `overrides.config_file`, else `$FDT_CLOUD_CONFIG`, else none.
    pub fn load(env: &dyn Env, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file = overrides
            .config_file
            .clone()
            .or_else(|| env.var(CONFIG_FILE_ENV).map(PathBuf::from));
        let mut config = match file {
            Some(path) => Self::from_file(&path)?,
            None => Self::default(),
        };
        config.apply_env(env)?;
        config.apply_overrides(overrides);
        if config.data_dir.as_os_str().is_empty() {
            config.data_dir = default_data_dir(env)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document (defaults fill what it leaves out).
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    fn apply_overrides(&mut self, o: &Overrides) {
        if let Some(listen) = o.listen {
            self.listen = listen;
        }
        if let Some(dir) = &o.data_dir {
            self.data_dir = dir.clone();
        }
        if let Some(url) = &o.database_url {
            self.database_url = Some(Secret::new(url.clone()));
        }
    }

    /// Checks ranges and consistency, with messages that say what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let r = &self.secret_rotation;
        if r.signing_key_max_days == 0 || r.relay_secret_max_days == 0 {
            return invalid("secret_rotation maximum ages must be at least 1 day".into());
        }
        let d = &self.domains;
        if fdt_api::domains::normalize_domain(&d.cname_zone).as_deref() != Ok(d.cname_zone.as_str())
            || d.cname_zone.starts_with('*')
        {
            return invalid(format!(
                "domains.cname_zone must be a lower-case domain name, not {:?}",
                d.cname_zone
            ));
        }
        if d.pending_check_secs == 0 || d.recheck_secs == 0 || d.worker_interval_secs == 0 {
            return invalid("domains: check intervals must be at least 1 s".into());
        }
        if d.lost_after_misses == 0 {
            return invalid("domains.lost_after_misses must be at least 1".into());
        }
        if let Some(url) = &d.acme_directory
            && !url.starts_with("https://")
        {
            return invalid(format!(
                "domains.acme_directory must be an https:// URL, not {url:?}"
            ));
        }
        if let Some(dns) = &d.dns01 {
            let base = &dns.api_base;
            let loopback = ["http://127.0.0.1:", "http://[::1]:", "http://localhost:"];
            if !(base.starts_with("https://") || loopback.iter().any(|p| base.starts_with(p))) {
                return invalid(format!(
                    "domains.dns01.api_base must be an https:// URL (http only on loopback), not {base:?}"
                ));
            }
            if dns.api_token.expose().trim().is_empty() {
                return invalid("domains.dns01.api_token must not be empty".into());
            }
        }
        let mut clusters = std::collections::HashSet::new();
        for c in &d.clusters {
            if !fdt_api::domains::cert_event::is_label(&c.name) || !clusters.insert(&c.name) {
                return invalid(format!(
                    "domains.clusters: {:?} must be a unique name of 1–64 [A-Za-z0-9._-]",
                    c.name
                ));
            }
            if c.keys.is_empty() || c.keys.iter().any(|k| k.expose().len() < 32) {
                return invalid(format!(
                    "domains.clusters {:?}: at least one key, each at least 32 characters",
                    c.name
                ));
            }
        }
        self.billing.validate().map_err(ConfigError::Invalid)?;
        if let Some(t) = &self.metrics.token
            && t.expose().len() < 16
        {
            return invalid("metrics.token must be at least 16 characters".into());
        }
        if let Some(s) = &self.smtp {
            s.validate().map_err(ConfigError::Invalid)?;
        }
        let a = &self.auth;
        if a.issuer.trim().is_empty() || a.audience.trim().is_empty() {
            return invalid("auth.issuer and auth.audience must not be empty".into());
        }
        if !(60..=30 * 86_400).contains(&self.console.session_ttl_secs) {
            return invalid("console.session_ttl_secs must be between 60 and 2592000".into());
        }
        if let Some(url) = &self.console.public_url
            && !((url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= 2048
                && url.bytes().all(|b| b.is_ascii_graphic()))
        {
            return invalid(format!(
                "console.public_url must be an http:// or https:// URL, not {url:?}"
            ));
        }
        if !(1..=86_400).contains(&a.access_ttl_secs) {
            return invalid("auth.access_ttl_secs must be between 1 and 86400".into());
        }
        if a.refresh_ttl_secs < a.access_ttl_secs {
            return invalid("auth.refresh_ttl_secs must be at least auth.access_ttl_secs".into());
        }
        if a.clock_skew_secs > 300 {
            return invalid("auth.clock_skew_secs must be at most 300".into());
        }
        if let Err(e) = a.argon2.params() {
            return invalid(format!("auth.argon2: {e}"));
        }
        let l = &a.login_limit;
        let counts = [
            l.max_failures_per_ip,
            l.max_failures_per_ip_and_email,
            l.email_slowdown_after,
        ];
        if l.window_secs == 0 || counts.contains(&0) {
            return invalid("auth.login_limit: window and counts must be at least 1".into());
        }
        if l.email_delay_max_ms > 10_000 || l.email_delay_step_ms > l.email_delay_max_ms {
            return invalid(
                "auth.login_limit: email_delay_max_ms must be at most 10000 and at least \
                 email_delay_step_ms"
                    .into(),
            );
        }
        let r = &a.register_limit;
        if r.window_secs == 0 || r.max_per_ip == 0 {
            return invalid("auth.register_limit values must be at least 1".into());
        }
        let h = &a.password_hashing;
        if h.max_concurrent == Some(0) || h.max_wait_ms > 60_000 {
            return invalid(
                "auth.password_hashing: max_concurrent must be at least 1, max_wait_ms at \
                 most 60000"
                    .into(),
            );
        }
        if !(1..=86_400).contains(&self.agent_tokens.ttl_secs) {
            return invalid("agent_tokens.ttl_secs must be between 1 and 86400".into());
        }
        if self.relay_secrets.iter().any(|s| s.expose().len() < 16) {
            return invalid("relay_secrets must be at least 16 characters each".into());
        }
        self.validate_relays()?;
        let f = &self.fleet;
        if !(1..=300).contains(&f.heartbeat_secs) {
            return invalid("fleet.heartbeat_secs must be between 1 and 300".into());
        }
        if f.unhealthy_after_secs <= f.heartbeat_secs {
            return invalid(
                "fleet.unhealthy_after_secs must be more than fleet.heartbeat_secs".into(),
            );
        }
        if f.name_grace_secs > 86_400 {
            return invalid("fleet.name_grace_secs must be at most 86400".into());
        }
        if f.reserved_tcp_ports.0 == 0 || f.reserved_tcp_ports.0 > f.reserved_tcp_ports.1 {
            return invalid(
                "fleet.reserved_tcp_ports must be [first, last] with 0 < first <= last".into(),
            );
        }
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes must be at least 1024".into());
        }
        if let Some(url) = &self.database_url {
            let url = url.expose();
            let known = ["sqlite:", "postgres://", "postgresql://"];
            if !known.iter().any(|p| url.starts_with(p)) {
                return invalid(
                    "database_url must start with sqlite:, postgres:// or postgresql://".into(),
                );
            }
        }
        Ok(())
    }

    fn validate_relays(&self) -> Result<(), ConfigError> {
        let mut ids = std::collections::HashSet::new();
        for r in &self.relays {
            let invalid = |m: &str| Err(ConfigError::Invalid(format!("relay {:?}: {m}", r.id)));
            if r.id.trim().is_empty() {
                return Err(ConfigError::Invalid(
                    "relays: every relay needs an id".into(),
                ));
            }
            if !ids.insert(r.id.as_str()) {
                return invalid("id used twice");
            }
            if fdt_api::validate::check_region(&r.region).is_err() {
                return invalid("region must be 1 to 32 of a-z, 0-9 and '-'");
            }
            let port = r.addr.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(p)) if p != 0) {
                return invalid("addr must be host:port");
            }
            if r.server_name.trim().is_empty() {
                return invalid("server_name must not be empty");
            }
        }
        Ok(())
    }

    /// The database to use: `database_url`, or `fdt-cloud.db` in the data directory.
    pub fn database(&self) -> DatabaseTarget {
        match &self.database_url {
            Some(url) => DatabaseTarget::Url(url.clone()),
            None => DatabaseTarget::SqliteFile(self.data_dir.join("fdt-cloud.db")),
        }
    }
}

/// `$XDG_DATA_HOME/fdt-cloud`, else `$HOME/.local/share/fdt-cloud`.
fn default_data_dir(env: &dyn Env) -> Result<PathBuf, ConfigError> {
    if let Some(xdg) = env.var("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("fdt-cloud"));
    }
    match env.var("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/fdt-cloud")),
        None => Err(ConfigError::Invalid(
            "no data directory: set data_dir, FDT_DATA_DIR or --data-dir (HOME is not set)".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
