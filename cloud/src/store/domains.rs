//! Custom domains, their certificates and pending ACME challenges. Every query a person's
//! request reaches takes the caller's account; the worker's queries take a domain ID it read
//! from a due row, and re-check the row's state in the same statement.
//!
//! Anything relays serve (a domain verified or lost, a route, a certificate) moves the one
//! `domain_epoch` counter in the same transaction, so a relay asks "anything since version N?".

use super::{Store, StoreError, from_millis, is_unique_violation, on_pool, parse_id, to_millis};
use fdt_api::{AccountId, DomainId, DomainMode, FailurePolicy, VerificationState};
use time::OffsetDateTime;

/// A stored domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRecord {
    /// ID.
    pub id: DomainId,
    /// Owner.
    pub account: AccountId,
    /// The name (`*.example.com` for a wildcard).
    pub domain: String,
    /// The row's own TXT token.
    pub txt_token: String,
    /// Its unique CNAME target.
    pub cname_target: String,
    /// Where TLS ends.
    pub mode: DomainMode,
    /// `reserved` or `subdomain`, with its reference.
    pub route: Option<(String, String)>,
    /// What visitors see while it is offline.
    pub failure: FailurePolicy,
    /// Verification state.
    pub state: VerificationState,
    /// When it was verified.
    pub verified_at: Option<OffsetDateTime>,
    /// Checks missed in a row.
    pub misses: u32,
    /// When DNS is read next.
    pub next_check_at: OffsetDateTime,
    /// Why the last check failed.
    pub last_error: Option<String>,
    /// Why the last certificate order failed.
    pub cert_error: Option<String>,
    /// Certificate orders failed in a row.
    pub cert_failures: u32,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
pub(super) struct DomainRow {
    id: String,
    account_id: String,
    domain: String,
    txt_token: String,
    cname_target: String,
    mode: String,
    route_kind: Option<String>,
    route_ref: Option<String>,
    failure: String,
    state: String,
    verified_at: Option<i64>,
    misses: i64,
    next_check_at: i64,
    last_error: Option<String>,
    cert_error: Option<String>,
    cert_failures: i64,
    created_at: i64,
}

pub(super) const COLUMNS: &str = "id, account_id, domain, txt_token, cname_target, mode, route_kind, \
                       route_ref, failure, state, verified_at, misses, next_check_at, last_error, \
                       cert_error, cert_failures, created_at";

fn parse_state(s: &str) -> Result<VerificationState, StoreError> {
    match s {
        "pending" => Ok(VerificationState::Pending),
        "verified" => Ok(VerificationState::Verified),
        "lost" => Ok(VerificationState::Lost),
        other => Err(StoreError::Corrupt(format!("domain state {other:?}"))),
    }
}

fn state_name(s: VerificationState) -> &'static str {
    match s {
        VerificationState::Pending => "pending",
        VerificationState::Verified => "verified",
        VerificationState::Lost => "lost",
    }
}

impl TryFrom<DomainRow> for DomainRecord {
    type Error = StoreError;

    fn try_from(r: DomainRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            account: parse_id(&r.account_id)?,
            domain: r.domain,
            txt_token: r.txt_token,
            cname_target: r.cname_target,
            mode: DomainMode::parse(&r.mode)
                .ok_or_else(|| StoreError::Corrupt(format!("domain mode {:?}", r.mode)))?,
            route: r.route_kind.zip(r.route_ref),
            failure: serde_json::from_str(&r.failure)
                .map_err(|e| StoreError::Corrupt(format!("domain failure policy: {e}")))?,
            state: parse_state(&r.state)?,
            verified_at: r.verified_at.map(from_millis).transpose()?,
            misses: u32::try_from(r.misses).unwrap_or(u32::MAX),
            next_check_at: from_millis(r.next_check_at)?,
            last_error: r.last_error,
            cert_error: r.cert_error,
            cert_failures: u32::try_from(r.cert_failures).unwrap_or(u32::MAX),
            created_at: from_millis(r.created_at)?,
        })
    }
}

/// A domain to create.
#[derive(Debug, Clone)]
pub struct NewDomain<'a> {
    /// ID.
    pub id: &'a DomainId,
    /// Owner.
    pub account: &'a AccountId,
    /// Normalised name.
    pub domain: &'a str,
    /// Its TXT token.
    pub txt_token: &'a str,
    /// Its CNAME target.
    pub cname_target: &'a str,
    /// Mode.
    pub mode: DomainMode,
    /// Route kind and reference, already checked to be the account's.
    pub route: Option<(&'a str, &'a str)>,
    /// Failure policy.
    pub failure: &'a FailurePolicy,
    /// Now (also the first check's time).
    pub now: OffsetDateTime,
}

/// What creating a domain did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateDomainOutcome {
    /// Created.
    Created(Box<DomainRecord>),
    /// The account holds as many domains as its plan allows.
    LimitReached,
    /// The account already holds this name.
    Duplicate,
}

