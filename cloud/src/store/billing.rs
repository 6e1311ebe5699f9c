//! Billing state: providers' webhook events (stored before processing, once per provider and
//! event ID) and the subscriptions they describe (newest event wins, never moved to another
//! account).

use super::{Store, StoreError, is_unique_violation, on_pool, parse_id, to_millis};
use fdt_api::AccountId;
use time::OffsetDateTime;

/// A webhook event to store.
#[derive(Debug, Clone)]
pub struct NewBillingEvent<'a> {
    /// `stripe`, `razorpay` or `paypal`.
    pub provider: &'a str,
    /// The provider's event ID.
    pub event_id: &'a str,
    /// Its type (`customer.subscription.updated`, …).
    pub event_type: &'a str,
    /// When the provider created it (Unix seconds).
    pub created: i64,
    /// The raw body.
    pub body: &'a str,
}

/// A stored webhook event, for operators.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BillingEventRecord {
    /// Number.
    pub seq: i64,
    /// Provider.
    pub provider: String,
    /// The provider's event ID.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// The provider's creation time (Unix seconds).
    pub created: i64,
    /// Reception (ms).
    pub received_at: i64,
    /// `processed`, `ignored`, `failed`, `rejected`.
    pub state: String,
    /// What processing did.
    pub detail: String,
}

/// A subscription as an event describes it.
#[derive(Debug, Clone)]
pub struct SubscriptionState<'a> {
    /// Provider.
    pub provider: &'a str,
    /// The provider's subscription ID.
    pub subscription_id: &'a str,
    /// The account it was created for.
    pub account: &'a AccountId,
    /// Plan name.
    pub plan: &'a str,
    /// `trialing`, `active`, `past_due` or `canceled`.
    pub status: &'a str,
    /// End of the paid period (Unix seconds).
    pub period_end: Option<i64>,
    /// When the provider created the event (Unix seconds).
    pub event_at: i64,
}

/// What storing a subscription state did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionApplied {
    /// It is the subscription's state now.
    Applied,
    /// A newer event was applied before: nothing changed.
    Stale,
    /// The subscription belongs to another account: nothing changed.
    OtherAccount,
}

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionRecord {
    /// Provider.
    pub provider: String,
    /// The provider's ID.
    pub subscription_id: String,
    /// Plan name.
    pub plan: String,
    /// Status.
    pub status: String,
    /// End of the paid period (Unix seconds).
    pub period_end: Option<i64>,
    /// The provider's time of the event that set it (Unix seconds).
    pub event_at: i64,
    /// Renews at the provider (a subscription); a one-time purchase ends at `period_end`.
    pub renews: bool,
    /// The subscription kept instead of this one (`provider/id`), when this one duplicates
    /// it (see [`crate::billing::duplicates`]).
    pub duplicate_of: Option<String>,
}

/// A stored subscription with its account, for operators.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountSubscription {
    /// The account.
    pub account_id: String,
    /// Its email.
    pub email: String,
    /// The subscription.
    #[sqlx(flatten)]
    pub subscription: SubscriptionRecord,
    /// When an event last changed it (Unix milliseconds).
    pub updated_at: i64,
}

