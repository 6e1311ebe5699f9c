//! One byte budget shared by all the queues of a proxy.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes held by all delay queues of one UDP proxy together. Each queue has its own limits, but
/// with many flows their sum could still be large; this caps the total whatever the flow count.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    held: AtomicUsize,
    cap: usize,
}

impl ByteBudget {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            held: AtomicUsize::new(0),
            cap,
        }
    }

    /// Takes `len` bytes from the budget, or nothing (and `false`) if they would exceed the cap.
    pub(crate) fn try_take(&self, len: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(len).filter(|&total| total <= self.cap)
            })
            .is_ok()
    }

    /// Returns `len` bytes taken earlier.
    pub(crate) fn give_back(&self, len: usize) {
        // Callers only return what they took; saturating all the same, because a wrapped count
        // would read as "all held" and silently stall every queue of the proxy.
        let _ = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                Some(held.saturating_sub(len))
            });
    }
}
