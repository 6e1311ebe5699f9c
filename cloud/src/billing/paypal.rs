//! PayPal webhooks, verified offline as PayPal documents: the `PAYPAL-TRANSMISSION-SIG` is a
//! SHA256withRSA signature over `<transmission id>|<transmission time>|<webhook id>|<CRC32 of
//! the raw body, decimal>`, made with the certificate at `PAYPAL-CERT-URL`.
//!
//! The certificate URL comes from the request, so it is checked before anything is fetched:
//! https only, on a host of `[billing.paypal] cert_hosts` (PayPal's own), no credentials in it.
//! The certificate is fetched with a size and time limit, chain-checked to the trusted roots for
//! `cert_name` (PayPal's message-verification name), and cached by URL for a day.

use crate::config::PaypalConfig;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest certificate chain fetched.
const MAX_CERT_BYTES: usize = 64 * 1024;
/// Time limit of a fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a fetched certificate is trusted without fetching it again.
const CACHE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most certificates cached (PayPal rotates one at a time).
const CACHE_MAX: usize = 16;
/// Longest header value read.
const MAX_HEADER: usize = 2048;

/// Why a delivery's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaypalError {
    /// A header is missing or malformed.
    #[error("missing or malformed {0}")]
    Malformed(&'static str),
    /// The certificate URL is not PayPal's: nothing was fetched.
    #[error("certificate URL refused: {0}")]
    CertUrl(String),
    /// The certificate could not be fetched (try again later).
    #[error("fetching the certificate failed: {0}")]
    Fetch(String),
    /// The certificate does not chain to a trusted root for PayPal's name.
    #[error("certificate refused: {0}")]
    Cert(String),
    /// The signature does not match.
    #[error("signature does not match")]
    Mismatch,
}

/// The signed string: `id|time|webhook_id|crc32(body)`.
pub fn signed_string(transmission_id: &str, time: &str, webhook_id: &str, body: &[u8]) -> String {
    format!(
        "{transmission_id}|{time}|{webhook_id}|{}",
        crc32fast::hash(body)
    )
}

/// `url` if it may be fetched: https, on one of `hosts` (`host` or `host:port`), without
/// credentials, query or fragment.
pub fn check_cert_url(url: &str, hosts: &[String]) -> Result<url::Url, PaypalError> {
    let u = url::Url::parse(url).map_err(|_| PaypalError::CertUrl("not a URL".into()))?;
    if u.scheme() != "https" {
        return Err(PaypalError::CertUrl("not https".into()));
    }
    if !u.username().is_empty()
        || u.password().is_some()
        || u.query().is_some()
        || u.fragment().is_some()
    {
        return Err(PaypalError::CertUrl(
            "credentials, query or fragment".into(),
        ));
    }
    let host = u.host_str().unwrap_or_default();
    let with_port = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    if hosts
        .iter()
        .any(|h| *h == with_port || (u.port().is_none() && *h == host))
    {
        Ok(u)
    } else {
        Err(PaypalError::CertUrl(format!(
            "{with_port} is not an allowed PayPal host"
        )))
    }
}

/// URL → (fetched at, the leaf's RSA public key).
type KeyCache = HashMap<String, (Instant, Arc<Vec<u8>>)>;

/// Checks PayPal deliveries; holds the certificate cache.
pub struct PaypalVerifier {
    webhook_id: String,
    cert_hosts: Vec<String>,
    cert_name: ServerName<'static>,
    roots: Arc<rustls::RootCertStore>,
    http: reqwest::Client,
    cache: Mutex<KeyCache>,
}

impl std::fmt::Debug for PaypalVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaypalVerifier")
            .field("cert_hosts", &self.cert_hosts)
            .finish_non_exhaustive()
    }
}

fn header<'a>(h: &'a HeaderMap, name: &'static str) -> Result<&'a str, PaypalError> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_HEADER)
        .ok_or(PaypalError::Malformed(name))
}

