//! Dunning cases (one open per account) and the email outbox their reminders go to.

use super::{Store, StoreError, from_millis, is_unique_violation, on_pool, parse_id, to_millis};
use fdt_api::AccountId;
use time::OffsetDateTime;

/// A dunning case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DunningRecord {
    /// Number.
    pub seq: i64,
    /// The account.
    pub account: AccountId,
    /// Provider.
    pub provider: String,
    /// The subscription past due.
    pub subscription_id: String,
    /// Opened.
    pub started_at: OffsetDateTime,
    /// When the account is downgraded unless a payment goes through.
    pub grace_ends_at: OffsetDateTime,
    /// The next reminder, if any is left.
    pub next_reminder_at: Option<OffsetDateTime>,
    /// Reminders written so far.
    pub reminders_sent: i64,
    /// `open`, `recovered`, `canceled` or `downgraded`.
    pub state: String,
    /// Closed.
    pub closed_at: Option<OffsetDateTime>,
}

type Row = (
    i64,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    i64,
    String,
    Option<i64>,
);

const COLUMNS: &str = "seq, account_id, provider, subscription_id, started_at, grace_ends_at, \
     next_reminder_at, reminders_sent, state, closed_at";

fn record(r: Row) -> Result<DunningRecord, StoreError> {
    Ok(DunningRecord {
        seq: r.0,
        account: parse_id(&r.1)?,
        provider: r.2,
        subscription_id: r.3,
        started_at: from_millis(r.4)?,
        grace_ends_at: from_millis(r.5)?,
        next_reminder_at: r.6.map(from_millis).transpose()?,
        reminders_sent: r.7,
        state: r.8,
        closed_at: r.9.map(from_millis).transpose()?,
    })
}

/// An email waiting in (or sent from) the outbox.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxRecord {
    /// Number.
    pub seq: i64,
    /// The account it is about.
    pub account_id: Option<String>,
    /// Recipient.
    pub recipient: String,
    /// `invitation`, `dunning_reminder`, `payment_recovered`, `downgraded`.
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Text body.
    pub body: String,
    /// Written (ms).
    pub created_at: i64,
    /// Sent (ms).
    pub sent_at: Option<i64>,
    /// Sending attempts so far.
    pub attempts: i64,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// Given up (ms): refused for good, or out of attempts.
    pub failed_at: Option<i64>,
}

/// An email to write.
#[derive(Debug, Clone)]
pub struct NewEmail<'a> {
    /// The account it is about.
    pub account: &'a AccountId,
    /// `dunning_reminder`, …
    pub kind: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Text body.
    pub body: &'a str,
}

impl Store {
    /// Opens a case for `account` unless one is open; returns it when it opened.
    pub async fn open_dunning(
        &self,
        account: &AccountId,
        provider: &str,
        subscription_id: &str,
        now: OffsetDateTime,
        grace_ends_at: OffsetDateTime,
    ) -> Result<Option<i64>, StoreError> {
        let r: Result<(i64,), sqlx::Error> = on_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO dunning (account_id, provider, subscription_id, started_at, \
                 grace_ends_at, next_reminder_at, state) VALUES ($1, $2, $3, $4, $5, $4, 'open') \
                 RETURNING seq",
            )
            .bind(account.as_str())
            .bind(provider)
            .bind(subscription_id)
            .bind(to_millis(now))
            .bind(to_millis(grace_ends_at))
            .fetch_one(pool)
            .await
        });
        match r {
            Ok((seq,)) => Ok(Some(seq)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Closes `account`'s open case as `state`; returns whether one was open.
    pub async fn close_dunning(
        &self,
        account: &AccountId,
        state: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE dunning SET state = $1, closed_at = $2, next_reminder_at = NULL \
                 WHERE account_id = $3 AND state = 'open'",
            )
            .bind(state)
            .bind(to_millis(now))
            .bind(account.as_str())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Open cases with a reminder due or a grace period over at `now`, at most `limit`.
    pub async fn due_dunning(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<DunningRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM dunning WHERE state = 'open' AND \
             (next_reminder_at <= $1 OR grace_ends_at <= $1) ORDER BY seq LIMIT $2"
        );
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(to_millis(now)).bind(limit).fetch_all(pool).await?
        });
        rows.into_iter().map(record).collect()
    }

    /// Records reminder number `sent` of case `seq` and when the next one is due, if it is
    /// still `expected` (two sweeps cannot both send the same reminder).
    pub async fn advance_dunning(
        &self,
        seq: i64,
        expected: i64,
        next: Option<OffsetDateTime>,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE dunning SET reminders_sent = reminders_sent + 1, next_reminder_at = $1 \
                 WHERE seq = $2 AND reminders_sent = $3 AND state = 'open'",
            )
            .bind(next.map(to_millis))
            .bind(seq)
            .bind(expected)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Cases, newest first: `account`'s, or every account's open ones (operators).
    pub async fn dunning_cases(
        &self,
        account: Option<&AccountId>,
        limit: i64,
    ) -> Result<Vec<DunningRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM dunning WHERE ($1 IS NULL AND state = 'open') \
             OR account_id = $1 ORDER BY seq DESC LIMIT $2"
        );
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(account.map(AccountId::as_str))
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(record).collect()
    }

    /// Marks the account's entitling subscriptions at `provider` canceled here (the grace
    /// period ended); their event time stays, so the provider's next event still applies.
    pub async fn cancel_subscriptions_locally(
        &self,
        account: &AccountId,
        provider: &str,
        subscription_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE subscriptions SET status = 'canceled', updated_at = $1 \
                 WHERE account_id = $2 AND provider = $3 AND subscription_id = $4",
            )
            .bind(to_millis(now))
            .bind(account.as_str())
            .bind(provider)
            .bind(subscription_id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Writes an email to the outbox, addressed to the account's email.
    pub async fn queue_email(
        &self,
        e: &NewEmail<'_>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO email_outbox (account_id, recipient, kind, subject, body, created_at) \
                 SELECT id, email, $2, $3, $4, $5 FROM accounts WHERE id = $1",
            )
            .bind(e.account.as_str())
            .bind(e.kind)
            .bind(e.subject)
            .bind(e.body)
            .bind(to_millis(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The outbox's billing emails, newest first. Invitations are left out: their bodies carry
    /// the invitation's secret token.
    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id AS seq, account_id, recipient, kind, subject, body, created_at, sent_at, \
                 attempts, last_error, failed_at \
                 FROM email_outbox WHERE kind <> 'invitation' ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }
}
