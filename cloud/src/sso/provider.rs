//! Talking to an organisation's OpenID Connect provider: its discovery document (OIDC
//! Discovery §4), its keys (JWKS), and the token endpoint (RFC 6749 §4.1.3 with PKCE,
//! RFC 7636). Every call has a timeout and a size cap, follows no redirects, and goes only to
//! the issuer's own origin unless the discovery document names https endpoints; plain HTTP
//! and private addresses are refused unless `[sso] allow_insecure_issuers` is on.

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one call to the provider may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the provider (real discovery documents and key sets are a
/// few KiB; this also bounds what the cache below holds).
const MAX_BYTES: usize = 64 * 1024;
/// How long discovery documents and keys are kept.
const CACHE_TTL: Duration = Duration::from_secs(3600);
/// Keys are fetched again for an unknown `kid` at most this often (a key rolled over).
const REFETCH_AFTER: Duration = Duration::from_secs(30);
/// Issuers kept at once (one per organisation with single sign-on, plus trial set-ups); the
/// oldest goes first. With [`MAX_BYTES`] per document, at most 32 MiB.
const MAX_CACHED: usize = 256;

/// Why the provider could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The issuer or an endpoint is not a URL this server will call.
    #[error("{0}")]
    Url(String),
    /// The call failed or timed out.
    #[error("calling the provider: {0}")]
    Http(String),
    /// The provider answered with an error or something unreadable.
    #[error("the provider answered: {0}")]
    Answer(String),
}

/// The parts of a discovery document used here.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// Must equal the configured issuer.
    pub issuer: String,
    /// Where the browser goes.
    pub authorization_endpoint: String,
    /// Where codes are exchanged.
    pub token_endpoint: String,
    /// The keys.
    pub jwks_uri: String,
}

#[derive(Clone)]
struct Cached {
    meta: Metadata,
    keys: Arc<JwkSet>,
    fetched: Instant,
}

/// Discovery documents and keys by issuer, kept for an hour.
#[derive(Default, Clone)]
pub struct Providers {
    cache: Arc<Mutex<HashMap<String, Cached>>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Providers")
    }
}

/// Checks that `url` is one this server calls: https (or, when `insecure` is allowed, http),
/// and not an address of the control plane's own networks unless allowed.
pub fn check_url(url: &str, insecure: bool) -> Result<reqwest::Url, ProviderError> {
    let u = reqwest::Url::parse(url).map_err(|e| ProviderError::Url(format!("{url}: {e}")))?;
    match u.scheme() {
        "https" => {}
        "http" if insecure => {}
        other => {
            return Err(ProviderError::Url(format!(
                "{url}: the issuer must use https, not {other}"
            )));
        }
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(ProviderError::Url(format!("{url}: no credentials in URLs")));
    }
    let host = u
        .host_str()
        .ok_or_else(|| ProviderError::Url(format!("{url}: no host")))?;
    if !insecure {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let private = match bare.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => {
                v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
            }
            Ok(IpAddr::V6(v6)) => {
                v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00
            }
            Err(_) => host == "localhost" || host.ends_with(".localhost"),
        };
        if private {
            return Err(ProviderError::Url(format!(
                "{url}: the issuer is on a private or loopback address"
            )));
        }
    }
    Ok(u)
}

fn client() -> Result<reqwest::Client, ProviderError> {
    // reqwest's rustls needs a process-wide crypto provider; `fdt-cloud` installs ring at
    // start, and this makes sure of it wherever the control plane is embedded (reqwest would
    // panic without one). An error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ProviderError::Http(e.to_string()))
}

