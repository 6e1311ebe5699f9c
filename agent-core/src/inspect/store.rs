//! The bounded store: the most recent exchanges in memory, and every record in a SQLite file
//! whose size stays under a cap (the oldest records are deleted and their pages returned to
//! the file system with incremental vacuum). Filters and paging run in SQL.

use super::InspectConfig;
use super::model::{ExchangeId, HttpExchange, Record, TcpConnection};
use super::query::{Filter, Page, StatusFilter, page_limit};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqliteLockingMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// TCP/TLS connection records kept (they are small; this bounds the table on its own).
const MAX_TCP_ROWS: i64 = 10_000;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("inspection database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored record could not be decoded (written by an incompatible version).
    #[error("inspection record {0} is unreadable: {1}")]
    Corrupt(i64, serde_json::Error),
    /// The database directory could not be created.
    #[error("creating {0}: {1}")]
    Dir(std::path::PathBuf, std::io::Error),
}

/// The inspection store.
#[derive(Debug)]
pub struct Store {
    pool: SqlitePool,
    recent: Mutex<VecDeque<Arc<HttpExchange>>>,
    memory_count: usize,
    max_bytes: u64,
    /// Bytes written since the file size was last checked against the cap.
    since_trim: std::sync::atomic::AtomicU64,
}

/// Records per multi-row INSERT (8 parameters each, well under SQLite's limit).
const INSERT_CHUNK: usize = 256;
/// What a record adds to the file besides its bodies, for deciding when to check the size.
const ROW_OVERHEAD: u64 = 512;

