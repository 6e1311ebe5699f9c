//! Typed configuration for `fdt-cloud`, layered: defaults, then a TOML file, then `FDT_…`
//! environment variables, then command-line flags. Unknown keys in the file are errors.
//!
//! The environment is read through [`Env`], so tests pass a map instead of mutating the
//! process environment (which is shared by every test thread).

use crate::secret::Secret;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Display;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

mod sections;
pub use sections::{
    AgentTokenConfig, Argon2Config, AuthConfig, ConsoleConfig, FleetConfig, LoginLimitConfig,
    PasswordHashingConfig, RegisterLimitConfig, RelayEntry, TrafficConfig, TrustedProxies,
};

/// A read-only view of environment variables.
pub trait Env {
    /// The value of `key`, if set and valid Unicode.
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

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

type Setter = fn(&mut Config, &str) -> Result<(), String>;

fn parse<T: FromStr>(v: &str) -> Result<T, String>
where
    T::Err: Display,
{
    v.trim().parse().map_err(|e: T::Err| e.to_string())
}

/// The environment variables read, and the setting each one sets.
const ENV_VARS: &[(&str, Setter)] = &[
    ("FDT_LISTEN", |c, v| {
        c.listen = parse(v)?;
        Ok(())
    }),
    ("FDT_CONSOLE_SECURE_COOKIES", |c, v| {
        c.console.secure_cookies = parse(v)?;
        Ok(())
    }),
    ("FDT_DATA_DIR", |c, v| {
        c.data_dir = PathBuf::from(v);
        Ok(())
    }),
    ("FDT_DATABASE_URL", |c, v| {
        c.database_url = Some(Secret::new(v.to_owned()));
        Ok(())
    }),
    ("FDT_MAX_BODY_BYTES", |c, v| {
        c.max_body_bytes = parse(v)?;
        Ok(())
    }),
    ("FDT_AUTH_ISSUER", |c, v| {
        c.auth.issuer = v.to_owned();
        Ok(())
    }),
    ("FDT_AUTH_AUDIENCE", |c, v| {
        c.auth.audience = v.to_owned();
        Ok(())
    }),
    ("FDT_AUTH_ACCESS_TTL_SECS", |c, v| {
        c.auth.access_ttl_secs = parse(v)?;
        Ok(())
    }),
    ("FDT_AUTH_REFRESH_TTL_SECS", |c, v| {
        c.auth.refresh_ttl_secs = parse(v)?;
        Ok(())
    }),
    ("FDT_AUTH_CLOCK_SKEW_SECS", |c, v| {
        c.auth.clock_skew_secs = parse(v)?;
        Ok(())
    }),
    ("FDT_ARGON2_MEMORY_KIB", |c, v| {
        c.auth.argon2.memory_kib = parse(v)?;
        Ok(())
    }),
    ("FDT_ARGON2_ITERATIONS", |c, v| {
        c.auth.argon2.iterations = parse(v)?;
        Ok(())
    }),
    ("FDT_ARGON2_PARALLELISM", |c, v| {
        c.auth.argon2.parallelism = parse(v)?;
        Ok(())
    }),
    ("FDT_LOGIN_WINDOW_SECS", |c, v| {
        c.auth.login_limit.window_secs = parse(v)?;
        Ok(())
    }),
    ("FDT_LOGIN_MAX_FAILURES_PER_IP", |c, v| {
        c.auth.login_limit.max_failures_per_ip = parse(v)?;
        Ok(())
    }),
    ("FDT_LOGIN_MAX_FAILURES_PER_IP_AND_EMAIL", |c, v| {
        c.auth.login_limit.max_failures_per_ip_and_email = parse(v)?;
        Ok(())
    }),
    ("FDT_LOGIN_EMAIL_SLOWDOWN_AFTER", |c, v| {
        c.auth.login_limit.email_slowdown_after = parse(v)?;
        Ok(())
    }),
    // The old name, from when failures per email were a hard limit.
    ("FDT_LOGIN_MAX_FAILURES_PER_EMAIL", |c, v| {
        c.auth.login_limit.email_slowdown_after = parse(v)?;
        Ok(())
    }),
    ("FDT_LOGIN_EMAIL_DELAY_STEP_MS", |c, v| {
        c.auth.login_limit.email_delay_step_ms = parse(v)?;
        Ok(())
    }),
    ("FDT_LOGIN_EMAIL_DELAY_MAX_MS", |c, v| {
        c.auth.login_limit.email_delay_max_ms = parse(v)?;
        Ok(())
    }),
    ("FDT_REGISTER_WINDOW_SECS", |c, v| {
        c.auth.register_limit.window_secs = parse(v)?;
        Ok(())
    }),
    ("FDT_REGISTER_MAX_PER_IP", |c, v| {
        c.auth.register_limit.max_per_ip = parse(v)?;
        Ok(())
    }),
    ("FDT_PASSWORD_HASHING_MAX_CONCURRENT", |c, v| {
        c.auth.password_hashing.max_concurrent = Some(parse(v)?);
        Ok(())
    }),
    ("FDT_PASSWORD_HASHING_MAX_WAIT_MS", |c, v| {
        c.auth.password_hashing.max_wait_ms = parse(v)?;
        Ok(())
    }),
    ("FDT_TRUSTED_PROXIES", |c, v| {
        c.trusted_proxies = v.parse()?;
        Ok(())
    }),
    ("FDT_FLEET_HEARTBEAT_SECS", |c, v| {
        c.fleet.heartbeat_secs = parse(v)?;
        Ok(())
    }),
    ("FDT_FLEET_UNHEALTHY_AFTER_SECS", |c, v| {
        c.fleet.unhealthy_after_secs = parse(v)?;
        Ok(())
    }),
    ("FDT_FLEET_NAME_GRACE_SECS", |c, v| {
        c.fleet.name_grace_secs = parse(v)?;
        Ok(())
    }),
    ("FDT_AGENT_TOKEN_TTL_SECS", |c, v| {
        c.agent_tokens.ttl_secs = parse(v)?;
        Ok(())
    }),
    ("FDT_RELAY_SECRETS", |c, v| {
        c.relay_secrets = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Secret::new(s.to_owned()))
            .collect();
        Ok(())
    }),
];

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

    fn apply_env(&mut self, env: &dyn Env) -> Result<(), ConfigError> {
        for (var, set) in ENV_VARS {
            if let Some(value) = env.var(var) {
                set(self, &value).map_err(|message| ConfigError::Env { var, message })?;
            }
        }
        Ok(())
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
        let a = &self.auth;
        if a.issuer.trim().is_empty() || a.audience.trim().is_empty() {
            return invalid("auth.issuer and auth.audience must not be empty".into());
        }
        if !(60..=30 * 86_400).contains(&self.console.session_ttl_secs) {
            return invalid("console.session_ttl_secs must be between 60 and 2592000".into());
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_resolve_the_data_dir_from_home() {
        let c = Config::load(&env(&[("HOME", "/home/a")]), &Overrides::default()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/home/a/.local/share/fdt-cloud"));
        assert_eq!(
            c.database(),
            DatabaseTarget::SqliteFile("/home/a/.local/share/fdt-cloud/fdt-cloud.db".into())
        );
        assert_eq!(c.auth, AuthConfig::default());
    }

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cloud.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1000\"\ndata_dir = \"/from/file\"\n\
             [auth]\nissuer = \"file-iss\"\naccess_ttl_secs = 60\n",
        )
        .unwrap();
        let e = env(&[
            ("FDT_CLOUD_CONFIG", file.to_str().unwrap()),
            ("FDT_LISTEN", "127.0.0.1:2000"),
            ("FDT_AUTH_ACCESS_TTL_SECS", "120"),
        ]);
        let flags = Overrides {
            data_dir: Some("/from/flag".into()),
            ..Overrides::default()
        };
        let c = Config::load(&e, &flags).unwrap();
        assert_eq!(c.listen, "127.0.0.1:2000".parse().unwrap()); // env beats file
        assert_eq!(c.data_dir, PathBuf::from("/from/flag")); // flag beats file
        assert_eq!(c.auth.issuer, "file-iss"); // file beats default
        assert_eq!(c.auth.access_ttl_secs, 120);
        assert_eq!(c.auth.audience, "fdt-api"); // default kept
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Config::from_toml("listen = \"127.0.0.1:1\"\nlisten_addr = 3\n").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = Config::from_toml("[auth]\nisuer = \"typo\"\n").unwrap_err();
        assert!(err.to_string().contains("isuer"), "{err}");
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        let e = env(&[("HOME", "/h"), ("FDT_AUTH_ACCESS_TTL_SECS", "ten")]);
        let err = Config::load(&e, &Overrides::default()).unwrap_err();
        assert!(
            err.to_string().contains("FDT_AUTH_ACCESS_TTL_SECS"),
            "{err}"
        );
    }

    #[test]
    fn validation_rejects_inconsistent_values() {
        for (var, value) in [
            ("FDT_AUTH_ACCESS_TTL_SECS", "0"),
            ("FDT_AUTH_REFRESH_TTL_SECS", "1"),
            ("FDT_ARGON2_MEMORY_KIB", "1"),
            ("FDT_LOGIN_WINDOW_SECS", "0"),
            ("FDT_LOGIN_MAX_FAILURES_PER_IP_AND_EMAIL", "0"),
            ("FDT_LOGIN_EMAIL_DELAY_MAX_MS", "60000"),
            ("FDT_REGISTER_MAX_PER_IP", "0"),
            ("FDT_PASSWORD_HASHING_MAX_CONCURRENT", "0"),
            ("FDT_DATABASE_URL", "mysql://x"),
        ] {
            let e = env(&[("HOME", "/h"), (var, value)]);
            assert!(
                matches!(
                    Config::load(&e, &Overrides::default()),
                    Err(ConfigError::Invalid(_))
                ),
                "{var}={value} accepted"
            );
        }
    }

    #[test]
    fn login_limits_are_read_and_the_old_email_key_still_works() {
        let c = Config::from_toml(
            "[auth.login_limit]\nmax_failures_per_ip_and_email = 4\nemail_delay_max_ms = 900\n",
        )
        .unwrap();
        let l = c.auth.login_limit;
        assert_eq!(l.max_failures_per_ip_and_email, 4);
        assert_eq!(l.email_delay_max_ms, 900);
        assert_eq!(l.email_slowdown_after, 10);
        // `max_failures_per_email` was a hard limit; it now sets where slowing down starts.
        let old = Config::from_toml("[auth.login_limit]\nmax_failures_per_email = 7\n").unwrap();
        assert_eq!(old.auth.login_limit.email_slowdown_after, 7);
        let e = env(&[("HOME", "/h"), ("FDT_LOGIN_MAX_FAILURES_PER_EMAIL", "8")]);
        let c = Config::load(&e, &Overrides::default()).unwrap();
        assert_eq!(c.auth.login_limit.email_slowdown_after, 8);
    }

    #[test]
    fn trusted_proxies_register_limit_and_hashing_are_read() {
        let c = Config::from_toml(
            "trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"2001:db8::/32\"]\n\
             [auth.register_limit]\nmax_per_ip = 3\n\
             [auth.password_hashing]\nmax_concurrent = 4\nmax_wait_ms = 500\n",
        )
        .unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(c.trusted_proxies.contains(ip("10.1.2.3")));
        assert!(c.trusted_proxies.contains(ip("::ffff:192.0.2.7")));
        assert!(c.trusted_proxies.contains(ip("2001:db8:5::1")));
        assert!(!c.trusted_proxies.contains(ip("192.0.2.8")));
        assert_eq!(c.auth.register_limit.max_per_ip, 3);
        assert_eq!(c.auth.register_limit.window_secs, 60);
        assert_eq!(c.auth.password_hashing.slots(), 4);
        let err = Config::from_toml("trusted_proxies = [\"10.0.0.0/33\"]\n").unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
        // Off unless configured.
        assert!(!Config::default().trusted_proxies.contains(ip("10.1.2.3")));
        let e = env(&[
            ("HOME", "/h"),
            ("FDT_TRUSTED_PROXIES", "10.0.0.1, 172.16.0.0/12"),
            ("FDT_REGISTER_MAX_PER_IP", "7"),
        ]);
        let c = Config::load(&e, &Overrides::default()).unwrap();
        assert!(c.trusted_proxies.contains(ip("172.20.0.1")));
        assert!(!c.trusted_proxies.contains(ip("10.0.0.2")));
        assert_eq!(c.auth.register_limit.max_per_ip, 7);
        let e = env(&[("HOME", "/h"), ("FDT_TRUSTED_PROXIES", "proxy.internal")]);
        let err = Config::load(&e, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("FDT_TRUSTED_PROXIES"), "{err}");
    }

    #[test]
    fn relays_are_read_and_checked() {
        let c = Config::from_toml(
            "[[relays]]\nid = \"eu-1\"\nregion = \"eu\"\naddr = \"relay.example:7443\"\n\
             server_name = \"relay.example\"\n",
        )
        .unwrap();
        assert_eq!(c.relays.len(), 1);
        c.validate().unwrap();
        let twice = Config {
            relays: vec![c.relays[0].clone(), c.relays[0].clone()],
            ..c.clone()
        };
        assert!(twice.validate().unwrap_err().to_string().contains("twice"));
        let mut no_port = c.clone();
        no_port.relays[0].addr = "relay.example".into();
        assert!(
            no_port
                .validate()
                .unwrap_err()
                .to_string()
                .contains("host:port")
        );
        assert!(Config::from_toml("[[relays]]\nid = \"x\"\nregoin = \"eu\"\n").is_err());
    }

    #[test]
    fn debug_hides_the_database_url() {
        let e = env(&[
            ("HOME", "/h"),
            ("FDT_DATABASE_URL", "postgres://u:hunter2@db/x"),
        ]);
        let c = Config::load(&e, &Overrides::default()).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