/// Reads at most [`MAX_BYTES`] of an answer as JSON.
async fn read_json<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ProviderError> {
    let status = resp.status();
    let mut resp = resp;
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ProviderError::Http(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(ProviderError::Answer(format!(
                "more than {MAX_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        // An OAuth error (`{"error": "invalid_grant", …}`) says what went wrong; nothing else
        // of the body is repeated.
        let error = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let error: String = error.chars().take(64).collect();
        return Err(ProviderError::Answer(format!("{status} {error}")));
    }
    serde_json::from_slice(&body).map_err(|e| ProviderError::Answer(e.to_string()))
}

async fn get_json<T: DeserializeOwned>(url: &reqwest::Url) -> Result<T, ProviderError> {
    let resp = client()?
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| ProviderError::Http(e.to_string()))?;
    read_json(resp).await
}

impl Providers {
    /// `issuer`'s metadata and keys: cached, or fetched; `refresh_keys` fetches the keys again
    /// (an unknown `kid`), at most every [`REFETCH_AFTER`].
    pub async fn get(
        &self,
        issuer: &str,
        insecure: bool,
        refresh_keys: bool,
    ) -> Result<(Metadata, Arc<JwkSet>), ProviderError> {
        let cached = self.cache.lock().ok().and_then(|c| c.get(issuer).cloned());
        if let Some(c) = &cached {
            let fresh = c.fetched.elapsed() < CACHE_TTL;
            let may_refetch = c.fetched.elapsed() >= REFETCH_AFTER;
            if fresh && !(refresh_keys && may_refetch) {
                return Ok((c.meta.clone(), c.keys.clone()));
            }
        }
        let base = check_url(issuer, insecure)?;
        let well_known = base
            .join(&format!(
                "{}/.well-known/openid-configuration",
                base.path().trim_end_matches('/')
            ))
            .map_err(|e| ProviderError::Url(e.to_string()))?;
        let meta: Metadata = get_json(&well_known).await?;
        // OIDC Discovery §4.3: the document's issuer is the one configured, exactly.
        if meta.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(ProviderError::Answer(format!(
                "discovery names the issuer {:?}, not {issuer:?}",
                meta.issuer
            )));
        }
        for endpoint in [
            &meta.authorization_endpoint,
            &meta.token_endpoint,
            &meta.jwks_uri,
        ] {
            check_url(endpoint, insecure)?;
        }
        let keys: JwkSet = get_json(&check_url(&meta.jwks_uri, insecure)?).await?;
        let keys = Arc::new(keys);
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= MAX_CACHED && !c.contains_key(issuer) {
                let oldest = c
                    .iter()
                    .min_by_key(|(_, v)| v.fetched)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    c.remove(&k);
                }
            }
            c.insert(
                issuer.to_owned(),
                Cached {
                    meta: meta.clone(),
                    keys: keys.clone(),
                    fetched: Instant::now(),
                },
            );
        }
        Ok((meta, keys))
    }
}

/// What the token endpoint answers (the parts used).
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    /// The id_token to check.
    pub id_token: String,
}

/// A code exchange at the token endpoint.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// The code from the callback.
    pub code: &'a str,
    /// The redirect URI sent with the authorization request.
    pub redirect_uri: &'a str,
    /// The PKCE verifier.
    pub verifier: &'a str,
    /// Our client id.
    pub client_id: &'a str,
    /// Our client secret, for a confidential client (sent as HTTP Basic, RFC 6749 §2.3.1).
    pub client_secret: Option<&'a str>,
}

/// Trades a code for tokens.
pub async fn exchange(
    meta: &Metadata,
    x: &Exchange<'_>,
    insecure: bool,
) -> Result<TokenAnswer, ProviderError> {
    let url = check_url(&meta.token_endpoint, insecure)?;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", x.code)
        .append_pair("redirect_uri", x.redirect_uri)
        .append_pair("code_verifier", x.verifier)
        .append_pair("client_id", x.client_id)
        .finish();
    let mut req = client()?
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(form);
    if let Some(secret) = x.client_secret {
        req = req.basic_auth(form_encode(x.client_id), Some(form_encode(secret)));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| ProviderError::Http(e.to_string()))?;
    read_json(resp).await
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic encoding.
fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn only_public_https_issuers_unless_allowed() {
        assert!(check_url("https://idp.example.com", false).is_ok());
        for bad in [
            "http://idp.example.com",
            "https://127.0.0.1",
            "https://10.0.0.8/oidc",
            "https://[::1]:8443",
            "https://localhost",
            "https://user:pw@idp.example.com",
            "ftp://idp.example.com",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9400", true).is_ok());
    }

    #[test]
    fn client_credentials_are_form_encoded() {
        assert_eq!(form_encode("a b:c/é"), "a+b%3Ac%2F%C3%A9");
    }
}