impl Store {
    /// Stores a received event; `None` when the provider already sent one with its ID. Events
    /// are kept (they are the finance record, and what deduplicates redeliveries); only signed
    /// deliveries reach here, each at most 256 KiB.
    pub async fn insert_billing_event(
        &self,
        e: &NewBillingEvent<'_>,
        now: OffsetDateTime,
    ) -> Result<Option<i64>, StoreError> {
        let inserted: Result<(i64,), sqlx::Error> = on_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO billing_events (provider, event_id, event_type, created, body, \
                 received_at, state) VALUES ($1, $2, $3, $4, $5, $6, 'received') RETURNING seq",
            )
            .bind(e.provider)
            .bind(e.event_id)
            .bind(e.event_type)
            .bind(e.created)
            .bind(e.body)
            .bind(to_millis(now))
            .fetch_one(pool)
            .await
        });
        match inserted {
            Ok((seq,)) => Ok(Some(seq)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Records what processing event `seq` did (`processed`, `ignored`, `failed`).
    pub async fn set_billing_event_state(
        &self,
        seq: i64,
        state: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE billing_events SET state = $1, detail = $2 WHERE seq = $3")
                .bind(state)
                .bind(detail)
                .bind(seq)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Events, newest first, at most `limit`.
    pub async fn billing_events(&self, limit: i64) -> Result<Vec<BillingEventRecord>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, provider, event_id, event_type, created, received_at, state, detail \
                 FROM billing_events ORDER BY seq DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Event `seq`'s provider, ID and raw body.
    pub async fn billing_event_body(
        &self,
        seq: i64,
    ) -> Result<Option<(String, String, String)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT provider, event_id, body FROM billing_events WHERE seq = $1")
                .bind(seq)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// The state of event (`provider`, `event_id`): `(seq, state, detail, received_at ms)`.
    pub async fn billing_event_state(
        &self,
        provider: &str,
        event_id: &str,
    ) -> Result<Option<(i64, String, String, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, state, detail, received_at FROM billing_events \
                 WHERE provider = $1 AND event_id = $2",
            )
            .bind(provider)
            .bind(event_id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Stores a subscription's state unless a newer event set it already, or it belongs to
    /// another account. One statement: concurrent events cannot interleave.
    pub async fn apply_subscription(
        &self,
        s: &SubscriptionState<'_>,
        now: OffsetDateTime,
    ) -> Result<SubscriptionApplied, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO subscriptions (provider, subscription_id, account_id, plan, status, \
                 period_end, event_at, updated_at, live_since) VALUES ($1, $2, $3, $4, $5, $6, \
                 $7, $8, CASE WHEN $5 IN ('trialing', 'active', 'past_due') THEN $8 END) \
                 ON CONFLICT (provider, subscription_id) DO UPDATE SET plan = excluded.plan, \
                 status = excluded.status, period_end = excluded.period_end, \
                 event_at = excluded.event_at, updated_at = excluded.updated_at, \
                 live_since = COALESCE(subscriptions.live_since, excluded.live_since) \
                 WHERE subscriptions.account_id = excluded.account_id \
                 AND subscriptions.event_at <= excluded.event_at",
            )
            .bind(s.provider)
            .bind(s.subscription_id)
            .bind(s.account.as_str())
            .bind(s.plan)
            .bind(s.status)
            .bind(s.period_end)
            .bind(s.event_at)
            .bind(to_millis(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if n == 1 {
            return Ok(SubscriptionApplied::Applied);
        }
        let owner: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT account_id FROM subscriptions WHERE provider = $1 AND subscription_id = $2")
                .bind(s.provider)
                .bind(s.subscription_id)
                .fetch_optional(pool)
                .await?
        });
        match owner {
            Some((a,)) if a != s.account.as_str() => Ok(SubscriptionApplied::OtherAccount),
            _ => Ok(SubscriptionApplied::Stale),
        }
    }

    /// The account's subscriptions, newest event first.
    pub async fn subscriptions(
        &self,
        account: &AccountId,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT provider, subscription_id, plan, status, period_end, event_at, renews, \
                 duplicate_of \
                 FROM subscriptions WHERE account_id = $1 ORDER BY event_at DESC, subscription_id",
            )
            .bind(account.as_str())
            .fetch_all(pool)
            .await?
        }))
    }

    /// Every account's subscriptions, the most recently changed first (`limit` at most),
    /// the canceled ones only when `canceled`.
    pub async fn all_subscriptions(
        &self,
        canceled: bool,
        limit: i64,
    ) -> Result<Vec<AccountSubscription>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT s.account_id, a.email, s.provider, s.subscription_id, s.plan, s.status, \
                 s.period_end, s.event_at, s.renews, s.duplicate_of, s.updated_at \
                 FROM subscriptions s JOIN accounts a ON a.id = s.account_id \
                 WHERE $1 OR s.status <> 'canceled' \
                 ORDER BY s.updated_at DESC, s.subscription_id LIMIT $2",
            )
            .bind(canceled)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Gives `account` `plan` until `period_end` (Unix seconds) for order `order_id` at
    /// `provider`: a row that does not renew. Once per order: `false` when it was given.
    pub async fn grant_pass(
        &self,
        provider: &str,
        order_id: &str,
        account: &AccountId,
        plan: &str,
        period_end: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO subscriptions (provider, subscription_id, account_id, plan, status, \
                 period_end, event_at, updated_at, renews) \
                 VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8) \
                 ON CONFLICT (provider, subscription_id) DO NOTHING",
            )
            .bind(provider)
            .bind(order_id)
            .bind(account.as_str())
            .bind(plan)
            .bind(period_end)
            .bind(now.unix_timestamp())
            .bind(to_millis(now))
            .bind(false)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Ends one-time purchases whose period is over at `now` (at most `limit`); the accounts
    /// they belonged to.
    pub async fn expire_passes(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<AccountId>, StoreError> {
        let rows: Vec<(String,)> = on_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE subscriptions SET status = 'canceled', updated_at = $1 \
                 WHERE (provider, subscription_id) IN (SELECT provider, subscription_id \
                 FROM subscriptions WHERE renews = $2 AND status <> 'canceled' \
                 AND period_end <= $3 LIMIT $4) RETURNING account_id",
            )
            .bind(to_millis(now))
            .bind(false)
            .bind(now.unix_timestamp())
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        let mut accounts: Vec<AccountId> = rows
            .iter()
            .map(|(a,)| parse_id(a))
            .collect::<Result<_, _>>()?;
        accounts.sort();
        accounts.dedup();
        Ok(accounts)
    }

    /// The account a stored subscription belongs to.
    pub async fn subscription_account(
        &self,
        provider: &str,
        subscription_id: &str,
    ) -> Result<Option<AccountId>, StoreError> {
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT account_id FROM subscriptions WHERE provider = $1 AND subscription_id = $2",
            )
            .bind(provider)
            .bind(subscription_id)
            .fetch_optional(pool)
            .await?
        });
        row.map(|(a,)| parse_id(&a)).transpose()
    }

    /// Whether account `id` exists.
    pub async fn account_exists(&self, id: &str) -> Result<Option<AccountId>, StoreError> {
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM accounts WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(id,)| parse_id(&id)).transpose()
    }
}
