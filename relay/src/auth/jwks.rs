//! The control plane's public keys, fetched from its JWKS URL and kept fresh.
//!
//! [`JwksKeys`] holds the current set of Ed25519 keys by `kid`. It is refreshed every
//! [`JwksOptions::refresh_interval`] by [`JwksKeys::run_refresh`] (sooner, every
//! [`JwksOptions::retry_interval`], while no fetch has succeeded yet), and on demand when a
//! token names a key it does not know — at most once per [`JwksOptions::min_refetch_interval`],
//! so tokens with made-up key IDs cannot make the relay hammer the cloud. A failed fetch keeps
//! the previous set. Only `OKP`/`Ed25519` keys for `EdDSA` signatures are taken; others in the
//! document are skipped.

use crate::auth::keys::VerifyingKey;
use crate::control::client::{ClientBuildError, http_client};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fdt_api::ClientError;
use fdt_api::client::read_capped;
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Largest JWKS document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Why a JWKS could not be fetched or used.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The URL is not an absolute http(s) URL.
    #[error("JWKS URL {0:?} is not an http:// or https:// URL")]
    BadUrl(String),
    /// The HTTP client could not be built.
    #[error("JWKS client: {0}")]
    Client(#[from] ClientBuildError),
    /// The request failed or timed out.
    #[error("fetching the JWKS: {0}")]
    Fetch(String),
    /// The server answered with an error status.
    #[error("fetching the JWKS: HTTP {0}")]
    Status(u16),
    /// The document is larger than [`MAX_JWKS_BYTES`].
    #[error("JWKS larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// The document is not a JWKS.
    #[error("JWKS does not parse: {0}")]
    Parse(String),
    /// The document has no usable Ed25519 key.
    #[error("JWKS has no usable Ed25519 key")]
    NoUsableKey,
}

/// A future returned by a [`JwksSource`].
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, JwksError>> + Send + 'a>>;

/// Where JWKS documents come from: the cloud over HTTP, or a fake in tests.
pub trait JwksSource: Send + Sync + std::fmt::Debug + 'static {
    /// Fetches the current document (at most [`MAX_JWKS_BYTES`]).
    fn fetch(&self) -> FetchFuture<'_>;
}

/// Fetches the JWKS from a URL with reqwest (rustls with the ring provider, web PKI roots).
#[derive(Debug)]
pub struct HttpJwksSource {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl HttpJwksSource {
    /// A source for `url` with a 5 s request timeout (an agent's authentication may be waiting
    /// on a refetch).
    pub fn new(url: &str) -> Result<Self, JwksError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| JwksError::BadUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(JwksError::BadUrl(url.to_owned()));
        }
        let client = http_client(Duration::from_secs(5))?;
        Ok(Self {
            url: parsed,
            client,
        })
    }
}

impl JwksSource for HttpJwksSource {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let resp = self
                .client
                .get(self.url.clone())
                .send()
                .await
                .map_err(|e| JwksError::Fetch(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(JwksError::Status(resp.status().as_u16()));
            }
            read_capped(resp, MAX_JWKS_BYTES)
                .await
                .map_err(|e| match e {
                    ClientError::TooLarge { .. } => JwksError::TooLarge,
                    e => JwksError::Fetch(e.to_string()),
                })
        })
    }
}

/// Refresh timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksOptions {
    /// Time between scheduled refreshes.
    pub refresh_interval: Duration,
    /// Time between scheduled attempts while no fetch has succeeded yet.
    pub retry_interval: Duration,
    /// Least time between two refetches caused by unknown key IDs.
    pub min_refetch_interval: Duration,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(300),
            retry_interval: Duration::from_secs(5),
            min_refetch_interval: Duration::from_secs(30),
        }
    }
}

