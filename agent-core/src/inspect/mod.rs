//! Traffic inspection: every HTTP exchange (with its WebSocket messages or SSE events) and
//! every raw TCP/TLS connection through the agent's tunnels is captured on the forwarding path
//! ([`tap`]), handed over a bounded channel to a writer task, and kept in a bounded store
//! ([`store`]): the most recent exchanges in memory and all of them in a size-capped SQLite
//! file. The local API ([`crate::api`]) lists, exports ([`har`], [`curl`]) and replays them
//! ([`crate::replay`]).
//!
//! Capture never waits for storage: when the channel is full the record is dropped and counted.

pub(crate) mod curl;
pub(crate) mod har;
pub(crate) mod model;
pub(crate) mod query;
pub(crate) mod sse;
pub(crate) mod store;
pub(crate) mod tap;
pub(crate) mod ws;

use model::{ExchangeId, Record};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use store::{Store, StoreError};
use tokio::sync::{mpsc, watch};

/// Default cap of each captured body (request and response): 64 KiB.
pub const DEFAULT_BODY_CAP: usize = 64 * 1024;
/// Default size cap of the SQLite file: 50 MB.
pub const DEFAULT_DB_MAX_BYTES: u64 = 50 * 1000 * 1000;
/// Default number of recent exchanges also kept in memory.
pub const DEFAULT_MEMORY_COUNT: usize = 256;
/// Records that may wait for the writer before capture starts dropping them.
const CHANNEL_DEPTH: usize = 4096;
/// Captured bytes that may wait for the writer (bodies and payloads): bounds the queue's
/// memory when records are large, where [`CHANNEL_DEPTH`] alone would allow gigabytes.
const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Records the writer puts in one transaction.
const BATCH: usize = 1024;
/// Exchanges written to the SQLite file per second at most. Past it (sustained load of
/// thousands of requests per second) the rest stay in the in-memory recent list only and are
/// counted: writing and trimming every record would cost the tunnel far more CPU than the
/// forwarding itself, and nobody reads 10,000 exchanges a second one by one.
pub const PERSIST_PER_SEC: u64 = 1_000;

/// How inspection is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectConfig {
    /// SQLite file; `None` keeps the database in memory (lost on exit).
    pub db_path: Option<PathBuf>,
    /// Size cap of the SQLite file; the oldest records go first.
    pub db_max_bytes: u64,
    /// Bytes kept of each body and each WebSocket message.
    pub body_cap: usize,
    /// Recent exchanges kept in memory.
    pub memory_count: usize,
}

impl Default for InspectConfig {
    fn default() -> Self {
        Self {
            db_path: None,
            db_max_bytes: DEFAULT_DB_MAX_BYTES,
            body_cap: DEFAULT_BODY_CAP,
            memory_count: DEFAULT_MEMORY_COUNT,
        }
    }
}

/// Largest allowed body cap: captures are held in memory while exchanges are in flight.
pub const MAX_BODY_CAP: usize = 16 * 1024 * 1024;
/// Smallest allowed database cap: below it the store would drop everything it writes.
pub const MIN_DB_MAX_BYTES: u64 = 1_000_000;

/// A limit of [`InspectConfig`] out of range; the message names the setting to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectConfigError {
    /// The body cap is over [`MAX_BODY_CAP`].
    #[error("inspect_body_max_bytes = {0} is over the {MAX_BODY_CAP}-byte maximum")]
    BodyCapTooLarge(usize),
    /// The database cap is under [`MIN_DB_MAX_BYTES`].
    #[error("inspect_db_max_bytes = {0} is under the {MIN_DB_MAX_BYTES}-byte minimum")]
    DbCapTooSmall(u64),
}

impl InspectConfig {
    /// Checks the limits; the error says which setting to change.
    pub fn validate(&self) -> Result<(), InspectConfigError> {
        if self.body_cap > MAX_BODY_CAP {
            return Err(InspectConfigError::BodyCapTooLarge(self.body_cap));
        }
        if self.db_max_bytes < MIN_DB_MAX_BYTES {
            return Err(InspectConfigError::DbCapTooSmall(self.db_max_bytes));
        }
        Ok(())
    }
}

/// Where the inspection database lives by default: `$XDG_DATA_HOME/fdt/inspect.db`, else
/// `$HOME/.local/share/fdt/inspect.db`; `None` when neither variable is set.
pub fn default_db_path() -> Option<PathBuf> {
    Some(
        crate::config::xdg_base("XDG_DATA_HOME", ".local/share")?
            .join("fdt")
            .join("inspect.db"),
    )
}

