//! Fixed-window attempt counters shared by the control plane's replicas, and the client key
//! the limiters count addresses by.
//!
//! A window opens at a subject's first attempt and ends a fixed time later, whatever happens
//! in it. The counts live in the database (`store::rate_windows`): with several `fdt-cloud`
//! replicas behind one address, a client meets the same limit whichever replica answers.

use crate::store::{Store, StoreError, Take};
use std::net::{IpAddr, Ipv6Addr};
use time::{Duration, OffsetDateTime};

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

/// Why an attempt was not let through.
#[derive(Debug, thiserror::Error)]
pub enum Limited {
    /// The limit is reached: come back later.
    #[error("rate limited for {} s", .0.secs)]
    Wait(RetryAfter),
    /// The shared counters could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Limited> for crate::error::ApiError {
    fn from(e: Limited) -> Self {
        match e {
            Limited::Wait(w) => Self::RateLimited {
                retry_after_secs: w.secs,
            },
            Limited::Store(e) => e.into(),
        }
    }
}

impl RetryAfter {
    /// Whole seconds from `now` until `end`, rounded up and at least 1: telling a client to
    /// retry before the window ends only earns it another 429.
    pub fn until(end: OffsetDateTime, now: OffsetDateTime) -> Self {
        let left = (end - now).whole_milliseconds();
        let secs = u64::try_from((left + 999) / 1000).unwrap_or(1).max(1);
        Self { secs }
    }
}

/// One kind of fixed window (a scope, a length and a limit), counted in the database
/// ([`crate::store::Store::take_windows`]) so that replicas share the counts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    scope: &'static str,
    len: Duration,
    max: Option<u32>,
}

impl Window {
    /// Windows of `scope`, `len_secs` long (at least one second), holding `max` attempts
    /// (`None`: counted, never refused).
    pub(crate) fn new(scope: &'static str, len_secs: u64, max: Option<u32>) -> Self {
        Self {
            scope,
            len: Duration::seconds(i64::try_from(len_secs.max(1)).unwrap_or(i64::MAX / 2)),
            max,
        }
    }

    /// An attempt of `subject` in this window.
    pub(crate) fn take<'a>(&self, subject: &'a [u8]) -> Take<'a> {
        Take {
            scope: self.scope,
            subject,
            max: self.max,
            len: self.len,
        }
    }

    /// Its scope's name.
    pub(crate) fn scope(&self) -> &'static str {
        self.scope
    }
}

/// What a window counts, as stored: the SHA-256 of the parts (so the table holds no address
/// or email), each ended by a NUL so that no two lists of parts hash alike.
pub(crate) fn subject(parts: &[&str]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().to_vec()
}

impl ClientKey {
    /// The address (or /64 network) as counted.
    pub(crate) fn to_key_string(self) -> String {
        self.0.to_string()
    }
}

/// Counts one attempt of `subject` in `window`; [`Limited::Wait`] when the window is full.
pub(crate) async fn take_one(
    store: &Store,
    window: &Window,
    subject: &[u8],
    now: OffsetDateTime,
) -> Result<(), Limited> {
    match store.take_windows(&[window.take(subject)], now).await? {
        Ok(_) => Ok(()),
        Err(end) => Err(Limited::Wait(RetryAfter::until(end, now))),
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
        let t0 = OffsetDateTime::now_utc();
        let end = t0 + Duration::seconds(60);
        assert_eq!(
            RetryAfter::until(end, end - Duration::milliseconds(1)),
            RetryAfter { secs: 1 }
        );
        assert_eq!(
            RetryAfter::until(end, t0 + Duration::milliseconds(500)),
            RetryAfter { secs: 60 }
        );
        assert_eq!(RetryAfter::until(end, end), RetryAfter { secs: 1 });
    }

    #[test]
    fn subjects_differ_by_their_parts_and_their_split() {
        assert_eq!(subject(&["a", "b"]), subject(&["a", "b"]));
        assert_ne!(subject(&["ab", ""]), subject(&["a", "b"]));
        assert_ne!(subject(&["a"]), subject(&["a", ""]));
        assert_eq!(subject(&["x"]).len(), 32);
    }
}
