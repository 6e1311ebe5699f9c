//! Time as a dependency: handlers, token checks and the login limiter ask a [`Clock`], so tests
//! can move time forward instead of sleeping.

use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current time (UTC).
    fn now(&self) -> OffsetDateTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// A clock stopped at the current wall-clock time, truncated to whole milliseconds (the
    /// precision the database keeps), so stored and in-memory times compare equal.
    pub fn starting_now() -> Self {
        let now = OffsetDateTime::now_utc();
        let truncated = now - Duration::nanoseconds(i64::from(now.nanosecond() % 1_000_000));
        Self::new(truncated)
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::starting_now();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.advance(Duration::seconds(5));
        assert_eq!(c.now() - t0, Duration::seconds(5));
        assert_eq!(t0.nanosecond() % 1_000_000, 0);
    }
}
