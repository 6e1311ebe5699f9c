//! Queues of reports for the control plane (ended tunnels, replay results, traffic records),
//! bounded in count *and* in bytes, and taken out in batches that fit a byte budget.
//!
//! Every item is measured once, as the JSON it will be sent as, when it is queued. A batch is
//! then built to fit the cloud's body limit by construction: the sum of its items' lengths plus
//! the commas between them never exceeds the budget it is taken with. A queue bounded only in
//! count let one agent (or visitor) park gigabytes in the relay and build bodies the cloud
//! refuses with 413 forever.

use serde::Serialize;
use std::collections::VecDeque;

/// A FIFO of serializable items, bounded by `max_items` and `max_bytes` (of JSON). When full,
/// the oldest items are dropped and counted.
#[derive(Debug)]
pub struct ReportQueue<T> {
    items: VecDeque<(T, usize)>,
    bytes: usize,
    max_items: usize,
    max_bytes: usize,
    dropped: u64,
}

/// The length of `item` as compact JSON (what reqwest's `.json()` sends).
pub fn json_len<T: Serialize>(item: &T) -> usize {
    // Serializing these types cannot fail (no maps with non-string keys); a failure counts as
    // too large so the item is refused rather than sent broken.
    serde_json::to_vec(item).map_or(usize::MAX, |v| v.len())
}

impl<T: Serialize> ReportQueue<T> {
    /// An empty queue.
    pub fn new(max_items: usize, max_bytes: usize) -> Self {
        Self {
            items: VecDeque::new(),
            bytes: 0,
            max_items,
            max_bytes,
            dropped: 0,
        }
    }

    /// Queues `item`, dropping the oldest items while the queue is over its bounds. An item
    /// larger than the whole byte bound is dropped itself. Returns whether it was queued.
    pub fn push(&mut self, item: T) -> bool {
        let len = json_len(&item);
        self.push_measured(item, len)
    }

    /// [`ReportQueue::push`] for an item whose [`json_len`] the caller already knows (saves
    /// serializing it a second time).
    pub fn push_measured(&mut self, item: T, len: usize) -> bool {
        if len > self.max_bytes {
            self.dropped += 1;
            return false;
        }
        while self.items.len() >= self.max_items || self.bytes + len > self.max_bytes {
            let Some((_, old)) = self.items.pop_front() else {
                break;
            };
            self.bytes -= old;
            self.dropped += 1;
        }
        self.bytes += len;
        self.items.push_back((item, len));
        true
    }

    /// Takes, oldest first, at most `max_items` items whose JSON array elements fit in
    /// `budget` bytes (each item's length plus one comma). The first item that does not fit
    /// ends the batch, so order is kept. Returns the items and the bytes they use.
    pub fn take(&mut self, budget: usize, max_items: usize) -> (Vec<T>, usize) {
        let mut used = 0usize;
        let mut out = Vec::new();
        while out.len() < max_items {
            let Some((_, len)) = self.items.front() else {
                break;
            };
            let cost = len + usize::from(!out.is_empty());
            if used + cost > budget {
                break;
            }
            used += cost;
            if let Some((item, len)) = self.items.pop_front() {
                self.bytes -= len;
                out.push(item);
            }
        }
        (out, used)
    }

    /// Puts items taken earlier back at the front, in their order. What no longer fits the
    /// bounds is dropped (and counted), oldest first.
    pub fn put_back(&mut self, items: Vec<T>) {
        for item in items.into_iter().rev() {
            let len = json_len(&item);
            if self.items.len() >= self.max_items || self.bytes + len > self.max_bytes {
                self.dropped += 1;
                continue;
            }
            self.bytes += len;
            self.items.push_front((item, len));
        }
    }

    /// Items queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Bytes (of JSON) queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Items dropped because the queue was full, since it was made.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_bytes_not_only_in_count() {
        // Each item is `"xxxxxxxx"`: 10 bytes of JSON.
        let mut q = ReportQueue::new(1000, 35);
        for _ in 0..10 {
            assert!(q.push("x".repeat(8)));
        }
        assert_eq!(q.len(), 3);
        assert_eq!(q.bytes(), 30);
        assert_eq!(q.dropped(), 7);
        // Larger than the whole queue: refused.
        assert!(!q.push("y".repeat(100)));
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn batches_fit_their_budget_exactly_as_json() {
        let mut q = ReportQueue::new(1000, 1 << 20);
        for n in 0..50 {
            q.push(format!("item-{n}-{}", "\u{1}".repeat(n)));
        }
        let budget = 400;
        let (batch, used) = q.take(budget, 1000);
        assert!(!batch.is_empty());
        let array = serde_json::to_vec(&batch).unwrap_or_default();
        // `[` and `]` are the caller's: the elements and commas are what `used` counts.
        assert_eq!(array.len(), used + 2);
        assert!(used <= budget);
        // Order is kept, and what comes back goes to the front.
        let first = batch[0].clone();
        q.put_back(batch);
        let (again, _) = q.take(budget, 1);
        assert_eq!(again, [first]);
    }

    #[test]
    fn put_back_never_grows_past_the_bounds() {
        let mut q = ReportQueue::new(2, 1 << 20);
        q.push(1u32);
        q.push(2u32);
        let (batch, _) = q.take(100, 1);
        q.push(3u32);
        q.put_back(batch);
        assert_eq!(q.len(), 2);
        assert_eq!(q.dropped(), 1);
    }
}
