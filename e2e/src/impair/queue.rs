//! Datagrams waiting for their arrival time, bounded in count and in bytes.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Instant;

/// Most a [`DelayQueue`] may hold. Both bounds apply: a count alone lets large datagrams use
/// unbounded memory, and bytes alone let tiny ones pile up in bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most items queued.
    pub packets: usize,
    /// Most payload bytes queued.
    pub bytes: usize,
}

impl Default for QueueLimits {
    /// 8192 packets and 8 MiB: 25 ms of delay at up to ~2.6 Gbit/s, far above what the relay
    /// and agent reach on a loaded two-core machine.
    fn default() -> Self {
        Self {
            packets: 8192,
            bytes: 8 * 1024 * 1024,
        }
    }
}

/// Items ordered by the instant they are due; items due at the same instant leave in the order
/// they came, so a queue fed in time order never reorders.
#[derive(Debug)]
pub struct DelayQueue<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    limits: QueueLimits,
    bytes: usize,
    next_seq: u64,
}

#[derive(Debug)]
struct Entry<T> {
    due: Instant,
    seq: u64,
    len: usize,
    item: T,
}

impl<T> Entry<T> {
    fn key(&self) -> (Instant, u64) {
        (self.due, self.seq)
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl<T> DelayQueue<T> {
    /// An empty queue bounded by `limits`.
    pub fn new(limits: QueueLimits) -> Self {
        Self {
            heap: BinaryHeap::new(),
            limits,
            bytes: 0,
            next_seq: 0,
        }
    }

    /// Whether an item of `len` bytes would fit now.
    pub fn has_room(&self, len: usize) -> bool {
        self.heap.len() < self.limits.packets
            && self
                .bytes
                .checked_add(len)
                .is_some_and(|b| b <= self.limits.bytes)
    }

    /// Queues `item` (`len` bytes) until `due`, or hands it back when it does not fit.
    pub fn push(&mut self, due: Instant, item: T, len: usize) -> Result<(), T> {
        if !self.has_room(len) {
            return Err(item);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += len;
        self.heap.push(Reverse(Entry {
            due,
            seq,
            len,
            item,
        }));
        Ok(())
    }

    /// When the earliest item is due, if any is queued.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.due)
    }

    /// Removes and returns the earliest item if it is due at `now`, with its length.
    pub fn pop_due(&mut self, now: Instant) -> Option<(T, usize)> {
        if self.next_due()? > now {
            return None;
        }
        let Reverse(e) = self.heap.pop()?;
        self.bytes -= e.len;
        Some((e.item, e.len))
    }

    /// Items queued.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Payload bytes queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests;
