//! Closing the sessions of revoked authtokens: an index of live sessions by the `atk` claim of
//! their agent token, and a poller of the control plane's revocation feed
//! (`GET /v1/relay/revocations?after=<cursor>`, authenticated with the relay secret).

use crate::control::client::ControlClient;
use crate::metrics::RelayMetrics;
use fdt_proto::Backoff;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the feed is polled when all is well.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Longest wait between polls after repeated errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Live sessions by authtoken ID. Each session registers a token and selects on it; revoking
/// an authtoken cancels the tokens of all its sessions.
#[derive(Debug, Default)]
pub struct SessionIndex {
    inner: Mutex<Index>,
}

#[derive(Debug, Default)]
struct Index {
    next: u64,
    by_atk: HashMap<String, HashMap<u64, CancellationToken>>,
    /// Authtokens reported revoked, newest last (bounded): a token exchanged before the
    /// revocation may still authenticate a new session afterwards, which must close too.
    revoked: std::collections::VecDeque<String>,
}

/// Revoked authtoken IDs remembered for sessions that authenticate later.
const REMEMBERED_REVOCATIONS: usize = 100_000;

/// A session's place in the [`SessionIndex`]; removes itself when dropped.
#[derive(Debug)]
pub struct Registration<'a> {
    index: &'a SessionIndex,
    atk: String,
    id: u64,
    /// Cancelled when the authtoken is revoked.
    pub revoked: CancellationToken,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut ix = self.index.lock();
        if let Some(sessions) = ix.by_atk.get_mut(&self.atk) {
            sessions.remove(&self.id);
            if sessions.is_empty() {
                ix.by_atk.remove(&self.atk);
            }
        }
    }
}

impl SessionIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        // The index holds no invariant a panic could break halfway.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a live session opened with authtoken `atk`.
    pub fn register(&self, atk: &str) -> Registration<'_> {
        let revoked = CancellationToken::new();
        let mut ix = self.lock();
        ix.next += 1;
        let id = ix.next;
        if ix.revoked.iter().any(|r| r == atk) {
            revoked.cancel();
        }
        ix.by_atk
            .entry(atk.to_owned())
            .or_default()
            .insert(id, revoked.clone());
        Registration {
            index: self,
            atk: atk.to_owned(),
            id,
            revoked,
        }
    }

    /// Signals every live session of authtoken `atk` to close; returns how many there were.
    pub fn revoke(&self, atk: &str) -> usize {
        let sessions = {
            let mut ix = self.lock();
            if ix.revoked.len() >= REMEMBERED_REVOCATIONS {
                ix.revoked.pop_front();
            }
            ix.revoked.push_back(atk.to_owned());
            ix.by_atk.remove(atk).unwrap_or_default()
        };
        for t in sessions.values() {
            t.cancel();
        }
        sessions.len()
    }

    #[cfg(test)]
    /// Number of live sessions of authtoken `atk`.
    pub fn sessions_of(&self, atk: &str) -> usize {
        self.lock().by_atk.get(atk).map_or(0, HashMap::len)
    }
}

/// Polls the control plane's revocation feed every [`POLL_INTERVAL`] (backing off on
/// errors) and revokes the matching sessions of `sessions`, until `shutdown`. The first poll
/// reads the whole feed: authtokens revoked while this relay was down close their sessions
/// too.
pub async fn run_poller(
    client: ControlClient,
    sessions: Arc<SessionIndex>,
    metrics: Arc<RelayMetrics>,
    shutdown: CancellationToken,
) {
    tracing::info!("polling the control plane for authtoken revocations");
    let mut cursor = 0i64;
    let mut wait = Duration::ZERO;
    let mut failing = false;
    let mut backoff = Backoff::new(POLL_INTERVAL, MAX_BACKOFF);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        match client.revocations(cursor).await {
            Ok(list) => {
                metrics.revocations_ok();
                if failing {
                    tracing::info!("revocation feed reachable again");
                }
                failing = false;
                backoff.reset();
                for atk in &list.revoked {
                    let n = sessions.revoke(atk.as_str());
                    if n > 0 {
                        tracing::info!(authtoken = %atk, sessions = n, "authtoken revoked: closing its sessions");
                    }
                }
                let more = list.cursor > cursor && !list.revoked.is_empty();
                cursor = cursor.max(list.cursor);
                // A full page may have more behind it: ask again at once.
                wait = if more && list.revoked.len() >= 1_000 {
                    Duration::ZERO
                } else {
                    POLL_INTERVAL
                };
            }
            Err(e) => {
                failing = true;
                wait = backoff.next_delay(rand::random());
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "revocation feed poll failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoking_cancels_only_that_authtokens_sessions() {
        let ix = SessionIndex::default();
        let a1 = ix.register("atk_a");
        let a2 = ix.register("atk_a");
        let b = ix.register("atk_b");
        assert_eq!(ix.sessions_of("atk_a"), 2);
        drop(a2);
        assert_eq!(ix.sessions_of("atk_a"), 1);
        assert_eq!(ix.revoke("atk_a"), 1);
        assert!(a1.revoked.is_cancelled());
        assert!(!b.revoked.is_cancelled());
        assert_eq!(ix.revoke("atk_a"), 0);
        drop(a1);
        drop(b);
        assert_eq!(ix.sessions_of("atk_b"), 0);
        // A session that authenticates after the revocation is closed at once.
        assert!(ix.register("atk_a").revoked.is_cancelled());
    }
}
