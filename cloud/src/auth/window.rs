//! Fixed-window attempt counters, and the client key the limiters count addresses by.
//!
//! A window opens at a key's first attempt and ends a fixed time later, whatever happens in
//! it; expired windows are dropped when next looked at, or swept once a table grows large.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
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

/// Attempts per key in fixed windows of one length.
#[derive(Debug)]
pub(crate) struct Windows<K> {
    len: Duration,
    windows: HashMap<K, Window>,
}

impl<K: Eq + Hash + Clone> Windows<K> {
    /// Windows `len` long (whole seconds; at least one).
    pub(crate) fn new(len_secs: u64) -> Self {
        Self {
            len: Duration::seconds(i64::try_from(len_secs.max(1)).unwrap_or(i64::MAX / 2)),
            windows: HashMap::new(),
        }
    }

    /// The live window for `key` at `now`, dropping an expired one.
    fn live(&mut self, key: &K, now: OffsetDateTime) -> Option<&mut Window> {
        let len = self.len;
        if self
            .windows
            .get(key)
            .is_some_and(|w| now >= w.started + len)
        {
            self.windows.remove(key);
        }
        self.windows.get_mut(key)
    }

    /// Attempts counted for `key` in its live window.
    pub(crate) fn attempts(&mut self, key: &K, now: OffsetDateTime) -> u32 {
        self.live(key, now).map_or(0, |w| w.attempts)
    }

    /// When `key` has `max` attempts or more in its live window: how long until it ends.
    pub(crate) fn blocked(&mut self, key: &K, max: u32, now: OffsetDateTime) -> Option<RetryAfter> {
        let len = self.len;
        let w = self.live(key, now)?;
        (w.attempts >= max).then(|| {
            let left = (w.started + len - now).whole_milliseconds();
            // Round up: telling a client to retry before the window ends only earns it a 429.
            let secs = u64::try_from((left + 999) / 1000).unwrap_or(1).max(1);
            RetryAfter { secs }
        })
    }

    /// Counts an attempt for `key`, opening a window if none is live.
    pub(crate) fn count(&mut self, key: &K, now: OffsetDateTime) {
        if self.windows.len() >= SWEEP_THRESHOLD {
            let len = self.len;
            self.windows.retain(|_, w| now < w.started + len);
        }
        match self.live(key, now) {
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

    /// Takes one counted attempt back.
    pub(crate) fn forgive(&mut self, key: &K) {
        if let Some(w) = self.windows.get_mut(key) {
            w.attempts = w.attempts.saturating_sub(1);
        }
    }

    /// Forgets `key`'s window.
    pub(crate) fn clear(&mut self, key: &K) {
        self.windows.remove(key);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::from(a), ClientKey::from(b));
        assert_ne!(ClientKey::from(a), ClientKey::from(other));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(
            ClientKey::from(mapped),
            ClientKey::from(IpAddr::from([192, 0, 2, 1]))
        );
        assert_ne!(
            ClientKey::from(IpAddr::from([192, 0, 2, 1])),
            ClientKey::from(IpAddr::from([192, 0, 2, 2]))
        );
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let mut w = Windows::new(60);
        let t0 = OffsetDateTime::now_utc();
        w.count(&"k", t0);
        let almost = t0 + Duration::seconds(60) - Duration::milliseconds(1);
        assert_eq!(w.blocked(&"k", 1, almost), Some(RetryAfter { secs: 1 }));
        assert_eq!(
            w.blocked(&"k", 1, t0 + Duration::milliseconds(500)),
            Some(RetryAfter { secs: 60 })
        );
        assert_eq!(w.blocked(&"k", 1, t0 + Duration::seconds(60)), None);
        assert_eq!(w.attempts(&"k", t0 + Duration::seconds(60)), 0);
    }
}
