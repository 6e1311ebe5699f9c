//! The relays' part of the control plane's ACME orders: HTTP-01 answers on the HTTP port
//! ([`acme_http01`]) and TLS-ALPN-01 challenge certificates on the HTTPS port
//! ([`tls_alpn01`]), both fetched from the control plane when a CA asks, for the very domain
//! it asks about. Lookups are bounded in number and time: visitors choose what to ask.

use crate::edge::context::Edge;
use crate::edge::error::{Body, full};
use http::{HeaderValue, Response, StatusCode, header};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Path prefix of ACME HTTP-01 challenges (RFC 8555 §8.3).
const ACME_PREFIX: &str = "/.well-known/acme-challenge/";
/// Most ACME challenge lookups in flight at once; more get 404 (a CA validates a handful).
pub(crate) const MAX_ACME_LOOKUPS: usize = 32;
/// How long the control plane has to answer a challenge lookup.
const ACME_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// The ALPN protocol of TLS-ALPN-01 (RFC 8737 §6.2).
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The answer to an ACME HTTP-01 request for `host` at `path`, when it is one: the key
/// authorization the control plane holds for that token, if it was issued for this very
/// domain; 404 otherwise.
pub(crate) async fn acme_http01(edge: &Edge, host: &str, path: &str) -> Option<Response<Body>> {
    let token = path.strip_prefix(ACME_PREFIX)?;
    let well_formed = !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let slot = edge.acme_lookups.try_acquire();
    let answer = match (&edge.control, well_formed && slot.is_ok()) {
        (Some(control), true) => {
            match tokio::time::timeout(ACME_LOOKUP_TIMEOUT, control.acme_challenge(token)).await {
                Ok(Ok(a)) if a.domain == host => Some(a.key_authorization),
                Ok(Ok(a)) => {
                    tracing::warn!(%host, issued_for = %a.domain, "ACME challenge asked on another domain");
                    None
                }
                Ok(Err(e)) => {
                    tracing::debug!(%host, error = %e, "no ACME challenge for this token");
                    None
                }
                Err(_) => None,
            }
        }
        _ => None,
    };
    let mut resp = match answer {
        Some(body) => {
            let mut r = Response::new(full(body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            r
        }
        None => {
            let mut r = Response::new(full("no such ACME challenge\n"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(resp)
}

/// Whether a ClientHello's ALPN list offers `acme-tls/1`.
pub(crate) fn asks_acme_tls<'a>(mut alpn: impl Iterator<Item = &'a [u8]>) -> bool {
    alpn.any(|p| p == ACME_TLS_ALPN)
}

/// The signing key for a TLS-ALPN-01 challenge certificate. Its leaf is not checked against
/// the key as other certificates are: webpki refuses to parse a certificate with the critical
/// `acmeIdentifier` extension, and nothing but the CA ever sees this one.
fn challenge_key(c: &fdt_api::AcmeTlsAlpnCertificate) -> Result<Arc<CertifiedKey>, String> {
    let chain = CertificateDer::pem_slice_iter(c.chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("chain: {e}"))?;
    if chain.is_empty() {
        return Err("empty chain".into());
    }
    let key =
        PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).map_err(|e| format!("key: {e}"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| e.to_string())?;
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

/// Answers a CA's TLS-ALPN-01 validation of `host` on a connection whose ClientHello offered
/// `acme-tls/1`: completes the handshake with the challenge certificate the control plane
/// makes for `host`'s pending challenge, then closes (RFC 8737 §3: no application data).
/// Without a pending challenge, or with every lookup slot busy, the connection is dropped.
pub(crate) async fn tls_alpn01<IO>(
    edge: &Edge,
    host: &str,
    start: tokio_rustls::StartHandshake<IO>,
    timeout: Duration,
) where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(_slot) = edge.acme_lookups.try_acquire() else {
        tracing::debug!(%host, "TLS-ALPN-01 lookup refused: too many in flight");
        return;
    };
    let Some(control) = &edge.control else {
        return;
    };
    let cert = match tokio::time::timeout(ACME_LOOKUP_TIMEOUT, control.acme_tls_alpn(host)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::debug!(%host, error = %e, "no TLS-ALPN-01 challenge for this domain");
            return;
        }
        Err(_) => return,
    };
    let key = match challenge_key(&cert) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(%host, error = %e, "unusable TLS-ALPN-01 certificate from the control plane");
            return;
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(builder) =
        rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()
    else {
        return;
    };
    let mut cfg = builder
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)));
    cfg.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    if let Ok(Ok(mut tls)) = tokio::time::timeout(timeout, start.into_stream(Arc::new(cfg))).await {
        tracing::info!(%host, "answered a TLS-ALPN-01 validation");
        let _ = tls.shutdown().await;
    }
}