fn to_i64(id: ExchangeId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens (creating when missing) the database of `cfg`.
    pub async fn open(cfg: &InspectConfig) -> Result<Self, StoreError> {
        let opts = match &cfg.db_path {
            Some(p) => {
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| StoreError::Dir(dir.into(), e))?;
                }
                SqliteConnectOptions::new()
                    .filename(p)
                    .create_if_missing(true)
            }
            None => SqliteConnectOptions::new().in_memory(true),
        }
        // Incremental vacuum lets deleting old rows shrink the file; an in-memory rollback
        // journal keeps the database one file (and spares a journal file per transaction):
        // a crash may lose the capture, which is a cache.
        .auto_vacuum(SqliteAutoVacuum::Incremental)
        .journal_mode(SqliteJournalMode::Memory)
        // A capture cache needs no durability; not syncing keeps the writer cheap.
        .synchronous(SqliteSynchronous::Off)
        // One agent per file: a second agent on the same file fails fast (and falls back to
        // memory) instead of both writing the same ids.
        .locking_mode(SqliteLockingMode::Exclusive)
        .busy_timeout(Duration::ZERO);
        // One connection: an in-memory database exists per connection, and the single
        // writer plus occasional API reads do not need more.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        for ddl in [
            "CREATE TABLE IF NOT EXISTS http_exchanges (
                id INTEGER PRIMARY KEY, tunnel TEXT NOT NULL, method TEXT NOT NULL,
                path TEXT NOT NULL, status INTEGER, req_body BLOB NOT NULL,
                resp_body BLOB NOT NULL, detail TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS tcp_connections (id INTEGER PRIMARY KEY, detail TEXT NOT NULL)",
        ] {
            sqlx::query(ddl).execute(&pool).await?;
        }
        Ok(Self {
            pool,
            recent: Mutex::default(),
            memory_count: cfg.memory_count,
            max_bytes: cfg.db_max_bytes,
            since_trim: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The highest id stored (0 when empty), so ids keep growing across restarts.
    pub async fn max_id(&self) -> Result<ExchangeId, StoreError> {
        let row = sqlx::query(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM http_exchanges), 0),
                        COALESCE((SELECT MAX(id) FROM tcp_connections), 0))",
        )
        .fetch_one(&self.pool)
        .await?;
        let id: i64 = row.try_get(0)?;
        Ok(ExchangeId(u64::try_from(id).unwrap_or(0)))
    }

    /// Writes a batch in one transaction (multi-row inserts: one round trip per chunk rather
    /// than per record), then trims the file to its cap once enough was written to matter.
    pub async fn write(&self, records: Vec<Record>) -> Result<(), StoreError> {
        let mut http = Vec::new();
        let mut tcp = Vec::new();
        let mut written = 0u64;
        for r in records {
            // Bodies plus a row's headers, JSON and index entries, roughly.
            written += r.captured_bytes() as u64 + ROW_OVERHEAD;
            match r {
                Record::Http(ex) => http.push(ex),
                Record::Tcp(c) => tcp.push(c),
            }
        }
        let mut tx = self.pool.begin().await?;
        for chunk in http.chunks_mut(INSERT_CHUNK) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT OR REPLACE INTO http_exchanges \
                 (id, tunnel, method, path, status, req_body, resp_body, detail) ",
            );
            // Bodies live in their own columns (searchable); the JSON holds the rest.
            let rows: Vec<_> = chunk
                .iter_mut()
                .map(|ex| {
                    let req = std::mem::take(&mut ex.request_body.data);
                    let resp = std::mem::take(&mut ex.response_body.data);
                    let detail = serde_json::to_string(&ex).unwrap_or_default();
                    (req, resp, detail)
                })
                .collect();
            q.push_values(
                chunk.iter().zip(&rows),
                |mut b, (ex, (req, resp, detail))| {
                    b.push_bind(to_i64(ex.id))
                        .push_bind(ex.tunnel_name.clone())
                        .push_bind(ex.method.clone())
                        .push_bind(ex.uri.clone())
                        .push_bind(ex.status.map(i64::from))
                        .push_bind(req.clone())
                        .push_bind(resp.clone())
                        .push_bind(detail.clone());
                },
            );
            q.build().execute(&mut *tx).await?;
            for (ex, (req, resp, _)) in chunk.iter_mut().zip(rows) {
                ex.request_body.data = req;
                ex.response_body.data = resp;
            }
        }
        for c in &tcp {
            let detail = serde_json::to_string(c).unwrap_or_default();
            sqlx::query("INSERT OR REPLACE INTO tcp_connections (id, detail) VALUES (?, ?)")
                .bind(to_i64(c.id))
                .bind(detail)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        for ex in http {
            self.remember(Arc::new(*ex));
        }
        // Checking the size costs queries: do it once per 2 % of the cap written (the trim
        // leaves 5 % of headroom, so the file never passes the cap in between).
        let since = self
            .since_trim
            .fetch_add(written, std::sync::atomic::Ordering::Relaxed)
            + written;
        if since >= (self.max_bytes / 50).max(64 * 1024) || !tcp.is_empty() {
            self.since_trim
                .store(0, std::sync::atomic::Ordering::Relaxed);
            self.trim().await?;
        }
        Ok(())
    }

    /// Keeps records in the in-memory recent list without writing them to the file.
    pub fn remember_only(&self, records: Vec<Record>) {
        for r in records {
            if let Record::Http(ex) = r {
                self.remember(Arc::new(*ex));
            }
        }
    }

    fn remember(&self, ex: Arc<HttpExchange>) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.push_back(ex);
        while recent.len() > self.memory_count {
            recent.pop_front();
        }
    }

    async fn pragma(&self, statement: &'static str) -> Result<i64, StoreError> {
        let row = sqlx::query(statement).fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    /// Bytes the database file takes.
    pub async fn file_bytes(&self) -> Result<u64, StoreError> {
        let pages = self.pragma("PRAGMA page_count").await?;
        let size = self.pragma("PRAGMA page_size").await?;
        Ok(u64::try_from(pages.saturating_mul(size)).unwrap_or(0))
    }

    /// Keeps the file under its cap. Deleting rows frees pages that new rows reuse, so the
    /// file stops growing once the live data stays under ~90 % of the cap; pages are given
    /// back to the file system (incremental vacuum, which moves pages and is costly) only for
    /// what is over the cap — after a burst, or a cap made smaller. Oldest rows go first, by
    /// id range (no scans).
    async fn trim(&self) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM tcp_connections WHERE id <= (SELECT MAX(id) FROM tcp_connections) - ?",
        )
        .bind(MAX_TCP_ROWS)
        .execute(&self.pool)
        .await?;
        let page_size = self.pragma("PRAGMA page_size").await?.max(1);
        let cap_pages = i64::try_from(self.max_bytes).unwrap_or(i64::MAX) / page_size;
        let keep_pages = cap_pages / 10 * 9;
        loop {
            let pages = self.pragma("PRAGMA page_count").await?;
            let free = self.pragma("PRAGMA freelist_count").await?;
            let used = pages - free;
            if used > keep_pages {
                let (lo, hi): (Option<i64>, Option<i64>) =
                    sqlx::query_as("SELECT MIN(id), MAX(id) FROM http_exchanges")
                        .fetch_one(&self.pool)
                        .await?;
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    let rows = hi - lo + 1;
                    // Drop the share of rows the excess represents (ids are dense enough:
                    // gaps only make this drop a little less, and the loop goes again).
                    let share = (used - keep_pages) as f64 / used as f64;
                    let n = ((rows as f64 * share).ceil() as i64).clamp(1, rows);
                    sqlx::query("DELETE FROM http_exchanges WHERE id < ?")
                        .bind(lo + n)
                        .execute(&self.pool)
                        .await?;
                    continue;
                }
            }
            if pages > cap_pages {
                // Over the cap on disk: hand back only the excess free pages.
                let excess = (pages - cap_pages).min(free);
                if excess > 0 {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "PRAGMA incremental_vacuum({excess})"
                    )))
                    .execute(&self.pool)
                    .await?;
                    continue;
                }
                if used <= keep_pages {
                    return Ok(());
                }
            }
            return Ok(());
        }
    }

    fn decode(
        row: &sqlx::sqlite::SqliteRow,
        with_bodies: bool,
    ) -> Result<HttpExchange, StoreError> {
        let id: i64 = row.try_get("id")?;
        let detail: String = row.try_get("detail")?;
        let mut ex: HttpExchange =
            serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt(id, e))?;
        if with_bodies {
            ex.request_body.data = row.try_get("req_body")?;
            ex.response_body.data = row.try_get("resp_body")?;
        }
        Ok(ex)
    }

    /// Exchanges matching `f`, newest first, with the next page's cursor.
    pub async fn list(
        &self,
        f: &Filter,
        with_bodies: bool,
    ) -> Result<Page<HttpExchange>, StoreError> {
        let limit = page_limit(f.limit);
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(if with_bodies {
            "SELECT id, detail, req_body, resp_body FROM http_exchanges WHERE 1=1"
        } else {
            "SELECT id, detail FROM http_exchanges WHERE 1=1"
        });
        if let Some(t) = &f.tunnel_name {
            q.push(" AND tunnel = ").push_bind(t.clone());
        }
        match f.status {
            Some(StatusFilter::Code(c)) => {
                q.push(" AND status = ").push_bind(i64::from(c));
            }
            Some(StatusFilter::Class(c)) => {
                q.push(" AND status BETWEEN ")
                    .push_bind(i64::from(c) * 100)
                    .push(" AND ")
                    .push_bind(i64::from(c) * 100 + 99);
            }
            None => {}
        }
        if let Some(m) = &f.method {
            q.push(" AND method = ").push_bind(m.to_ascii_uppercase());
        }
        if let Some(p) = &f.path {
            q.push(" AND instr(path, ")
                .push_bind(p.clone())
                .push(") > 0");
        }
        if let Some(b) = &f.body {
            // Blob-to-blob instr compares bytes, so binary bodies are searched too.
            let needle = b.as_bytes().to_vec();
            q.push(" AND (instr(req_body, ")
                .push_bind(needle.clone())
                .push(") > 0 OR instr(resp_body, ")
                .push_bind(needle)
                .push(") > 0)");
        }
        if let Some(b) = f.before {
            q.push(" AND id < ").push_bind(to_i64(b));
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::try_from(limit + 1).unwrap_or(i64::MAX));
        let rows = q.build().fetch_all(&self.pool).await?;
        let items = rows
            .iter()
            .map(|r| Self::decode(r, with_bodies))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::of(items, limit, |e| e.id))
    }

    /// One exchange with its bodies.
    pub async fn get(&self, id: ExchangeId) -> Result<Option<HttpExchange>, StoreError> {
        let hit = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
            .find(|e| e.id == id)
            .cloned();
        if let Some(ex) = hit {
            return Ok(Some((*ex).clone()));
        }
        let row =
            sqlx::query("SELECT id, detail, req_body, resp_body FROM http_exchanges WHERE id = ?")
                .bind(to_i64(id))
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| Self::decode(&r, true)).transpose()
    }

    /// TCP/TLS connections, newest first.
    pub async fn list_tcp(
        &self,
        before: Option<ExchangeId>,
        limit: usize,
    ) -> Result<Page<TcpConnection>, StoreError> {
        let limit = page_limit(limit);
        let rows = sqlx::query(
            "SELECT id, detail FROM tcp_connections WHERE id < ? ORDER BY id DESC LIMIT ?",
        )
        .bind(before.map_or(i64::MAX, to_i64))
        .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                let id: i64 = r.try_get("id")?;
                let d: String = r.try_get("detail")?;
                serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(id, e))
            })
            .collect::<Result<Vec<TcpConnection>, _>>()?;
        Ok(Page::of(items, limit, |c| c.id))
    }

    /// Removes every record.
    pub async fn clear(&self) -> Result<(), StoreError> {
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        sqlx::query("DELETE FROM http_exchanges")
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM tcp_connections")
            .execute(&self.pool)
            .await?;
        sqlx::query("PRAGMA incremental_vacuum")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A complete captured body of `text`, for building test records.
#[cfg(test)]
pub(crate) fn body(text: &str) -> super::model::CapturedBody {
    super::model::CapturedBody {
        data: text.as_bytes().to_vec(),
        size: text.len() as u64,
        truncated: false,
    }
}

#[cfg(test)]
mod tests;
