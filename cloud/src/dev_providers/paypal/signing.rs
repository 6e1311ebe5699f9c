//! How the fake signs its webhooks, as PayPal documents: SHA256withRSA over
//! `<transmission id>|<transmission time>|<webhook id>|<CRC32 of the body>`, with the signing
//! certificate served over https for the receiver to fetch (`PAYPAL-CERT-URL`).
//!
//! The key is a committed test key ([`TEST_SIGNING_KEY`]: it signs nothing real). Each fake
//! makes its own CA, a TLS certificate for 127.0.0.1 and the signing certificate (for PayPal's
//! message-verification name) from that CA, and serves the chain from a local https host, so a
//! receiver that trusts the CA (`extra_roots`) and allows the host (`cert_hosts`) verifies the
//! deliveries exactly as it verifies PayPal's.

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The committed RSA test key (PKCS#8 PEM) the fake signs with.
pub const TEST_SIGNING_KEY: &str = include_str!("test-signing-key.pem");

/// Longest request head the certificate host reads.
const MAX_HEAD: usize = 16 * 1024;

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
}

/// A test CA, a TLS certificate for 127.0.0.1 from it, and a signing certificate for `name`
/// over `signing_key` from it.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA certificate (PEM): what the receiver adds to its roots.
    pub ca_pem: String,
    /// The TLS certificate and key (PEM) of the https host.
    pub tls: (String, String),
    /// The signing certificate (PEM), what the https host serves.
    pub signing_cert_pem: String,
}

impl TestPki {
    /// Makes the three certificates.
    pub fn new(name: &str, signing_key: &rcgen::KeyPair) -> Result<Self, rcgen::Error> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "PayPal test CA");
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
        let tls_key = rcgen::KeyPair::generate()?;
        let tls = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])?
            .signed_by(&tls_key, &issuer)?;
        let mut signing = rcgen::CertificateParams::new(vec![name.to_owned()])?;
        signing.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let signing = signing.signed_by(signing_key, &issuer)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            tls: (tls.pem(), tls_key.serialize_pem()),
            signing_cert_pem: signing.pem(),
        })
    }
}

/// An https host on 127.0.0.1 serving one PEM document at every path, counting the fetches.
pub struct CertHost {
    /// Where it listens.
    pub addr: SocketAddr,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CertHost {
    /// Serves `served` over TLS with `tls` (certificate and key PEM).
    pub async fn start(tls: &(String, String), served: String) -> io::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let chain = CertificateDer::from_pem_slice(tls.0.as_bytes())
            .map_err(|e| invalid("certificate", e))?;
        let key = PrivateKeyDer::from_pem_slice(tls.1.as_bytes()).map_err(|e| invalid("key", e))?;
        let cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![chain], key)
            .map_err(|e| invalid("TLS", e))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let (listener, addr) = super::super::fake_listener("PayPal certificate host").await?;
        let fetches = Arc::new(AtomicUsize::new(0));
        let count = fetches.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (acceptor, served, count) = (acceptor.clone(), served.clone(), count.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(sock).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(n) if n > 0 && head.len() + n <= MAX_HEAD => {
                                head.extend_from_slice(&buf[..n]);
                            }
                            _ => return,
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-pem-file\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{served}",
                        served.len()
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Ok(Self {
            addr,
            fetches,
            task,
        })
    }

    /// The certificate's URL (any path serves it), as PayPal names its own.
    pub fn url(&self) -> String {
        format!("https://{}/v1/notifications/certs/CERT-360caa42", self.addr)
    }

    /// Fetches served so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for CertHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// PayPal's delivery headers for `body`, signed with `key` (PKCS#8 PEM) for `webhook_id` at
/// `time`, naming the certificate at `cert_url`.
pub fn signed_headers(
    body: &[u8],
    key: &str,
    webhook_id: &str,
    cert_url: &str,
    transmission_id: &str,
    time: &str,
) -> io::Result<Vec<(&'static str, String)>> {
    let msg = crate::billing::paypal::signed_string(transmission_id, time, webhook_id, body);
    let der = PrivatePkcs8KeyDer::from_pem_slice(key.as_bytes()).map_err(|e| invalid("key", e))?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|e| invalid("key", e))?;
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        msg.as_bytes(),
        &mut sig,
    )
    .map_err(|e| invalid("signing", e))?;
    Ok(vec![
        ("paypal-transmission-id", transmission_id.to_owned()),
        ("paypal-transmission-time", time.to_owned()),
        (
            "paypal-transmission-sig",
            base64::engine::general_purpose::STANDARD.encode(sig),
        ),
        ("paypal-cert-url", cert_url.to_owned()),
        ("paypal-auth-algo", "SHA256withRSA".to_owned()),
    ])
}

/// The fake's signer: its PKI, the https host serving the signing certificate, and the key.
pub(super) struct Signer {
    pub(super) pki: TestPki,
    pub(super) host: CertHost,
}

impl Signer {
    /// Makes the PKI for PayPal's certificate name `name` and serves the certificate.
    pub(super) async fn start(name: &str) -> io::Result<Self> {
        let key = rcgen::KeyPair::from_pem(TEST_SIGNING_KEY).map_err(|e| invalid("key", e))?;
        let pki = TestPki::new(name, &key).map_err(|e| invalid("certificates", e))?;
        let host = CertHost::start(&pki.tls, pki.signing_cert_pem.clone()).await?;
        Ok(Self { pki, host })
    }

    /// The headers for `body`, sent to the webhook `webhook_id`.
    pub(super) fn headers(
        &self,
        body: &[u8],
        webhook_id: &str,
        transmission_id: &str,
        time: &str,
    ) -> io::Result<Vec<(&'static str, String)>> {
        signed_headers(
            body,
            TEST_SIGNING_KEY,
            webhook_id,
            &self.host.url(),
            transmission_id,
            time,
        )
    }
}
