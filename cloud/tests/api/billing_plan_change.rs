//! Moving a paid subscription to another plan at each provider: Stripe (localstripe behind
//! the emulator) and Razorpay at once, announced by their signed subscription events, Razorpay's
//! downgrades at the cycle's end, PayPal once the person approves the revision on its page.
//! Only the subscription's own account can move it, never to free (that is a cancel), and a
//! second checkout is refused while a subscription is live.

use super::billing::plan;
use super::billing_checkout::{Paypal, People, checkout, people, upstream};
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_api::Plan;
use fdt_cloud::config::{PaypalConfig, RazorpayConfig, StripeConfig};
use fdt_cloud::secret::Secret;
use fdt_cloud::testing::razorpay::FakeRazorpay;
use fdt_cloud::testing::stripe::{LocalStripe, StripeEmulator};
use serde_json::{Value, json};
use std::time::Duration;

on_both_databases!(
    a_stripe_subscription_moves_up_and_down_and_the_plan_follows,
    a_razorpay_upgrade_is_now_and_a_downgrade_waits_for_the_cycle_end,
    a_paypal_plan_change_waits_for_the_persons_approval,
    calls_that_reach_a_provider_are_limited_per_account,
);

const SECRET: &str = "whsec_plan_change_tests";

fn pairs(p: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    p.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Polls until `account`'s plan in force is `want` (10 s at most); the plan it ends on.
async fn plan_becomes(app: &TestApp, account: &fdt_api::AccountId, want: Plan) -> Plan {
    let mut now = plan(app, account).await;
    for _ in 0..50 {
        if now == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        now = plan(app, account).await;
    }
    now
}

/// `POST /v1/billing/subscriptions/{provider}/{sub}/plan` with `{"plan": plan}`.
async fn change(
    app: &TestApp,
    token: &str,
    provider: &str,
    sub: &str,
    plan: &str,
) -> crate::common::TestResponse {
    app.post(
        &format!("/v1/billing/subscriptions/{provider}/{sub}/plan"),
        json!({ "plan": plan }),
        Some(token),
    )
    .await
}

async fn a_stripe_subscription_moves_up_and_down_and_the_plan_follows(db: &TestDb) {
    let ls = LocalStripe::start().await;
    ls.price("price_pro", 1200, "usd").await.unwrap();
    ls.price("price_team", 4900, "usd").await.unwrap();
    let emu = StripeEmulator::start(&ls.url).await.unwrap();
    let app = TestApp::with_config(db, |c| {
        c.billing.stripe = Some(StripeConfig {
            webhook_secrets: vec![Secret::new(SECRET.into())],
            prices: pairs(&[("price_pro", "pro"), ("price_team", "team")]),
            secret_key: Some(Secret::new("sk_test_fdt".into())),
            api_base: emu.url.clone(),
            checkout: pairs(&[("pro", "price_pro"), ("team", "price_team")]),
        });
    });
    let base = app.serve().await;
    emu.webhook(&ls, &format!("{base}/v1/billing/webhooks/stripe"), SECRET)
        .await
        .unwrap();
    let People { ta, a, tb, ops } = people(&app).await;

    // Pro, paid on the hosted page.
    let r = checkout(&app, &ta, "stripe").await;
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(r.json["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    assert_eq!(plan_becomes(&app, &a, Plan::Pro).await, Plan::Pro);
    let subs = app.get("/v1/billing/subscriptions", Some(&ta)).await;
    let sub = subs.json["subscriptions"][0]["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A second checkout, even of a higher plan, would charge alongside: refused, pointing at
    // the plan change.
    let r = app
        .post(
            "/v1/billing/checkout",
            json!({"provider": "stripe", "plan": "team"}),
            Some(&ta),
        )
        .await;
    r.assert_error(StatusCode::CONFLICT, "conflict");
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("/v1/billing/subscriptions/stripe/{sub}/plan")),
        "{message}"
    );

    // Refused before any provider call: another account's subscription, free, the plan it
    // has, a provider not set up, one that does not exist.
    change(&app, &tb, "stripe", &sub, "team")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = change(&app, &ta, "stripe", &sub, "free").await;
    r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(r.json["error"]["field"], "plan");
    change(&app, &ta, "stripe", &sub, "pro")
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    for provider in ["razorpay", "square"] {
        let r = change(&app, &ta, provider, &sub, "team").await;
        r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
        assert_eq!(r.json["error"]["field"], "provider", "{}", r.json);
    }
    let held = upstream(&ls, &format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(
        held["items"]["data"][0]["plan"]["id"], "price_pro",
        "{held}"
    );

    // Up to team: the item's price moves at Stripe, its signed event moves the plan.
    let r = change(&app, &ta, "stripe", &sub, "team").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["effective"], "now");
    assert_eq!(r.json["plan"], "team");
    assert!(r.json.get("url").is_none(), "{}", r.json);
    let held = upstream(&ls, &format!("/v1/subscriptions/{sub}")).await;
    assert_eq!(
        held["items"]["data"][0]["plan"]["id"], "price_team",
        "{held}"
    );
    assert_eq!(plan_becomes(&app, &a, Plan::Team).await, Plan::Team);
    let listed = app.get("/v1/billing/subscriptions", Some(&ta)).await;
    assert_eq!(listed.json["subscriptions"].as_array().unwrap().len(), 1);
    assert_eq!(listed.json["subscriptions"][0]["plan"], "team");

    // And back down to pro.
    let r = change(&app, &ta, "stripe", &sub, "pro").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(plan_becomes(&app, &a, Plan::Pro).await, Plan::Pro);
    let audit = app.audit_actions(&ops).await;
    let changes = audit
        .iter()
        .filter(|(a, t)| a == "billing.change_plan" && *t == sub)
        .count();
    assert_eq!(changes, 2, "{audit:?}");
    // Reconciled with what Stripe holds (GET /v1/subscriptions/{id}): the same, pro.
    let r = app
        .post(
            &format!("/v1/admin/billing/subscriptions/stripe/{sub}/reconcile"),
            json!({}),
            Some(&ops),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["state"], "processed", "{}", r.json);
    assert!(
        r.json["detail"].as_str().unwrap().contains("plan pro"),
        "{}",
        r.json
    );

    // Operators see it with its account; others may not look.
    let listed = app.get("/v1/admin/billing/subscriptions", Some(&ops)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
    let row = &listed.json["subscriptions"][0];
    assert_eq!(row["email"], "a@example.com", "{}", listed.json);
    assert_eq!(row["account_id"], a.as_str());
    assert_eq!(row["subscription"]["subscription_id"], sub.as_str());
    assert_eq!(row["subscription"]["plan"], "pro");
    assert_eq!(row["subscription"]["status"], "active");
    app.get("/v1/admin/billing/subscriptions", Some(&ta))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    for bad in ["?canceled=maybe", "?status=active"] {
        let r = app
            .get(&format!("/v1/admin/billing/subscriptions{bad}"), Some(&ops))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.json);
    }
}

const RZP_KEY_SECRET: &str = "rzp_key_secret_for_plan_changes";
const RZP_WEBHOOK_SECRET: &str = "rzp_webhook_secret_for_plan_changes";

async fn a_razorpay_upgrade_is_now_and_a_downgrade_waits_for_the_cycle_end(db: &TestDb) {
    let rzp = FakeRazorpay::start(
        "rzp_test_key",
        RZP_KEY_SECRET,
        RZP_WEBHOOK_SECRET,
        &[("plan_pro", 49900, "INR"), ("plan_team", 199900, "INR")],
    )
    .await
    .unwrap();
    let app = TestApp::with_config(db, |c| {
        c.billing.razorpay = Some(RazorpayConfig {
            webhook_secret: Secret::new(RZP_WEBHOOK_SECRET.into()),
            plans: pairs(&[("plan_pro", "pro"), ("plan_team", "team")]),
            key_id: Some("rzp_test_key".into()),
            key_secret: Some(Secret::new(RZP_KEY_SECRET.into())),
            api_base: rzp.url.clone(),
            checkout: pairs(&[("pro", "plan_pro"), ("team", "plan_team")]),
            orders: Default::default(),
        });
    });
    let base = app.serve().await;
    rzp.set_webhook(&format!("{base}/v1/billing/webhooks/razorpay"));
    let People { ta, a, tb, .. } = people(&app).await;

    let r = checkout(&app, &ta, "razorpay").await;
    let sub = r.json["reference"].as_str().unwrap().to_owned();
    let proof: Value = reqwest::Client::new()
        .post(r.json["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = app
        .post("/v1/billing/razorpay/payments", proof, Some(&ta))
        .await;
    assert_eq!(r.json["entitled_plan"], "pro", "{}", r.json);

    change(&app, &tb, "razorpay", &sub, "team")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // Up: at once; the fake's signed subscription.updated has arrived before it answered.
    let r = change(&app, &ta, "razorpay", &sub, "team").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["effective"], "now");
    assert_eq!(rzp.subscription(&sub).unwrap()["plan_id"], "plan_team");
    assert_eq!(plan_becomes(&app, &a, Plan::Team).await, Plan::Team);

    // Down: scheduled for the end of the paid cycle; team stays in force until then.
    let r = change(&app, &ta, "razorpay", &sub, "pro").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["effective"], "cycle_end");
    let held = rzp.subscription(&sub).unwrap();
    assert_eq!(held["plan_id"], "plan_team", "{held}");
    assert_eq!(held["scheduled_plan_id"], "plan_pro", "{held}");
    assert_eq!(held["change_scheduled_at"], held["current_end"]);
    assert_eq!(plan(&app, &a).await, Plan::Team);
}

async fn a_paypal_plan_change_waits_for_the_persons_approval(db: &TestDb) {
    let pp = Paypal::start(&[("P-PRO", "12.00", "USD"), ("P-TEAM", "49.00", "USD")]).await;
    let app = TestApp::with_config(db, |c| {
        c.billing.paypal = Some(PaypalConfig {
            plans: pairs(&[("P-PRO", "pro"), ("P-TEAM", "team")]),
            checkout: pairs(&[("pro", "P-PRO"), ("team", "P-TEAM")]),
            ..pp.config()
        });
    });
    pp.hook(&app).await;
    let People { ta, a, tb, .. } = people(&app).await;
    let r = checkout(&app, &ta, "paypal").await;
    let sub = r.json["reference"].as_str().unwrap().to_owned();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    browser
        .post(r.json["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    // BILLING.SUBSCRIPTION.ACTIVATED and the first sale.
    pp.delivered(2).await;
    assert_eq!(plan(&app, &a).await, Plan::Pro);

    change(&app, &tb, "paypal", &sub, "team")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = change(&app, &ta, "paypal", &sub, "team").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["effective"], "approval");
    let url = r.json["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&pp.fake.url), "{url}");
    // Nothing moves until the person approves.
    assert_eq!(pp.fake.subscription(&sub).unwrap()["plan_id"], "P-PRO");
    assert_eq!(pp.fake.delivered().len(), 2);
    assert_eq!(plan(&app, &a).await, Plan::Pro);
    let approved = browser.post(&url).send().await.unwrap();
    let back = approved.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.ends_with("/billing?changed=paypal"), "{back}");
    assert_eq!(pp.fake.subscription(&sub).unwrap()["plan_id"], "P-TEAM");
    // The plan in force moves with PayPal's BILLING.SUBSCRIPTION.UPDATED.
    assert_eq!(pp.delivered(3).await[2], "BILLING.SUBSCRIPTION.UPDATED");
    assert_eq!(plan(&app, &a).await, Plan::Team);
}

/// Each checkout, plan change, cancel or portal request may call a provider: thirty per account
/// in ten minutes, then 429 with `Retry-After`; other accounts are not held up.
async fn calls_that_reach_a_provider_are_limited_per_account(db: &TestDb) {
    let app = TestApp::new(db);
    let People { ta, tb, .. } = people(&app).await;
    let body = || json!({"provider": "stripe", "plan": "pro"});
    // Stripe is not set up here: each is refused after it is counted.
    for _ in 0..fdt_cloud::billing::limit::CALLS_PER_ACCOUNT {
        let r = app.post("/v1/billing/checkout", body(), Some(&ta)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
    }
    for path in [
        "/v1/billing/checkout",
        "/v1/billing/portal",
        "/v1/billing/subscriptions/stripe/sub_1/cancel",
    ] {
        let r = app.post(path, body(), Some(&ta)).await;
        r.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(
            (1..=fdt_cloud::billing::limit::WINDOW_SECS).contains(&wait),
            "{wait}"
        );
    }
    let r = change(&app, &ta, "stripe", "sub_1", "team").await;
    r.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let r = app.post("/v1/billing/checkout", body(), Some(&tb)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
}
