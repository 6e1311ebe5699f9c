//! PayPal webhooks, verified offline: SHA256withRSA over `id|time|webhook_id|crc32(body)` with
//! the certificate at `PAYPAL-CERT-URL`, fetched only from an allowed host over https,
//! chain-checked and cached. The signing key is a committed test key
//! (`tests/fixtures/paypal-test-signing-key.pem`), its certificate served by a local https host.

use super::billing::{account, plan, post};
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use base64::Engine;
use fdt_api::Plan;
use fdt_cloud::config::PaypalConfig;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both_databases!(paypal_webhooks_are_verified_offline_with_a_certificate_from_an_allowed_host);

const WEBHOOK_ID: &str = "WH-TEST-0001";
const SIGNING_KEY: &str = include_str!("../fixtures/paypal-test-signing-key.pem");

/// An https host serving one PEM document at every path, counting fetches.
struct CertHost {
    addr: std::net::SocketAddr,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CertHost {
    async fn start(tls: (String, String), served: String) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let chain = rustls::pki_types::CertificateDer::from_pem_slice(tls.0.as_bytes()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(tls.1.as_bytes()).unwrap();
        let cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![chain], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
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
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
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
        Self {
            addr,
            fetches,
            task,
        }
    }

    fn url(&self) -> String {
        format!("https://{}/v1/notifications/certs/CERT-360caa42", self.addr)
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for CertHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

use rustls::pki_types::pem::PemObject;

/// A CA, a TLS certificate for 127.0.0.1, and PayPal's signing certificate (`name`, the
/// committed RSA key) from that CA: (CA PEM, TLS cert+key, signing certificate PEM).
fn pki(name: &str, signing_key: &rcgen::KeyPair) -> (String, (String, String), String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "PayPal test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    let tls_key = rcgen::KeyPair::generate().unwrap();
    let tls = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&tls_key, &issuer)
        .unwrap();
    let mut signing = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    signing.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let signing = signing.signed_by(signing_key, &issuer).unwrap();
    (
        ca_cert.pem(),
        (tls.pem(), tls_key.serialize_pem()),
        signing.pem(),
    )
}

/// The PayPal headers for `body`, signed with `key` for `webhook_id`, naming `cert_url`.
fn signed(
    body: &str,
    key: &str,
    webhook_id: &str,
    cert_url: &str,
    id: &str,
) -> Vec<(&'static str, String)> {
    let time = "2026-12-06T02:00:00Z";
    let msg = fdt_cloud::billing::paypal::signed_string(id, time, webhook_id, body.as_bytes());
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        msg.as_bytes(),
        &mut sig,
    )
    .unwrap();
    vec![
        ("paypal-transmission-id", id.to_owned()),
        ("paypal-transmission-time", time.to_owned()),
        (
            "paypal-transmission-sig",
            base64::engine::general_purpose::STANDARD.encode(sig),
        ),
        ("paypal-cert-url", cert_url.to_owned()),
        ("paypal-auth-algo", "SHA256withRSA".to_owned()),
    ]
}

fn event(id: &str, kind: &str, status: &str, account: &fdt_api::AccountId, at: &str) -> String {
    json!({"id": id, "event_version": "1.0", "create_time": at, "resource_type": "subscription",
        "event_type": kind,
        "resource": {"id": "I-BW452GLLEP1G", "plan_id": "P-PRO", "status": status,
            "custom_id": account.as_str(),
            "billing_info": {"next_billing_time": "2027-01-06T10:00:00Z"}}})
    .to_string()
}

async fn paypal_webhooks_are_verified_offline_with_a_certificate_from_an_allowed_host(db: &TestDb) {
    let signing_key = rcgen::KeyPair::from_pem(SIGNING_KEY).unwrap();
    let (ca, tls, signing_cert) = pki("paypal.test", &signing_key);
    let host = CertHost::start(tls.clone(), signing_cert.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let roots = dir.path().join("ca.pem");
    std::fs::write(&roots, &ca).unwrap();
    let allowed = host.addr.to_string();
    let app = TestApp::with_config(db, |c| {
        c.billing.paypal = Some(PaypalConfig {
            webhook_id: WEBHOOK_ID.into(),
            cert_hosts: vec![allowed],
            cert_name: "paypal.test".into(),
            extra_roots: Some(roots),
            plans: [("P-PRO".to_owned(), "pro".to_owned())]
                .into_iter()
                .collect(),
            ..Default::default()
        });
    });
    let (_, a) = account(&app, "a@example.com").await;

    let activated = event(
        "WH-1",
        "BILLING.SUBSCRIPTION.ACTIVATED",
        "ACTIVE",
        &a,
        "2026-12-06T02:00:00Z",
    );
    let r = post(
        &app,
        "paypal",
        &signed(&activated, SIGNING_KEY, WEBHOOK_ID, &host.url(), "t-1"),
        &activated,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["state"], "processed", "{}", r.json);
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    assert_eq!(host.fetches(), 1);

    // A tampered body (its CRC32 no longer matches the signed string): refused.
    let tampered = activated.replace("ACTIVE", "SUSPENDED");
    post(
        &app,
        "paypal",
        &signed(&activated, SIGNING_KEY, WEBHOOK_ID, &host.url(), "t-2"),
        &tampered,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    // Signed for another webhook: refused. The certificate came from the cache.
    let suspended = event(
        "WH-2",
        "BILLING.SUBSCRIPTION.SUSPENDED",
        "SUSPENDED",
        &a,
        "2026-12-06T02:01:00Z",
    );
    post(
        &app,
        "paypal",
        &signed(&suspended, SIGNING_KEY, "WH-OTHER", &host.url(), "t-3"),
        &suspended,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    assert_eq!(host.fetches(), 1);

    // A certificate URL on another host, whose self-signed certificate matches its own
    // signature: refused, and nothing is fetched from it.
    let evil_key = rcgen::KeyPair::from_pem(SIGNING_KEY).unwrap();
    let self_signed = rcgen::CertificateParams::new(vec!["paypal.test".to_owned()])
        .unwrap()
        .self_signed(&evil_key)
        .unwrap();
    let (_, evil_tls, _) = pki("paypal.test", &signing_key);
    let evil = CertHost::start(evil_tls, self_signed.pem()).await;
    post(
        &app,
        "paypal",
        &signed(&suspended, SIGNING_KEY, WEBHOOK_ID, &evil.url(), "t-4"),
        &suspended,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    assert_eq!(
        evil.fetches(),
        0,
        "nothing is fetched from a host that is not PayPal's"
    );
    // Plain http on the allowed host: refused before any fetch too.
    let http_url = host.url().replace("https://", "http://");
    post(
        &app,
        "paypal",
        &signed(&suspended, SIGNING_KEY, WEBHOOK_ID, &http_url, "t-5"),
        &suspended,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    assert_eq!(host.fetches(), 1);

    // Correctly signed: past due, still entitled.
    let r = post(
        &app,
        "paypal",
        &signed(&suspended, SIGNING_KEY, WEBHOOK_ID, &host.url(), "t-6"),
        &suspended,
    )
    .await;
    assert_eq!(r.json["state"], "processed", "{}", r.json);
    let subs = app.state.store().subscriptions(&a).await.unwrap();
    assert_eq!(subs[0].status, "past_due");
    assert_eq!(plan(&app, &a).await, Plan::Pro);
}