/// The capture side and the store, shared by the forwarding path, the API and replays.
#[derive(Debug, Clone)]
pub struct Inspector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::Sender<Record>,
    store: Arc<Store>,
    next_id: AtomicU64,
    dropped: AtomicU64,
    /// Records kept in memory only (over [`PERSIST_PER_SEC`]).
    not_persisted: Arc<AtomicU64>,
    /// Captured bytes handed to the writer and not yet written.
    queued_bytes: Arc<AtomicUsize>,
    body_cap: usize,
    /// Bumped after records are stored, so live views know to refetch.
    changes: Arc<watch::Sender<u64>>,
}

impl Inspector {
    /// Opens the store and starts the writer task (which ends when the last clone is dropped).
    pub async fn open(cfg: &InspectConfig) -> Result<Self, StoreError> {
        let store = Arc::new(Store::open(cfg).await?);
        let first_id = store.max_id().await?.0 + 1;
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let not_persisted = Arc::new(AtomicU64::new(0));
        let changes = Arc::new(watch::Sender::new(0));
        tokio::spawn(write_loop(
            store.clone(),
            rx,
            queued_bytes.clone(),
            not_persisted.clone(),
            changes.clone(),
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                tx,
                store,
                next_id: AtomicU64::new(first_id),
                dropped: AtomicU64::new(0),
                not_persisted,
                queued_bytes,
                body_cap: cfg.body_cap,
                changes,
            }),
        })
    }

    /// The store, for queries.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// A fresh id (ids grow with start time).
    pub fn next_id(&self) -> ExchangeId {
        ExchangeId(self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Bytes kept of each body.
    pub fn body_cap(&self) -> usize {
        self.inner.body_cap
    }

    /// Records kept in memory only because more than [`PERSIST_PER_SEC`] arrived.
    pub fn not_persisted(&self) -> u64 {
        self.inner.not_persisted.load(Ordering::Relaxed)
    }

    /// Records dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// A receiver whose value changes whenever stored records change (a batch was written,
    /// or [`Inspector::mark_changed`] was called). Cheap: one `watch` channel, no payload.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Tells subscribers the stored records changed (after clearing them, say).
    pub fn mark_changed(&self) {
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Hands a record to the writer without waiting; counts it as dropped when the queue is
    /// full, because the tunnel must never slow down for inspection.
    pub fn submit(&self, r: Record) {
        let size = r.captured_bytes();
        let queued = &self.inner.queued_bytes;
        if queued.fetch_add(size, Ordering::Relaxed) + size > QUEUE_BYTES {
            queued.fetch_sub(size, Ordering::Relaxed);
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.inner.tx.try_send(r).is_err() {
            queued.fetch_sub(size, Ordering::Relaxed);
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How long the writer lets records gather after the first one arrives: every write costs a
/// transaction and a round trip to SQLite's thread, so fewer, larger batches keep capture
/// from competing with forwarding for the CPU under load.
const LINGER: std::time::Duration = std::time::Duration::from_millis(100);

async fn write_loop(
    store: Arc<Store>,
    mut rx: mpsc::Receiver<Record>,
    queued: Arc<AtomicUsize>,
    not_persisted: Arc<AtomicU64>,
    changes: Arc<watch::Sender<u64>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    // Token bucket of writes to disk: PERSIST_PER_SEC per second, bursts up to one second's.
    let mut tokens = PERSIST_PER_SEC as f64;
    let mut last = tokio::time::Instant::now();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(n) if n > 0 => {}
                // Timed out, or the channel closed: write what there is.
                _ => break,
            }
        }
        let size: usize = batch.iter().map(Record::captured_bytes).sum();
        queued.fetch_sub(size, Ordering::Relaxed);
        let now = tokio::time::Instant::now();
        let rate = PERSIST_PER_SEC as f64;
        tokens = (tokens + now.duration_since(last).as_secs_f64() * rate).min(rate);
        last = now;
        // Truncation is the point: whole records only.
        let allowed = (tokens as usize).min(batch.len());
        tokens -= allowed as f64;
        if allowed < batch.len() {
            let over = batch.split_off(allowed);
            not_persisted.fetch_add(over.len() as u64, Ordering::Relaxed);
            store.remember_only(over);
        }
        if let Err(e) = store.write(std::mem::take(&mut batch)).await {
            tracing::warn!(error = %e, "inspection store write failed; records lost");
        }
        // After the write, so a subscriber that refetches sees the new records.
        changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_validated_with_the_setting_named() {
        assert!(InspectConfig::default().validate().is_ok());
        let big = InspectConfig {
            body_cap: MAX_BODY_CAP + 1,
            ..InspectConfig::default()
        };
        assert!(
            big.validate()
                .is_err_and(|e| e.to_string().contains("inspect_body_max_bytes"))
        );
        let tiny = InspectConfig {
            db_max_bytes: 10,
            ..InspectConfig::default()
        };
        assert!(
            tiny.validate()
                .is_err_and(|e| e.to_string().contains("inspect_db_max_bytes"))
        );
    }
}