/// The outcome of one DNS check, for [`Store::record_domain_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// The TXT record carries the row's token.
    Found,
    /// It does not (the message says what was seen).
    Missing(String),
}

/// What a recorded check changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckRecorded {
    /// The domain is (still) verified.
    Verified,
    /// The record was found, but another account's row for the name is verified.
    ClaimedElsewhere,
    /// Still pending (or still verified with fewer misses than the limit).
    Unchanged,
    /// It was verified and is now lost: relays stop serving it.
    Lost,
    /// The row is gone (deleted meanwhile).
    Gone,
}

/// A verified domain as relays see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedDomain {
    /// The row.
    pub record: DomainRecord,
    /// The subdomain its route resolves to.
    pub target: Option<String>,
    /// Latest certificate version.
    pub cert_version: Option<i64>,
}

pub(super) const BUMP_EPOCH: &str = "UPDATE domain_epoch SET version = version + 1 WHERE id = 1";

/// Most verified domains handed to relays in one answer.
pub const MAX_SERVED_DOMAINS: i64 = 100_000;

impl Store {
    /// Creates a domain unless the account holds `max` already or holds this name.
    pub async fn create_domain(
        &self,
        d: &NewDomain<'_>,
        max: u32,
    ) -> Result<CreateDomainOutcome, StoreError> {
        let failure = serde_json::to_string(d.failure)
            .map_err(|e| StoreError::Corrupt(format!("failure policy: {e}")))?;
        let outcome = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // Taking the write lock first (SQLite) keeps the count below true until commit.
            sqlx::query("DELETE FROM acme_http_challenges WHERE 1 = 0").execute(&mut *tx).await?;
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT domain FROM domains WHERE account_id = $1")
                    .bind(d.account.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
            if rows.iter().any(|(n,)| n == d.domain) {
                return Ok(CreateDomainOutcome::Duplicate);
            }
            if rows.len() >= max as usize {
                return Ok(CreateDomainOutcome::LimitReached);
            }
            let sql = format!(
                "INSERT INTO domains ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                 'pending', NULL, 0, $10, NULL, NULL, 0, $10) RETURNING {COLUMNS}"
            );
            let row: DomainRow = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(d.id.as_str())
                .bind(d.account.as_str())
                .bind(d.domain)
                .bind(d.txt_token)
                .bind(d.cname_target)
                .bind(d.mode.as_str())
                .bind(d.route.map(|r| r.0))
                .bind(d.route.map(|r| r.1))
                .bind(&failure)
                .bind(to_millis(d.now))
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            CreateDomainOutcome::Created(Box::new(row.try_into()?))
        });
        Ok(outcome)
    }

    /// The account's domains, oldest first.
    pub async fn list_domains(&self, account: &AccountId) -> Result<Vec<DomainRecord>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM domains WHERE account_id = $1 ORDER BY created_at, id");
        let rows: Vec<DomainRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(account.as_str()).fetch_all(pool).await?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// One of the account's domains.
    pub async fn domain(
        &self,
        account: &AccountId,
        id: &DomainId,
    ) -> Result<Option<DomainRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM domains WHERE id = $1 AND account_id = $2");
        let row: Option<DomainRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id.as_str())
                .bind(account.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// A domain by ID alone (workers).
    pub async fn domain_by_id(&self, id: &DomainId) -> Result<Option<DomainRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM domains WHERE id = $1");
        let row: Option<DomainRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id.as_str()).fetch_optional(pool).await?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// Changes the mode, route and failure policy of one of the account's domains, and lets
    /// certificate orders that gave up start again (the owner may have fixed the cause).
    pub async fn update_domain(
        &self,
        account: &AccountId,
        id: &DomainId,
        mode: DomainMode,
        route: Option<(&str, &str)>,
        failure: &FailurePolicy,
    ) -> Result<bool, StoreError> {
        let failure = serde_json::to_string(failure)
            .map_err(|e| StoreError::Corrupt(format!("failure policy: {e}")))?;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE domains SET mode = $1, route_kind = $2, route_ref = $3, failure = $4, \
                 cert_failures = 0, cert_next_at = NULL \
                 WHERE id = $5 AND account_id = $6",
            )
            .bind(mode.as_str())
            .bind(route.map(|r| r.0))
            .bind(route.map(|r| r.1))
            .bind(&failure)
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Deletes one of the account's domains, its certificates and its claim on the name.
    pub async fn delete_domain(
        &self,
        account: &AccountId,
        id: &DomainId,
    ) -> Result<bool, StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for table in ["domain_certificates", "domain_events", "domain_incidents"] {
                let sql = format!(
                    "DELETE FROM {table} WHERE domain_id = \
                     (SELECT id FROM domains WHERE id = $1 AND account_id = $2)"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(id.as_str())
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            let n = sqlx::query("DELETE FROM domains WHERE id = $1 AND account_id = $2")
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Domains whose DNS check is due at `now`, soonest first, at most `limit`.
    pub async fn due_domain_checks(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<DomainRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM domains WHERE next_check_at <= $1 \
             ORDER BY next_check_at LIMIT $2"
        );
        let rows: Vec<DomainRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(to_millis(now)).bind(limit).fetch_all(pool).await?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Records a DNS check of domain `id`, made with the token `txt_token` (the row must still
    /// carry it: a row deleted and made again has a new token). `next` is the next check's time;
    /// `lost_after` misses in a row make a verified domain lost.
    pub async fn record_domain_check(
        &self,
        id: &DomainId,
        txt_token: &str,
        result: &CheckResult,
        now: OffsetDateTime,
        next: OffsetDateTime,
        lost_after: u32,
    ) -> Result<CheckRecorded, StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let row: Option<(String, i64)> = sqlx::query_as(
                "SELECT state, misses FROM domains WHERE id = $1 AND txt_token = $2",
            )
            .bind(id.as_str())
            .bind(txt_token)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((state, misses)) = row else {
                return Ok(CheckRecorded::Gone);
            };
            let state = parse_state(&state)?;
            let (new_state, misses, error, recorded) = match result {
                CheckResult::Found => (VerificationState::Verified, 0, None, CheckRecorded::Verified),
                CheckResult::Missing(why) => {
                    let misses = misses.saturating_add(1);
                    match state {
                        VerificationState::Verified if misses >= i64::from(lost_after) => {
                            (VerificationState::Lost, misses, Some(why.as_str()), CheckRecorded::Lost)
                        }
                        s => (s, misses, Some(why.as_str()), CheckRecorded::Unchanged),
                    }
                }
            };
            // A savepoint, so that a unique violation (another account's row for this name
            // is verified) leaves the transaction usable on PostgreSQL.
            sqlx::query("SAVEPOINT domain_check").execute(&mut *tx).await?;
            let updated = sqlx::query(
                "UPDATE domains SET state = $1, misses = $2, last_error = $3, next_check_at = $4, \
                 verified_at = CASE WHEN $1 = 'verified' THEN COALESCE(verified_at, $5) ELSE verified_at END \
                 WHERE id = $6",
            )
            .bind(state_name(new_state))
            .bind(misses)
            .bind(error)
            .bind(to_millis(next))
            .bind(to_millis(now))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await;
            let recorded = match updated {
                Ok(_) => recorded,
                Err(e) if is_unique_violation(&e) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT domain_check").execute(&mut *tx).await?;
                    sqlx::query(
                        "UPDATE domains SET last_error = $1, next_check_at = $2 WHERE id = $3",
                    )
                    .bind("another account has verified this name; it must delete it, or its TXT record must be gone for several checks")
                    .bind(to_millis(next))
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                    CheckRecorded::ClaimedElsewhere
                }
                Err(e) => return Err(e.into()),
            };
            if new_state != state && recorded != CheckRecorded::ClaimedElsewhere {
                sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(recorded)
        })
    }

    /// The current `domain_epoch` version.
    pub async fn domain_epoch(&self) -> Result<i64, StoreError> {
        let (v,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as("SELECT version FROM domain_epoch WHERE id = 1").fetch_one(pool).await?
        });
        Ok(v)
    }

    /// Every verified domain with its route's subdomain and latest certificate version, and the
    /// epoch they were read at.
    pub async fn served_domains(&self) -> Result<(i64, Vec<ServedDomain>), StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM domains WHERE state = 'verified' ORDER BY id LIMIT $1");
        let (epoch, rows, reserved, certs) = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (epoch,): (i64,) = sqlx::query_as("SELECT version FROM domain_epoch WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
            let rows: Vec<DomainRow> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(MAX_SERVED_DOMAINS).fetch_all(&mut *tx).await?;
            // A route to a reservation follows it only while the reservation is the account's.
            let reserved: Vec<(String, String)> = sqlx::query_as(
                "SELECT d.id, r.subdomain FROM domains d JOIN reserved_names r \
                 ON d.route_kind = 'reserved' AND r.id = d.route_ref AND r.account_id = d.account_id \
                 WHERE d.state = 'verified' AND r.subdomain IS NOT NULL",
            )
            .fetch_all(&mut *tx)
            .await?;
            let certs: Vec<(String, i64)> = sqlx::query_as(
                "SELECT c.domain_id, MAX(c.version) FROM domain_certificates c \
                 JOIN domains d ON d.id = c.domain_id WHERE d.state = 'verified' \
                 GROUP BY c.domain_id",
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            (epoch, rows, reserved, certs)
        });
        let reserved: std::collections::HashMap<String, String> = reserved.into_iter().collect();
        let certs: std::collections::HashMap<String, i64> = certs.into_iter().collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let record = DomainRecord::try_from(row)?;
            let key = record.id.as_str();
            let target = match &record.route {
                Some((kind, _)) if kind == "reserved" => reserved.get(key).cloned(),
                Some((kind, sub)) if kind == "subdomain" => Some(sub.clone()),
                _ => None,
            };
            let cert_version = certs.get(key).copied();
            out.push(ServedDomain {
                record,
                target,
                cert_version,
            });
        }
        Ok((epoch, out))
    }
}
