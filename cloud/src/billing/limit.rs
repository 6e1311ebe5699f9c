//! How often one account may make the control plane call a payment provider (checkouts, plan
//! changes, cancelling, the portal): a fixed window per account. Each such request costs a
//! provider call (and a Stripe customer or a PayPal token on the way), so a script or a
//! stuck button must not be able to spend them without bound; a person never comes near it.
//!
//! Counted in the database, like the login limiter: replicas share the count.

use crate::auth::window::{Limited, Window, subject, take_one};
use crate::store::Store;
use fdt_api::AccountId;
use time::OffsetDateTime;

/// Provider calls one account may start per window.
pub const CALLS_PER_ACCOUNT: u32 = 30;
/// The window, in seconds.
pub const WINDOW_SECS: u64 = 600;

/// Counts provider-bound requests per account.
#[derive(Debug, Clone)]
pub struct ProviderCallLimiter {
    store: Store,
    window: Window,
}

impl ProviderCallLimiter {
    /// [`CALLS_PER_ACCOUNT`] calls per account per [`WINDOW_SECS`], counted in `store`.
    pub fn new(store: Store) -> Self {
        Self::with_limit(store, CALLS_PER_ACCOUNT, WINDOW_SECS)
    }

    /// `max` calls per account per `window_secs`.
    pub fn with_limit(store: Store, max: u32, window_secs: u64) -> Self {
        Self {
            store,
            window: Window::new("billing.provider_calls", window_secs, Some(max)),
        }
    }

    /// Counts a request of `account`, or refuses it when the account is at its limit.
    pub async fn attempt(&self, account: &AccountId, now: OffsetDateTime) -> Result<(), Limited> {
        take_one(
            &self.store,
            &self.window,
            &subject(&[account.as_str()]),
            now,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::window::RetryAfter;

    #[tokio::test]
    async fn each_account_has_its_own_window() {
        for db in crate::testing::TestDb::every().await {
            let l = ProviderCallLimiter::with_limit(db.store.clone(), 3, 60);
            let (a, b) = (
                crate::random::new_account_id(),
                crate::random::new_account_id(),
            );
            let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
            for _ in 0..3 {
                assert!(l.attempt(&a, t0).await.is_ok());
            }
            let wait = l.attempt(&a, t0 + time::Duration::seconds(10)).await;
            assert!(
                matches!(wait, Err(Limited::Wait(RetryAfter { secs: 50 }))),
                "{wait:?}"
            );
            assert!(
                l.attempt(&b, t0).await.is_ok(),
                "another account is not held up"
            );
            assert!(
                l.attempt(&a, t0 + time::Duration::seconds(60))
                    .await
                    .is_ok(),
                "a new window"
            );
            db.finish().await;
        }
    }
}
