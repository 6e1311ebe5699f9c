//! PayPal webhooks, verified offline: SHA256withRSA over `id|time|webhook_id|crc32(body)` with
//! the certificate at `PAYPAL-CERT-URL`, fetched only from an allowed host over https,
//! chain-checked and cached. The signing key is the committed test key the PayPal fake signs
//! with, its certificate served by a local https host.

use super::billing::{account, plan, post};
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_api::Plan;
use fdt_cloud::config::PaypalConfig;
use fdt_cloud::testing::paypal::signing::{
    CertHost, TEST_SIGNING_KEY as SIGNING_KEY, TestPki, signed_headers,
};
use serde_json::json;

on_both_databases!(paypal_webhooks_are_verified_offline_with_a_certificate_from_an_allowed_host);

const WEBHOOK_ID: &str = "WH-TEST-0001";

/// The PayPal headers for `body`, signed with `key` for `webhook_id`, naming `cert_url`.
fn signed(
    body: &str,
    key: &str,
    webhook_id: &str,
    cert_url: &str,
    id: &str,
) -> Vec<(&'static str, String)> {
    signed_headers(
        body.as_bytes(),
        key,
        webhook_id,
        cert_url,
        id,
        "2026-12-06T02:00:00Z",
    )
    .unwrap()
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
    let TestPki {
        ca_pem: ca,
        tls,
        signing_cert_pem,
    } = TestPki::new("paypal.test", &signing_key).unwrap();
    let host = CertHost::start(&tls, signing_cert_pem).await.unwrap();
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
    let evil_tls = TestPki::new("paypal.test", &signing_key).unwrap().tls;
    let evil = CertHost::start(&evil_tls, self_signed.pem()).await.unwrap();
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
