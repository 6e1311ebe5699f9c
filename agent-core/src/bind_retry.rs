//! Re-sending binds the relay could not complete yet (its control plane unreachable, an
//! internal failure) on the same session, each tunnel on its own jittered backoff.
//!
//! Pure bookkeeping with an explicit clock: the session loop asks [`BindRetries::next_due`]
//! when to wake up and [`BindRetries::take_due`] which tunnels to bind again.

use fdt_proto::Backoff;
use fdt_proto::ErrorCode;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// First delay before re-sending a bind; doubles per failure of the same tunnel.
const FIRST_DELAY: Duration = Duration::from_secs(1);
/// Longest delay between two binds of one tunnel.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// Pending bind retries of one session, by tunnel name.
#[derive(Debug, Default)]
pub struct BindRetries {
    /// Per tunnel: its backoff and, while a retry is scheduled, when it is due.
    tunnels: HashMap<String, (Backoff, Option<Instant>)>,
}

impl BindRetries {
    /// Whether a bind refused with `code` is worth sending again on the same session: the
    /// relay could not decide (a dependency down, an internal error), rather than said no.
    pub fn is_retryable(code: ErrorCode) -> bool {
        matches!(code, ErrorCode::Unavailable | ErrorCode::Internal)
    }

    /// Schedules another bind of `name`; `unit` is a random number in `[0, 1)` for the jitter.
    /// Returns the delay chosen.
    pub fn schedule(&mut self, name: &str, now: Instant, unit: f64) -> Duration {
        let (backoff, due) = self
            .tunnels
            .entry(name.to_string())
            .or_insert_with(|| (Backoff::new(FIRST_DELAY, MAX_DELAY), None));
        let delay = backoff.next_delay(unit);
        *due = Some(now + delay);
        delay
    }

    /// Forgets `name`'s failures (it is bound now); true if it had any.
    pub fn succeeded(&mut self, name: &str) -> bool {
        self.tunnels.remove(name).is_some()
    }

    /// When the earliest scheduled retry is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.tunnels.values().filter_map(|(_, due)| *due).min()
    }

    /// The tunnels whose retry is due at `now`, unscheduled (their backoff is kept).
    pub fn take_due(&mut self, now: Instant) -> Vec<String> {
        let mut names: Vec<String> = self
            .tunnels
            .iter_mut()
            .filter(|(_, (_, due))| due.is_some_and(|d| d <= now))
            .map(|(name, (_, due))| {
                *due = None;
                name.clone()
            })
            .collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_undecided_refusals_are_retried() {
        let retried: Vec<ErrorCode> = ErrorCode::ALL
            .into_iter()
            .filter(|c| BindRetries::is_retryable(*c))
            .collect();
        assert_eq!(retried, [ErrorCode::Internal, ErrorCode::Unavailable]);
    }

    #[test]
    fn delays_double_from_one_second_to_thirty_per_tunnel() {
        let t0 = Instant::now();
        let mut r = BindRetries::default();
        assert_eq!(r.next_due(), None);
        assert_eq!(r.schedule("web", t0, 0.999_999).as_millis(), 999);
        assert_eq!(r.schedule("web", t0, 0.0), Duration::from_secs(1));
        assert_eq!(r.schedule("web", t0, 0.0), Duration::from_secs(2));
        for _ in 0..10 {
            r.schedule("web", t0, 0.999);
        }
        assert!(r.schedule("web", t0, 0.999) < MAX_DELAY);
        assert_eq!(r.schedule("web", t0, 0.0), MAX_DELAY / 2);
        // Another tunnel has its own backoff.
        assert_eq!(r.schedule("api", t0, 0.0), Duration::from_millis(500));
        assert_eq!(r.next_due(), Some(t0 + Duration::from_millis(500)));
    }

    #[test]
    fn due_retries_are_taken_once_and_success_resets() {
        let t0 = Instant::now();
        let mut r = BindRetries::default();
        r.schedule("a", t0, 0.0);
        r.schedule("b", t0, 0.0);
        r.schedule("b", t0, 0.0);
        assert!(r.take_due(t0).is_empty());
        assert_eq!(r.take_due(t0 + Duration::from_millis(500)), ["a"]);
        assert_eq!(
            r.take_due(t0 + Duration::from_millis(500)),
            Vec::<String>::new()
        );
        assert_eq!(r.next_due(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(r.take_due(t0 + Duration::from_secs(5)), ["b"]);
        assert_eq!(r.next_due(), None);
        assert!(r.succeeded("b"));
        assert!(!r.succeeded("b"));
        assert_eq!(r.schedule("b", t0, 0.0), Duration::from_millis(500));
    }
}
