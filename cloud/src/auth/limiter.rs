//! Login brute-force limiter: fixed windows of failed attempts per email and per client IP;
//! and the registration limiter: fixed windows of registrations per client address.
//!
//! An attempt is counted *before* the password is checked (so many parallel guesses cannot all
//! slip in under the limit) and forgiven when it succeeds. Past a limit, logins for that email
//! or from that IP get 429 with `Retry-After` until the window ends. Windows end by themselves:
//! an attacker can slow the real user down for one window at a time but never lock them out for
//! good, and the right password works again as soon as the window closes.
//!
//! Client addresses are counted as [`ClientKey`]s: an IPv6 client by its /64. Registrations
//! are counted before the password is hashed, whether they then succeed or not.
//!
//! State is per process. With several cloud replicas each enforces its own count, which
//! multiplies the limit by the replica count — acceptable for now; a shared store can replace
//! this behind the same interface.

use crate::config::{LoginLimitConfig, RegisterLimitConfig};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// Entries kept per table before expired windows are swept.
const SWEEP_THRESHOLD: usize = 10_000;

/// The answer when a limit is hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    /// Whole seconds until the window ends (at least 1).
    pub secs: u64,
}

/// Who an attempt is counted against: an IPv4 address, or the /64 network of an IPv6 one
/// (a host is usually handed a whole /64, and could pick a fresh address per attempt).
/// IPv4-mapped IPv6 addresses count as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => Self(IpAddr::V6(Ipv6Addr::from_bits(
                v6.to_bits() & !u128::from(u64::MAX),
            ))),
            v4 => Self(v4),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: OffsetDateTime,
    attempts: u32,
}

#[derive(Debug)]
struct Table<K> {
    max: u32,
    windows: HashMap<K, Window>,
}

impl<K: Eq + Hash + Clone> Table<K> {
    fn new(max: u32) -> Self {
        Self {
            max,
            windows: HashMap::new(),
        }
    }

    /// The live window for `key` at `now`, dropping an expired one.
    fn live(&mut self, key: &K, now: OffsetDateTime, len: Duration) -> Option<&mut Window> {
        if self
            .windows
            .get(key)
            .is_some_and(|w| now >= w.started + len)
        {
            self.windows.remove(key);
        }
        self.windows.get_mut(key)
    }

    fn blocked(&mut self, key: &K, now: OffsetDateTime, len: Duration) -> Option<RetryAfter> {
        let max = self.max;
        let w = self.live(key, now, len)?;
        (w.attempts >= max).then(|| {
            let left = (w.started + len - now).whole_milliseconds();
            // Round up: telling a client to retry before the window ends only earns it a 429.
            let secs = u64::try_from((left + 999) / 1000).unwrap_or(1).max(1);
            RetryAfter { secs }
        })
    }

    fn count(&mut self, key: &K, now: OffsetDateTime, len: Duration) {
        if self.windows.len() >= SWEEP_THRESHOLD {
            self.windows.retain(|_, w| now < w.started + len);
        }
        match self.live(key, now, len) {
            Some(w) => w.attempts = w.attempts.saturating_add(1),
            None => {
                self.windows.insert(
                    key.clone(),
                    Window {
                        started: now,
                        attempts: 1,
                    },
                );
            }
        }
    }

    fn forgive(&mut self, key: &K) {
        if let Some(w) = self.windows.get_mut(key) {
            w.attempts = w.attempts.saturating_sub(1);
        }
    }

    fn clear(&mut self, key: &K) {
        self.windows.remove(key);
    }
}

#[derive(Debug)]
struct Tables {
    by_email: Table<String>,
    by_ip: Table<IpAddr>,
}

/// Counts login attempts per email and per IP.
#[derive(Debug)]
pub struct LoginLimiter {
    window: Duration,
    tables: Mutex<Tables>,
}

