//! The traffic log (requests reported by relays) and replay jobs.
//!
//! Requests are keyed by the ID the relay made, so a resent batch stores nothing twice. Every
//! read takes the caller's account. Replay jobs are delivered at least once: a job handed to a
//! relay that does not report back within the resend window goes out again (the agent runs
//! each job ID once), up to [`MAX_REPLAY_ATTEMPTS`].

use super::{Store, StoreError, from_millis, on_pool, parse_id, to_millis};
use fdt_api::traffic::Header;
use fdt_api::{
    AccountId, Plan, ReplayId, ReplayJob, ReplayModify, ReplayState, RequestId, RequestRecord,
    TrafficReport,
};
use time::OffsetDateTime;

/// Deliveries of one replay job before it fails.
pub const MAX_REPLAY_ATTEMPTS: i64 = 5;

/// A report to store, with the object keys of its stored bodies.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    /// The report (headers already redacted).
    pub report: &'a TrafficReport,
    /// Key of the stored request body.
    pub request_body: Option<&'a str>,
    /// Key of the stored response body.
    pub response_body: Option<&'a str>,
}

/// Filters of a traffic-log listing.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    /// Tunnel ID.
    pub tunnel_id: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// Method (upper-case).
    pub method: Option<String>,
    /// Inclusive status range.
    pub status: Option<(u16, u16)>,
    /// Path substring.
    pub path: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Rows strictly older than this `(started_at ms, id)`.
    pub before: Option<(i64, String)>,
}

/// A logged request with the keys of its bodies.
#[derive(Debug, Clone)]
pub struct StoredRequest {
    /// As the API shows it.
    pub record: RequestRecord,
    /// Name key of its tunnel (where replays go).
    pub name_key: Option<String>,
    /// Object key of the request body.
    pub request_body: Option<String>,
    /// Object key of the response body.
    pub response_body: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RequestRow {
    id: String,
    tunnel_id: Option<String>,
    name_key: Option<String>,
    relay_id: String,
    method: String,
    host: String,
    path: String,
    status: Option<i64>,
    error_code: Option<String>,
    request_headers: String,
    response_headers: String,
    bytes_in: i64,
    bytes_out: i64,
    duration_ms: i64,
    visitor_ip: String,
    started_at: i64,
    request_body: Option<String>,
    response_body: Option<String>,
    truncated: i64,
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn headers_of(json: &str) -> Result<Vec<Header>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("headers: {e}")))
}

impl TryFrom<RequestRow> for StoredRequest {
    type Error = StoreError;

    fn try_from(r: RequestRow) -> Result<Self, StoreError> {
        Ok(Self {
            record: RequestRecord {
                id: parse_id(&r.id)?,
                tunnel_id: r.tunnel_id.as_deref().map(parse_id).transpose()?,
                relay_id: r.relay_id,
                method: r.method,
                host: r.host,
                path: r.path,
                status: r.status.and_then(|s| u16::try_from(s).ok()),
                error_code: r.error_code,
                request_headers: headers_of(&r.request_headers)?,
                response_headers: headers_of(&r.response_headers)?,
                bytes_in: u64_of(r.bytes_in),
                bytes_out: u64_of(r.bytes_out),
                duration_ms: u64_of(r.duration_ms),
                visitor_ip: r.visitor_ip,
                started_at: from_millis(r.started_at)?,
                has_request_body: r.request_body.is_some(),
                has_response_body: r.response_body.is_some(),
                truncated: r.truncated != 0,
            },
            name_key: r.name_key,
            request_body: r.request_body,
            response_body: r.response_body,
        })
    }
}

const REQUEST_COLUMNS: &str = "id, tunnel_id, name_key, relay_id, method, host, path, status, \
     error_code, request_headers, response_headers, bytes_in, bytes_out, duration_ms, \
     visitor_ip, started_at, request_body, response_body, truncated";

/// A job as a relay needs it: what to replay, through which live tunnel.
#[derive(Debug, Clone)]
pub struct DueReplay {
    /// The job.
    pub job_id: ReplayId,
    /// The live tunnel on the asking relay.
    pub tunnel_id: String,
    /// The request replayed.
    pub request: StoredRequest,
    /// Changes to apply.
    pub modify: ReplayModify,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    request_id: String,
    state: String,
    attempts: i64,
    status: Option<i64>,
    error: Option<String>,
    created_at: i64,
}

impl TryFrom<JobRow> for ReplayJob {
    type Error = StoreError;

    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            request_id: parse_id(&r.request_id)?,
            state: ReplayState::parse(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("replay state {:?}", r.state)))?,
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            status: r.status.and_then(|s| u16::try_from(s).ok()),
            error: r.error,
            created_at: from_millis(r.created_at)?,
        })
    }
}

const JOB_COLUMNS: &str = "id, request_id, state, attempts, status, error, created_at";