/// The published keys, kept fresh. Shared by every agent session through the verifier.
#[derive(Debug)]
pub struct JwksKeys {
    source: Box<dyn JwksSource>,
    opts: JwksOptions,
    keys: RwLock<Arc<Vec<VerifyingKey>>>,
    /// Serialises fetches; holds when the last unknown-kid refetch started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl JwksKeys {
    /// An empty key set fed by `source`; call [`JwksKeys::refresh`] or run
    /// [`JwksKeys::run_refresh`] to fill it.
    pub fn new(source: Box<dyn JwksSource>, opts: JwksOptions) -> Arc<Self> {
        Arc::new(Self {
            source,
            opts,
            keys: RwLock::new(Arc::default()),
            fetching: tokio::sync::Mutex::new(None),
        })
    }

    /// The keys as of the last successful fetch.
    pub fn current(&self) -> Arc<Vec<VerifyingKey>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Fetches the document now and replaces the key set; returns the number of keys. On
    /// error the previous set stays.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let _guard = self.fetching.lock().await;
        self.fetch_and_swap().await
    }

    /// Refetches because a token named an unknown key, unless such a refetch started less
    /// than [`JwksOptions::min_refetch_interval`] ago. Returns whether it fetched.
    pub async fn refresh_for_unknown_kid(&self) -> bool {
        let mut last = self.fetching.lock().await;
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < self.opts.min_refetch_interval) {
            return false;
        }
        *last = Some(now);
        if let Err(e) = self.fetch_and_swap().await {
            tracing::warn!(error = %e, "JWKS refetch for an unknown key failed");
        }
        true
    }

    /// Refreshes on schedule until `shutdown` is cancelled: at once, then every refresh
    /// interval (every retry interval until a fetch has succeeded).
    pub async fn run_refresh(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ever_ok = false;
        loop {
            match self.refresh().await {
                Ok(n) => {
                    tracing::debug!(keys = n, "JWKS refreshed");
                    ever_ok = true;
                }
                Err(e) if ever_ok => {
                    tracing::warn!(error = %e, "JWKS refresh failed; keeping the previous keys")
                }
                Err(e) => {
                    tracing::error!(error = %e, "JWKS fetch failed; agents with cloud tokens are refused until it succeeds")
                }
            }
            let wait = if ever_ok {
                self.opts.refresh_interval
            } else {
                self.opts.retry_interval
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    async fn fetch_and_swap(&self) -> Result<usize, JwksError> {
        let body = self.source.fetch().await?;
        let keys = parse_jwks(&body)?;
        let n = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(n)
    }
}

#[derive(Deserialize)]
struct JwksDoc {
    keys: Vec<JwkDoc>,
}

#[derive(Deserialize)]
struct JwkDoc {
    kty: String,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    key_use: Option<String>,
}

/// The usable keys of a JWKS document: Ed25519 keys with a `kid`, for EdDSA signatures.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<VerifyingKey>, JwksError> {
    let doc: JwksDoc = serde_json::from_slice(body).map_err(|e| JwksError::Parse(e.to_string()))?;
    let keys: Vec<VerifyingKey> = doc.keys.into_iter().filter_map(usable_key).collect();
    if keys.is_empty() {
        return Err(JwksError::NoUsableKey);
    }
    Ok(keys)
}

fn usable_key(k: JwkDoc) -> Option<VerifyingKey> {
    let ed25519 = k.kty == "OKP" && k.crv.as_deref() == Some("Ed25519");
    let for_eddsa = k.alg.as_deref().is_none_or(|a| a == "EdDSA");
    let for_signing = k.key_use.as_deref().is_none_or(|u| u == "sig");
    let kid = k.kid.filter(|kid| !kid.is_empty());
    if !(ed25519 && for_eddsa && for_signing) || kid.is_none() {
        tracing::debug!(kty = %k.kty, ?kid, "JWKS key skipped: not an Ed25519 signing key with a kid");
        return None;
    }
    let raw = k.x.and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())?;
    let raw: [u8; 32] = raw.try_into().ok()?;
    Some(VerifyingKey::from_raw(kid?, &raw))
}

#[cfg(test)]
mod tests;
