//! Storage: one [`Store`] over SQLite (the embedded default) or PostgreSQL (production).
//!
//! Each area (accounts, sessions, authtokens) adds its methods to [`Store`] in its own module.
//! Queries are written once in the SQL both databases accept (`$1` placeholders, `RETURNING`,
//! integer millisecond timestamps) and run on whichever pool the store holds through the
//! crate-private `on_pool!` macro; where the dialects differ, the schema differs
//! (`migrations/sqlite` and `migrations/postgres`), not the code. Plain `query`/`query_as` are
//! used rather than the checked `query!` macros, so building needs no database.

mod accounts;
mod admin;
mod audit;
mod authtokens;
mod billing;
mod cert_events;
mod checkouts;
mod device;
mod domain_certs;
mod domain_incidents;
mod domains;
mod dunning;
mod duplicates;
mod fleet;
mod invoices;
mod job_leases;
mod ledger;
mod members;
mod orgs;
mod outbox;
mod plan_limits;
mod rate_windows;
mod reserved;
mod roles;
mod scim;
mod secret_ages;
mod sessions;
mod settlements;
mod sso;
mod traffic;
mod tunnel_configs;
mod tunnels;
mod usage;

pub use accounts::AccountRecord;
pub use audit::NewAudit;
pub use authtokens::{AuthtokenRecord, NewAuthtoken};
pub use billing::{NewBillingEvent, SubscriptionApplied, SubscriptionRecord, SubscriptionState};
pub use cert_events::{CertEventRecord, NewCertEvent, ReplicaRecord};
pub use checkouts::{CheckoutRecord, NewCheckout};
pub use device::{DevicePoll, NewDeviceCode};
pub use domain_certs::{CertificateRecord, MAX_CERT_FAILURES, NewCertificate};
pub use domain_incidents::{IncidentRecord, incident_kind};
pub use domains::{
    CheckRecorded, CheckResult, CreateDomainOutcome, DomainRecord, MAX_SERVED_DOMAINS, NewDomain,
    ServedDomain,
};
pub use dunning::{DunningRecord, NewEmail, OutboxRecord};
pub use duplicates::{DuplicateCharge, MarkedDuplicate};
pub use fleet::{HeartbeatOutcome, RelayRecord};
pub use invoices::{InvoiceRecord, Issued, NewInvoice, ProfileRecord};
pub use job_leases::{Job, JobLease};
pub use ledger::{LedgerLine, LedgerTxnRecord, NewLedgerTxn, Recorded};
pub use members::{Accepted, NewInvitation};
pub use orgs::{Membership, org_owner, own_org, parse_role, role_name};
pub use outbox::DueEmail;
pub use rate_windows::Take;
pub use reserved::{ReserveOutcome, ReservedRecord};
pub use roles::RoleDeleted;
pub use scim::{MAX_SCIM_RESOURCES, ScimRecord, ScimTokenRecord, ScimWrite, ScimWritten};
pub use sessions::{RefreshOutcome, RevokeReason};
pub use settlements::{BillingIncidentRecord, SettlementRecord};
pub use sso::{SsoConfigRow, SsoLogin};
pub use traffic::{DueReplay, MAX_REPLAY_ATTEMPTS, NewRequest, RequestFilter, StoredRequest};
pub use tunnel_configs::{ConfigWrite, NewTunnelConfig, TunnelConfigRecord};
pub use tunnels::{BindLimits, BindOutcome, NameKey, NewBinding, ReservationKey, name_key};
pub use usage::ReservationCounts;

use crate::config::DatabaseTarget;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

