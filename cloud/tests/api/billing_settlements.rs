//! Signed settlement receipts: refused (401, nothing stored) when the signature is stale,
//! made with another key or over another body; a receipt that matches the ledger opens
//! nothing and is stored once; every difference opens an incident with its amounts, which an
//! operator resolves (audited).

use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_cloud::billing::Provider;
use fdt_cloud::billing::ledger;
use fdt_cloud::billing::settlement::sign;
use fdt_cloud::clock::Clock;
use fdt_cloud::secret::Secret;
use fdt_cloud::store::NewLedgerTxn;
use serde_json::{Value, json};

on_both_databases!(settlements_are_verified_reconciled_and_mismatches_become_incidents);

const KEY: &str = "settlement-key-current";
const OLD_KEY: &str = "settlement-key-previous";

async fn book(
    app: &TestApp,
    kind: &str,
    reference: &str,
    parent: Option<&str>,
    amount: i64,
    fee: Option<i64>,
) {
    let entries = match kind {
        "charge" => ledger::charge(Provider::Stripe, amount, fee),
        _ => ledger::refund(Provider::Stripe, amount),
    };
    app.state
        .store()
        .record_ledger_txn(
            &NewLedgerTxn {
                provider: "stripe",
                kind,
                reference,
                parent,
                account: None,
                currency: "USD",
                amount,
                event_id: &format!("evt_{reference}"),
                subscription: None,
            },
            &entries,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
}

async fn send(app: &TestApp, key: &str, t: i64, body: &str) -> crate::common::TestResponse {
    let sig = sign(key.as_bytes(), t, body.as_bytes());
    app.post_from(
        "127.0.0.1:9".parse().unwrap(),
        "/v1/billing/settlements",
        serde_json::from_str::<Value>(body).unwrap(),
        &[
            ("fdt-settlement-timestamp", &t.to_string()),
            ("fdt-settlement-signature", &sig),
        ],
    )
    .await
}

async fn settlements_are_verified_reconciled_and_mismatches_become_incidents(db: &TestDb) {
    let app = TestApp::with_config(db, |c| {
        c.billing.settlement_keys = vec![Secret::new(KEY.into()), Secret::new(OLD_KEY.into())];
    });
    let ops = app.operator("ops@example.com").await;
    book(&app, "charge", "ch_1", None, 2000, Some(88)).await;
    book(&app, "refund", "re_1", Some("ch_1"), 277, None).await;
    let now = app.clock.now().unix_timestamp();
    // `post_from` sends the JSON re-serialised from this text: sign what is sent.
    let matching = json!({"id": "stl-1", "provider": "stripe", "currency": "USD",
        "payout": "po_1", "amount": 1635, "items": [
            {"kind": "charge", "reference": "ch_1", "amount": 2000, "fee": 88},
            {"kind": "refund", "reference": "re_1", "amount": 277}]})
    .to_string();

    // Refused, and nothing stored.
    let stale = send(&app, KEY, now - 301, &matching).await;
    stale.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let future = send(&app, KEY, now + 301, &matching).await;
    future.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let other_key = send(&app, "a-key-nobody-configured", now, &matching).await;
    other_key.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let sig = sign(KEY.as_bytes(), now, matching.as_bytes());
    let tampered = app
        .post_from(
            "127.0.0.1:9".parse().unwrap(),
            "/v1/billing/settlements",
            serde_json::from_str::<Value>(&matching.replace("1635", "9635")).unwrap(),
            &[
                ("fdt-settlement-timestamp", &now.to_string()),
                ("fdt-settlement-signature", &sig),
            ],
        )
        .await;
    tampered.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let unsigned = app
        .post_from(
            "127.0.0.1:9".parse().unwrap(),
            "/v1/billing/settlements",
            serde_json::from_str::<Value>(&matching).unwrap(),
            &[],
        )
        .await;
    unsigned.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let list = app.get("/v1/admin/billing/settlements", Some(&ops)).await;
    assert_eq!(list.json["settlements"], json!([]), "{}", list.json);

    // Matching (signed with the older key: keys roll): no incident; stored once.
    let r = send(&app, OLD_KEY, now, &matching).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["incidents"], json!([]));
    assert_eq!(r.json["duplicate"], false);
    let again = send(&app, KEY, now, &matching).await;
    assert_eq!(again.json["duplicate"], true, "{}", again.json);

    // Signed, but not a receipt: 400.
    let bad = json!({"id": "stl-bad", "provider": "stripe", "currency": "USD",
        "payout": "po_x", "amount": 1, "items": [{"kind": "refund", "reference": "re_1",
        "amount": 5, "fee": 1}]})
    .to_string();
    send(&app, KEY, now, &bad)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_body");

    // Every difference is an incident with its amounts.
    let off = json!({"id": "stl-2", "provider": "stripe", "currency": "USD",
        "payout": "po_2", "amount": 5000, "items": [
            {"kind": "charge", "reference": "ch_1", "amount": 2100, "fee": 88},
            {"kind": "charge", "reference": "ch_unknown", "amount": 3000, "fee": 12}]})
    .to_string();
    let r = send(&app, KEY, now, &off).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let got: Vec<(String, String, i64, i64, i64)> = r.json["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_owned(),
                i["reference"].as_str().unwrap().to_owned(),
                i["expected"].as_i64().unwrap(),
                i["actual"].as_i64().unwrap(),
                i["difference"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut got = got;
    got.sort();
    // The payout is the sum of what it lists (2012 + 2988): no `total` incident.
    assert_eq!(
        got,
        vec![
            ("amount".to_owned(), "ch_1".to_owned(), 2000, 2100, 100),
            ("missing".to_owned(), "ch_unknown".to_owned(), 0, 3000, 3000),
        ]
    );
    // A payout that disagrees with its items.
    let short = json!({"id": "stl-3", "provider": "stripe", "currency": "USD",
        "payout": "po_3", "amount": 1600, "items": [
            {"kind": "charge", "reference": "ch_1", "amount": 2000, "fee": 88},
            {"kind": "refund", "reference": "re_1", "amount": 277}]})
    .to_string();
    let r = send(&app, KEY, now, &short).await;
    let incidents = r.json["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{}", r.json);
    assert_eq!(incidents[0]["kind"], "total");
    assert_eq!(incidents[0]["reference"], "po_3");
    assert_eq!(incidents[0]["difference"], -35);

    // Operators see the open ones and resolve them.
    let open = app
        .get("/v1/admin/billing/incidents?open=true", Some(&ops))
        .await;
    let open = open.json["incidents"].as_array().unwrap().clone();
    assert_eq!(open.len(), 3);
    let n = open[0]["id"].as_i64().unwrap();
    let path = format!("/v1/admin/billing/incidents/{n}/resolve");
    let r = app
        .post(
            &path,
            json!({"note": "payout corrected by the provider"}),
            Some(&ops),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert!(r.json["resolved_at"].is_string());
    assert_eq!(r.json["note"], "payout corrected by the provider");
    let open = app
        .get("/v1/admin/billing/incidents?open=true", Some(&ops))
        .await;
    assert_eq!(open.json["incidents"].as_array().unwrap().len(), 2);
    app.post(
        "/v1/admin/billing/incidents/99999/resolve",
        json!({}),
        Some(&ops),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let audit = app.audit_actions(&ops).await;
    assert!(
        audit
            .iter()
            .any(|(a, t)| a == "billing.incident.resolve" && *t == n.to_string()),
        "{audit:?}"
    );
    let list = app.get("/v1/admin/billing/settlements", Some(&ops)).await;
    assert_eq!(list.json["settlements"].as_array().unwrap().len(), 3);
}
