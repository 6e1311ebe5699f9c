//! Cloud-managed tunnels at the relay. Agents that ask for them in their hello get their
//! account's definitions pushed on the session, now and after every change:
//! - [`ManagedIndex`]: the live managed sessions by account, each with a wake-up;
//! - [`run_poller`]: reads the control plane's change feed
//!   (`GET /v1/relay/tunnel-config-changes`) and wakes the sessions of the accounts in it;
//! - [`run_fetcher`]: one per managed session; fetches the account's definitions
//!   (`GET /v1/relay/tunnel-configs`) when woken and hands a new version to the session.

use crate::control::client::{ControlClient, is_final};
use crate::registry::SessionCommand;
use fdt_api::{AccountId, RelayTunnelConfigs};
use fdt_proto::{Backoff, ManagedTunnel};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// How often the change feed is read when all is well.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Every managed session refetches this often even when the feed names nobody: a change that
/// committed out of feed order (PostgreSQL sequences) is picked up within this bound.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Longest wait between attempts after repeated errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A full page of the feed: ask again at once.
const FULL_PAGE: usize = 1_000;

/// Live managed sessions by account.
#[derive(Debug, Default)]
pub struct ManagedIndex {
    inner: Mutex<Index>,
}

#[derive(Debug, Default)]
struct Index {
    next: u64,
    by_account: HashMap<AccountId, HashMap<u64, Arc<Notify>>>,
}

/// A session's place in the [`ManagedIndex`]; removes itself when dropped.
#[derive(Debug)]
pub struct Watch {
    index: Arc<ManagedIndex>,
    account: AccountId,
    id: u64,
    /// Woken when the account's definitions may have changed.
    pub changed: Arc<Notify>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut ix = self.index.lock();
        if let Some(sessions) = ix.by_account.get_mut(&self.account) {
            sessions.remove(&self.id);
            if sessions.is_empty() {
                ix.by_account.remove(&self.account);
            }
        }
    }
}

impl ManagedIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        // The index holds no invariant a panic could break halfway.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a live managed session of `account`.
    pub fn register(self: &Arc<Self>, account: AccountId) -> Watch {
        let changed = Arc::new(Notify::new());
        let mut ix = self.lock();
        ix.next += 1;
        let id = ix.next;
        ix.by_account
            .entry(account.clone())
            .or_default()
            .insert(id, changed.clone());
        Watch {
            index: self.clone(),
            account,
            id,
            changed,
        }
    }

    /// Wakes every managed session of `account`; returns how many there are.
    pub fn notify(&self, account: &AccountId) -> usize {
        let ix = self.lock();
        let Some(sessions) = ix.by_account.get(account) else {
            return 0;
        };
        for n in sessions.values() {
            // A stored permit when the fetcher is busy: the wake-up is not lost.
            n.notify_one();
        }
        sessions.len()
    }
}

/// Reads the change feed every [`POLL_INTERVAL`] (backing off on errors) and wakes the
/// sessions of the accounts it names, until `shutdown`.
pub async fn run_poller(
    client: ControlClient,
    index: Arc<ManagedIndex>,
    shutdown: CancellationToken,
) {
    let mut cursor = 0i64;
    let mut wait = Duration::ZERO;
    let mut backoff = Backoff::new(POLL_INTERVAL, MAX_BACKOFF);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        match client.tunnel_config_changes(cursor).await {
            Ok(page) => {
                backoff.reset();
                for account in &page.accounts {
                    index.notify(account);
                }
                let full = page.accounts.len() >= FULL_PAGE && page.cursor > cursor;
                cursor = cursor.max(page.cursor);
                wait = if full { Duration::ZERO } else { POLL_INTERVAL };
            }
            Err(e) => {
                wait = backoff.next_delay(rand::random());
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "tunnel-config feed poll failed");
            }
        }
    }
}

/// The definitions as the protocol carries them.
fn to_wire(set: RelayTunnelConfigs) -> (u64, Vec<ManagedTunnel>) {
    let tunnels = set
        .tunnel_configs
        .into_iter()
        .filter_map(|c| {
            let serde_json::Value::Object(config) = serde_json::to_value(&c.definition).ok()?
            else {
                return None;
            };
            Some(ManagedTunnel {
                id: c.id.to_string(),
                name: c.name,
                enabled: c.enabled,
                config,
            })
        })
        .collect();
    (u64::try_from(set.version).unwrap_or(0), tunnels)
}

/// One managed session's fetcher: fetches `account`'s definitions at once, whenever
/// `changed` fires and every [`REFRESH_INTERVAL`], and sends each new version to the session
/// on `tx`, until `cancel` or the session is gone. Gives up on a refusal (a 4xx other than
/// 401, 408 and 429): asking again cannot help.
pub async fn run_fetcher(
    client: ControlClient,
    account: AccountId,
    changed: Arc<Notify>,
    tx: mpsc::Sender<SessionCommand>,
    cancel: CancellationToken,
) {
    let mut sent: Option<u64> = None;
    let mut backoff = Backoff::new(Duration::from_millis(500), MAX_BACKOFF);
    loop {
        let wait = match client.tunnel_configs(&account).await {
            Ok(set) => {
                backoff.reset();
                let (version, tunnels) = to_wire(set);
                if sent != Some(version) {
                    sent = Some(version);
                    let cmd = SessionCommand::Definitions { version, tunnels };
                    tokio::select! {
                        r = tx.send(cmd) => if r.is_err() { return },
                        _ = cancel.cancelled() => return,
                    }
                }
                REFRESH_INTERVAL
            }
            Err(e) if is_final(&e) => {
                tracing::warn!(%account, error = %e, "the control plane refused the tunnel definitions; not asking again on this session");
                return;
            }
            Err(e) => {
                let wait = backoff.next_delay(rand::random());
                tracing::warn!(%account, error = %e, retry_in_ms = wait.as_millis() as u64, "fetching tunnel definitions failed");
                wait
            }
        };
        tokio::select! {
            _ = changed.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn notify_wakes_only_that_accounts_live_sessions() {
        let ix = Arc::new(ManagedIndex::default());
        let a: AccountId = "acc_0123456789abcdefABCDEF".parse().unwrap();
        let b: AccountId = "acc_0123456789abcdefABCDEG".parse().unwrap();
        let w1 = ix.register(a.clone());
        let w2 = ix.register(a.clone());
        let wb = ix.register(b.clone());
        assert_eq!(ix.notify(&a), 2);
        drop(w2);
        assert_eq!(ix.notify(&a), 1);
        drop(w1);
        assert_eq!(ix.notify(&a), 0);
        assert_eq!(ix.notify(&b), 1);
        drop(wb);
        assert!(ix.lock().by_account.is_empty());
    }
}
