//! The per-packet decisions: lost or not, and when it arrives. Seeded and free of I/O, so the
//! same seed and the same arrivals give the same decisions.

use super::spec::Impairment;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// How long a TCP sender waits before retransmitting a lost segment (Linux's minimum RTO):
/// what one loss costs a TCP application, which sees a stall, never a gap.
pub const TCP_RTO: Duration = Duration::from_millis(200);

/// Segment size assumed when turning a per-packet loss rate into one for a stream chunk.
pub const TCP_MSS: usize = 1448;

/// What happens to one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Lost on the path.
    Drop,
    /// Arrives at this instant.
    Deliver(Instant),
    /// Arrives twice, at these instants (duplicated on the path).
    Twice(Instant, Instant),
}

/// The loss and timing decisions for one direction of one flow.
#[derive(Debug)]
pub struct Decider {
    delay: Duration,
    jitter: Duration,
    loss: f64,
    duplicate: f64,
    rate_bytes_per_sec: Option<u64>,
    rng: StdRng,
    /// When the simulated link has finished sending what it accepted so far (rate limit).
    link_free: Option<Instant>,
    /// Latest arrival handed out, so that ordered traffic never overtakes itself.
    last_due: Option<Instant>,
}

impl Decider {
    /// A decider for `imp`. `stream` tells apart the directions and flows sharing one seed, so
    /// each gets its own sequence yet the whole run replays from the seed.
    pub fn new(imp: &Impairment, stream: u64) -> Self {
        // StdRng expands the u64 through a PCG step, so neighbouring seeds give unrelated streams.
        let seed = imp.seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Self {
            delay: imp.delay,
            jitter: imp.jitter,
            loss: imp.loss.clamp(0.0, 1.0),
            duplicate: imp.duplicate.clamp(0.0, 1.0),
            rate_bytes_per_sec: imp.rate_bytes_per_sec.filter(|&r| r > 0),
            rng: StdRng::seed_from_u64(seed),
            link_free: None,
            last_due: None,
        }
    }

    /// Decides the fate of a `len`-byte datagram that arrived at `now`.
    ///
    /// Without jitter, arrivals are never earlier than those decided before (no reordering);
    /// with jitter they may be, as with netem. A duplicate is a second copy sent on the link
    /// (it takes the rate limit's time too) with its own jitter.
    pub fn datagram(&mut self, now: Instant, len: usize) -> Verdict {
        if self.lost(self.loss) {
            return Verdict::Drop;
        }
        let in_order = self.jitter.is_zero();
        let at = self.schedule(now, len, Duration::ZERO, in_order);
        // Drawn only when duplication is asked for, so other specs keep their sequences.
        if self.lost(self.duplicate) {
            let again = self.schedule(now, len, Duration::ZERO, in_order);
            return Verdict::Twice(at, again);
        }
        Verdict::Deliver(at)
    }

    /// Decides when a `len`-byte chunk of a TCP stream that arrived at `now` reaches the other
    /// end, and whether it was hit by a loss.
    ///
    /// Nothing is dropped, since TCP would retransmit: a chunk hit by loss arrives one
    /// [`TCP_RTO`] late. Each [`TCP_MSS`]-sized segment of the chunk is lost with the
    /// per-packet probability, so the modelled loss does not depend on how the proxy happened
    /// to cut the stream into reads. Chunks always arrive in order, jitter or not, because a
    /// byte stream cannot be reordered: a stalled chunk holds back those behind it.
    pub fn chunk(&mut self, now: Instant, len: usize) -> (Instant, bool) {
        let segments = i32::try_from(len.div_ceil(TCP_MSS).max(1)).unwrap_or(i32::MAX);
        let p = 1.0 - (1.0 - self.loss).powi(segments);
        let lost = self.lost(p);
        let penalty = if lost { TCP_RTO } else { Duration::ZERO };
        (self.schedule(now, len, penalty, true), lost)
    }

    /// Draws a loss with probability `p`; certain outcomes draw nothing, so `loss=0` and
    /// `loss=100%` do not depend on the seed at all.
    fn lost(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.rng.random::<f64>() < p
        }
    }

    fn schedule(&mut self, now: Instant, len: usize, extra: Duration, in_order: bool) -> Instant {
        let sent = match self.rate_bytes_per_sec {
            Some(rate) => {
                // The link sends one thing at a time: this one starts when it is free.
                let start = self.link_free.map_or(now, |free| free.max(now));
                let nanos = (len as u128 * 1_000_000_000) / u128::from(rate);
                let end = later(
                    start,
                    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)),
                );
                self.link_free = Some(end);
                end
            }
            None => now,
        };
        // Saturating: the fields come from a spec (at most a minute) but are public.
        let mut delay = self.delay.saturating_add(extra);
        if !self.jitter.is_zero() {
            // Spec durations are at most a minute, so nanoseconds fit an i64 with room to spare.
            let j = i64::try_from(self.jitter.as_nanos()).unwrap_or(i64::MAX);
            let d = i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX);
            let jittered = d.saturating_add(self.rng.random_range(-j..=j)).max(0);
            delay = Duration::from_nanos(jittered.unsigned_abs());
        }
        let mut due = later(sent, delay);
        if in_order && let Some(last) = self.last_due {
            due = due.max(last);
        }
        self.last_due = Some(self.last_due.map_or(due, |last| last.max(due)));
        due
    }
}

/// `t + d`, or `t` itself in the (unreachable with spec limits) case of overflow, rather than a
/// panic on a value derived from network input.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or(t)
}

#[cfg(test)]
mod tests;