/// Runs `$body` with `$pool` bound to the store's pool, whichever database it is. The body is
/// compiled once per database, so the same query text is type-checked against both drivers.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {{
        // Timed here, where every operation passes: `fdt_cloud_db_operation_duration_seconds`.
        // One that fails with `?` inside returns before this records it.
        let started = std::time::Instant::now();
        let (backend, out) = match $store {
            $crate::store::Store::Sqlite($pool) => ("sqlite", $body),
            $crate::store::Store::Postgres($pool) => ("postgres", $body),
        };
        $crate::metrics::db_operation(backend, started);
        out
    }};
}
pub(crate) use on_pool;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An account with this email already exists.
    #[error("email already registered")]
    EmailTaken,
    /// The database refused or could not run a statement.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value does not parse (an ID of the wrong kind, a time out of range).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database could not be reached at all (down, restarting, every connection
    /// busy past the pool's wait), as opposed to a statement that failed: the same request
    /// may succeed once it is back.
    pub fn is_unavailable(&self) -> bool {
        let Self::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => true,
            // PostgreSQL's class 08 (connection exception) and 57P01–57P03 (the server is
            // shutting down, crashed, or not yet accepting connections).
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
            _ => false,
        }
    }
}

/// The database behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// Row counts, for operators (and for tests proving a refused request stored nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Accounts.
    pub accounts: i64,
    /// Login sessions, live or revoked.
    pub sessions: i64,
    /// Refresh tokens, used or not.
    pub refresh_tokens: i64,
    /// Authtokens, live or revoked.
    pub authtokens: i64,
}

/// The control plane's database: a connection pool to SQLite or PostgreSQL. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Store {
    /// An SQLite database.
    Sqlite(SqlitePool),
    /// A PostgreSQL database.
    Postgres(PgPool),
}

impl Store {
    /// Connects to the configured database (creating a SQLite file if missing). Does not
    /// migrate.
    pub async fn connect(target: &DatabaseTarget) -> Result<Self, StoreError> {
        match target {
            DatabaseTarget::SqliteFile(path) => Self::connect_sqlite_file(path).await,
            DatabaseTarget::Url(url) => {
                let url = url.expose();
                if url.starts_with("sqlite:") {
                    let opts = sqlite_options(SqliteConnectOptions::from_str(url)?);
                    Ok(Self::Sqlite(sqlite_pool(opts).await?))
                } else {
                    Self::connect_postgres(PgConnectOptions::from_str(url)?).await
                }
            }
        }
    }

    /// Opens (creating if needed) the SQLite database file at `path`.
    pub async fn connect_sqlite_file(path: &Path) -> Result<Self, StoreError> {
        let opts = sqlite_options(SqliteConnectOptions::new().filename(path));
        Ok(Self::Sqlite(sqlite_pool(opts).await?))
    }

    /// Connects to PostgreSQL.
    pub async fn connect_postgres(opts: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        Ok(Self::Postgres(pool))
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the embedded migrations for this database that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await?,
            Self::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Counts the rows of each table.
    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        const SQL: &str = "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM sessions), \
             (SELECT COUNT(*) FROM refresh_tokens), (SELECT COUNT(*) FROM authtokens)";
        let (accounts, sessions, refresh_tokens, authtokens): (i64, i64, i64, i64) =
            on_pool!(self, pool => sqlx::query_as(SQL).fetch_one(pool).await?);
        Ok(StoreStats {
            accounts,
            sessions,
            refresh_tokens,
            authtokens,
        })
    }

    /// The pool's connections: `(in use, idle, most allowed)`.
    pub fn pool_connections(&self) -> (u32, u32, u32) {
        on_pool!(self, pool => {
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
            (
                pool.size().saturating_sub(idle),
                idle,
                pool.options().get_max_connections(),
            )
        })
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

fn sqlite_options(opts: SqliteConnectOptions) -> SqliteConnectOptions {
    opts.create_if_missing(true)
        // WAL lets readers run while one writer commits; NORMAL sync is durable in WAL mode
        // except for the last transactions before a power cut.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        // Writers queue behind each other instead of failing with SQLITE_BUSY at once.
        .busy_timeout(Duration::from_secs(5))
}

async fn sqlite_pool(opts: SqliteConnectOptions) -> Result<SqlitePool, sqlx::Error> {
    SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await
}

/// A time as stored: Unix milliseconds.
pub(crate) fn to_millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A stored time back as a date.
pub(crate) fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}

/// Parses a stored ID.
pub(crate) fn parse_id<T: FromStr<Err = fdt_api::IdError>>(s: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("id {s:?}: {e}")))
}

/// Whether `e` is a unique-constraint violation (same check on both databases).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
