//! The finance ledger: charges, refunds and payouts from providers' webhooks become balanced
//! double-entry transactions; a refund larger than what is left of its charge, in another
//! currency, or of an unknown charge is refused with 400 and leaves the ledger balanced; exports
//! in JSON and CSV; operators acknowledge each transaction.

use super::billing::{account, post};
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_cloud::billing::verify::hmac_hex;
use fdt_cloud::config::{RazorpayConfig, StripeConfig};
use fdt_cloud::secret::Secret;
use serde_json::{Value, json};

on_both_databases!(
    charges_refunds_and_payouts_keep_the_ledger_balanced,
    two_refunds_at_once_never_exceed_their_charge,
);

const STRIPE_SECRET: &str = "whsec_ledger_tests_secret";
const RZP_SECRET: &str = "rzp_ledger_tests_secret_";

fn app(db: &TestDb) -> TestApp {
    TestApp::with_config(db, |c| {
        c.billing.stripe = Some(StripeConfig {
            webhook_secrets: vec![Secret::new(STRIPE_SECRET.into())],
            prices: Default::default(),
            ..Default::default()
        });
        c.billing.razorpay = Some(RazorpayConfig {
            webhook_secret: Secret::new(RZP_SECRET.into()),
            plans: Default::default(),
            ..Default::default()
        });
    })
}

fn stripe_event(id: &str, kind: &str, object: Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "created": 1_800_000_000, "data": {"object": object}}).to_string()
}

async fn stripe(app: &TestApp, body: &str) -> crate::common::TestResponse {
    let t = app.state.clock().now().unix_timestamp();
    let sig = hmac_hex(
        STRIPE_SECRET.as_bytes(),
        &[format!("{t}.").as_bytes(), body.as_bytes()],
    );
    post(
        app,
        "stripe",
        &[("stripe-signature", format!("t={t},v1={sig}"))],
        body,
    )
    .await
}