impl Store {
    /// Stores a relay's reports (those already stored, or of accounts that no longer exist,
    /// are skipped); returns how many were new.
    pub async fn insert_requests(
        &self,
        relay_id: &str,
        requests: &[NewRequest<'_>],
    ) -> Result<u32, StoreError> {
        let mut stored = 0u32;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for n in requests {
                let r = n.report;
                let json = |h: &Vec<Header>| serde_json::to_string(h).unwrap_or_else(|_| "[]".into());
                let done = sqlx::query(
                    "INSERT INTO requests (id, account_id, tunnel_id, name_key, relay_id, method, host, \
                     path, status, error_code, request_headers, response_headers, bytes_in, bytes_out, \
                     duration_ms, visitor_ip, started_at, request_body, response_body, truncated) \
                     SELECT $1, $2, $3, COALESCE((SELECT name_key FROM bindings WHERE id = $3), $19), \
                     $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $20 \
                     WHERE EXISTS (SELECT 1 FROM accounts WHERE id = $2) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(r.id.as_str())
                .bind(r.account_id.as_str())
                .bind(r.tunnel_id.as_ref().map(|t| t.as_str()))
                .bind(relay_id)
                .bind(&r.method)
                .bind(&r.host)
                .bind(&r.path)
                .bind(r.status.map(i64::from))
                .bind(r.error_code.as_deref())
                .bind(json(&r.request_headers))
                .bind(json(&r.response_headers))
                .bind(i64_of(r.bytes_in))
                .bind(i64_of(r.bytes_out))
                .bind(i64_of(r.duration_ms))
                .bind(&r.visitor_ip)
                .bind(r.started_at_ms)
                .bind(n.request_body)
                .bind(n.response_body)
                .bind(r.name.as_ref().map(|l| format!("host:{l}")))
                .bind(i64::from(r.truncated))
                .execute(&mut *tx)
                .await?;
                stored += u32::try_from(done.rows_affected()).unwrap_or(0);
            }
            tx.commit().await?;
        });
        Ok(stored)
    }

