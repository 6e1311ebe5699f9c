//! How often one account may make the control plane call a payment provider (checkouts, plan
//! changes, cancelling, the portal): a fixed window per account. Each such request costs a
//! provider call (and a Stripe customer or a PayPal token on the way), so a script or a
//! stuck button must not be able to spend them without bound; a person never comes near it.
//!
//! Counted per process, like the login limiter: several replicas multiply the limit.

use crate::auth::window::{RetryAfter, Windows};
use fdt_api::AccountId;
use std::sync::Mutex;
use time::OffsetDateTime;

/// Provider calls one account may start per window.
pub const CALLS_PER_ACCOUNT: u32 = 30;
/// The window, in seconds.
pub const WINDOW_SECS: u64 = 600;

/// Counts provider-bound requests per account.
#[derive(Debug)]
pub struct ProviderCallLimiter {
    max: u32,
    windows: Mutex<Windows<AccountId>>,
}

impl Default for ProviderCallLimiter {
    fn default() -> Self {
        Self::new(CALLS_PER_ACCOUNT, WINDOW_SECS)
    }
}

impl ProviderCallLimiter {
    /// `max` calls per account per `window_secs`.
    pub fn new(max: u32, window_secs: u64) -> Self {
        Self {
            max,
            windows: Mutex::new(Windows::new(window_secs)),
        }
    }

    /// Counts a request of `account`, or refuses it when the account is at its limit.
    pub fn attempt(&self, account: &AccountId, now: OffsetDateTime) -> Result<(), RetryAfter> {
        // A panic while the lock was held leaves only counters behind: keep using them.
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(wait) = w.blocked(account, self.max, now) {
            return Err(wait);
        }
        w.count(account, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_has_its_own_window() {
        let l = ProviderCallLimiter::new(3, 60);
        let (a, b) = (
            crate::random::new_account_id(),
            crate::random::new_account_id(),
        );
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        for _ in 0..3 {
            assert!(l.attempt(&a, t0).is_ok());
        }
        let wait = l.attempt(&a, t0 + time::Duration::seconds(10));
        assert_eq!(wait, Err(RetryAfter { secs: 50 }));
        assert!(l.attempt(&b, t0).is_ok(), "another account is not held up");
        assert!(
            l.attempt(&a, t0 + time::Duration::seconds(60)).is_ok(),
            "a new window"
        );
    }
}