async fn lines(app: &TestApp, ops: &str) -> Vec<Value> {
    let r = app.get("/v1/admin/ledger", Some(ops)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json["lines"].as_array().unwrap().clone()
}

fn sum(lines: &[Value]) -> i64 {
    lines.iter().map(|l| l["amount"].as_i64().unwrap()).sum()
}

async fn charges_refunds_and_payouts_keep_the_ledger_balanced(db: &TestDb) {
    let app = app(db);
    let (ta, a) = account(&app, "a@example.com").await;
    let ops = app.operator("ops@example.com").await;
    let charge = stripe_event(
        "evt_c1",
        "charge.succeeded",
        json!({"id": "ch_1", "amount": 1999, "currency": "usd", "metadata": {"account_id": a.as_str()}}),
    );
    let r = stripe(&app, &charge).await;
    assert_eq!(r.json["state"], "processed", "{}", r.json);
    let l = lines(&app, &ops).await;
    assert_eq!(l.len(), 2, "{l:?}");
    assert_eq!(sum(&l), 0);
    assert_eq!(l[0]["account"], a.as_str());
    assert_eq!(
        (l[0]["book"].as_str(), l[0]["amount"].as_i64()),
        (Some("provider:stripe"), Some(1999))
    );
    assert_eq!(
        (l[1]["book"].as_str(), l[1]["amount"].as_i64()),
        (Some("revenue"), Some(-1999))
    );

    let refund = |event: &str, id: &str, amount: i64, currency: &str, charge: &str| {
        stripe_event(
            event,
            "refund.created",
            json!({"id": id, "amount": amount, "currency": currency, "charge": charge}),
        )
    };
    assert_eq!(
        stripe(&app, &refund("evt_r1", "re_1", 500, "usd", "ch_1"))
            .await
            .json["state"],
        "processed"
    );
    // More than is left (500 + 1600 > 1999), another currency, an unknown charge: 400, and
    // nothing is written.
    for (event, body, says) in [
        (
            "evt_r2",
            refund("evt_r2", "re_2", 1600, "usd", "ch_1"),
            "more than is left",
        ),
        (
            "evt_r3",
            refund("evt_r3", "re_3", 100, "eur", "ch_1"),
            "the charge is in USD",
        ),
        (
            "evt_r4",
            refund("evt_r4", "re_4", 100, "usd", "ch_nope"),
            "no such charge",
        ),
    ] {
        let r = stripe(&app, &body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_body");
        assert!(
            r.json["error"]["message"].as_str().unwrap().contains(says),
            "{event}: {}",
            r.json
        );
    }
    // The same refund in another event: already in the ledger, the refunded total unmoved.
    let r = stripe(&app, &refund("evt_r5", "re_1", 500, "usd", "ch_1")).await;
    assert_eq!(r.json["state"], "ignored", "{}", r.json);
    let txns = app.get("/v1/admin/ledger/transactions", Some(&ops)).await;
    let charge_txn = txns.json["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "charge")
        .cloned()
        .unwrap();
    assert_eq!(
        (
            charge_txn["amount"].as_i64(),
            charge_txn["refunded"].as_i64()
        ),
        (Some(1999), Some(500))
    );

    // A payout, and a Razorpay capture with the provider's fee (four lines).
    let payout = stripe_event(
        "evt_p1",
        "payout.paid",
        json!({"id": "po_1", "amount": 1000, "currency": "usd"}),
    );
    assert_eq!(stripe(&app, &payout).await.json["state"], "processed");
    let captured = json!({"entity": "event", "event": "payment.captured", "created_at": 1_800_000_000,
        "payload": {"payment": {"entity": {"id": "pay_1", "amount": 49900, "currency": "INR", "fee": 1180,
            "notes": {"account_id": a.as_str()}}}}})
    .to_string();
    let headers = vec![
        (
            "x-razorpay-signature",
            hmac_hex(RZP_SECRET.as_bytes(), &[captured.as_bytes()]),
        ),
        ("x-razorpay-event-id", "evt_rzp_1".to_owned()),
    ];
    assert_eq!(
        post(&app, "razorpay", &headers, &captured).await.json["state"],
        "processed"
    );
    let l = lines(&app, &ops).await;
    assert_eq!(l.len(), 2 + 2 + 2 + 4, "{l:?}");
    for cur in ["USD", "INR"] {
        let of: Vec<Value> = l.iter().filter(|x| x["currency"] == cur).cloned().collect();
        assert_eq!(sum(&of), 0, "{cur} balances");
    }
    assert_eq!(
        app.state.store().unbalanced_ledger_txns().await.unwrap(),
        Vec::<i64>::new()
    );

    // CSV: one row per line, fields a spreadsheet would run are defused.
    let odd = stripe_event(
        "evt_c2",
        "charge.succeeded",
        json!({"id": "=1+1", "amount": 5, "currency": "usd"}),
    );
    assert_eq!(stripe(&app, &odd).await.json["state"], "processed");
    let csv = app.get("/v1/admin/ledger?format=csv", Some(&ops)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = String::from_utf8_lossy(&csv.raw).into_owned();
    assert_eq!(text.lines().count(), 1 + 12, "{text}");
    assert!(text.starts_with("txn,at,kind,provider,reference,account,book,amount,currency\n"));
    assert!(
        text.contains(",'=1+1,") && !text.contains(",=1+1,"),
        "{text}"
    );
    app.get("/v1/admin/ledger?from=2026-13-01", Some(&ops))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.get("/v1/admin/ledger?format=xml", Some(&ops))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    // Operators only.
    app.get("/v1/admin/ledger", Some(&ta))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Every transaction waits for an operator's acknowledgement, which is recorded.
    let pending = app
        .get("/v1/admin/ledger/transactions?pending=true", Some(&ops))
        .await;
    let n = pending.json["transactions"].as_array().unwrap().len();
    assert_eq!(n, 5, "{}", pending.json);
    let first = pending.json["transactions"][0]["id"].as_i64().unwrap();
    let path = format!("/v1/admin/ledger/transactions/{first}/ack");
    app.post(&path, json!({}), Some(&ta))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let acked = app.post(&path, json!({}), Some(&ops)).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.json);
    assert!(
        acked.json["acked_at"].is_string() && acked.json["acked_by"].is_string(),
        "{}",
        acked.json
    );
    let pending = app
        .get("/v1/admin/ledger/transactions?pending=true", Some(&ops))
        .await;
    assert_eq!(
        pending.json["transactions"].as_array().unwrap().len(),
        n - 1
    );
    app.post(
        "/v1/admin/ledger/transactions/999999/ack",
        json!({}),
        Some(&ops),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let audit = app.audit_actions(&ops).await;
    assert!(
        audit.contains(&("ledger.ack".into(), first.to_string())),
        "{audit:?}"
    );
}

async fn two_refunds_at_once_never_exceed_their_charge(db: &TestDb) {
    let app = app(db);
    let ops = app.operator("ops@example.com").await;
    let charge = stripe_event(
        "evt_c",
        "charge.succeeded",
        json!({"id": "ch_x", "amount": 1999, "currency": "usd"}),
    );
    assert_eq!(stripe(&app, &charge).await.json["state"], "processed");
    let bodies: Vec<String> = (0..2)
        .map(|i| stripe_event(&format!("evt_r{i}"), "refund.created",
            json!({"id": format!("re_{i}"), "amount": 1000, "currency": "usd", "charge": "ch_x"})))
        .collect();
    let answers = futures_util::future::join_all(bodies.iter().map(|b| stripe(&app, b))).await;
    let ok = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        answers.iter().map(|r| &r.json).collect::<Vec<_>>()
    );
    assert_eq!(sum(&lines(&app, &ops).await), 0);
    assert_eq!(
        app.state.store().unbalanced_ledger_txns().await.unwrap(),
        Vec::<i64>::new()
    );
}
