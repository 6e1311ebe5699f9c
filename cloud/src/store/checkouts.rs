//! Checkouts started by accounts, and each account's customer at a provider.

use super::{Store, StoreError, on_pool, parse_id, to_millis};
use fdt_api::AccountId;
use time::OffsetDateTime;

/// A checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRecord {
    /// Our ID.
    pub id: String,
    /// The account that started it.
    pub account: AccountId,
    /// Provider.
    pub provider: String,
    /// The plan paid for.
    pub plan: String,
    /// The provider's reference.
    pub reference: String,
    /// `open` or `paid`.
    pub state: String,
    /// Started (ms).
    pub created_at: i64,
    /// An order (paying once) rather than a subscription.
    pub once: bool,
}

/// A checkout to store.
#[derive(Debug, Clone)]
pub struct NewCheckout<'a> {
    /// Our ID.
    pub id: &'a str,
    /// The account.
    pub account: &'a AccountId,
    /// Provider.
    pub provider: &'a str,
    /// The plan.
    pub plan: &'a str,
    /// The provider's reference.
    pub reference: &'a str,
    /// An order (paying once) rather than a subscription.
    pub once: bool,
}

type Row = (String, String, String, String, String, String, i64, bool);

/// What an order is looked up by.
#[derive(Debug, Clone, Copy)]
enum OrderKey {
    /// The provider's order ID.
    Reference,
    /// The payment (capture) that paid it.
    Payment,
}

const COLUMNS: &str = "id, account_id, provider, plan, reference, state, created_at, once";

fn record(r: Row) -> Result<CheckoutRecord, StoreError> {
    Ok(CheckoutRecord {
        id: r.0,
        account: parse_id(&r.1)?,
        provider: r.2,
        plan: r.3,
        reference: r.4,
        state: r.5,
        created_at: r.6,
        once: r.7,
    })
}

impl Store {
    /// Stores an open checkout.
    pub async fn insert_checkout(
        &self,
        c: &NewCheckout<'_>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO billing_checkouts (id, account_id, provider, plan, reference, state, \
                 created_at, once) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7)",
            )
            .bind(c.id)
            .bind(c.account.as_str())
            .bind(c.provider)
            .bind(c.plan)
            .bind(c.reference)
            .bind(to_millis(now))
            .bind(c.once)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// `account`'s checkout `id`; `None` when there is none or it is another account's.
    pub async fn checkout(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<CheckoutRecord>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM billing_checkouts WHERE id = $1 AND account_id = $2");
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .bind(account.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(record).transpose()
    }

    /// `account`'s checkout at `provider` with the provider's `reference`; `None` when there
    /// is none or it is another account's.
    pub async fn checkout_by_reference(
        &self,
        account: &AccountId,
        provider: &str,
        reference: &str,
    ) -> Result<Option<CheckoutRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM billing_checkouts \
             WHERE provider = $1 AND reference = $2 AND account_id = $3"
        );
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(provider)
                .bind(reference)
                .bind(account.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(record).transpose()
    }

    /// The order (a checkout paying once) at `provider` with the provider's `reference`,
    /// whoever's it is: the provider's signed word about the order is what names it.
    pub async fn order_by_reference(
        &self,
        provider: &str,
        reference: &str,
    ) -> Result<Option<CheckoutRecord>, StoreError> {
        self.order_where(provider, OrderKey::Reference, reference)
            .await
    }

    /// The order at `provider` that payment (or capture) `payment_id` paid, if one did.
    pub async fn order_by_payment(
        &self,
        provider: &str,
        payment_id: &str,
    ) -> Result<Option<CheckoutRecord>, StoreError> {
        self.order_where(provider, OrderKey::Payment, payment_id)
            .await
    }

    async fn order_where(
        &self,
        provider: &str,
        key: OrderKey,
        value: &str,
    ) -> Result<Option<CheckoutRecord>, StoreError> {
        // The column comes from the enum, never from input.
        let column = match key {
            OrderKey::Reference => "reference",
            OrderKey::Payment => "payment_id",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM billing_checkouts \
             WHERE provider = $1 AND {column} = $2 AND once = $3"
        );
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(provider)
                .bind(value)
                .bind(true)
                .fetch_optional(pool)
                .await?
        });
        row.map(record).transpose()
    }

    /// Checkout `id`, whoever's it is (the provider's return to an order names it).
    pub async fn checkout_by_id(&self, id: &str) -> Result<Option<CheckoutRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM billing_checkouts WHERE id = $1");
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(record).transpose()
    }

    /// Marks an open checkout paid by `payment_id`; returns whether it was open.
    pub async fn mark_checkout_paid(
        &self,
        id: &str,
        payment_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE billing_checkouts SET state = 'paid', paid_at = $1, payment_id = $2 \
                 WHERE id = $3 AND state = 'open'",
            )
            .bind(to_millis(now))
            .bind(payment_id)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// `account`'s customer ID at `provider`.
    pub async fn billing_customer(
        &self,
        account: &AccountId,
        provider: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT customer_id FROM billing_customers WHERE account_id = $1 AND provider = $2",
            )
            .bind(account.as_str())
            .bind(provider)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|r| r.0))
    }

    /// Records `account`'s customer at `provider`, unless one is recorded; returns the one
    /// that is recorded afterwards (two concurrent checkouts agree on one).
    pub async fn set_billing_customer(
        &self,
        account: &AccountId,
        provider: &str,
        customer_id: &str,
    ) -> Result<String, StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO billing_customers (account_id, provider, customer_id) \
                 VALUES ($1, $2, $3) ON CONFLICT (account_id, provider) DO NOTHING",
            )
            .bind(account.as_str())
            .bind(provider)
            .bind(customer_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        self.billing_customer(account, provider)
            .await?
            .ok_or_else(|| StoreError::Corrupt("billing customer vanished".into()))
    }
}
