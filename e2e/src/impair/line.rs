//! One direction of one UDP flow: decisions, queue and a wake-up for the task that sends.

use super::budget::ByteBudget;
use super::counters::{Counters, Direction};
use super::decide::{Decider, Verdict};
use super::partition::Partition;
use super::queue::{DelayQueue, QueueLimits};
use bytes::Bytes;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::sync::Notify;

/// Largest UDP payload: receive buffers are this big, so no datagram is truncated.
pub const MAX_DATAGRAM: usize = 65_535;

/// A direction of a flow, fed by the task that receives and drained by the task that sends.
///
/// The state sits behind a plain mutex, held only for a push or a pop and never across an
/// await. Datagrams are copied out of the receive buffer only once they are accepted, so a
/// dropped one costs no allocation.
#[derive(Debug)]
pub(crate) struct Line {
    state: Mutex<LineState>,
    queued: Notify,
    budget: Arc<ByteBudget>,
    counters: Arc<Counters>,
    direction: Direction,
    partition: Partition,
}

#[derive(Debug)]
struct LineState {
    decider: Decider,
    queue: DelayQueue<Bytes>,
}

impl Line {
    pub(crate) fn new(
        decider: Decider,
        limits: QueueLimits,
        budget: Arc<ByteBudget>,
        counters: Arc<Counters>,
        direction: Direction,
        partition: Partition,
    ) -> Self {
        Self {
            state: Mutex::new(LineState {
                decider,
                queue: DelayQueue::new(limits),
            }),
            queued: Notify::new(),
            budget,
            counters,
            direction,
            partition,
        }
    }

    fn lock(&self) -> MutexGuard<'_, LineState> {
        // Nothing panics while holding the lock; if something ever did, the queue is still
        // consistent (each push and pop is one step), so carry on with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a datagram that arrived at `now`: queues it for its arrival time at the far end, or
    /// drops and counts it (path cut, lost on the path, or no room in the queue).
    pub(crate) fn offer(&self, now: Instant, datagram: &[u8]) {
        let len = datagram.len();
        let counters = self.counters.direction(self.direction);
        if self.partition.is_cut() {
            counters.cut();
            return;
        }
        let mut state = self.lock();
        // Room first, as netem does: a datagram refused at the door never occupies the link,
        // so a full queue cannot push the rate limiter's clock into the future.
        if !state.queue.has_room(len) || !self.budget.try_take(len) {
            counters.queue_full();
            return;
        }
        match state.decider.datagram(now, len) {
            Verdict::Drop => {
                self.budget.give_back(len);
                counters.lost();
            }
            Verdict::Deliver(at) => {
                if state
                    .queue
                    .push(at, Bytes::copy_from_slice(datagram), len)
                    .is_err()
                {
                    // Unreachable after `has_room` under the lock; counted all the same.
                    self.budget.give_back(len);
                    counters.queue_full();
                    return;
                }
                drop(state);
                // The sender's timer may now be too late for this datagram.
                self.queued.notify_one();
            }
            Verdict::Twice(at, again) => {
                let copy = Bytes::copy_from_slice(datagram);
                if state.queue.push(at, copy.clone(), len).is_err() {
                    self.budget.give_back(len);
                    counters.queue_full();
                    return;
                }
                // The copy needs room of its own; without it only the original goes.
                if state.queue.has_room(len) && self.budget.try_take(len) {
                    if state.queue.push(again, copy, len).is_ok() {
                        counters.duplicated();
                    } else {
                        self.budget.give_back(len);
                    }
                }
                drop(state);
                self.queued.notify_one();
            }
        }
    }

    /// Removes the earliest datagram due at `now`, if any.
    pub(crate) fn pop_due(&self, now: Instant) -> Option<Bytes> {
        let (datagram, len) = self.lock().queue.pop_due(now)?;
        self.budget.give_back(len);
        Some(datagram)
    }

    /// When the earliest queued datagram is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.lock().queue.next_due()
    }

    /// Resolves after [`Line::offer`] queued a datagram (at once if one was queued since the
    /// last call, so no wake-up is lost between reading `next_due` and waiting).
    pub(crate) async fn queued(&self) {
        self.queued.notified().await;
    }

    /// Counts a datagram handed to the socket.
    pub(crate) fn sent(&self, len: usize) {
        self.counters.direction(self.direction).forwarded(len);
    }
}
