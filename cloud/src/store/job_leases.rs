//! Leases on background job rounds, so that several `fdt-cloud serve` replicas on one
//! PostgreSQL database run each round once: a transaction-scoped advisory lock, held for the
//! round by an open transaction and released when the transaction ends ([`JobLease::release`];
//! a lease merely dropped, say by a panic, ends when sqlx next uses the connection, or with the
//! connection). Holding the lock keeps two rounds of one job from overlapping; the lease is
//! also refused when another replica started a round less than the job's interval ago (by the
//! database's clock, recorded in `job_rounds` under the lock), so replicas whose timers are out
//! of step do not each run a round per interval. SQLite belongs to one process: every round
//! gets a lease.

use super::{Store, StoreError};

/// The background jobs that take a lease, each with its advisory-lock key (fixed: replicas of
/// different versions must agree on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Traffic-log retention.
    Retention,
    /// Audit log checkpoints.
    AuditCheckpoint,
    /// Domain checks, certificate orders and renewals.
    Domains,
    /// Dunning and one-time payment expiry.
    Dunning,
    /// The outbox.
    Mailer,
}

impl Job {
    /// The job's name, as the metrics label it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Retention => "retention",
            Self::AuditCheckpoint => "audit_checkpoint",
            Self::Domains => "domains",
            Self::Dunning => "dunning",
            Self::Mailer => "mailer",
        }
    }

    /// Its advisory-lock key: "fdtj" in the high bytes (apart from other users of advisory
    /// locks on the same server), the job's number in the low ones.
    fn key(self) -> i64 {
        const BASE: i64 = 0x6664_746a_0000_0000;
        BASE + match self {
            Self::Retention => 1,
            Self::AuditCheckpoint => 2,
            Self::Domains => 3,
            Self::Dunning => 4,
            Self::Mailer => 5,
        }
    }
}

/// This replica's right to run one round of a job; [`JobLease::release`] lets another replica
/// take it.
#[must_use = "the round runs while the lease is held"]
pub struct JobLease {
    tx: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

impl JobLease {
    /// Ends the lease now (the transaction holding the lock commits; it wrote nothing).
    pub async fn release(self) -> Result<(), StoreError> {
        if let Some(tx) = self.tx {
            tx.commit().await?;
        }
        Ok(())
    }
}

impl Store {
    /// The lease on `job` for one round, or `None` while another replica holds it or started
    /// a round less than `every` ago.
    pub async fn try_job_lease(
        &self,
        job: Job,
        every: std::time::Duration,
    ) -> Result<Option<JobLease>, StoreError> {
        const NOW: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint";
        const ROUND: &str = "INSERT INTO job_rounds (job, started_at) VALUES ($1, $2) \
                             ON CONFLICT (job) DO UPDATE SET started_at = excluded.started_at \
                             WHERE job_rounds.started_at <= $3 \
                             RETURNING job";
        match self {
            Store::Sqlite(_) => Ok(Some(JobLease { tx: None })),
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let (held,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(job.key())
                    .fetch_one(&mut *tx)
                    .await?;
                if !held {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let (now,): (i64,) = sqlx::query_as(NOW).fetch_one(&mut *tx).await?;
                let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
                let due = sqlx::query(ROUND)
                    .bind(job.name())
                    .bind(now)
                    .bind(now.saturating_sub(every))
                    .fetch_optional(&mut *tx)
                    .await?;
                if due.is_none() {
                    tx.rollback().await?;
                    return Ok(None);
                }
                Ok(Some(JobLease { tx: Some(tx) }))
            }
        }
    }
}
