//! The environment layer of the configuration: the `FDT_…` variables and the setting each
//! one sets, read through [`Env`] so tests pass a map instead of mutating the process
//! environment (which every test thread shares).

use super::{Config, ConfigError, TrustedProxiesError};
use crate::secret::Secret;
use std::collections::HashMap;
use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;

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

/// Why a variable's value does not fit its setting (the parser's words).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct InvalidValue(String);

type Setter = fn(&mut Config, &str) -> Result<(), InvalidValue>;

/// `v`, trimmed, parsed as a `T`.
fn parse<T: FromStr>(v: &str) -> Result<T, InvalidValue>
where
    T::Err: Display,
{
    v.trim()
        .parse()
        .map_err(|e: T::Err| InvalidValue(e.to_string()))
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
    ("FDT_CONSOLE_PUBLIC_URL", |c, v| {
        c.console.public_url = Some(v.to_owned()).filter(|v| !v.is_empty());
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
        c.trusted_proxies = v
            .parse()
            .map_err(|e: TrustedProxiesError| InvalidValue(e.to_string()))?;
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
    ("FDT_METRICS_TOKEN", |c, v| {
        // Empty means unset, as for a variable a deployment declares but leaves blank.
        let v = v.trim();
        c.metrics.token = (!v.is_empty()).then(|| Secret::new(v.to_owned()));
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
    pub(super) fn apply_env(&mut self, env: &dyn Env) -> Result<(), ConfigError> {
        for (var, set) in ENV_VARS {
            if let Some(value) = env.var(var) {
                set(self, &value).map_err(|e| ConfigError::Env {
                    var,
                    message: e.to_string(),
                })?;
            }
        }
        Ok(())
    }
}
