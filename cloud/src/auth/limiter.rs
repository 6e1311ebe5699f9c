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
//! Windows end by themselves. The counts live in the database ([`super::window`]), so several
//! cloud replicas on one database share them: an attacker gains nothing by spreading guesses
//! over replicas. Counting costs a transaction per attempt, small beside the password hash.

pub use super::window::{ClientKey, Limited, RetryAfter};
use super::window::{Window, subject, take_one};
use crate::config::{LoginLimitConfig, RegisterLimitConfig};
use crate::store::Store;
use std::net::IpAddr;
use time::OffsetDateTime;

/// Counts failed logins per client address, per (address, email) and per email.
#[derive(Debug, Clone)]
pub struct LoginLimiter {
    cfg: LoginLimitConfig,
    store: Store,
    by_address: Window,
    by_pair: Window,
    by_email: Window,
}

impl LoginLimiter {
    /// A limiter with the configured window, limits and delays, counting in `store`.
    pub fn new(cfg: &LoginLimitConfig, store: Store) -> Self {
        let w = cfg.window_secs;
        Self {
            cfg: *cfg,
            store,
            by_address: Window::new("login.address", w, Some(cfg.max_failures_per_ip)),
            by_pair: Window::new("login.pair", w, Some(cfg.max_failures_per_ip_and_email)),
            by_email: Window::new("login.email", w, None),
        }
    }

    /// Refuses the attempt when its address, or its address for this email, is over its
    /// limit. Otherwise counts it as a failure (until [`LoginLimiter::succeeded`] says
    /// otherwise) and answers how long to wait before checking the password: zero unless
    /// the email has failed often from anywhere. `email` must be normalized.
    pub async fn begin_attempt(
        &self,
        email: &str,
        ip: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<std::time::Duration, Limited> {
        let email_key = subject(&[email]);
        let client = ip.map(|ip| ClientKey::from(ip).to_key_string());
        let keys = client
            .as_deref()
            .map(|c| (subject(&[c]), subject(&[c, email])));
        // Address, pair, email: always in this order (see `Store::take_windows`).
        let mut takes = Vec::with_capacity(3);
        if let Some((address, pair)) = &keys {
            takes.push(self.by_address.take(address));
            takes.push(self.by_pair.take(pair));
        }
        takes.push(self.by_email.take(&email_key));
        match self.store.take_windows(&takes, now).await? {
            Ok(before) => Ok(self.email_delay(before.last().copied().unwrap_or(0))),
            Err(end) => Err(Limited::Wait(RetryAfter::until(end, now))),
        }
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
    pub async fn succeeded(
        &self,
        email: &str,
        ip: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<(), Limited> {
        if let Some(client) = ip.map(|ip| ClientKey::from(ip).to_key_string()) {
            let address = subject(&[&client]);
            self.store
                .forgive_window(self.by_address.scope(), &address, now)
                .await?;
            self.store
                .clear_window(self.by_pair.scope(), &subject(&[&client, email]))
                .await?;
        }
        self.store
            .forgive_window(self.by_email.scope(), &subject(&[email]), now)
            .await?;
        Ok(())
    }
}

/// Counts attempts per client address: registrations, device sign-in codes, SSO starts.
#[derive(Debug, Clone)]
pub struct RegisterLimiter {
    store: Store,
    by_address: Window,
}

impl RegisterLimiter {
    /// A limiter with the configured window and limit, counting in `store` under `scope`.
    pub fn new(scope: &'static str, cfg: &RegisterLimitConfig, store: Store) -> Self {
        Self {
            store,
            by_address: Window::new(scope, cfg.window_secs, Some(cfg.max_per_ip)),
        }
    }

    /// Counts an attempt from `ip`, or refuses it when the address is at its limit. Without an
    /// address there is nothing to count by.
    pub async fn attempt(&self, ip: Option<IpAddr>, now: OffsetDateTime) -> Result<(), Limited> {
        let Some(client) = ip.map(|ip| ClientKey::from(ip).to_key_string()) else {
            return Ok(());
        };
        take_one(&self.store, &self.by_address, &subject(&[&client]), now).await
    }
}

#[cfg(test)]
mod tests;
