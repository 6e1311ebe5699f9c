//! Traffic counted per account on the hot path, for the control plane's usage reports.
//!
//! Each tunnel holds its account's [`Counters`] and adds to them with relaxed atomics; the
//! heartbeat swaps them to zero through [`UsageMeter::take`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Traffic of one account on this relay since the last heartbeat.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    connections: AtomicU64,
}

impl Counters {
    /// One HTTP request.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// One visitor connection.
    pub fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes from visitors (`inbound`) and to them (`outbound`).
    pub fn bytes(&self, inbound: u64, outbound: u64) {
        self.bytes_in.fetch_add(inbound, Ordering::Relaxed);
        self.bytes_out.fetch_add(outbound, Ordering::Relaxed);
    }

    pub(crate) fn take(&self) -> [u64; 4] {
        [
            self.requests.swap(0, Ordering::Relaxed),
            self.bytes_in.swap(0, Ordering::Relaxed),
            self.bytes_out.swap(0, Ordering::Relaxed),
            self.connections.swap(0, Ordering::Relaxed),
        ]
    }
}

/// Per-account [`Counters`], handed to tunnels at bind.
#[derive(Debug, Default)]
pub struct UsageMeter {
    inner: Mutex<Accounts>,
}

#[derive(Debug, Default)]
struct Accounts {
    counters: HashMap<String, Arc<Counters>>,
    /// What [`UsageMeter::take`] has taken so far: with the counters, the relay's totals.
    taken: [u64; 4],
}

impl UsageMeter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Accounts> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The counters of `account`.
    pub fn counters(&self, account: &str) -> Arc<Counters> {
        self.lock()
            .counters
            .entry(account.to_owned())
            .or_default()
            .clone()
    }

    /// Takes every account's counts (zeroing them) and forgets accounts without tunnels.
    pub(crate) fn take(&self) -> Vec<(String, [u64; 4])> {
        let mut inner = self.lock();
        let out: Vec<_> = inner
            .counters
            .iter()
            .map(|(a, c)| (a.clone(), c.take()))
            .filter(|(_, n)| n.iter().any(|&v| v > 0))
            .collect();
        for (_, n) in &out {
            for (t, v) in inner.taken.iter_mut().zip(n) {
                *t = t.saturating_add(*v);
            }
        }
        inner.counters.retain(|_, c| Arc::strong_count(c) > 1);
        out
    }

    /// Adds counts taken earlier back (a heartbeat that could not carry them).
    pub(crate) fn give_back(&self, account: &str, counts: [u64; 4]) {
        let mut inner = self.lock();
        for (t, v) in inner.taken.iter_mut().zip(counts) {
            *t = t.saturating_sub(v);
        }
        let c = inner.counters.entry(account.to_owned()).or_default();
        c.requests.fetch_add(counts[0], Ordering::Relaxed);
        c.bytes_in.fetch_add(counts[1], Ordering::Relaxed);
        c.bytes_out.fetch_add(counts[2], Ordering::Relaxed);
        c.connections.fetch_add(counts[3], Ordering::Relaxed);
    }

    /// Requests, bytes in, bytes out and connections over every account since the relay
    /// started. They never go down: what is taken moves into the totals under the lock this
    /// reads them under.
    pub fn totals(&self) -> [u64; 4] {
        let inner = self.lock();
        let mut t = inner.taken;
        for c in inner.counters.values() {
            let now = [
                c.requests.load(Ordering::Relaxed),
                c.bytes_in.load(Ordering::Relaxed),
                c.bytes_out.load(Ordering::Relaxed),
                c.connections.load(Ordering::Relaxed),
            ];
            for (t, v) in t.iter_mut().zip(now) {
                *t = t.saturating_add(v);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_hands_out_shared_counters_and_takes_them() {
        let meter = UsageMeter::default();
        let a = meter.counters("acc_a");
        let a2 = meter.counters("acc_a");
        a.request();
        a2.request();
        a.bytes(10, 20);
        a2.connection();
        let taken = meter.take();
        assert_eq!(taken, vec![("acc_a".to_string(), [2, 10, 20, 1])]);
        // Taken means zeroed: nothing to report next time.
        assert!(meter.take().is_empty());
        // Accounts whose tunnels are gone are forgotten.
        drop((a, a2));
        assert!(meter.take().is_empty());
        assert!(meter.lock().counters.is_empty());
    }

    #[test]
    fn totals_count_what_was_taken_once_and_never_go_down() {
        let meter = UsageMeter::default();
        let a = meter.counters("acc_a");
        a.request();
        a.bytes(100, 7);
        assert_eq!(meter.totals(), [1, 100, 7, 0]);
        let taken = meter.take();
        assert_eq!(
            meter.totals(),
            [1, 100, 7, 0],
            "taken counts stay in the totals"
        );
        a.connection();
        assert_eq!(meter.totals(), [1, 100, 7, 1]);
        // A heartbeat that could not carry its counts gives them back: not counted twice.
        for (account, counts) in taken {
            meter.give_back(&account, counts);
        }
        assert_eq!(meter.totals(), [1, 100, 7, 1]);
        meter.take();
        drop(a);
        meter.take();
        assert_eq!(
            meter.totals(),
            [1, 100, 7, 1],
            "forgotten accounts stay counted"
        );
    }
}
