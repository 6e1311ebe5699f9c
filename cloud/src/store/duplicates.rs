//! Subscriptions' charges: an account with two live renewing subscriptions (two checkouts
//! paid before either was live) keeps the one live first; the others are marked duplicates
//! (once each, so one caller cancels each), and their charges' refunds are claimed once. A
//! charge booked before its subscription was known is given the subscription's account when
//! it is.

use super::{Store, StoreError, on_pool, to_millis};
use fdt_api::AccountId;
use time::OffsetDateTime;

/// A subscription this call marked as a duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedDuplicate {
    /// Its provider.
    pub provider: String,
    /// Its ID at the provider.
    pub subscription_id: String,
    /// The subscription kept instead (`provider/id`).
    pub keeper: String,
}

/// A charge of a duplicate subscription, as the ledger has it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DuplicateCharge {
    /// The provider's charge reference.
    pub reference: String,
    /// Currency.
    pub currency: String,
    /// Charged (minor units).
    pub amount: i64,
    /// Refunded so far.
    pub refunded: i64,
}

impl Store {
    /// Marks every live renewing subscription of `account` but the one live first (the oldest
    /// `live_since`, then provider and ID: every caller picks the same) as its duplicate.
    /// Returns the ones this call marked: concurrent callers each mark a different set, so
    /// each duplicate is handled once.
    pub async fn mark_duplicates(
        &self,
        account: &AccountId,
    ) -> Result<Vec<MarkedDuplicate>, StoreError> {
        let live: Vec<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT provider, subscription_id FROM subscriptions WHERE account_id = $1 \
                 AND renews = $2 AND status IN ('trialing', 'active', 'past_due') \
                 AND duplicate_of IS NULL \
                 ORDER BY COALESCE(live_since, 0), provider, subscription_id",
            )
                .bind(account.as_str())
                .bind(true)
                .fetch_all(pool)
                .await?
        });
        let Some(((kp, kid), rest)) = live.split_first() else {
            return Ok(Vec::new());
        };
        let keeper = format!("{kp}/{kid}");
        let mut marked = Vec::new();
        for (provider, id) in rest {
            let n = on_pool!(self, pool => {
                sqlx::query(
                    "UPDATE subscriptions SET duplicate_of = $1 WHERE provider = $2 \
                     AND subscription_id = $3 AND duplicate_of IS NULL",
                )
                .bind(&keeper)
                .bind(provider)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
            });
            if n == 1 {
                marked.push(MarkedDuplicate {
                    provider: provider.clone(),
                    subscription_id: id.clone(),
                    keeper: keeper.clone(),
                });
            }
        }
        Ok(marked)
    }

    /// The subscription `provider`/`id` is a duplicate of, if it is one.
    pub async fn duplicate_of(
        &self,
        provider: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT duplicate_of FROM subscriptions WHERE provider = $1 \
                 AND subscription_id = $2",
            )
            .bind(provider)
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.and_then(|(d,)| d))
    }

    /// The charges the ledger has for subscription `provider`/`id`.
    pub async fn subscription_charges(
        &self,
        provider: &str,
        id: &str,
    ) -> Result<Vec<DuplicateCharge>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT ref AS reference, currency, amount, refunded FROM ledger_txns \
                 WHERE provider = $1 AND subscription_id = $2 AND kind = 'charge' ORDER BY seq",
            )
            .bind(provider)
            .bind(id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Gives subscription `provider`/`id`'s charges booked without an account (the charge
    /// arrived before the subscription was known) to `account`; the charges given, for their
    /// invoices. Once each: a charge with an account is never moved.
    pub async fn adopt_subscription_charges(
        &self,
        provider: &str,
        id: &str,
        account: &AccountId,
    ) -> Result<Vec<DuplicateCharge>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE ledger_txns SET account_id = $1 WHERE provider = $2 \
                 AND subscription_id = $3 AND kind = 'charge' AND account_id IS NULL \
                 RETURNING ref AS reference, currency, amount, refunded",
            )
            .bind(account.as_str())
            .bind(provider)
            .bind(id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Claims the refund of duplicate subscription `id`'s charge `charge`: `true` for the one
    /// caller that should make it.
    pub async fn claim_duplicate_refund(
        &self,
        provider: &str,
        charge: &str,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO duplicate_refunds (provider, charge_ref, subscription_id, claimed_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (provider, charge_ref) DO NOTHING",
            )
            .bind(provider)
            .bind(charge)
            .bind(id)
            .bind(to_millis(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Records how a claimed refund went: the provider's refund ID, or why it failed.
    pub async fn finish_duplicate_refund(
        &self,
        provider: &str,
        charge: &str,
        outcome: Result<&str, &str>,
    ) -> Result<(), StoreError> {
        let (refund, error) = match outcome {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        };
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE duplicate_refunds SET refund_id = $1, error = $2 \
                 WHERE provider = $3 AND charge_ref = $4",
            )
            .bind(refund)
            .bind(error)
            .bind(provider)
            .bind(charge)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