    /// The account's requests matching `f`, newest first.
    pub async fn list_requests(
        &self,
        account: &AccountId,
        f: &RequestFilter,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        // Optional filters are written as `($n IS NULL OR …)` so one statement serves all
        // combinations; CAST keeps PostgreSQL's parameter types unambiguous.
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE account_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR tunnel_id = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR host = $3) \
             AND (CAST($4 AS TEXT) IS NULL OR method = $4) \
             AND (CAST($5 AS BIGINT) IS NULL OR (status >= $5 AND status <= $6)) \
             AND (CAST($7 AS TEXT) IS NULL OR instr(path, $7) > 0) \
             AND (CAST($8 AS BIGINT) IS NULL OR started_at < $8 OR (started_at = $8 AND id < $9)) \
             ORDER BY started_at DESC, id DESC LIMIT $10"
        );
        let sql = match self {
            // PostgreSQL has strpos, not instr.
            Store::Postgres(_) => sql.replace("instr(path, $7) > 0", "strpos(path, $7) > 0"),
            Store::Sqlite(_) => sql,
        };
        let (lo, hi) = f.status.map_or((None, None), |(a, b)| {
            (Some(i64::from(a)), Some(i64::from(b)))
        });
        let rows: Vec<RequestRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(account.as_str())
            .bind(f.tunnel_id.as_deref())
            .bind(f.host.as_deref())
            .bind(f.method.as_deref())
            .bind(lo)
            .bind(hi)
            .bind(f.path.as_deref())
            .bind(f.before.as_ref().map(|b| b.0))
            .bind(f.before.as_ref().map(|b| b.1.as_str()))
            .bind(i64::from(f.limit))
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// One of the account's requests.
    pub async fn request(
        &self,
        account: &AccountId,
        id: &RequestId,
    ) -> Result<Option<StoredRequest>, StoreError> {
        let sql =
            format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1 AND account_id = $2");
        let row: Option<RequestRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?);
        row.map(TryInto::try_into).transpose()
    }

    /// Deletes the requests of accounts on `plan` that arrived before `cutoff` (their replay
    /// jobs go with them), at most `max` at a time; returns how many went and the object keys
    /// of their bodies, for the caller to delete.
    pub async fn expire_requests(
        &self,
        plan: Plan,
        cutoff: OffsetDateTime,
        max: i64,
    ) -> Result<(usize, Vec<String>), StoreError> {
        const SQL: &str = "DELETE FROM requests WHERE id IN (SELECT r.id FROM requests r \
             JOIN accounts a ON a.id = r.account_id WHERE a.plan = $1 AND r.started_at < $2 \
             LIMIT $3) RETURNING request_body, response_body";
        let rows: Vec<(Option<String>, Option<String>)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(plan.as_str())
            .bind(to_millis(cutoff))
            .bind(max)
            .fetch_all(pool)
            .await?);
        let n = rows.len();
        Ok((
            n,
            rows.into_iter()
                .flat_map(|(a, b)| a.into_iter().chain(b))
                .collect(),
        ))
    }

    /// Creates a replay job, or returns the job an earlier call with the same idempotency key
    /// created.
    pub async fn create_replay(
        &self,
        id: &ReplayId,
        account: &AccountId,
        request: &RequestId,
        idempotency_key: Option<&str>,
        modify: &ReplayModify,
        now: OffsetDateTime,
    ) -> Result<ReplayJob, StoreError> {
        let modify = serde_json::to_string(modify).unwrap_or_else(|_| "{}".into());
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO replay_jobs (id, account_id, request_id, idempotency_key, modify, state, \
             attempts, created_at) VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6) \
             ON CONFLICT (account_id, idempotency_key) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(request.as_str())
        .bind(idempotency_key)
        .bind(&modify)
        .bind(to_millis(now))
        .execute(pool)
        .await?
        .rows_affected());
        let sql = if inserted == 1 {
            format!("SELECT {JOB_COLUMNS} FROM replay_jobs WHERE id = $1 AND account_id = $2")
        } else {
            format!(
                "SELECT {JOB_COLUMNS} FROM replay_jobs WHERE idempotency_key = $1 AND account_id = $2"
            )
        };
        let key = if inserted == 1 {
            id.as_str()
        } else {
            idempotency_key.unwrap_or_default()
        };
        let row: JobRow = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(key)
            .bind(account.as_str())
            .fetch_one(pool)
            .await?);
        row.try_into()
    }

    /// One of the account's replay jobs.
    pub async fn replay(
        &self,
        account: &AccountId,
        id: &ReplayId,
    ) -> Result<Option<ReplayJob>, StoreError> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM replay_jobs WHERE id = $1 AND account_id = $2");
        let row: Option<JobRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?);
        row.map(TryInto::try_into).transpose()
    }

    /// How many replay jobs are in each state (`queued`, `sent`, `done`, `failed`; states
    /// with none are left out).
    pub async fn replay_job_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT state, COUNT(*) FROM replay_jobs GROUP BY state")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Jobs due for `relay_id` — queued, or sent before `resend_before` without an answer —
    /// whose request's name is live on that relay now; marks them sent. Jobs past
    /// [`MAX_REPLAY_ATTEMPTS`] deliveries fail instead.
    pub async fn take_due_replays(
        &self,
        relay_id: &str,
        resend_before: OffsetDateTime,
        now: OffsetDateTime,
        max: i64,
    ) -> Result<Vec<DueReplay>, StoreError> {
        let now_ms = to_millis(now);
        let cutoff = to_millis(resend_before);
        let rows: Vec<(String, String, String, String)> = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE replay_jobs SET state = 'failed', error = 'the agent did not answer', \
                 finished_at = $1 WHERE state = 'sent' AND sent_at < $2 AND attempts >= $3",
            )
            .bind(now_ms)
            .bind(cutoff)
            .bind(MAX_REPLAY_ATTEMPTS)
            .execute(&mut *tx)
            .await?;
            let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT j.id, b.id, j.request_id, j.modify FROM replay_jobs j \
                 JOIN requests r ON r.id = j.request_id \
                 JOIN bindings b ON b.name_key = r.name_key AND b.account_id = j.account_id \
                 WHERE b.relay_id = $1 AND (j.state = 'queued' OR (j.state = 'sent' AND j.sent_at < $2)) \
                 ORDER BY j.created_at LIMIT $3",
            )
            .bind(relay_id)
            .bind(cutoff)
            .bind(max)
            .fetch_all(&mut *tx)
            .await?;
            // Claimed only while still due: a job another replica (or this relay's retried
            // heartbeat) claimed meanwhile, or a pooled name's second binding of a job claimed
            // just above, is left out rather than sent and counted twice.
            let mut claimed = Vec::with_capacity(rows.len());
            for row in rows {
                let done = sqlx::query(
                    "UPDATE replay_jobs SET state = 'sent', attempts = attempts + 1, relay_id = $2, \
                     sent_at = $3 WHERE id = $1 \
                     AND (state = 'queued' OR (state = 'sent' AND sent_at < $4))",
                )
                .bind(&row.0)
                .bind(relay_id)
                .bind(now_ms)
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 1 {
                    claimed.push(row);
                }
            }
            tx.commit().await?;
            claimed
        });
        let mut out: Vec<DueReplay> = Vec::new();
        for (job, tunnel, request, modify) in rows {
            // A pooled name has several bindings: one delivery per job is enough.
            if out.iter().any(|d| d.job_id.as_str() == job) {
                continue;
            }
            let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1");
            let row: Option<RequestRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&request)
                .fetch_optional(pool)
                .await?);
            let Some(row) = row else { continue };
            out.push(DueReplay {
                job_id: parse_id(&job)?,
                tunnel_id: tunnel,
                request: row.try_into()?,
                modify: serde_json::from_str(&modify).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Records a relay's report of a job it was sent: done with the local service's status, or
    /// failed with an error. Reports for jobs not sent to that relay are ignored.
    pub async fn finish_replay(
        &self,
        relay_id: &str,
        job: &str,
        status: Option<u16>,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE replay_jobs SET state = $3, status = $4, error = $5, finished_at = $6 \
             WHERE id = $1 AND relay_id = $2 AND state = 'sent'";
        let state = if error.is_some() { "failed" } else { "done" };
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(job)
            .bind(relay_id)
            .bind(state)
            .bind(status.map(i64::from))
            .bind(error)
            .bind(to_millis(now))
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }
}