impl LoginLimiter {
    /// A limiter with the configured window and limits.
    pub fn new(cfg: &LoginLimitConfig) -> Self {
        Self {
            window: Duration::seconds(i64::try_from(cfg.window_secs).unwrap_or(i64::MAX / 2)),
            tables: Mutex::new(Tables {
                by_email: Table::new(cfg.max_failures_per_email),
                by_ip: Table::new(cfg.max_failures_per_ip),
            }),
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding the lock leaves only counters behind; keep using them.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses the attempt if either limit is reached; otherwise counts it as a failure until
    /// [`LoginLimiter::succeeded`] says otherwise. `email` must be normalized.
    pub fn begin_attempt(
        &self,
        email: &str,
        ip: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<(), RetryAfter> {
        let mut t = self.tables();
        let email = email.to_owned();
        let by_email = t.by_email.blocked(&email, now, self.window);
        let by_ip = ip.and_then(|ip| t.by_ip.blocked(&ip, now, self.window));
        if let Some(wait) = by_email.into_iter().chain(by_ip).max_by_key(|r| r.secs) {
            return Err(wait);
        }
        t.by_email.count(&email, now, self.window);
        if let Some(ip) = ip {
            t.by_ip.count(&ip, now, self.window);
        }
        Ok(())
    }

    /// The attempt begun for `email` from `ip` was the right password: the email's window is
    /// cleared and the IP's count gets this attempt back.
    pub fn succeeded(&self, email: &str, ip: Option<IpAddr>) {
        let mut t = self.tables();
        t.by_email.clear(&email.to_owned());
        if let Some(ip) = ip {
            t.by_ip.forgive(&ip);
        }
    }
}

/// Counts registrations per client address.
#[derive(Debug)]
pub struct RegisterLimiter {
    window: Duration,
    by_address: Mutex<Table<ClientKey>>,
}

impl RegisterLimiter {
    /// A limiter with the configured window and limit.
    pub fn new(cfg: &RegisterLimitConfig) -> Self {
        Self {
            window: Duration::seconds(i64::try_from(cfg.window_secs).unwrap_or(i64::MAX / 2)),
            by_address: Mutex::new(Table::new(cfg.max_per_ip)),
        }
    }

    /// Counts a registration from `ip`, or refuses it when the address is at its limit.
    /// Without an address there is nothing to count by.
    pub fn attempt(&self, ip: Option<IpAddr>, now: OffsetDateTime) -> Result<(), RetryAfter> {
        let Some(client) = ip.map(ClientKey::from) else {
            return Ok(());
        };
        // A panic while holding the lock leaves only counters behind; keep using them.
        let mut t = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(wait) = t.blocked(&client, now, self.window) {
            return Err(wait);
        }
        t.count(&client, now, self.window);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_email: u32, per_ip: u32) -> LoginLimiter {
        LoginLimiter::new(&LoginLimitConfig {
            window_secs: 60,
            max_failures_per_email: per_email,
            max_failures_per_ip: per_ip,
        })
    }

    #[test]
    fn blocks_an_email_until_its_window_ends() {
        let l = limiter(3, 100);
        let t0 = OffsetDateTime::now_utc();
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..3 {
            assert_eq!(l.begin_attempt("a@x.io", ip, t0), Ok(()));
        }
        assert_eq!(
            l.begin_attempt("a@x.io", ip, t0 + Duration::seconds(10)),
            Err(RetryAfter { secs: 50 })
        );
        // Another account is not affected.
        assert_eq!(l.begin_attempt("b@x.io", ip, t0), Ok(()));
        // The window ends by itself.
        assert_eq!(
            l.begin_attempt("a@x.io", ip, t0 + Duration::seconds(60)),
            Ok(())
        );
    }

    #[test]
    fn blocks_an_ip_across_emails() {
        let l = limiter(100, 2);
        let t0 = OffsetDateTime::now_utc();
        let ip = Some(IpAddr::from([10, 0, 0, 2]));
        assert_eq!(l.begin_attempt("a@x.io", ip, t0), Ok(()));
        assert_eq!(l.begin_attempt("b@x.io", ip, t0), Ok(()));
        assert!(l.begin_attempt("c@x.io", ip, t0).is_err());
        assert_eq!(
            l.begin_attempt("c@x.io", Some(IpAddr::from([10, 0, 0, 3])), t0),
            Ok(())
        );
    }

    #[test]
    fn success_clears_the_email_and_refunds_the_ip() {
        let l = limiter(2, 2);
        let t0 = OffsetDateTime::now_utc();
        let ip = Some(IpAddr::from([10, 0, 0, 4]));
        assert_eq!(l.begin_attempt("a@x.io", ip, t0), Ok(()));
        l.succeeded("a@x.io", ip);
        assert_eq!(l.begin_attempt("a@x.io", ip, t0), Ok(()));
        assert_eq!(l.begin_attempt("a@x.io", ip, t0), Ok(()));
        assert!(l.begin_attempt("a@x.io", ip, t0).is_err());
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let l = limiter(1, 100);
        let t0 = OffsetDateTime::now_utc();
        assert_eq!(l.begin_attempt("a@x.io", None, t0), Ok(()));
        let almost = t0 + Duration::seconds(60) - Duration::milliseconds(1);
        assert_eq!(
            l.begin_attempt("a@x.io", None, almost),
            Err(RetryAfter { secs: 1 })
        );
        assert_eq!(
            l.begin_attempt("a@x.io", None, t0 + Duration::milliseconds(500)),
            Err(RetryAfter { secs: 60 })
        );
    }

    #[test]
    fn registrations_are_counted_per_client() {
        let l = RegisterLimiter::new(&RegisterLimitConfig {
            window_secs: 60,
            max_per_ip: 2,
        });
        let t0 = OffsetDateTime::now_utc();
        let bot = Some(IpAddr::from([192, 0, 2, 7]));
        assert_eq!(l.attempt(bot, t0), Ok(()));
        assert_eq!(l.attempt(bot, t0), Ok(()));
        assert_eq!(
            l.attempt(bot, t0 + Duration::seconds(1)),
            Err(RetryAfter { secs: 59 })
        );
        assert_eq!(l.attempt(Some(IpAddr::from([192, 0, 2, 8])), t0), Ok(()));
        assert_eq!(l.attempt(None, t0), Ok(()));
        assert_eq!(l.attempt(bot, t0 + Duration::seconds(60)), Ok(()));
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| s.parse::<IpAddr>().map(ClientKey::from).ok();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }
}
