//! Two checkouts opened before either was paid (two tabs) can both be paid. The subscription
//! live first is kept; the other is cancelled at the provider at once and its charge refunded
//! in full, whether its charge is booked before the duplicate is found or after. Against the
//! PayPal fake, whose signed webhooks the app verifies as PayPal's.

use super::billing::plan;
use super::billing_checkout::{Paypal, People, checkout, ledger_charge, people};
use crate::common::{TestApp, TestDb};
use fdt_api::Plan;
use serde_json::json;

on_both_databases!(a_second_subscription_paid_by_mistake_is_cancelled_and_refunded);

/// Both checkouts of `token`, opened before either is paid: (subscription, approval URL).
async fn two_checkouts(app: &TestApp, token: &str) -> [(String, String); 2] {
    let mut out = Vec::new();
    for _ in 0..2 {
        let r = checkout(app, token, "paypal").await;
        out.push((
            r.json["reference"].as_str().unwrap().to_owned(),
            r.json["url"].as_str().unwrap().to_owned(),
        ));
    }
    [out[0].clone(), out[1].clone()]
}

async fn approve(url: &str) {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

/// A minute ago: older than what the fake sends next about the same subscription.
fn minute_ago() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() - time::Duration::minutes(1)
}

async fn a_second_subscription_paid_by_mistake_is_cancelled_and_refunded(db: &TestDb) {
    let pp = Paypal::start(&[("P-PRO", "15.00", "USD")]).await;
    let app = pp.app_selling_pro(db);
    let base = pp.hook(&app).await;
    let People { ta, a, tb, ops } = people(&app).await;
    let b = app
        .state
        .store()
        .account_by_email("b@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;

    // Account a: both paid, the events in PayPal's order (each approval announces the
    // subscription, then its payment).
    let [(first, url1), (second, url2)] = two_checkouts(&app, &ta).await;
    approve(&url1).await;
    pp.delivered(2).await;
    approve(&url2).await;
    // The second is found a duplicate on its activation and cancelled at PayPal at once
    // (PayPal announces it); its payment is refunded in full when it is booked.
    let events = pp.delivered(6).await;
    assert_eq!(
        events[2..],
        [
            "BILLING.SUBSCRIPTION.ACTIVATED",
            "PAYMENT.SALE.COMPLETED",
            "BILLING.SUBSCRIPTION.CANCELLED",
            "PAYMENT.SALE.REFUNDED",
        ]
    );
    assert_eq!(pp.fake.subscription(&first).unwrap()["status"], "ACTIVE");
    assert_eq!(
        pp.fake.subscription(&second).unwrap()["status"],
        "CANCELLED"
    );
    let sale1 = pp.fake.sale_of(&first).unwrap();
    let sale2 = pp.fake.sale_of(&second).unwrap();
    assert_eq!(ledger_charge(&app, &ops, &sale1).await["refunded"], 0);
    let charge = ledger_charge(&app, &ops, &sale2).await;
    assert_eq!(charge["refunded"], 1500, "{charge}");
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    let subs = app.state.store().subscriptions(&a).await.unwrap();
    let dup = subs.iter().find(|s| s.subscription_id == second).unwrap();
    assert_eq!(dup.status, "canceled", "{subs:?}");
    assert_eq!(
        dup.duplicate_of.as_deref(),
        Some(&*format!("paypal/{first}"))
    );
    let kept = subs.iter().find(|s| s.subscription_id == first).unwrap();
    assert_eq!(
        (kept.status.as_str(), &kept.duplicate_of),
        ("active", &None)
    );

    // Account b: the duplicate's payment is booked before its activation (providers do not
    // promise an order): the refund is made when the duplicate is found, once.
    let [(first, url1), (second, url2)] = two_checkouts(&app, &tb).await;
    approve(&url1).await;
    pp.delivered(8).await;
    pp.fake.stop_webhooks();
    approve(&url2).await;
    let sale2 = pp.fake.sale_of(&second).unwrap();
    pp.deliver(
        &base,
        minute_ago(),
        "WH-B-SALE",
        "PAYMENT.SALE.COMPLETED",
        "sale",
        json!({"id": sale2, "state": "completed", "amount": {"total": "15.00", "currency": "USD"},
            "billing_agreement_id": second, "custom": b.as_str()}),
    )
    .await;
    assert_eq!(ledger_charge(&app, &ops, &sale2).await["refunded"], 0);
    pp.hook(&app).await;
    let activated = pp.fake.subscription(&second).unwrap();
    pp.deliver(
        &base,
        minute_ago(),
        "WH-B-ACT",
        "BILLING.SUBSCRIPTION.ACTIVATED",
        "subscription",
        activated,
    )
    .await;
    let events = pp.delivered(10).await;
    assert_eq!(
        events[8..],
        ["BILLING.SUBSCRIPTION.CANCELLED", "PAYMENT.SALE.REFUNDED"]
    );
    let charge = ledger_charge(&app, &ops, &sale2).await;
    assert_eq!(charge["refunded"], 1500, "{charge}");
    // Another event for the account (the kept one's, delivered again) changes nothing: each
    // duplicate was cancelled once and each charge refunded once (the audit log says so).
    let kept = pp.fake.subscription(&first).unwrap();
    pp.deliver(
        &base,
        minute_ago(),
        "WH-B-ACT-2",
        "BILLING.SUBSCRIPTION.ACTIVATED",
        "subscription",
        kept,
    )
    .await;
    assert_eq!(plan(&app, &b).await, Plan::Pro);

    // Operators see what the control plane did on its own.
    let audit = app.audit_actions(&ops).await;
    for (action, target) in [
        ("billing.duplicate_cancel", format!("paypal/{second}")),
        ("billing.duplicate_refund", format!("paypal/{sale2}")),
    ] {
        let n = audit
            .iter()
            .filter(|(a, t)| a == action && *t == target)
            .count();
        assert_eq!(n, 1, "{action} {target}: {audit:?}");
    }
    assert_eq!(
        audit
            .iter()
            .filter(|(a, _)| a.starts_with("billing.duplicate_"))
            .count(),
        4,
        "{audit:?}"
    );
}
