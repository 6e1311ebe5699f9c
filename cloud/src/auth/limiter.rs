//! Throttling of logins and registrations, by client address and email.
//!
//! # Logins
//!
//! Three counts of failed logins, in fixed windows (`auth.login_limit.window_secs`):
//!
//! - per client address (all emails): past `max_failures_per_ip`, that address gets 429;
//! - per (client address, email) pair: past `max_failures_per_ip_and_email`, that address
//!   gets 429 for that email;
//! - per email, from every address together: never a 429. Past `email_slowdown_after`
//!   failures, each login for the email first waits a delay that grows by
//!   `email_delay_step_ms` per further failure, up to `email_delay_max_ms`.
//!
//! So an attacker guessing at one account is stopped per address, and one spread over many
//! addresses is slowed, but nobody can lock the owner out: a hard limit per email would keep
//! the right password out for as long as anyone kept guessing wrong ones (OWASP ASVS 6.3.1).
//! The owner signing in from an address that has not been guessing only waits the bounded
//! delay. The delay costs a waiting task, no thread and no hashing slot.
//!
//! An attempt is counted *before* the password is checked (so many parallel guesses cannot
//! all slip in under the limit) and given back when it succeeds: the pair's window is
//! cleared, the address and the email each get the attempt back.
//!
//! # Registrations
//!
//! Every registration that passes validation counts against its client address, before its
//! password is hashed, whether it then succeeds or not; past `auth.register_limit.max_per_ip`
//! in a window, 429.
//!
//! # Addresses
//!
//! Addresses are counted as [`ClientKey`]s (an IPv6 client by its /64). The address is the
//! one [`crate::http::extract::ClientIp`] decides (the TCP peer, or `X-Forwarded-For` behind
//! a trusted proxy). Without one (a router driven in process) only the per-email delay applies.
//!
//! Windows end by themselves. State is per process: with several cloud replicas each keeps
//! its own counts, which multiplies the limits by the replica count — acceptable for now; a
//! shared store can replace this behind the same interface.

use super::window::Windows;
pub use super::window::{ClientKey, RetryAfter};
use crate::config::{LoginLimitConfig, RegisterLimitConfig};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use time::OffsetDateTime;

/// Locks `m`; a panic while it was held leaves only counters behind, so keep using them.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug)]
struct LoginTables {
    by_address: Windows<ClientKey>,
    by_pair: Windows<(ClientKey, String)>,
    by_email: Windows<String>,
}

/// Counts failed logins per client address, per (address, email) and per email.
#[derive(Debug)]
pub struct LoginLimiter {
    cfg: LoginLimitConfig,
    tables: Mutex<LoginTables>,
}

impl LoginLimiter {
    /// A limiter with the configured window, limits and delays.
    pub fn new(cfg: &LoginLimitConfig) -> Self {
        Self {
            cfg: *cfg,
            tables: Mutex::new(LoginTables {
                by_address: Windows::new(cfg.window_secs),
                by_pair: Windows::new(cfg.window_secs),
                by_email: Windows::new(cfg.window_secs),
            }),
        }
    }

    /// Refuses the attempt when its address, or its address for this email, is over its
    /// limit. Otherwise counts it as a failure (until [`LoginLimiter::succeeded`] says
    /// otherwise) and answers how long to wait before checking the password: zero unless
    /// the email has failed often from anywhere. `email` must be normalized.
    pub fn begin_attempt(
        &self,
        email: &str,
        ip: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<std::time::Duration, RetryAfter> {
        let mut t = lock(&self.tables);
        let email = email.to_owned();
        let client = ip.map(ClientKey::from);
        if let Some(client) = client {
            let pair = (client, email.clone());
            let by_address = t
                .by_address
                .blocked(&client, self.cfg.max_failures_per_ip, now);
            let by_pair = t
                .by_pair
                .blocked(&pair, self.cfg.max_failures_per_ip_and_email, now);
            if let Some(wait) = by_address.into_iter().chain(by_pair).max_by_key(|r| r.secs) {
                return Err(wait);
            }
            t.by_address.count(&client, now);
            t.by_pair.count(&pair, now);
        }
        let earlier = t.by_email.attempts(&email, now);
        t.by_email.count(&email, now);
        Ok(self.email_delay(earlier))
    }

    /// The wait for a login to an email that has failed `failures` times in this window.
    fn email_delay(&self, failures: u32) -> std::time::Duration {
        let over = failures.saturating_sub(self.cfg.email_slowdown_after.saturating_sub(1));
        let ms = u64::from(over)
            .saturating_mul(self.cfg.email_delay_step_ms)
            .min(self.cfg.email_delay_max_ms);
        std::time::Duration::from_millis(ms)
    }

    /// The attempt begun for `email` from `ip` was the right password: the pair's window is
    /// cleared, and the address and the email get this attempt back.
    pub fn succeeded(&self, email: &str, ip: Option<IpAddr>) {
        let mut t = lock(&self.tables);
        let email = email.to_owned();
        if let Some(client) = ip.map(ClientKey::from) {
            t.by_address.forgive(&client);
            t.by_pair.clear(&(client, email.clone()));
        }
        t.by_email.forgive(&email);
    }
}

/// Counts registrations per client address.
#[derive(Debug)]
pub struct RegisterLimiter {
    max_per_ip: u32,
    by_address: Mutex<Windows<ClientKey>>,
}

impl RegisterLimiter {
    /// A limiter with the configured window and limit.
    pub fn new(cfg: &RegisterLimitConfig) -> Self {
        Self {
            max_per_ip: cfg.max_per_ip,
            by_address: Mutex::new(Windows::new(cfg.window_secs)),
        }
    }

    /// Counts a registration from `ip`, or refuses it when the address is at its limit.
    /// Without an address there is nothing to count by.
    pub fn attempt(&self, ip: Option<IpAddr>, now: OffsetDateTime) -> Result<(), RetryAfter> {
        let Some(client) = ip.map(ClientKey::from) else {
            return Ok(());
        };
        let mut w = lock(&self.by_address);
        if let Some(wait) = w.blocked(&client, self.max_per_ip, now) {
            return Err(wait);
        }
        w.count(&client, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