impl PaypalVerifier {
    /// A verifier for `cfg`: the public roots (webpki-roots) plus `cfg.extra_roots`.
    pub fn new(cfg: &PaypalConfig) -> Result<Self, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &cfg.extra_roots {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            for c in CertificateDer::pem_slice_iter(&pem) {
                roots
                    .add(c.map_err(|e| format!("{}: {e}", path.display()))?)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let cert_name =
            ServerName::try_from(cfg.cert_name.clone()).map_err(|e| format!("cert_name: {e}"))?;
        Ok(Self {
            webhook_id: cfg.webhook_id.clone(),
            cert_hosts: cfg.cert_hosts.clone(),
            cert_name,
            roots,
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Checks a delivery's signature.
    pub async fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), PaypalError> {
        let id = header(headers, "paypal-transmission-id")?;
        let time = header(headers, "paypal-transmission-time")?;
        let sig = header(headers, "paypal-transmission-sig")?;
        let url = header(headers, "paypal-cert-url")?;
        if header(headers, "paypal-auth-algo")? != "SHA256withRSA" {
            return Err(PaypalError::Malformed("paypal-auth-algo"));
        }
        let sig = STANDARD
            .decode(sig)
            .map_err(|_| PaypalError::Malformed("paypal-transmission-sig"))?;
        // The URL is the sender's choice: checked before anything is fetched.
        let url = check_cert_url(url, &self.cert_hosts)?;
        let key = self.key(&url).await?;
        let msg = signed_string(id, time, &self.webhook_id, body);
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.as_slice())
            .verify(msg.as_bytes(), &sig)
            .map_err(|_| PaypalError::Mismatch)
    }

    /// The RSA public key of the certificate at `url`, from the cache or fetched and checked.
    async fn key(&self, url: &url::Url) -> Result<Arc<Vec<u8>>, PaypalError> {
        let cached = self
            .cache
            .lock()
            .map_err(|_| PaypalError::Fetch("cache poisoned".into()))?
            .get(url.as_str())
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, k)| k.clone());
        if let Some(k) = cached {
            return Ok(k);
        }
        let pem = self.fetch(url).await?;
        let key = Arc::new(self.checked_key(&pem)?);
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| PaypalError::Fetch("cache poisoned".into()))?;
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(url.to_string(), (Instant::now(), key.clone()));
        Ok(key)
    }

    async fn fetch(&self, url: &url::Url) -> Result<Vec<u8>, PaypalError> {
        let fail = |e: reqwest::Error| PaypalError::Fetch(e.without_url().to_string());
        let mut resp = self.http.get(url.clone()).send().await.map_err(fail)?;
        if !resp.status().is_success() {
            return Err(PaypalError::Fetch(format!("HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(fail)? {
            if body.len() + chunk.len() > MAX_CERT_BYTES {
                return Err(PaypalError::Fetch("certificate too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Checks a PEM chain (leaf first) to the roots for `cert_name`, now; the leaf's RSA key.
    fn checked_key(&self, pem: &[u8]) -> Result<Vec<u8>, PaypalError> {
        let chain = CertificateDer::pem_slice_iter(pem)
            .take(8)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PaypalError::Cert(e.to_string()))?;
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or_else(|| PaypalError::Cert("no certificate".into()))?;
        let verifier = rustls::client::WebPkiServerVerifier::builder(self.roots.clone())
            .build()
            .map_err(|e| PaypalError::Cert(e.to_string()))?;
        verifier
            .verify_server_cert(leaf, intermediates, &self.cert_name, &[], UnixTime::now())
            .map_err(|e| PaypalError::Cert(e.to_string()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
            .map_err(|e| PaypalError::Cert(e.to_string()))?;
        Ok(cert.public_key().subject_public_key.data.to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_signed_string_has_the_body_crc32() {
        // CRC-32 (IEEE) of "123456789" is 0xCBF43926 = 3421780262, the standard check value.
        assert_eq!(
            signed_string("id-1", "2024-01-01T00:00:00Z", "WH-1", b"123456789"),
            "id-1|2024-01-01T00:00:00Z|WH-1|3421780262"
        );
    }

    #[test]
    fn only_https_urls_on_allowed_hosts_are_fetched() {
        let hosts = vec!["api.paypal.com".to_owned(), "127.0.0.1:8443".to_owned()];
        assert!(
            check_cert_url(
                "https://api.paypal.com/v1/notifications/certs/CERT-1",
                &hosts
            )
            .is_ok()
        );
        assert!(check_cert_url("https://127.0.0.1:8443/certs/CERT-1", &hosts).is_ok());
        for bad in [
            "http://api.paypal.com/certs/CERT-1",
            "https://evil.example/certs/CERT-1",
            "https://api.paypal.com.evil.example/c",
            "https://api.paypal.com@evil.example/c",
            "https://user@api.paypal.com/c",
            "https://api.paypal.com/c?x=1",
            "https://127.0.0.1:9999/certs/CERT-1",
            "https://127.0.0.1/certs/CERT-1",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(check_cert_url(bad, &hosts).is_err(), "{bad}");
        }
    }
}
