//! Closing the sessions of revoked authtokens: an index of live sessions by the `atk` claim of
//! their agent token, and a poller of the control plane's revocation feed
//! (`GET /v1/relay/revocations?after=<cursor>`, authenticated with the relay secret).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the feed is polled when all is well.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Longest wait between polls after repeated errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Bound on one poll.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest feed answer read.
const MAX_BODY_BYTES: usize = 1 << 20;

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

    /// Number of live sessions of authtoken `atk`.
    pub fn sessions_of(&self, atk: &str) -> usize {
        self.lock().by_atk.get(atk).map_or(0, HashMap::len)
    }
}

/// The feed's answer.
#[derive(Debug, serde::Deserialize)]
struct RevocationList {
    revoked: Vec<String>,
    cursor: i64,
}

/// Polls `cloud_url`'s revocation feed every [`POLL_INTERVAL`] (backing off on errors) and
/// revokes the matching sessions of `shared`, until `shutdown`. The first poll reads the whole
/// feed: authtokens revoked while this relay was down close their sessions too.
pub async fn run_poller(
    shared: std::sync::Arc<crate::server::Shared>,
    cloud_url: String,
    secret: String,
    shutdown: CancellationToken,
) {
    let url = format!("{}/v1/relay/revocations", cloud_url.trim_end_matches('/'));
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "revocation poller not started: HTTP client");
            return;
        }
    };
    tracing::info!(%url, "polling the control plane for authtoken revocations");
    let mut cursor = 0i64;
    let mut wait = Duration::ZERO;
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        match fetch(&client, &url, &secret, cursor).await {
            Ok(list) => {
                if failures > 0 {
                    tracing::info!("revocation feed reachable again");
                }
                failures = 0;
                for atk in &list.revoked {
                    let n = shared.revocations.revoke(atk);
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
                failures = failures.saturating_add(1);
                wait = POLL_INTERVAL
                    .saturating_mul(1 << failures.min(4))
                    .min(MAX_BACKOFF);
                tracing::warn!(error = %e, retry_in_s = wait.as_secs(), "revocation feed poll failed");
            }
        }
    }
}

/// The HTTP client for the control plane: public web roots, bounded timeouts.
pub(crate) fn client() -> Result<reqwest::Client, String> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    after: i64,
) -> Result<RevocationList, String> {
    let mut resp = client
        .get(format!("{url}?after={after}"))
        .bearer_auth(secret)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err("answer too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("bad answer: {e}"))
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
