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
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use std::time::Duration as Wait;
    use time::Duration;

    const ATTACKER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));
    const OWNER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 9)));

    fn config() -> LoginLimitConfig {
        LoginLimitConfig {
            window_secs: 60,
            max_failures_per_ip: 100,
            max_failures_per_ip_and_email: 3,
            email_slowdown_after: 4,
            email_delay_step_ms: 250,
            email_delay_max_ms: 1_000,
        }
    }

    fn nth_address(i: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 1, i]))
    }

    #[test]
    fn guessing_address_is_refused_but_the_owner_elsewhere_is_not() {
        let l = LoginLimiter::new(&config());
        let clock = ManualClock::starting_now();
        for _ in 0..3 {
            assert_eq!(
                l.begin_attempt("a@x.io", ATTACKER, clock.now()),
                Ok(Wait::ZERO)
            );
        }
        clock.advance(Duration::seconds(10));
        assert_eq!(
            l.begin_attempt("a@x.io", ATTACKER, clock.now()),
            Err(RetryAfter { secs: 50 })
        );
        // The owner, from another address, goes ahead (no hard limit per email)...
        assert_eq!(
            l.begin_attempt("a@x.io", OWNER, clock.now()),
            Ok(Wait::ZERO)
        );
        l.succeeded("a@x.io", OWNER);
        // ...and so does the attacker's address for other emails.
        assert_eq!(
            l.begin_attempt("b@x.io", ATTACKER, clock.now()),
            Ok(Wait::ZERO)
        );
        // The attacker's window for the pair ends by itself.
        clock.advance(Duration::seconds(50));
        assert!(l.begin_attempt("a@x.io", ATTACKER, clock.now()).is_ok());
    }

    #[test]
    fn many_addresses_guessing_one_email_are_slowed_never_refused() {
        let l = LoginLimiter::new(&config());
        let clock = ManualClock::starting_now();
        let delays: Vec<_> = (0..10)
            .map(|i| l.begin_attempt("a@x.io", nth_address(i), clock.now()))
            .collect();
        let ms = |ms| Ok(Wait::from_millis(ms));
        assert_eq!(
            delays,
            [
                ms(0),
                ms(0),
                ms(0),
                ms(0),
                ms(250),
                ms(500),
                ms(750),
                ms(1_000),
                ms(1_000),
                ms(1_000)
            ]
        );
        // The owner waits the same bounded delay, and is let in.
        assert_eq!(l.begin_attempt("a@x.io", OWNER, clock.now()), ms(1_000));
        // Other emails are not slowed.
        assert_eq!(
            l.begin_attempt("b@x.io", nth_address(0), clock.now()),
            ms(0)
        );
        // The delay ends with the window.
        clock.advance(Duration::seconds(60));
        assert_eq!(
            l.begin_attempt("a@x.io", nth_address(11), clock.now()),
            ms(0)
        );
    }

    #[test]
    fn an_address_is_refused_across_emails() {
        let l = LoginLimiter::new(&LoginLimitConfig {
            max_failures_per_ip: 2,
            ..config()
        });
        let now = ManualClock::starting_now().now();
        assert!(l.begin_attempt("a@x.io", ATTACKER, now).is_ok());
        assert!(l.begin_attempt("b@x.io", ATTACKER, now).is_ok());
        assert!(l.begin_attempt("c@x.io", ATTACKER, now).is_err());
        assert!(l.begin_attempt("c@x.io", OWNER, now).is_ok());
        // The neighbours of an IPv6 client share its count; its /64 is one client.
        let v6 = |s: &str| s.parse::<IpAddr>().ok();
        assert!(l.begin_attempt("a@x.io", v6("2001:db8::1"), now).is_ok());
        assert!(l.begin_attempt("b@x.io", v6("2001:db8::2"), now).is_ok());
        assert!(l.begin_attempt("c@x.io", v6("2001:db8::3"), now).is_err());
    }

    #[test]
    fn success_clears_the_pair_and_refunds_address_and_email() {
        let l = LoginLimiter::new(&LoginLimitConfig {
            max_failures_per_ip: 3,
            email_slowdown_after: 3,
            ..config()
        });
        let now = ManualClock::starting_now().now();
        for _ in 0..3 {
            assert!(l.begin_attempt("a@x.io", OWNER, now).is_ok());
        }
        l.succeeded("a@x.io", OWNER);
        // Two failures remain on the address and the email; the pair starts again.
        assert_eq!(l.begin_attempt("a@x.io", OWNER, now), Ok(Wait::ZERO));
        assert!(l.begin_attempt("a@x.io", OWNER, now).is_err());
    }

    #[test]
    fn registrations_are_counted_per_address() {
        let l = RegisterLimiter::new(&RegisterLimitConfig {
            window_secs: 60,
            max_per_ip: 2,
        });
        let clock = ManualClock::starting_now();
        assert_eq!(l.attempt(ATTACKER, clock.now()), Ok(()));
        assert_eq!(l.attempt(ATTACKER, clock.now()), Ok(()));
        clock.advance(Duration::seconds(1));
        assert_eq!(
            l.attempt(ATTACKER, clock.now()),
            Err(RetryAfter { secs: 59 })
        );
        assert_eq!(l.attempt(OWNER, clock.now()), Ok(()));
        assert_eq!(l.attempt(None, clock.now()), Ok(()));
        clock.advance(Duration::seconds(59));
        assert_eq!(l.attempt(ATTACKER, clock.now()), Ok(()));
    }
}
